"""Wait until a service is ready: poll its health endpoint with backoff and a monotonic deadline.

Pure logic; knows nothing of pytest. The contract, one fault at a time, is in FAULTS.md
(F1-F12, F19, F20): a redirect is never followed and headers never leave the origin, TLS
verification is never silently dropped, HTML is not health, and "degraded" is not ready unless
an expectation accepts it. One bounded request is `probe.Probe`; the expectation language is
`expect` (`Expectation` and `parse_expect` are re-exported here).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from .expect import Expectation, _lookup, parse_expect
from .health import HealthReading, accept_hint, read_json, read_text
from .probe import Failure, Probe

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .probe import Reply

__all__ = [
    "DEFAULT_PATHS",
    "VERSION_KEYS",
    "Attempt",
    "Expectation",
    "NotReadyError",
    "ReadinessResult",
    "ReadinessSpec",
    "parse_expect",
    "wait_until_ready",
]

DEFAULT_PATHS = ["/api/health/", "/health", "/healthz", "/ready", "/readyz"]
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

_NOT_JSON = object()


# --- results and errors ----------------------------------------------------------------------


@dataclass
class Attempt:
    """One health request and its verdict."""

    number: int
    path: str
    at_s: float  # seconds since the wait started, on the injected monotonic clock
    status: int | None
    latency_ms: float | None
    # ready | not_ready | version | refused | dns | timeout | tls | redirect | protocol | error
    outcome: str
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
    last_version: str | None = None  # the version the last healthy answer reported


class NotReadyError(Exception):
    """The service never became ready; `str()` is the full message with the attempt log."""

    def __init__(self, message: str, result: ReadinessResult, kind: str, last_outcome: str) -> None:
        super().__init__(message)
        self.message = message
        self.result = result
        self.kind = kind  # timeout | unstable | redirect_loop | version
        self.last_outcome = last_outcome

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[NotReadyError], tuple[str, ReadinessResult, str, str]]:
        return type(self), (self.message, self.result, self.kind, self.last_outcome)


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
    health: bool = False  # a health endpoint answered (settles discovery on this path)


class _Poller:
    """Runs and judges attempts against one base URL with one probe; never follows redirects."""

    def __init__(self, spec: ReadinessSpec, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.clock = clock
        self.expects = [parse_expect(e) for e in spec.expects]
        # An expectation on the key a reading used replaces the table's judgement of it.
        self.user_keys = {e.path[0] for e in self.expects if len(e.path) == 1}
        self.origin = _origin(spec.base_url)
        self.attempts: list[Attempt] = []
        self.last_hint = ""
        self.telling: Attempt | None = None
        self.probe = Probe(spec.verify, MAX_BODY_BYTES)
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
        got = self.probe.get(url, headers, timeout)
        if isinstance(got, Failure):
            return _Answer(Attempt(0, "", 0, got.status, got.latency_ms, got.outcome, got.detail))
        return self._judge(got)

    def _judge(self, reply: Reply) -> _Answer:
        status, latency, truncated = reply.status, reply.latency_ms, reply.truncated
        ctype = reply.headers.get("content-type", "").split(";")[0].strip().lower()
        body_text = reply.body.decode(reply.charset, "replace")
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
            loc = reply.headers.get("location", "")
            return verdict("redirect", f"redirect to {loc or '(no Location)'} (not followed)",
                           location=loc or None)  # fmt: skip
        retry = _retry_after(reply.headers.get("retry-after")) if status in (429, 503) else None
        if not 200 <= status < 300:
            ans = verdict("not_ready", f"not ready: HTTP {status}", retry_after_s=retry)
            # Spring answers 503 {"status": "DOWN"}: a health endpoint, just not ready.
            doc = _parse_json(body_text, json_declared=ctype.endswith("json"))
            if isinstance(doc, dict) and read_json(doc).state != "silent":
                reading = read_json(doc)
                ans = verdict("not_ready", f"not ready: HTTP {status}, {reading.detail}", doc,
                              retry_after_s=retry)  # fmt: skip
                ans.health = True
            return ans
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
        answer = self._judge_health(body_text, ctype, verdict)
        answer.health = True
        return answer

    def _judge_health(self, body_text: str, ctype: str, verdict: Callable[..., _Answer]) -> _Answer:
        doc = _parse_json(body_text, json_declared=ctype.endswith("json"))
        if isinstance(doc, str):  # a parse problem
            return verdict("not_ready", f"not ready: {doc}")
        subject: object  # what expectations read: the JSON, or a health word as "status"
        if doc is _NOT_JSON:
            reading = read_text(body_text)
            subject = {"status": body_text.strip()} if reading.where == "the body" else None
            doc = None
        else:
            reading = read_json(doc)
            subject = doc
        if not reading.ready and not self._user_judges(reading):
            ans = verdict("not_ready", f"not ready: {reading.detail}", doc)
            ans.hint = self._hint(reading)
            return ans
        if self.expects and subject is None:
            return verdict(
                "not_ready",
                f"not ready: expectations need a JSON body or a health word, got {ctype}",
            )
        for e in self.expects:
            why = e.check(subject)
            if why is not None:
                return verdict("not_ready", f"not ready: {why}", doc)
        wanted = self.spec.expected_version
        if wanted is not None:
            serving = _version_of(doc)
            if serving != wanted:
                # During a rolling deploy the old version answers healthy first: keep waiting.
                shown = serving if serving is not None else "no version"
                ans = verdict("version", f"ready, but serving {shown}, want {wanted}", doc)
                ans.hint = (
                    f"the target has not rolled out {wanted} yet (or its health body reports "
                    f"the version under another key than {', '.join(VERSION_KEYS)}): check the "
                    "rollout, or raise --gate-ready-timeout"
                )
                return ans
        return verdict("ready", "ready", doc)

    def _user_judges(self, reading: HealthReading) -> bool:
        key = "status" if reading.where in ("the body", "text") else reading.where
        return key in self.user_keys

    @staticmethod
    def _hint(reading: HealthReading) -> str:
        if reading.where in {"ok", "healthy", "ready", "up", "alive"}:
            return (
                f"the body says {reading.where}: false; fix the service, or pass "
                f"--gate-ready-expect '{reading.where} in [true, false]' to ignore it"
            )
        return accept_hint(reading)

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
        self.probe.close()


def _excerpt(text: str) -> str:
    flat = " ".join(text[: EXCERPT_CHARS * 2].split())[:EXCERPT_CHARS]
    return "".join(ch if ch.isprintable() else "?" for ch in flat)  # NULs and escapes stay out


def _parse_json(text: str, *, json_declared: bool) -> object:
    """The document, _NOT_JSON for a non-JSON body, or a str describing a parse failure."""
    if not json_declared and not text.lstrip().startswith(("{", "[")):
        return _NOT_JSON
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return "invalid JSON: nested too deeply"
    except ValueError as exc:
        if not json_declared and text.lstrip().startswith("[+]"):
            return _NOT_JSON  # Kubernetes' verbose readyz lines, not a JSON list
        return f"invalid JSON: {exc}"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None  # HTTP-date form: our own backoff is a fine substitute


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
    """Poll until ready (and serving ``expected_version``), or raise NotReadyError with the log."""
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
                # Discovery settles on the first path that gives a health answer; a 404, a
                # web page or a proxy's 5xx while the app boots does not settle it.
                if chosen is None and ans.health:
                    chosen = path
                    break
            if ans is not None and ans.attempt.outcome == "ready" and chosen is not None:
                streak += 1
                ever_ready = True
                if streak >= spec.successes:
                    return _finish(poller, ans, clock)
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


def _finish(poller: _Poller, ans: _Answer, clock: Callable[[], float]) -> ReadinessResult:
    path = ans.attempt.path
    version = _version_of(ans.body)
    return ReadinessResult(
        url=poller.url_for(path),
        path=path,
        waited_s=clock() - poller.start,
        attempts=poller.attempts,
        version=version,
        body=ans.body,
        last_version=version,
    )


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
    "discovery": "no health path found: pass the health path with --gate-ready-path",
}


def _last_answers(attempts: list[Attempt], candidates: list[str]) -> str:
    """``/health -> 503, /healthz -> refused``: what each candidate answered last."""
    last: dict[str, Attempt] = {}
    for attempt in attempts:
        last[attempt.path] = attempt
    parts = []
    for path in candidates:
        a = last.get(path)
        if a is None:
            parts.append(f"{path} -> not tried")
        elif a.status is not None:
            parts.append(f"{path} -> {a.status} ({a.detail.removeprefix('not ready: ')})")
        else:
            parts.append(f"{path} -> {a.detail}")
    return "; ".join(parts)


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
    serving = None
    versions = [a for a in attempts if a.outcome == "version"]
    if kind == "timeout" and last_outcome == "version" and versions:
        kind = "version"
        serving = versions[-1].detail.removeprefix("ready, but ")
        reason = f"still {serving}"
    elif kind == "timeout" and ever_ready and spec.successes > 1:
        kind = "unstable"
        n_ok = sum(a.outcome == "ready" for a in attempts)
        reason = (
            f"unstable: flapped between ready and not ready ({n_ok} of {len(attempts)} "
            f"attempts ready, {spec.successes} consecutive needed)"
        )
    elif not reason:
        reason = last.detail if last else "no attempt was made"
    hint_key = kind if kind != "timeout" else last_outcome
    if kind == "timeout" and chosen is None and len(candidates) > 1 and attempts:
        hint_key = "discovery"
        reason = f"no health path gave a health answer; {_last_answers(attempts, candidates)}"
    hint = _HINTS.get(hint_key, "check the service logs, or raise --gate-ready-timeout")
    if kind in ("timeout", "version") and hint_key != "discovery" and poller.last_hint:
        hint = poller.last_hint
    url = _strip_userinfo(spec.base_url)
    lines = [
        f"{url} was not ready after {waited:.1f} s (timeout {spec.timeout_s:g} s): {reason}",
        *(f"  {a.line()}" for a in attempts[-LOG_ATTEMPTS:]),
        f"hint: {hint}",
    ]
    path = chosen or (last.path if last else candidates[0])
    last_version = None
    if versions:
        last_version = versions[-1].detail.removeprefix("ready, but serving ").split(",")[0]
    result = ReadinessResult(
        poller.url_for(path), path, waited, attempts, None, None, last_version=last_version
    )
    return NotReadyError("\n".join(lines), result, kind, last_outcome)
