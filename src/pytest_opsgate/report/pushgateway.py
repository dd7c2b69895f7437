"""Push the run's metrics to a Prometheus Pushgateway, the batch-job way.

Two groups, so that a failed run never erases the last success and no run leaves stale rows:

- ``job=<job>[/instance=<instance>]`` gets the run metrics (verdict, duration, SLO rows,
  endpoint counts) with PUT (``push_to_gateway``): the group is replaced whole, so an SLO or
  endpoint that is gone from this run is gone from the gateway too. A POST (pushadd) would
  keep a family this run has no sample for, e.g. last run's SLO rows after a run that ended
  before evaluating any.
- ``job=<job>[/instance=<instance>]/group=last_success`` gets
  ``opsgate_last_success_timestamp_seconds`` with POST (``pushadd_to_gateway``), only on
  PASS. No other push touches that group, so after a FAIL it still holds the earlier time:
  alert on ``time() - opsgate_last_success_timestamp_seconds > ...``.

Requests go through the project's bounded client (one total deadline per request, secrets
redacted). Auth comes from the environment: ``OPSGATE_PUSHGATEWAY_TOKEN`` (bearer) or
``OPSGATE_PUSHGATEWAY_USER`` with ``OPSGATE_PUSHGATEWAY_PASSWORD`` (basic). A push failure
is returned as a note and never raised: exporting is not part of the verdict.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import GateUsageError
from ..settings.parse import check_pushgateway_url
from .openmetrics import build_registry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..http.redact import Redactor
    from .openmetrics import RunSummary

__all__ = [
    "DEFAULT_JOB",
    "LAST_SUCCESS_GROUP",
    "PASSWORD_ENV",
    "TOKEN_ENV",
    "USER_ENV",
    "check_pushgateway_url",
    "push_run",
    "pushgateway_headers",
]

DEFAULT_JOB = "opsgate"
LAST_SUCCESS_GROUP = ("group", "last_success")
TOKEN_ENV = "OPSGATE_PUSHGATEWAY_TOKEN"
USER_ENV = "OPSGATE_PUSHGATEWAY_USER"
PASSWORD_ENV = "OPSGATE_PUSHGATEWAY_PASSWORD"
DEFAULT_TIMEOUT_S = 10.0
_EXCERPT = 200


def pushgateway_headers(environ: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """The Authorization header from the environment, if any; GateUsageError on a half pair."""
    env = os.environ if environ is None else environ
    token, user, password = (env.get(name, "") for name in (TOKEN_ENV, USER_ENV, PASSWORD_ENV))
    if token and (user or password):
        raise GateUsageError(
            f"{TOKEN_ENV} and {USER_ENV}/{PASSWORD_ENV} are both set; keep bearer or basic auth"
        )
    if bool(user) != bool(password):
        raise GateUsageError(
            f"basic auth for --gate-pushgateway needs both {USER_ENV} and {PASSWORD_ENV}; "
            "set the missing one or unset both"
        )
    if token:
        return (("Authorization", f"Bearer {token}"),)
    if user:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return (("Authorization", f"Basic {pair}"),)
    return ()


class PushFailed(Exception):
    """The Pushgateway refused a push or could not be reached."""


def _bounded_handler(
    auth: tuple[tuple[str, str], ...], redactor: Redactor | None
) -> Callable[..., Callable[[], None]]:
    """A prometheus_client push handler that sends through the bounded GateClient."""
    import httpx

    from ..http.client import GateClient, Timeouts

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            total = timeout or DEFAULT_TIMEOUT_S
            limits = Timeouts(connect=min(total, 5.0), read=total, total=total)
            with GateClient(timeouts=limits, redactor=redactor) as client:
                try:
                    response = client.request(method, url, content=data, headers=[*headers, *auth])
                except httpx.HTTPError as exc:
                    raise PushFailed(str(exc)) from None
            if response.status_code >= 400:
                body = response.text.strip().replace("\n", " ")[:_EXCERPT]
                raise PushFailed(
                    f"{method} {urlsplit(url).path}: HTTP {response.status_code} {body}"
                )

        return send

    return handler


def push_run(
    url: str,
    summary: RunSummary,
    *,
    job: str = DEFAULT_JOB,
    instance: str | None = None,
    headers: tuple[tuple[str, str], ...] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    redactor: Redactor | None = None,
) -> str | None:
    """Push the run (module docstring); None when it arrived, else a note saying what failed.

    Never raises an Exception (KeyboardInterrupt still propagates); each request is bounded
    by ``timeout`` seconds, so the whole call by twice that.
    """
    from prometheus_client import push_to_gateway, pushadd_to_gateway

    try:
        base = check_pushgateway_url(url)
        auth = pushgateway_headers() if headers is None else headers
    except (ValueError, GateUsageError) as exc:
        return f"metrics not pushed: {exc}"
    if redactor is not None:
        for _name, value in auth:
            redactor.register(value.partition(" ")[2])
    handler = _bounded_handler(auth, redactor)
    grouping = {"instance": instance} if instance else {}
    steps: list[tuple[str, Callable[[], None]]] = [
        (
            "run metrics",
            lambda: push_to_gateway(
                base, job, build_registry(summary, last_success=False), grouping, timeout, handler
            ),
        )
    ]
    if summary.passed:
        key = dict(grouping, **dict([LAST_SUCCESS_GROUP]))
        steps.append(
            (
                "last success",
                lambda: pushadd_to_gateway(
                    base, job, build_registry(summary, run=False), key, timeout, handler
                ),
            )
        )
    for what, push in steps:
        try:
            push()
        except Exception as exc:  # exporting must never change the verdict or crash the run
            note = f"{what} not pushed to {base}: {exc}"
            return redactor.redact_text(note) if redactor is not None else note
    return None
