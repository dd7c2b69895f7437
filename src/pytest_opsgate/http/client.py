"""An httpx client that bounds every request in time and bytes and records redacted exchanges.

Guarantees, per call of `send()` (and so of `get()`, `post()`, ...):

- Wall time is bounded by `Timeouts.total` across connect, TLS, sending, header reading,
  body reading and followed redirects, even against a server that drips one byte a second.
  This works by wrapping httpcore's network backend so that every socket operation waits at
  most the time left. A custom `transport=` other than `httpx.HTTPTransport` only gets the
  deadline checked between body chunks. DNS resolution is not bounded.
- The body is read before `send()` returns, decoded by us in steps of at most 64 KiB and
  capped at `max_body_bytes` of decoded data (`BodyTooLarge`), so `response.content` and
  `.json()` work and a gzip bomb or endless body cannot exhaust memory. `stream=True` is
  accepted but also reads and caps the whole body; `iter_bytes()` then replays it from
  memory and `iter_raw()` is unavailable.
- Every failure is an `httpx.HTTPError` whose message names the request, e.g.
  "GET /slow: total deadline 30 s exceeded after 30.0 s (1,024 bytes received)".
- Redirects are followed only with `follow_redirects=True`; when they cross to another
  origin, every sensitive header (Authorization, X-Api-Key, Cookie, ...) is dropped.
- Each hop becomes an `Exchange` (redacted when captured) in `client.exchanges` and is
  passed to `on_exchange`. Group samples under one name with
  `client.get("/items/7", extensions={NAME_EXTENSION: "GET /items/{id}"})`.
- `client.json_of(response)` / `parse_json(response)` parse strictly: NaN, Infinity and
  nesting deeper than 200 levels are errors, and every error names the request.

httpx internals touched, all checked at construction: `Client._transport` and `_mounts`
(read), `HTTPTransport._pool._network_backend` (wrapped) and `Response._content` (set).
The deadline-bounded backend and the capped decoder live in `pytest_opsgate.http.transport`.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import datetime
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from pytest_opsgate.http.redact import Redactor
from pytest_opsgate.http.transport import (
    _CURRENT,
    ACCEPT_ENCODING,
    _Body,
    _Deadline,
    _install_deadline,
    _read_capped,
    ssl_context_for,
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

NAME_EXTENSION = "opsgate_name"
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
EXCERPT_CHARS = 2048
DEFAULT_MAX_JSON_DEPTH = 200

_REDACT_LOOKAHEAD = 4096  # secrets straddling the excerpt end are still matched whole


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


@dataclass
class Exchange:
    """One recorded request/response, redacted at capture time."""

    method: str
    url: str
    path: str
    name: str  # "GET /api/items" unless overridden through NAME_EXTENSION
    status: int | None = None
    elapsed_ms: float | None = None  # send start to body fully read, monotonic clock
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""  # excerpt of at most EXCERPT_CHARS characters
    response_body: str = ""
    error: str | None = None
    truncated: bool = False  # an excerpt was cut or the body was not read to its end
    started_at: str = ""  # ISO wall time, for humans only

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    def format(self) -> str:
        """A curl -v style text block."""
        took = "" if self.elapsed_ms is None else f"  {self.elapsed_ms:.1f} ms"
        lines = [f"* {self.name}  {self.started_at}{took}", f"> {self.method} {self.url}"]
        lines += [f"> {k}: {v}" for k, v in self.request_headers.items()]
        if self.request_body:
            lines += [">", self.request_body]
        if self.status is not None:
            lines.append(f"< {self.status} {httpx.codes.get_reason_phrase(self.status)}".rstrip())
            lines += [f"< {k}: {v}" for k, v in self.response_headers.items()]
            if self.response_body:
                lines += ["<", self.response_body]
        if self.error:
            lines.append(f"! {self.error}")
        return "\n".join(lines)


# --- errors ---------------------------------------------------------------------------------


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


# --- the client -----------------------------------------------------------------------------


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
            verify=ssl_context_for(verify),
            follow_redirects=follow_redirects,
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.total),
            **kwargs,
        )
        _install_deadline(self._transport)
        for mounted in self._mounts.values():
            if mounted is not None:
                _install_deadline(mounted)

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
        now = time.perf_counter()
        deadline = _Deadline(self.timeouts.total, now, now + self.timeouts.total)
        token = _CURRENT.set(deadline)
        try:
            first_label = self._label(request)
            history: list[httpx.Response] = []
            while True:
                response = self._send_hop(request, auth, deadline)
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
                        f"{first_label}: too many redirects ({len(history)} followed, "
                        f"max_redirects={self.max_redirects}); the last one pointed to "
                        f"{location}, so the service probably redirects in a loop",
                        request=request,
                    ) from None
                history.append(response)
                request, auth = next_request, None  # credentials went with the first hop only
        finally:
            _CURRENT.reset(token)

    def _send_hop(self, request: httpx.Request, auth: Any, deadline: _Deadline) -> httpx.Response:
        __tracebackhide__ = True
        started = time.perf_counter()
        started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        response: httpx.Response | None = None
        body = _Body()
        try:
            response = super().send(request, stream=True, auth=auth, follow_redirects=False)
            _read_capped(response, body, self.max_body_bytes, deadline)
        except BaseException as exc:
            if response is not None:
                response.close()
            # Interrupts and misuse (a closed client, a consumed stream) are not target faults.
            if not isinstance(exc, Exception) or (
                isinstance(exc, RuntimeError) and not isinstance(exc, httpx.HTTPError)
            ):
                raise
            sent = response.request if response is not None else request
            error = self._readable_error(exc, sent, deadline, body)
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
        name = request.extensions.get(NAME_EXTENSION)
        if isinstance(name, str) and name:
            return self.redactor.redact_text(name)
        return f"{request.method} {self.redactor.redact_text(request.url.path)}"

    def _readable_error(
        self, exc: Exception, request: httpx.Request, deadline: _Deadline, body: _Body
    ) -> httpx.HTTPError:
        t = self.timeouts
        label = self._label(request)
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException) and deadline.expired():
            took = time.perf_counter() - deadline.started
            return DeadlineExceeded(
                self.redactor.redact_text(
                    f"{label}: total deadline {t.total:g} s exceeded after {took:.1f} s "
                    f"({deadline.bytes_received:,} bytes received); the server is too slow "
                    "or the total timeout too short"
                ),
                request=request,
            )
        if isinstance(exc, httpx.ConnectTimeout):
            problem = f"connect timeout: no connection within {t.connect:g} s"
        elif isinstance(exc, httpx.ReadTimeout):
            problem = f"read timeout: the server sent nothing for {t.read:g} s"
        elif isinstance(exc, httpx.WriteTimeout):
            problem = f"write timeout: the server accepted no data for {t.read:g} s"
        elif isinstance(exc, httpx.PoolTimeout):
            problem = f"no free connection in the pool within {t.total:g} s"
        elif isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in detail:
            problem = (
                f"TLS verification failed ({detail}); pass verify=<CA bundle path> "
                "for a private CA, never verify=False in a gate"
            )
        elif isinstance(exc, httpx.ConnectError):
            problem = f"cannot connect ({detail})"
        elif isinstance(exc, httpx.RemoteProtocolError):
            problem = f"protocol error after {body.size:,} body bytes ({detail})"
        elif isinstance(exc, httpx.ReadError):
            problem = f"connection broken after {body.size:,} body bytes ({detail})"
        elif isinstance(exc, httpx.WriteError):
            problem = f"connection broken while sending the request ({detail})"
        elif isinstance(exc, httpx.DecodingError):
            problem = f"cannot decode the response body ({detail})"
        elif isinstance(exc, httpx.HTTPError):
            problem = f"{type(exc).__name__}: {detail}"
        else:
            problem = f"unexpected {type(exc).__name__} while talking to the server ({detail})"
        message = self.redactor.redact_text(f"{label}: {problem}")
        if isinstance(exc, httpx.RequestError) and not isinstance(exc, GateHTTPError):
            try:
                return type(exc)(message, request=request)
            except TypeError:
                pass
        return TransportFailure(message, request=request)

    def _record(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        body: _Body,
        started: float,
        started_at: str,
        error: str | None,
    ) -> Exchange:
        r = self.redactor
        # Headers and URL first: their secrets get registered before any body is scrubbed.
        request_headers = r.redact_headers(request.headers.multi_items())
        response_headers = r.redact_headers(response.headers.multi_items()) if response else {}
        url = r.redact_url(str(request.url))
        try:
            sent_body: bytes | None = request.content
        except httpx.RequestNotRead:
            sent_body = None
        if sent_body is None:
            request_excerpt, request_cut = "[streamed request body, not captured]", False
        else:
            content_type = request.headers.get("content-type", "")
            request_excerpt, request_cut = self._excerpt(sent_body, content_type, complete=True)
        response_excerpt, response_cut = "", False
        if response is not None:
            complete = error is None
            content_type = response.headers.get("content-type", "")
            response_excerpt, response_cut = self._excerpt(
                body.data, content_type, complete=complete
            )
        exchange = Exchange(
            method=request.method,
            url=url,
            path=r.redact_text(request.url.path),
            name=self._label(request),
            status=response.status_code if response is not None else None,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            request_headers=request_headers,
            response_headers=response_headers,
            request_body=request_excerpt,
            response_body=response_excerpt,
            error=error,
            truncated=request_cut or response_cut or body.capped,
            started_at=started_at,
        )
        self.exchanges.append(exchange)
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return exchange

    def _excerpt(self, data: bytes, content_type: str, *, complete: bool) -> tuple[str, bool]:
        """At most EXCERPT_CHARS of redacted text, and whether anything was left out."""
        if not data:
            return "", not complete
        if b"\x00" in data[:EXCERPT_CHARS]:
            return f"[{len(data):,} bytes of binary data]", not complete
        json_like = "json" in content_type.lower() or data.lstrip()[:1] in (b"{", b"[")
        # JSON is scrubbed whole (a sensitive key may sit anywhere); other text only near the
        # excerpt, so a capped multi-MiB body is never copied into one big string.
        whole_json = json_like and complete
        window = data if whole_json else data[: (EXCERPT_CHARS + _REDACT_LOOKAHEAD) * 4]
        text = window.decode(_charset(content_type), errors="replace")
        cut = len(window) < len(data)
        if not whole_json and len(text) > EXCERPT_CHARS + _REDACT_LOOKAHEAD:
            text, cut = text[: EXCERPT_CHARS + _REDACT_LOOKAHEAD], True
        whole = complete and not cut
        scrubbed = self.redactor.redact_body(text, content_type, complete=whole)
        if len(scrubbed) <= EXCERPT_CHARS and whole:
            return scrubbed, False
        shown = scrubbed[:EXCERPT_CHARS]
        hidden = (
            max(len(data) - len(shown.encode()), 0)
            if not whole
            else len(scrubbed[EXCERPT_CHARS:].encode())
        )
        rest = "" if complete else "; the rest was not read"
        return f"{shown}...[truncated {hidden:,} bytes{rest}]", True

    def _redirect_request(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        location = response.headers["Location"]
        try:
            url = httpx.URL(location)
        except httpx.InvalidURL:
            raise httpx.RemoteProtocolError(
                f"{self._label(request)}: invalid Location header in a {response.status_code} "
                "redirect",
                request=request,
            ) from None
        if url.scheme and not url.host:
            url = url.copy_with(host=request.url.host)
        if url.is_relative_url:
            url = request.url.join(url)
        method = request.method
        if response.status_code in (302, 303) and method != "HEAD":
            method = "GET"
        if response.status_code == 301 and method == "POST":
            method = "GET"
        # Same origin keeps an explicit Cookie header; jar cookies, if any, replace it below.
        headers = httpx.Headers(request.headers)
        same_origin = _origin(url) == _origin(request.url)
        if not same_origin:
            # httpx drops only Authorization; API keys, cookies and tokens must not leak either.
            for name in list(headers.keys()):
                if self.redactor.is_sensitive_name(name):
                    del headers[name]
            headers["Host"] = url.netloc.decode("ascii")
        keep_body = method == request.method or method != "GET"
        if not keep_body:
            for name in ("Content-Length", "Transfer-Encoding", "Content-Type"):
                headers.pop(name, None)
        extensions = {k: v for k, v in request.extensions.items() if k != NAME_EXTENSION}
        cookies = self.cookies if same_origin else None
        try:
            content = request.content if keep_body else b""
        except httpx.RequestNotRead:  # a streamed upload is replayed from its stream
            return httpx.Request(
                method, url, headers=headers, cookies=cookies, stream=request.stream,
                extensions=extensions,
            )  # fmt: skip
        return httpx.Request(
            method, url, headers=headers, cookies=cookies, content=content, extensions=extensions
        )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            name = value.strip().strip('"')
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"


# --- strict JSON ----------------------------------------------------------------------------


class _NonStandardConstant(ValueError):
    pass


def _reject_constant(name: str) -> object:
    raise _NonStandardConstant(name)


def _deeper_than(value: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(
    response: httpx.Response,
    *,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
    redactor: Redactor | None = None,
) -> object:
    """The body as strict JSON; InvalidJSON (a ValueError) names the request and the problem.

    Rejects syntax errors, an empty body, NaN/Infinity and nesting deeper than `max_depth`.
    """
    __tracebackhide__ = True
    redactor = redactor if redactor is not None else Redactor()
    try:
        request: httpx.Request | None = response.request
    except RuntimeError:  # a Response built by hand has no request
        request = None
    if request is None:
        label = "the response"
    else:
        name = request.extensions.get(NAME_EXTENSION)
        label = name if isinstance(name, str) and name else f"{request.method} {request.url.path}"
        label = redactor.redact_text(label)
    body = response.content
    content_type = response.headers.get("content-type", "")

    def invalid(problem: str) -> InvalidJSON:
        start = redactor.redact_body(
            body[:120].decode("utf-8", errors="replace"), content_type, complete=len(body) <= 120
        )
        return InvalidJSON(
            f"{label} returned {problem}; body starts with {start!r} "
            f"(status {response.status_code}, content-type {content_type or 'missing'})",
            request=request,
        )

    if not body.strip():
        raise invalid("an empty body where JSON was expected")
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise invalid(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _NonStandardConstant as exc:
        raise invalid(f"{exc} in JSON, which is not valid JSON") from None
    except RecursionError:
        raise invalid(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # not UTF-8/16/32
        raise invalid(f"a body that is not JSON text ({exc})") from None
    if _deeper_than(value, max_depth):
        raise invalid(f"JSON nested deeper than {max_depth} levels")
    return value
