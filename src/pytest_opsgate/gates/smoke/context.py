"""What a smoke check runs with: the recording client, its secrets, its time budget.

Pure of pytest: a check reports a hard failure with CheckFailed, a skip with CheckSkipped,
and returns findings (problems that a profile in ``warn`` mode only warns about).
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ...http.client import GateClient
    from ...http.redact import Redactor
    from ...slo.evaluate import SLOResult
    from .spec import Body, Credential

MAX_429_RETRIES = 3
_EXCERPT = 240


class CheckFailed(Exception):
    """The target broke an expectation; the message is already redacted."""


class CheckUnmeasured(CheckFailed):
    """The check could not be made at all (its secret is not set): ERROR, not FAIL."""


class CheckSkipped(Exception):
    """The check cannot apply (optional secret missing, no JSON health body)."""


class Context:
    """One check's client, secrets, deadline, notes and SLO results."""

    def __init__(
        self,
        client: GateClient,
        *,
        base_url: str,
        redactor: Redactor,
        budget_s: float,
        min_samples: int = 1,
        health_paths: Iterable[str] = (),
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.redactor = redactor
        self.budget_s = budget_s
        self.min_samples = min_samples
        self.health_paths = list(health_paths)
        self.environ = os.environ if environ is None else environ
        self.clock = clock
        self.sleep = sleep
        self.deadline = clock() + budget_s
        self.notes: list[str] = []
        self.slo_results: list[SLOResult] = []

    # time

    def remaining(self) -> float:
        """Seconds left of the check's budget."""
        return max(0.0, self.deadline - self.clock())

    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.clock() >= self.deadline

    # text

    def redact(self, text: str) -> str:
        """Text with every registered secret hidden."""
        return self.redactor.redact_text(text)

    def note(self, text: str) -> None:
        """Something worth telling that is not a problem (shown with the test's report)."""
        self.notes.append(self.redact(text))

    def fail(self, message: str) -> CheckFailed:
        """A hard failure, redacted."""
        return CheckFailed(self.redact(message))

    def excerpt(self, response: httpx.Response) -> str:
        """``401 application/json {"error": ...}``: status, type and the body's start, redacted."""
        content_type = response.headers.get("content-type", "no content type")
        data = response.content[: _EXCERPT * 4]
        text = data.decode("utf-8", "replace")
        complete = len(data) == len(response.content) and len(text) <= _EXCERPT
        body = self.redactor.redact_body(text[:_EXCERPT], content_type, complete=complete)
        body = " ".join(body.split())
        more = "..." if not complete else ""
        return f"{response.status_code} {content_type}" + (f": {body}{more}" if body else "")

    # secrets

    def secret(self, env: str, *, optional: bool) -> str:
        """The value of a secret's environment variable; skip or fail when it is not set."""
        value = self.environ.get(env, "")
        if value:
            self.redactor.register(value)
            return value
        state = "is empty" if env in self.environ else "is not set"
        if optional:
            raise CheckSkipped(f"environment variable {env} {state} (optional = true)")
        raise CheckUnmeasured(
            f"environment variable {env} {state}; export it or mark the check optional"
        )

    # requests

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        query: Iterable[tuple[str, str]] = (),
        body: Body | bytes | None = None,
        credential: Credential | None = None,
        secret: str | None = None,
        follow_redirects: bool = False,
        retry_429: bool = True,
        name: str | None = None,
    ) -> httpx.Response:
        """Send one request; a 429 is retried after Retry-After while the budget allows.

        ``name`` is the endpoint the request counts under in metrics and baselines (default:
        its method and path), for paths that differ on every run.
        """
        request_headers = httpx.Headers(list(headers))
        params: list[tuple[str, str | int | float | bool | None]] = list(query)
        if credential is not None and secret is not None:
            apply_credential(credential, secret, request_headers, params)
        kwargs: dict[str, object] = {}
        if isinstance(body, bytes):
            kwargs["content"] = body
        elif body is not None and body.kind == "json":
            kwargs["json"] = body.value
        elif body is not None and body.kind == "form":
            kwargs["data"] = body.value
        elif body is not None:
            kwargs["content"] = str(body.value).encode()
            request_headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        label = name or f"{method} {path.split('?', 1)[0]}"
        if name is not None:
            from ...http.client import NAME_EXTENSION

            kwargs["extensions"] = {NAME_EXTENSION: name}
        retries = 0
        while True:
            try:
                response = self.client.request(
                    method,
                    path,
                    headers=request_headers,
                    params=params or None,
                    follow_redirects=follow_redirects,
                    **kwargs,  # type: ignore[arg-type]
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise self.fail(str(exc) or f"{label}: {type(exc).__name__}") from None
            if response.status_code != 429 or not retry_429:
                return response
            wait, shown = retry_after_seconds(response.headers.get("retry-after"))
            left = self.remaining()
            if retries >= MAX_429_RETRIES or wait > left:
                why = (
                    f"waiting {_seconds(wait)} would pass the check's remaining budget of "
                    f"{left:.1f} s"
                    if wait > left
                    else f"still limited after {retries} retries"
                )
                raise self.fail(
                    f"{label} answered 429 Too Many Requests (Retry-After: {shown}); {why}, "
                    "so the check stops here: give the gate's credential its own rate limit "
                    "or raise budget"
                )
            retries += 1
            self.note(f"{label} answered 429; retried after {_seconds(wait)} (Retry-After)")
            self.sleep(wait)

    def last_elapsed_ms(self) -> float | None:
        """Duration of the latest recorded exchange (the final hop of the latest request)."""
        exchanges = self.client.exchanges
        return exchanges[-1].elapsed_ms if exchanges else None

    def exchange_count(self) -> int:
        """How many exchanges were recorded so far: a mark for :meth:`elapsed_since`."""
        return len(self.client.exchanges)

    def elapsed_since(self, mark: int) -> float | None:
        """The time of every hop recorded since ``mark`` (a followed redirect is part of the
        request a user waits for, so a slow first hop counts against the budget)."""
        hops = [e.elapsed_ms for e in self.client.exchanges[mark:] if e.elapsed_ms is not None]
        return sum(hops) if hops else None

    def json_body(self, response: httpx.Response) -> object:
        """The strictly parsed JSON body, or CheckFailed saying why it is not JSON."""
        from ...http.client import InvalidJSON

        try:
            return self.client.json_of(response)
        except InvalidJSON as exc:
            raise self.fail(str(exc)) from None


def apply_credential(
    credential: Credential,
    value: str,
    headers: httpx.Headers,
    params: list[tuple[str, str | int | float | bool | None]],
) -> None:
    """Put a credential where it goes: a header, ``Authorization: <scheme>``, or the query."""
    if credential.header:
        headers[credential.header] = value
    elif credential.scheme:
        headers["Authorization"] = f"{credential.scheme} {value}"
    elif credential.query:
        params.append((credential.query, value))


def retry_after_seconds(value: str | None) -> tuple[float, str]:
    """Seconds a Retry-After asks for (delta or HTTP date; 1 s when absent) and how to show it."""
    if value is None or not value.strip():
        return 1.0, "absent, 1 s assumed"
    text = value.strip()
    if text.isdigit():
        return float(text), f"{text} ({_seconds(float(text))})" if int(text) >= 120 else text
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return 1.0, f"{text!r}, unreadable, 1 s assumed"
    seconds = max(0.0, when.timestamp() - time.time())
    return seconds, f"{text} (in {_seconds(seconds)})"


def _seconds(value: float) -> str:
    if value >= 7200:
        return f"{value / 3600:g} h"
    if value >= 120:
        return f"{value / 60:g} min"
    return f"{math.ceil(value * 10) / 10:g} s"


# --------------------------------------------------------------------------- JSON fields

_MISSING = object()


def lookup(document: object, dotted: str) -> tuple[object, str]:
    """The value at ``a.b.0.c``, or (_MISSING, why it is missing)."""
    current = document
    walked: list[str] = []
    for part in dotted.split("."):
        where = ".".join(walked) or "the body"
        if isinstance(current, dict):
            if part not in current:
                keys = ", ".join(sorted(map(str, current))[:8]) or "none"
                return _MISSING, f"{where} has no {part!r} (keys: {keys})"
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                return _MISSING, f"{where} is a list of {len(current)}, with no item {part!r}"
            current = current[int(part)]
        else:
            return _MISSING, f"{where} is {json_text(current)}, not an object"
        walked.append(part)
    return current, ""


def is_missing(value: object) -> bool:
    """Whether :func:`lookup` found nothing."""
    return value is _MISSING


def json_equal(a: object, b: object) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def json_text(value: object, limit: int = 80) -> str:
    """A short JSON rendering for messages."""
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
