"""One readiness attempt and its judgement: a health GET, then ready, not ready, or why not.

Pure logic; knows nothing of pytest. `Poller.attempt` sends one bounded GET through
`probe.Probe` and judges the answer against FAULTS.md (F5-F8, F12, F31): a redirect is never
followed and headers never leave the origin, HTML is not health, "degraded" is not ready
unless an expectation accepts it, and a version other than the expected one is not ready yet.
The wait around it is `readiness.wait_until_ready`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from .expect import _lookup, parse_expect
from .health import HealthReading, accept_hint, read_json, read_text
from .probe import Failure, Probe

if TYPE_CHECKING:
    from collections.abc import Callable

    from .probe import Reply
    from .readiness import ReadinessSpec

__all__ = ["VERSION_KEYS", "Answer", "Attempt", "Poller", "RedirectLoop"]

# Looked up in this order in the JSON body; the first present, non-empty one is the version.
VERSION_KEYS = ("version", "app_version", "APP_VERSION", "build.version", "git_sha", "commit")

MAX_BODY_BYTES = 64 * 1024  # health bodies are small; anything bigger is read only this far
MAX_REDIRECT_HOPS = 5
EXCERPT_CHARS = 200

_NOT_JSON = object()


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


class RedirectLoop(Exception):
    """The health path redirects in a circle, or through too many hops."""


@dataclass
class Answer:
    """An attempt plus what the wait needs of it: the body, where it redirects, Retry-After."""

    attempt: Attempt
    body: object = None
    location: str | None = None
    retry_after_s: float | None = None
    hint: str = ""  # a fix specific to this answer, preferred over the outcome's generic hint
    health: bool = False  # a health endpoint answered (settles discovery on this path)


class Poller:
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
        return strip_userinfo(_join_url(self.spec.base_url, path))

    def attempt(self, path: str, timeout: float, *, clipped: bool = False) -> Answer:
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

    def _request(self, url: str, headers: dict[str, str], timeout: float) -> Answer:
        got = self.probe.get(url, headers, timeout)
        if isinstance(got, Failure):
            return Answer(Attempt(0, "", 0, got.status, got.latency_ms, got.outcome, got.detail))
        return self._judge(got)

    def _judge(self, reply: Reply) -> Answer:
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
        ) -> Answer:
            a = Attempt(0, "", 0, status, latency, outcome, self._redact(detail), excerpt)
            return Answer(a, body, location, retry_after_s)

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

    def _judge_health(self, body_text: str, ctype: str, verdict: Callable[..., Answer]) -> Answer:
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
            serving = version_of(doc)
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
        """Walk same-origin hops (headers stay home) and raise RedirectLoop on a cycle."""
        seen = [url]
        nxt = urljoin(url, location)
        ends = time.perf_counter() + timeout  # the whole walk fits in one attempt's budget
        for _ in range(MAX_REDIRECT_HOPS):
            if nxt in seen:
                chain = " -> ".join(_path_of(u) for u in [*seen, nxt])
                raise RedirectLoop(f"redirect loop: {self._redact(chain)}")
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
        first = self._redact(strip_userinfo(seen[0]))
        raise RedirectLoop(f"too many redirects (more than {MAX_REDIRECT_HOPS}) from {first}")

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


def strip_userinfo(url: str) -> str:
    s = urlsplit(url)
    if "@" not in s.netloc:
        return url
    return urlunsplit(s._replace(netloc=s.netloc.rsplit("@", 1)[1]))


def _path_of(url: str) -> str:
    s = urlsplit(url)
    return s.path + (f"?{s.query}" if s.query else "")


def version_of(doc: object) -> str | None:
    for key in VERSION_KEYS:
        found, v = _lookup(doc, tuple(key.split(".")))
        if found and v not in (None, "") and isinstance(v, (str, int, float)):
            return str(v)
    return None
