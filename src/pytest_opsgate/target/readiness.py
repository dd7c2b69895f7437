"""Wait until a service is ready: poll its health endpoint with backoff and a monotonic deadline.

Pure logic; knows nothing of pytest. The contract, one fault at a time, is in FAULTS.md
(F1-F12, F19, F20, F41): the first attempt always runs, discovery settles on the first
candidate path that gives a health answer, K consecutive successes are needed, Retry-After is
honoured up to the budget left, and every way of running out of time ends in `NotReadyError`
with the attempt log and a hint. One attempt and its judgement are `attempt.Poller`; the
expectation language is `expect` (`Expectation` and `parse_expect` are re-exported here).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .attempt import VERSION_KEYS, Attempt, Poller, RedirectLoop, strip_userinfo, version_of
from .expect import Expectation, parse_expect

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .attempt import Answer

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

FIRST_DELAY_S = 0.05
BACKOFF_FACTOR = 1.5
MAX_DELAY_S = 0.25
JITTER = 0.2
MAX_RETRY_AFTER_S = 5.0  # honour Retry-After politely, but a far-future value must not stall us
LOG_ATTEMPTS = 5
MIN_FIRST_ATTEMPT_S = 0.5


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
    # Asked before each round: a reason to give up now (a served process that died).
    give_up: Callable[[], str | None] | None = None


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
        self.kind = kind  # timeout | unstable | redirect_loop | version | gave_up
        self.last_outcome = last_outcome

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[NotReadyError], tuple[str, ReadinessResult, str, str]]:
        return type(self), (self.message, self.result, self.kind, self.last_outcome)


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
    poller = Poller(spec, clock)
    deadline = poller.start + spec.timeout_s
    candidates = list(spec.paths or DEFAULT_PATHS)
    chosen: str | None = candidates[0] if len(candidates) == 1 else None
    streak, ever_ready, delays = 0, False, _delays()
    try:
        while True:
            remaining = deadline - clock()
            if remaining <= 0 and poller.attempts:
                raise _not_ready(poller, spec, "timeout", clock, ever_ready, chosen, candidates)
            reason = spec.give_up() if spec.give_up is not None else None
            if reason:
                raise _not_ready(
                    poller, spec, "gave_up", clock, ever_ready, chosen, candidates, reason
                )
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
    except RedirectLoop as loop:
        raise _not_ready(
            poller, spec, "redirect_loop", clock, ever_ready, chosen, candidates, str(loop)
        ) from None
    finally:
        poller.close()


def _finish(poller: Poller, ans: Answer, clock: Callable[[], float]) -> ReadinessResult:
    path = ans.attempt.path
    version = version_of(ans.body)
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
    "gave_up": "the served command stopped: its output is in stack-logs.txt",
}


def _discovery_hint_key(attempts: list[Attempt]) -> str:
    """The hint of a discovery that found nothing: the network's, when no path got an answer."""
    # Every candidate refused (or failed DNS, TLS, timed out): the service is not there, and
    # "pass --gate-ready-path" would send the user after the wrong fix.
    last = {attempt.path: attempt.outcome for attempt in attempts}
    outcomes = set(last.values())
    if len(outcomes) == 1 and outcomes <= {"refused", "dns", "timeout", "tls"}:
        return outcomes.pop()
    return "discovery"


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
    poller: Poller,
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
        hint_key = _discovery_hint_key(attempts)
        reason = f"no health path gave a health answer; {_last_answers(attempts, candidates)}"
    hint = _HINTS.get(hint_key, "check the service logs, or raise --gate-ready-timeout")
    if hint_key == "discovery" and urlsplit(spec.base_url).path.strip("/"):
        path = urlsplit(spec.base_url).path.rstrip("/")
        hint += f", or check the base URL: its path {path} is put before every health path"
    if kind in ("timeout", "version") and hint_key != "discovery" and poller.last_hint:
        hint = poller.last_hint
    url = strip_userinfo(spec.base_url)
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
