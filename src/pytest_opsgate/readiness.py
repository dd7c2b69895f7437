"""Wait until a service is ready: poll its health endpoint with backoff and a monotonic deadline.

Pure logic on httpx; knows nothing of pytest. The contract, one fault at a time, is in
FAULTS.md (F1-F12, F19, F20): a redirect is never followed and headers never leave the origin,
TLS verification is never silently dropped, HTML is not health, and "degraded" is not ready
unless an expectation accepts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "DEFAULT_PATHS",
    "READY_STATUSES",
    "VERSION_KEYS",
    "Attempt",
    "Expectation",
    "NotReadyError",
    "ReadinessResult",
    "ReadinessSpec",
    "VersionMismatchError",
    "parse_expect",
    "wait_until_ready",
]

DEFAULT_PATHS = ["/api/health/", "/health", "/healthz", "/ready", "/readyz"]
READY_STATUSES = frozenset({"ok", "pass", "up", "healthy", "ready"})
# Looked up in this order in the JSON body; the first present, non-empty one is the version.
VERSION_KEYS = ("version", "app_version", "APP_VERSION", "build.version", "git_sha", "commit")

FIRST_DELAY_S = 0.05
BACKOFF_FACTOR = 1.5
MAX_DELAY_S = 0.25
JITTER = 0.2
MAX_RETRY_AFTER_S = 5.0  # honour Retry-After politely, but a far-future value must not stall us
MAX_BODY_BYTES = 64 * 1024  # health bodies are small; anything bigger is read only this far
MAX_REDIRECT_HOPS = 5
EXCERPT_CHARS = 200
LOG_ATTEMPTS = 5
MIN_FIRST_ATTEMPT_S = 0.5

_EXAMPLE = 'e.g. \'checks.db.status == "ok"\' or \'status in ["ok", "degraded"]\''
_NOT_JSON = object()


# --- expectations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """One predicate on the JSON health body, e.g. `checks.db.status == "ok"`."""

    expr: str
    path: tuple[str, ...]
    op: str | None  # None: the value must exist and be truthy
    value: object = None

    def check(self, doc: object) -> str | None:
        """Return None when `doc` satisfies the predicate, else why not."""
        dotted = ".".join(self.path)
        found, actual = _lookup(doc, self.path)
        if not found:
            return f"expect {self.expr}: {dotted} is missing"
        shown = _short_json(actual)
        if self.op is None:
            return None if actual not in (None, False, "", 0, [], {}) else _fail(self, shown)
        if self.op in ("==", "!="):
            return (
                None if _json_equal(actual, self.value) == (self.op == "==") else _fail(self, shown)
            )
        if self.op in ("in", "not in"):
            assert isinstance(self.value, list)
            hit = any(_json_equal(actual, v) for v in self.value)
            return None if hit == (self.op == "in") else _fail(self, shown)
        if not _is_number(actual):
            return f"expect {self.expr}: {dotted} is {shown}, not a number"
        assert isinstance(actual, (int, float))
        assert isinstance(self.value, (int, float))
        ok = {
            "<": actual < self.value,
            "<=": actual <= self.value,
            ">": actual > self.value,
            ">=": actual >= self.value,
        }[self.op]
        return None if ok else _fail(self, shown)


def _fail(e: Expectation, shown: str) -> str:
    return f"expect {e.expr}: {'.'.join(e.path)} is {shown}"


_PATH_RE = re.compile(r"\s*([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\s*(.*)\Z", re.S)
_OP_RE = re.compile(r"(==|!=|<=|>=|<|>|not\s+in\b|in\b)\s*(.*)\Z", re.S)


def parse_expect(expr: str) -> Expectation:
    """Parse `path [op literal]`; raise ValueError naming the expression and a valid example."""
    m = _PATH_RE.match(expr)
    if not m:
        raise ValueError(
            f"invalid expectation {expr!r}: it must start with a dotted path; {_EXAMPLE}"
        )
    path, rest = tuple(m.group(1).split(".")), m.group(2).strip()
    if not rest:
        return Expectation(expr, path, None)
    om = _OP_RE.match(rest)
    if not om:
        hint = " (use == to compare)" if rest.startswith("=") else ""
        raise ValueError(
            f"invalid expectation {expr!r}: expected an operator (== != < <= > >= in, not in)"
            f" after {m.group(1)!r}{hint}; {_EXAMPLE}"
        )
    op, src = " ".join(om.group(1).split()), om.group(2)
    try:
        value = _parse_literal(src)
    except ValueError as exc:
        raise ValueError(
            f"invalid expectation {expr!r}: {exc}; values are JSON literals, {_EXAMPLE}"
        ) from None
    if op in ("in", "not in") and not isinstance(value, list):
        raise ValueError(f"invalid expectation {expr!r}: '{op}' needs a list; {_EXAMPLE}")
    if op in ("<", "<=", ">", ">=") and not _is_number(value):
        raise ValueError(
            f"invalid expectation {expr!r}: '{op}' needs a number, "
            "e.g. 'checks.migrations.pending_count <= 0'"
        )
    return Expectation(expr, path, op, value)


def _parse_literal(src: str) -> object:
    value, pos = _literal(src, _skip_ws(src, 0))
    pos = _skip_ws(src, pos)
    if pos != len(src):
        raise ValueError(f"unexpected {src[pos:]!r} after the value")
    return value


def _skip_ws(src: str, pos: int) -> int:
    while pos < len(src) and src[pos].isspace():
        pos += 1
    return pos


def _literal(src: str, pos: int) -> tuple[object, int]:
    if pos >= len(src):
        raise ValueError("missing value")
    ch = src[pos]
    if ch == "'":
        return _single_quoted(src, pos)
    if ch == "[":  # parsed here so elements may use single quotes too
        items: list[object] = []
        pos = _skip_ws(src, pos + 1)
        if pos < len(src) and src[pos] == "]":
            return items, pos + 1
        while True:
            item, pos = _literal(src, _skip_ws(src, pos))
            items.append(item)
            pos = _skip_ws(src, pos)
            if pos < len(src) and src[pos] == ",":
                pos += 1
            elif pos < len(src) and src[pos] == "]":
                return items, pos + 1
            else:
                raise ValueError("unterminated list")
    try:
        return json.JSONDecoder().raw_decode(src, pos)
    except json.JSONDecodeError:
        word = re.match(r"[^\s,\]]*", src[pos:])
        raise ValueError(f"{word.group(0) if word else src[pos:]!r} is not a JSON value") from None


def _single_quoted(src: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    i = pos + 1
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src):
            out.append(src[i + 1])
            i += 2
        elif ch == "'":
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ValueError("unterminated string")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_equal(a: object, b: object) -> bool:
    # JSON true is not 1: Python's True == 1 would make `ok == 1` pass on `"ok": true`.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _lookup(doc: object, path: tuple[str, ...]) -> tuple[bool, object]:
    cur = doc
    for seg in path:
        if isinstance(cur, dict) and seg in cur:
            cur = cur[seg]
        elif isinstance(cur, list) and seg.isdigit() and int(seg) < len(cur):
            cur = cur[int(seg)]
        else:
            return False, None
    return True, cur


def _short_json(v: object) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# --- results and errors ----------------------------------------------------------------------


@dataclass
class Attempt:
    """One health request and its verdict."""

    number: int
    path: str
    at_s: float  # seconds since the wait started, on the injected monotonic clock
    status: int | None
    latency_ms: float | None
    outcome: str  # ready | not_ready | refused | dns | timeout | tls | redirect | protocol | error
    detail: str
    body_excerpt: str = ""

    def line(self) -> str:
        """One log line: `#17 +11.9s GET /health -> 503 in 3 ms: not ready: ... body: ...`."""
        head = f"#{self.number} +{self.at_s:.1f}s GET {self.path} -> "
        if self.status is not None:
            head += f"{self.status} in {self.latency_ms or 0:.0f} ms: "
        return head + self.detail + (f" body: {self.body_excerpt}" if self.body_excerpt else "")


@dataclass
class ReadinessSpec:
    """What to poll and what counts as ready."""

    base_url: str
    paths: list[str] = field(default_factory=list)  # candidates; empty: DEFAULT_PATHS
    timeout_s: float = 120.0
    attempt_timeout_s: float = 5.0
    expects: list[str] = field(default_factory=list)
    successes: int = 1
    verify: bool | str = True  # a str is a CA bundle file or directory
    headers: dict[str, str] = field(default_factory=dict)
    expected_version: str | None = None
    redact: Callable[[str], str] | None = None


@dataclass
class ReadinessResult:
    """How the wait went: the health URL used, time waited, every attempt, and the body."""

    url: str
    path: str
    waited_s: float
    attempts: list[Attempt]
    version: str | None
    body: object  # parsed JSON, or None


class NotReadyError(Exception):
    """The service never became ready; `str()` is the full message with the attempt log."""

    def __init__(self, message: str, result: ReadinessResult, kind: str, last_outcome: str) -> None:
        super().__init__(message)
        self.message = message
        self.result = result
        self.kind = kind  # timeout | unstable | redirect_loop
        self.last_outcome = last_outcome

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[NotReadyError], tuple[str, ReadinessResult, str, str]]:
        return type(self), (self.message, self.result, self.kind, self.last_outcome)


class VersionMismatchError(Exception):
    """The service is ready but reports another version than expected (a FAIL, not an ERROR)."""

    def __init__(self, expected: str, actual: str | None, result: ReadinessResult) -> None:
        shown = actual if actual is not None else f"none (looked for {', '.join(VERSION_KEYS)})"
        super().__init__(f"version mismatch: expected {expected}, target reports {shown}")
        self.expected = expected
        self.actual = actual
        self.result = result

    def __reduce__(
        self,
    ) -> tuple[type[VersionMismatchError], tuple[str, str | None, ReadinessResult]]:
        return type(self), (self.expected, self.actual, self.result)


class _RedirectLoop(Exception):
    pass


# --- one attempt ---------------------------------------------------------------------------


@dataclass
class _Answer:
    attempt: Attempt
    body: object = None
    location: str | None = None
    retry_after_s: float | None = None
    hint: str = ""  # a fix specific to this answer, preferred over the outcome's generic hint


class _Poller:
    """Runs attempts against one base URL with one client; never follows redirects."""

    def __init__(self, spec: ReadinessSpec, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        self.expects = [parse_expect(e) for e in spec.expects]
        self.user_status = any(e.path == ("status",) for e in self.expects)
        self.origin = _origin(spec.base_url)
        self.attempts: list[Attempt] = []
        self.last_hint = ""
        self.telling: Attempt | None = None
        # No keep-alive: every attempt tests the listener afresh, a dead pooled connection
        # cannot poison the next attempt, and the watchdog always knows the socket.
        self.client = httpx.Client(
            verify=_ssl_verify(spec.verify),
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"accept": "application/json, */*;q=0.5", "accept-encoding": "identity"},
        )
        # Loading the CA bundle can take a while on a busy box; the wait starts after it.
        self.start = clock()

    def url_for(self, path: str) -> str:
        return _strip_userinfo(_join_url(self.spec.base_url, path))

    def attempt(self, path: str, timeout: float, *, clipped: bool = False) -> _Answer:
        number = len(self.attempts) + 1
        at = self.clock() - self.start
        ans = self._request(_join_url(self.spec.base_url, path), self.spec.headers, timeout)
        a = ans.attempt
        a.number, a.path, a.at_s = number, path, at
        self.attempts.append(a)
        # A last attempt squeezed by the deadline often just runs out of time; the one before
        # it tells the real story (refused, TLS...), so it stays the one the message reports.
        if not (clipped and a.outcome == "timeout" and self.telling is not None):
            self.telling, self.last_hint = a, ans.hint
        if a.outcome == "redirect" and ans.location is not None:
            self._diagnose_redirects(_join_url(self.spec.base_url, path), ans.location, timeout)
        return ans

    def _request(self, url: str, headers: dict[str, str], timeout: float) -> _Answer:
        timer = _Watchdog(timeout)
        began = time.perf_counter()
        try:
            with self.client.stream(
                "GET", url, headers=headers, timeout=timeout, extensions={"trace": timer.trace}
            ) as resp:
                raw, truncated = _read_capped(resp.iter_raw())
                latency = (time.perf_counter() - began) * 1000
                return self._judge(resp, raw, truncated, latency)
        except httpx.HTTPError as exc:
            if timer.fired:
                return _failed("timeout", f"timed out: no complete answer within {timeout:.3g} s")
            return _failed(*_classify(exc))
        except OSError as exc:  # the watchdog's shutdown can surface raw
            if timer.fired:
                return _failed("timeout", f"timed out: no complete answer within {timeout:.3g} s")
            return _failed("error", f"{type(exc).__name__}: {exc}")
        finally:
            timer.cancel()

    def _judge(self, resp: httpx.Response, raw: bytes, truncated: bool, latency: float) -> _Answer:
        status = resp.status_code
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            data = _decode_body(raw, resp.headers.get("content-encoding", ""))
            truncated = truncated or len(data) > MAX_BODY_BYTES
            data = data[:MAX_BODY_BYTES]
        except ValueError as exc:
            return _Answer(Attempt(0, "", 0, status, latency, "protocol", str(exc)))
        body_text = data.decode(resp.encoding or "utf-8", "replace")
        excerpt = self._redact(_excerpt(body_text))

        def verdict(
            outcome: str,
            detail: str,
            body: object = None,
            location: str | None = None,
            retry_after_s: float | None = None,
        ) -> _Answer:
            a = Attempt(0, "", 0, status, latency, outcome, self._redact(detail), excerpt)
            return _Answer(a, body, location, retry_after_s)

        if 300 <= status < 400:
            loc = resp.headers.get("location", "")
            return verdict("redirect", f"redirect to {loc or '(no Location)'} (not followed)",
                           location=loc or None)  # fmt: skip
        retry = _retry_after(resp.headers.get("retry-after")) if status in (429, 503) else None
        if not 200 <= status < 300:
            return verdict("not_ready", f"not ready: HTTP {status}", retry_after_s=retry)
        if truncated:
            return verdict(
                "not_ready", f"not ready: health body larger than {MAX_BODY_BYTES} bytes"
            )
        if ctype in ("text/html", "application/xhtml+xml") or (
            not ctype and body_text.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))
        ):
            ans = verdict(
                "not_ready", "health path answered text/html (an SPA fallback or login page?)"
            )
            ans.hint = "this path serves a web page, not health: pass the real health path"
            return ans
        doc = _parse_json(body_text, json_declared=ctype.endswith("json"))
        if isinstance(doc, str):  # a parse problem
            return verdict("not_ready", f"not ready: {doc}")
        if doc is _NOT_JSON:
            if self.expects:
                return verdict(
                    "not_ready", f"not ready: expectations need a JSON body, got {ctype}"
                )
            return verdict("ready", "ready")
        if isinstance(doc, dict) and "status" in doc and not self.user_status:
            st = doc["status"]
            if not (isinstance(st, str) and st.lower() in READY_STATUSES):
                ans = verdict("not_ready", f"not ready: status is {_short_json(st)}", doc)
                ans.hint = (
                    f"only a status of {'/'.join(sorted(READY_STATUSES))} is ready; to accept "
                    f'{_short_json(st)}, expect status in ["ok", {_short_json(st)}]'
                )
                return ans
        for e in self.expects:
            why = e.check(doc)
            if why is not None:
                return verdict("not_ready", f"not ready: {why}", doc)
        return verdict("ready", "ready", doc)

    def _diagnose_redirects(self, url: str, location: str, timeout: float) -> None:
        """Walk same-origin hops (headers stay home) and raise _RedirectLoop on a cycle."""
        seen = [url]
        nxt = urljoin(url, location)
        ends = time.perf_counter() + timeout  # the whole walk fits in one attempt's budget
        for _ in range(MAX_REDIRECT_HOPS):
            if nxt in seen:
                chain = " -> ".join(_path_of(u) for u in [*seen, nxt])
                raise _RedirectLoop(f"redirect loop: {self._redact(chain)}")
            if _origin(nxt) != self.origin:
                return  # never contact another origin, not even without headers
            seen.append(nxt)
            left = ends - time.perf_counter()
            if left <= 0:
                return
            ans = self._request(nxt, self.spec.headers, left)
            if ans.attempt.outcome != "redirect" or ans.location is None:
                return
            nxt = urljoin(nxt, ans.location)
        first = self._redact(_strip_userinfo(seen[0]))
        raise _RedirectLoop(f"too many redirects (more than {MAX_REDIRECT_HOPS}) from {first}")

    def _redact(self, s: str) -> str:
        return self.spec.redact(s) if self.spec.redact else s

    def close(self) -> None:
        self.client.close()


class _Watchdog:
    """Bounds a whole attempt: httpx timeouts are per read, so a drip would never trip them."""

    def __init__(self, timeout: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: dict[str, object]) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = getattr(stream, "get_extra_info", lambda _k: None)("socket")
            if isinstance(sock, socket.socket):
                # A dup survives TLS wrapping (which detaches the original object);
                # shutdown() on it ends the connection for every descriptor.
                with self._lock:
                    self._sock = sock.dup()
                    fire_now = self.fired
                if fire_now:
                    self._fire()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _failed(outcome: str, detail: str) -> _Answer:
    return _Answer(Attempt(0, "", 0, None, None, outcome, detail))


def _classify(exc: httpx.HTTPError) -> tuple[str, str]:
    """Name a transport failure: refused, dns, tls, timeout, protocol or error."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    root = chain[-1]
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        msg = getattr(root, "verify_message", None) or str(root)
        return "tls", f"TLS verification failed: {msg}"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls", f"TLS handshake failed: {root}"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns", f"could not resolve host: {root}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused", "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out ({type(exc).__name__})"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.ReadError)):
        return "protocol", f"protocol error: {exc or type(exc).__name__}"
    return "error", f"{type(exc).__name__}: {exc}"


def _read_capped(chunks: Iterator[bytes]) -> tuple[bytes, bool]:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) > MAX_BODY_BYTES:
            return bytes(buf[:MAX_BODY_BYTES]), True
    return bytes(buf), False


def _excerpt(text: str) -> str:
    flat = " ".join(text[: EXCERPT_CHARS * 2].split())[:EXCERPT_CHARS]
    return "".join(ch if ch.isprintable() else "?" for ch in flat)  # NULs and escapes stay out


def _decode_body(raw: bytes, encoding: str) -> bytes:
    """Undo gzip/deflate ourselves with a size cap: a bomb must not be inflated whole."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return raw
    if enc in ("gzip", "x-gzip", "deflate"):
        wbits = zlib.MAX_WBITS | 32  # auto-detect gzip or zlib headers
        try:
            d = zlib.decompressobj(wbits)
            out = d.decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error as exc:
            raise ValueError(f"protocol error: bad {enc} body ({exc})") from None
        return out  # one byte past the cap tells the caller it was truncated
    raise ValueError(f"protocol error: unsupported content-encoding {encoding!r}")


def _parse_json(text: str, *, json_declared: bool) -> object:
    """The document, _NOT_JSON for a non-JSON body, or a str describing a parse failure."""
    if not json_declared and not text.lstrip().startswith(("{", "[")):
        return _NOT_JSON
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return "invalid JSON: nested too deeply"
    except ValueError as exc:
        return f"invalid JSON: {exc}"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None  # HTTP-date form: our own backoff is a fine substitute


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    if isinstance(verify, bool):
        return verify
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


def _join_url(base_url: str, path: str) -> str:
    """Join a base URL (which may carry a path prefix) and a health path."""
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _origin(url: str) -> tuple[str, str, int | None]:
    s = urlsplit(url)
    default = {"http": 80, "https": 443}.get(s.scheme)
    return s.scheme, (s.hostname or "").lower(), s.port or default


def _strip_userinfo(url: str) -> str:
    s = urlsplit(url)
    if "@" not in s.netloc:
        return url
    return urlunsplit(s._replace(netloc=s.netloc.rsplit("@", 1)[1]))


def _path_of(url: str) -> str:
    s = urlsplit(url)
    return s.path + (f"?{s.query}" if s.query else "")


def _version_of(doc: object) -> str | None:
    for key in VERSION_KEYS:
        found, v = _lookup(doc, tuple(key.split(".")))
        if found and v not in (None, "") and isinstance(v, (str, int, float)):
            return str(v)
    return None


# --- the wait ----------------------------------------------------------------------------------


def _delays() -> Iterator[float]:
    """Capped exponential backoff with ±20 % jitter: 50 ms, 75 ms, ... 250 ms."""
    d = FIRST_DELAY_S
    while True:
        yield d * random.uniform(1 - JITTER, 1 + JITTER)
        d = min(d * BACKOFF_FACTOR, MAX_DELAY_S)


# Nothing usable came back: not a reason to try the next candidate path, nor to settle on one.
_NO_ANSWER = frozenset({"refused", "dns", "timeout", "tls", "error", "protocol"})


def wait_until_ready(
    spec: ReadinessSpec,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReadinessResult:
    """Poll until ready, or raise NotReadyError (with the attempt log) or VersionMismatchError."""
    if spec.successes < 1:
        raise ValueError(f"successes must be at least 1, got {spec.successes}")
    poller = _Poller(spec, clock)
    deadline = poller.start + spec.timeout_s
    candidates = list(spec.paths or DEFAULT_PATHS)
    chosen: str | None = candidates[0] if len(candidates) == 1 else None
    streak, ever_ready, delays = 0, False, _delays()
    try:
        while True:
            remaining = deadline - clock()
            if remaining <= 0 and poller.attempts:
                raise _not_ready(poller, spec, "timeout", clock, ever_ready, chosen, candidates)
            ans = None
            for path in [chosen] if chosen else candidates:
                remaining = deadline - clock()
                if remaining <= 0 and poller.attempts:
                    break
                # The first attempt always runs: a verdict without a single answer helps nobody.
                if not poller.attempts:
                    remaining = max(remaining, MIN_FIRST_ATTEMPT_S)
                budget = min(spec.attempt_timeout_s, remaining)
                ans = poller.attempt(path, budget, clipped=budget < spec.attempt_timeout_s)
                a = ans.attempt
                if a.outcome in _NO_ANSWER or a.status not in (404, 405):
                    if a.outcome not in _NO_ANSWER:
                        chosen = path  # discovery: the first path that answers is the one
                    break
            if ans is not None and ans.attempt.outcome == "ready":
                streak += 1
                ever_ready = True
                if streak >= spec.successes:
                    return _finish(poller, spec, ans, clock)
            else:
                streak = 0
            pause = next(delays)
            if ans is not None and ans.retry_after_s is not None:
                pause = max(pause, min(ans.retry_after_s, MAX_RETRY_AFTER_S))
            pause = min(pause, deadline - clock())
            if pause > 0:
                sleep(pause)
    except _RedirectLoop as loop:
        raise _not_ready(
            poller, spec, "redirect_loop", clock, ever_ready, chosen, candidates, str(loop)
        ) from None
    finally:
        poller.close()


def _finish(
    poller: _Poller, spec: ReadinessSpec, ans: _Answer, clock: Callable[[], float]
) -> ReadinessResult:
    path = ans.attempt.path
    result = ReadinessResult(
        url=poller.url_for(path),
        path=path,
        waited_s=clock() - poller.start,
        attempts=poller.attempts,
        version=_version_of(ans.body),
        body=ans.body,
    )
    if spec.expected_version is not None and result.version != spec.expected_version:
        raise VersionMismatchError(spec.expected_version, result.version, result)
    return result


_HINTS = {
    "refused": "nothing listens there yet: check that the service started and the port, "
    "or raise --gate-ready-timeout",
    "dns": "the host name does not resolve: check the base URL for a typo",
    "timeout": "the service accepts connections but does not answer in time: check the service "
    "logs, or raise --gate-ready-timeout",
    "tls": "fix the certificate or pass its CA bundle; verification is never switched off silently",
    "redirect": "the health path redirects (to a login page?): use an unauthenticated health path",
    "redirect_loop": "the health path redirects in a circle: fix the routing or use another path",
    "unstable": "the service flaps: check its logs for restarts or failing dependencies",
    "discovery": "no health path found: pass the health path explicitly",
}


def _not_ready(
    poller: _Poller,
    spec: ReadinessSpec,
    kind: str,
    clock: Callable[[], float],
    ever_ready: bool,
    chosen: str | None,
    candidates: list[str],
    reason: str = "",
) -> NotReadyError:
    attempts = poller.attempts
    last = poller.telling
    last_outcome = last.outcome if last else "timeout"
    waited = clock() - poller.start
    if kind == "timeout" and ever_ready and spec.successes > 1:
        kind = "unstable"
        n_ok = sum(a.outcome == "ready" for a in attempts)
        reason = (
            f"unstable: flapped between ready and not ready ({n_ok} of {len(attempts)} "
            f"attempts ready, {spec.successes} consecutive needed)"
        )
    elif not reason:
        reason = last.detail if last else "no attempt was made"
    hint_key = kind if kind != "timeout" else last_outcome
    if (
        kind == "timeout"
        and chosen is None
        and attempts
        and all(a.status in (404, 405) for a in attempts[-len(candidates) :])
    ):
        hint_key = "discovery"
        reason = f"none of {', '.join(candidates)} answered anything but 404/405"
    hint = _HINTS.get(hint_key, "check the service logs, or raise --gate-ready-timeout")
    if kind == "timeout" and hint_key != "discovery" and poller.last_hint:
        hint = poller.last_hint
    url = _strip_userinfo(spec.base_url)
    lines = [
        f"{url} was not ready after {waited:.1f} s (timeout {spec.timeout_s:g} s): {reason}",
        *(f"  {a.line()}" for a in attempts[-LOG_ATTEMPTS:]),
        f"hint: {hint}",
    ]
    path = chosen or (last.path if last else candidates[0])
    result = ReadinessResult(poller.url_for(path), path, waited, attempts, None, None)
    return NotReadyError("\n".join(lines), result, kind, last_outcome)
