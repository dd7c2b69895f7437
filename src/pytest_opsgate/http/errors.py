"""The errors `GateClient` raises, each an `httpx.HTTPError` whose message names the request.

`describe_failure` turns whatever went wrong while sending into such an error, e.g.
"GET /slow: total deadline 30 s exceeded after 30.0 s (1,024 bytes received)".
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from .exchange import Exchange
    from .redact import Redactor
    from .transport import Deadline

__all__ = [
    "BodyTooLarge",
    "DeadlineExceeded",
    "GateHTTPError",
    "InvalidJSON",
    "TransportFailure",
    "describe_failure",
]


class GateHTTPError(httpx.HTTPError):
    """Base of the errors this client adds; the message names the request."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        super().__init__(message)
        self._request = request
        self.exchange = exchange


class DeadlineExceeded(GateHTTPError, httpx.TimeoutException):
    """The total per-request deadline ran out."""


class BodyTooLarge(GateHTTPError):
    """The decoded response body passed the byte cap."""


class InvalidJSON(GateHTTPError, ValueError):
    """The body is not strict JSON (syntax, NaN/Infinity, too deep, empty)."""


class TransportFailure(GateHTTPError, httpx.TransportError):
    """An unexpected non-httpx error while talking to the server."""


def describe_failure(
    exc: Exception,
    request: httpx.Request,
    label: str,
    *,
    connect_s: float,
    read_s: float,
    current: Deadline,
    body_bytes: int,
    redactor: Redactor,
) -> httpx.HTTPError:
    """An error of the same httpx kind as `exc` whose (redacted) message says what went wrong."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException) and current.expired():
        took = time.perf_counter() - current.started
        return DeadlineExceeded(
            redactor.redact_text(
                f"{label}: total deadline {current.total:g} s exceeded after {took:.1f} s "
                f"({current.bytes_received:,} bytes received); the server is too slow "
                "or the total timeout too short"
            ),
            request=request,
        )
    if isinstance(exc, httpx.ConnectTimeout):
        problem = f"connect timeout: no connection within {connect_s:g} s"
    elif isinstance(exc, httpx.ReadTimeout):
        problem = f"read timeout: the server sent nothing for {read_s:g} s"
    elif isinstance(exc, httpx.WriteTimeout):
        problem = f"write timeout: the server accepted no data for {read_s:g} s"
    elif isinstance(exc, httpx.PoolTimeout):
        problem = f"no free connection in the pool within {current.total:g} s"
    elif isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in detail:
        problem = (
            f"TLS verification failed ({detail}); pass verify=<CA bundle path> "
            "for a private CA, never verify=False in a gate"
        )
    elif isinstance(exc, httpx.ConnectError):
        problem = f"cannot connect ({detail})"
    elif isinstance(exc, httpx.RemoteProtocolError):
        problem = f"protocol error after {body_bytes:,} body bytes ({detail})"
    elif isinstance(exc, httpx.ReadError):
        problem = f"connection broken after {body_bytes:,} body bytes ({detail})"
    elif isinstance(exc, httpx.WriteError):
        problem = f"connection broken while sending the request ({detail})"
    elif isinstance(exc, httpx.DecodingError):
        problem = f"cannot decode the response body ({detail})"
    elif isinstance(exc, httpx.HTTPError):
        problem = f"{type(exc).__name__}: {detail}"
    else:
        problem = f"unexpected {type(exc).__name__} while talking to the server ({detail})"
    message = redactor.redact_text(f"{label}: {problem}")
    if isinstance(exc, httpx.RequestError) and not isinstance(exc, GateHTTPError):
        try:
            return type(exc)(message, request=request)
        except TypeError:
            pass
    return TransportFailure(message, request=request)
