"""The bounded-HTTP core under httpx: a total deadline, a capped body reader, shared TLS contexts.

Both `GateClient` and the readiness `Probe` send through it:

- `deadline(total)` opens a deadline for one request (a context variable), and
  `install_deadline(client)` wraps the client's httpcore network backend so that every socket
  operation of that request (connect, TLS, write, read) waits at most the time left. A server
  that drips one byte a second still ends at the deadline; httpx's own timeouts are per read.
  It fails loudly when the httpcore internal `ConnectionPool._network_backend` is missing.
- `read_capped(response, body, cap, deadline)` reads the raw body and undoes gzip, deflate and
  br in steps of at most 64 KiB, up to `cap` decoded bytes, so a gzip bomb is never inflated
  whole and an endless body is never held whole.
- `tls_context(verify)` turns a `verify=` value into an SSL context, sharing one per trust
  store: loading a CA bundle costs tens of milliseconds, and a gate builds one client per test.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import os
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ACCEPT_ENCODING",
    "Body",
    "Deadline",
    "deadline",
    "install_deadline",
    "read_capped",
    "tls_context",
]

_STEP = 64 * 1024  # largest piece a decompressor may produce at once
_WRITE_PIECE = 16 * 1024  # each piece of an upload gets the deadline re-checked


# --- total deadline -------------------------------------------------------------------------


@dataclass
class Deadline:
    """The time budget of one request, shared by every socket operation made for it."""

    total: float
    started: float
    at: float
    bytes_received: int = 0
    limited: bool = False  # the latest socket wait was shortened to the time left

    def bound(self, timeout: float | None, exc: type[Exception]) -> float:
        """The wait for the next socket operation: its own timeout or the time left."""
        left = self.at - time.perf_counter()
        if left <= 0:
            self.limited = True
            raise exc("total deadline exceeded")
        self.limited = timeout is None or left < timeout
        return left if timeout is None or left < timeout else timeout

    def expired(self) -> bool:
        """Whether a timeout now is the total deadline's doing (not one slow operation's)."""
        return self.limited or time.perf_counter() >= self.at


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "opsgate_deadline", default=None
)


@contextlib.contextmanager
def deadline(total: float) -> Iterator[Deadline]:
    """Bound every socket operation made in this block (by an installed client) to `total` s."""
    now = time.perf_counter()
    current = Deadline(total, now, now + total)
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        current = _CURRENT.get()
        if current is None:
            return self._inner.read(max_bytes, timeout)
        data = self._inner.read(max_bytes, current.bound(timeout, httpcore.ReadTimeout))
        current.bytes_received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        current = _CURRENT.get()
        if current is None:
            self._inner.write(buffer, timeout)
            return
        for start in range(0, len(buffer), _WRITE_PIECE):
            piece = buffer[start : start + _WRITE_PIECE]
            self._inner.write(piece, current.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        current = _CURRENT.get()
        if current is not None:
            timeout = current.bound(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        current = _CURRENT.get()
        if current is not None:
            timeout = current.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        current = _CURRENT.get()
        if current is not None:
            timeout = current.bound(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install_deadline(client: httpx.Client) -> None:
    """Make the client's own and mounted `HTTPTransport`s honour `deadline()`."""
    _install(client._transport)
    for mounted in client._mounts.values():
        if mounted is not None:
            _install(mounted)


def _install(transport: httpx.BaseTransport) -> None:
    if not isinstance(transport, httpx.HTTPTransport):
        return  # a custom transport only gets the deadline checked between body chunks
    pool: Any = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:
        raise RuntimeError(
            "this httpx/httpcore version has no ConnectionPool._network_backend, so "
            "pytest-opsgate cannot bound request time; install httpx 0.27/0.28 with httpcore 1.x"
        )
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)


# --- bounded body decoding ------------------------------------------------------------------


def _bounded_brotli() -> Any:
    """The brotli module if it can limit output per call (brotli >= 1.2), else None."""
    try:
        module = importlib.import_module("brotli")
    except ImportError:
        return None
    return module if hasattr(module.Decompressor, "can_accept_more_data") else None


_BROTLI = _bounded_brotli()
_DECODE_ERRORS: tuple[type[Exception], ...] = (ValueError, zlib.error) + (
    (_BROTLI.error,) if _BROTLI is not None else ()
)
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI is not None else "gzip, deflate"
_DECODABLE = frozenset({"", "gzip", "x-gzip", "deflate", "br"})


class _BoundedDecoder:
    """Undoes Content-Encoding in pieces of at most _STEP bytes, so no chunk can inflate at once."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise ValueError(f"stacked Content-Encoding {content_encoding!r} is not supported")
        self.coding = codings[0] if codings else ""
        self._zlib: Any = None
        self._brotli: Any = None
        self._probe_deflate = False
        if self.coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.coding == "deflate":
            self._probe_deflate = True
        elif self.coding == "br":
            if _BROTLI is None:
                raise ValueError("Content-Encoding br needs brotli>=1.2 to decode with a size cap")
            self._brotli = _BROTLI.Decompressor()
        # Unknown codings pass through undecoded, as httpx does.

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._probe_deflate and data:
            self._probe_deflate = False
            # "deflate" is zlib-wrapped per the RFC, but some servers send a raw stream.
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        if self._zlib is not None:
            yield from self._inflate(data)
        elif self._brotli is not None:
            out = self._brotli.process(data, output_buffer_limit=_STEP)
            yield out
            while out and not self._brotli.can_accept_more_data():
                out = self._brotli.process(b"", output_buffer_limit=_STEP)
                yield out
        elif data:
            yield data

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        buf = data
        while True:
            out = self._zlib.decompress(buf, _STEP)
            if out:
                yield out
            buf = self._zlib.unconsumed_tail
            if self._zlib.eof:
                extra = self._zlib.unused_data
                if self.coding != "deflate" and extra.lstrip(b"\x00"):
                    self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)  # next gzip member
                    buf = extra
                    continue
                return
            if not buf and len(out) < _STEP:
                return

    def flush(self) -> Iterator[bytes]:
        if self._zlib is not None and not self._zlib.eof:
            yield from self._inflate(b"")


@dataclass
class Body:
    """Decoded bytes read so far; survives an exception mid-body."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    capped: bool = False  # the decoded body went past the cap and was cut there

    @property
    def data(self) -> bytes:
        if len(self.chunks) > 1:
            self.chunks = [b"".join(self.chunks)]  # join once; a capped body is large
        return self.chunks[0] if self.chunks else b""


def _take(body: Body, pieces: Iterator[bytes], cap: int) -> bool:
    """Append decoded pieces to `body` up to `cap`; False once the cap cut the body."""
    for piece in pieces:
        room = cap - body.size
        if len(piece) > room:
            body.chunks.append(piece[:room])
            body.size = cap
            body.capped = True
            return False
        body.chunks.append(piece)
        body.size += len(piece)
    return True


def read_capped(
    response: httpx.Response,
    body: Body,
    cap: int,
    current: Deadline,
    *,
    strict: bool = False,
) -> None:
    """Read and decode a streamed response into `body` until its end or `cap` decoded bytes.

    A bad or stacked coding is an `httpx.DecodingError`; so is an unknown one when `strict`
    (undecoded bytes are not a health body); otherwise it passes through undecoded, as in httpx.
    """
    encoding = response.headers.get("content-encoding", "")
    try:
        decoder = _BoundedDecoder(encoding)
    except ValueError as exc:
        raise httpx.DecodingError(str(exc)) from None
    if strict and decoder.coding not in _DECODABLE:
        raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}")

    def take(pieces: Iterator[bytes]) -> bool:
        try:
            return _take(body, pieces, cap)
        except _DECODE_ERRORS as exc:
            raise httpx.DecodingError(f"invalid {encoding} data: {exc}") from None

    for raw in response.iter_raw():
        if not take(decoder.feed(raw)):
            return
        if time.perf_counter() >= current.at:  # only reached with a custom transport
            current.limited = True
            raise httpx.ReadTimeout("total deadline exceeded")
    take(decoder.flush())


# --- TLS contexts ---------------------------------------------------------------------------

_SHARED: dict[tuple[object, ...], ssl.SSLContext] = {}
_SHARED_LOCK = threading.Lock()


def tls_context(
    verify: bool | str | ssl.SSLContext, *, trust_env: bool = True, shared: bool = True
) -> ssl.SSLContext:
    """The SSL context httpx would build for `verify`, shared while its trust store is unchanged.

    `True` is the system/certifi store (or `SSL_CERT_FILE`/`SSL_CERT_DIR` with `trust_env`), a
    str a CA bundle file or directory, `False` no verification at all. A shared context must
    not be changed: callers that load a client certificate or offer HTTP/2 (both change the
    context) pass `shared=False` and get a context of their own.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        return httpx.create_ssl_context(verify=False)
    if not shared:
        return _new_context(verify, trust_env)
    if verify is True:
        env = os.environ if trust_env else {}
        key: tuple[object, ...] = (True, env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR"))
    elif os.path.isdir(verify):
        # OpenSSL reads a CA directory lazily at each handshake: cheap to build, never stale.
        return _new_context(verify, trust_env)
    else:
        try:
            with open(verify, "rb") as bundle:
                # The content is the trust store: a bundle rewritten in place is a new one.
                key = (hashlib.sha256(bundle.read()).digest(),)
        except OSError:
            return _new_context(verify, trust_env)  # which names the unreadable file
    with _SHARED_LOCK:
        context = _SHARED.get(key)
        if context is None:
            context = _SHARED[key] = _new_context(verify, trust_env)
    return context


def _new_context(verify: bool | str, trust_env: bool) -> ssl.SSLContext:
    if not isinstance(verify, str):
        return httpx.create_ssl_context(verify=verify, trust_env=trust_env)
    # httpx 0.28 deprecates verify=<path>; build the context it would have built.
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)
