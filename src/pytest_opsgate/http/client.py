"""An httpx client that bounds every request in time and bytes and records redacted exchanges.

Guarantees, per call of `send()` (and so of `get()`, `post()`, ...):

- Wall time is bounded by `Timeouts.total` across connect, TLS, sending, header reading,
  body reading and followed redirects, even against a server that drips one byte a second
  (`transport.deadline`). A custom `transport=` other than `httpx.HTTPTransport` only gets the
  deadline checked between body chunks. DNS resolution is not bounded.
- The body is read before `send()` returns, decoded by us in steps of at most 64 KiB and
  capped at `max_body_bytes` of decoded data (`BodyTooLarge`), so `response.content` and
  `.json()` work and a gzip bomb or endless body cannot exhaust memory. `stream=True` is
  accepted but also reads and caps the whole body; `iter_bytes()` then replays it from
  memory and `iter_raw()` is unavailable.
- Every failure is an `httpx.HTTPError` whose message names the request, e.g.
  "GET /slow: total deadline 30 s exceeded after 30.0 s (1,024 bytes received)" (`errors`).
- Redirects are followed only with `follow_redirects=True`; when they cross to another
  origin, every sensitive header (Authorization, X-Api-Key, Cookie, ...) is dropped
  (`redirects`).
- Each hop becomes an `Exchange` (redacted when captured, `exchange`) in `client.exchanges`
  and is passed to `on_exchange`. Group samples under one name with
  `client.get("/items/7", extensions={NAME_EXTENSION: "GET /items/{id}"})`.
- `client.json_of(response)` / `parse_json(response)` parse strictly: NaN, Infinity and
  nesting deeper than 200 levels are errors, and every error names the request (`json_body`).

httpx internals touched, all checked at construction: `Client._transport` and `_mounts`
(read), `HTTPTransport._pool._network_backend` (wrapped) and `Response._content` (set).
"""

from __future__ import annotations

import contextlib
import datetime
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from .errors import (
    BodyTooLarge,
    DeadlineExceeded,
    GateHTTPError,
    InvalidJSON,
    TransportFailure,
    describe_failure,
)
from .exchange import EXCERPT_CHARS, NAME_EXTENSION, Exchange, capture, request_label
from .json_body import DEFAULT_MAX_JSON_DEPTH, parse_json
from .redact import Redactor
from .redirects import redirect_request
from .transport import (
    ACCEPT_ENCODING,
    Body,
    Deadline,
    deadline,
    install_deadline,
    read_capped,
    tls_context,
)

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_BODY_BYTES",
    "EXCERPT_CHARS",
    "NAME_EXTENSION",
    "BodyTooLarge",
    "DeadlineExceeded",
    "Exchange",
    "GateClient",
    "GateHTTPError",
    "InvalidJSON",
    "Timeouts",
    "TransportFailure",
    "parse_json",
]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Per-request time limits in seconds; `total` bounds the whole call."""

    connect: float = 5.0
    read: float = 10.0
    total: float = 30.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(
                    f"Timeouts.{name} must be a positive number of seconds, not {value!r}"
                )


class GateClient(httpx.Client):
    """An httpx.Client whose requests are time- and size-bounded and recorded (module doc)."""

    def __init__(
        self,
        base_url: str | httpx.URL = "",
        *,
        timeouts: Timeouts | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        verify: bool | str | ssl.SSLContext = True,
        follow_redirects: bool = False,
        headers: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
        **kwargs: Any,
    ) -> None:
        if "timeout" in kwargs:
            raise TypeError(
                "GateClient takes timeouts=Timeouts(connect=, read=, total=), not timeout="
            )
        if max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes must be positive, not {max_body_bytes!r}")
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self.max_body_bytes = max_body_bytes
        self.redactor = redactor if redactor is not None else Redactor()
        self.on_exchange = on_exchange
        self.exchanges: list[Exchange] = []
        merged = httpx.Headers(headers)
        if "accept-encoding" not in merged:
            # Only codings we can decode with a size limit, so no bomb gets past the cap.
            merged["Accept-Encoding"] = ACCEPT_ENCODING
        t = self.timeouts
        super().__init__(
            base_url=base_url,
            headers=merged,
            # One shared context per trust store, unless httpx will change it (cert=, http2=).
            verify=tls_context(
                verify,
                trust_env=kwargs.get("trust_env", True),
                shared=not (kwargs.get("cert") or kwargs.get("http2")),
            ),
            follow_redirects=follow_redirects,
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.total),
            **kwargs,
        )
        install_deadline(self)

    def json_of(
        self, response: httpx.Response, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH
    ) -> object:
        """Strictly parsed JSON body, or InvalidJSON naming the request (see parse_json)."""
        return parse_json(response, max_depth=max_depth, redactor=self.redactor)

    def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send within the total deadline, read the capped body, record every hop."""
        __tracebackhide__ = True
        follow = (
            self.follow_redirects
            if follow_redirects is httpx.USE_CLIENT_DEFAULT
            else bool(follow_redirects)
        )
        first = request
        with deadline(self.timeouts.total) as current:
            history: list[httpx.Response] = []
            while True:
                response = self._send_hop(request, auth, current)
                response.history = list(history)
                if not response.has_redirect_location:
                    return response
                if not follow:
                    # Replaces httpx's next_request, which would carry API keys cross-origin.
                    with contextlib.suppress(httpx.HTTPError):
                        response.next_request = self._redirect_request(request, response)
                    return response
                next_request = self._redirect_request(request, response)
                if len(history) >= self.max_redirects:
                    location = self.redactor.redact_url(str(next_request.url))
                    raise httpx.TooManyRedirects(
                        f"{self._label(first)}: too many redirects ({len(history)} followed, "
                        f"max_redirects={self.max_redirects}); the last one pointed to "
                        f"{location}, so the service probably redirects in a loop",
                        request=request,
                    ) from None
                history.append(response)
                request, auth = next_request, None  # credentials went with the first hop only

    def _send_hop(self, request: httpx.Request, auth: Any, current: Deadline) -> httpx.Response:
        __tracebackhide__ = True
        started = time.perf_counter()
        started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        response: httpx.Response | None = None
        body = Body()
        try:
            response = super().send(request, stream=True, auth=auth, follow_redirects=False)
            read_capped(response, body, self.max_body_bytes, current)
        except BaseException as exc:
            if response is not None:
                response.close()
            # Interrupts and misuse (a closed client, a consumed stream) are not target faults.
            if not isinstance(exc, Exception) or (
                isinstance(exc, RuntimeError) and not isinstance(exc, httpx.HTTPError)
            ):
                raise
            sent = response.request if response is not None else request
            error = self._readable_error(exc, sent, current, body)
            exchange = self._record(sent, response, body, started, started_at, str(error))
            if isinstance(error, GateHTTPError):
                error.exchange = exchange
            raise error from None
        if body.capped:
            response.close()
        sent = response.request
        if body.capped:
            message = self.redactor.redact_text(
                f"{self._label(sent)}: response body exceeded the {_size(self.max_body_bytes)} "
                "cap (--gate-max-body); the endpoint sends more than a check should read, "
                "or the cap needs raising"
            )
            exchange = self._record(sent, response, body, started, started_at, message)
            raise BodyTooLarge(message, request=sent, exchange=exchange)
        response._content = body.data  # the one private write: lets .content/.json() work
        self._record(sent, response, body, started, started_at, None)
        return response

    def _label(self, request: httpx.Request) -> str:
        return request_label(request, self.redactor)

    def _redirect_request(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        return redirect_request(
            request,
            response,
            label=self._label(request),
            redactor=self.redactor,
            cookies=self.cookies,
        )

    def _readable_error(
        self, exc: Exception, request: httpx.Request, current: Deadline, body: Body
    ) -> httpx.HTTPError:
        return describe_failure(
            exc,
            request,
            self._label(request),
            connect_s=self.timeouts.connect,
            read_s=self.timeouts.read,
            current=current,
            body_bytes=body.size,
            redactor=self.redactor,
        )

    def _record(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        body: Body,
        started: float,
        started_at: str,
        error: str | None,
    ) -> Exchange:
        exchange = capture(self.redactor, request, response, body, started, started_at, error)
        self.exchanges.append(exchange)
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return exchange


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"
