"""Capped I/O under httpx: a deadline-bounded httpcore backend and a size-capped body decoder.

The decoder undoes gzip, deflate and br in steps of at most 64 KiB, up to a byte cap; the
client reads through it with `_read_capped`, the readiness probe with `decode_capped`. The
deadline lives in a context variable the caller sets for one request, so every socket
operation of that request (connect, TLS, write, read) waits at most the time left.
`_install_deadline` wraps `HTTPTransport._pool._network_backend` and fails loudly when that
httpcore internal is missing. `ssl_context_for` turns a CA bundle path into what httpx wants.
"""

from __future__ import annotations

import contextvars
import importlib
import os
import ssl
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["ACCEPT_ENCODING", "decode_capped", "ssl_context_for"]

_STEP = 64 * 1024  # largest piece a decompressor may produce at once
_WRITE_PIECE = 16 * 1024  # each piece of an upload gets the deadline re-checked


# --- total deadline -------------------------------------------------------------------------


@dataclass
class _Deadline:
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
        return self.limited or time.perf_counter() >= self.at


_CURRENT: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "opsgate_deadline", default=None
)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _CURRENT.get()
        if deadline is None:
            return self._inner.read(max_bytes, timeout)
        data = self._inner.read(max_bytes, deadline.bound(timeout, httpcore.ReadTimeout))
        deadline.bytes_received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _CURRENT.get()
        if deadline is None:
            self._inner.write(buffer, timeout)
            return
        for start in range(0, len(buffer), _WRITE_PIECE):
            piece = buffer[start : start + _WRITE_PIECE]
            self._inner.write(piece, deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _CURRENT.get()
        if deadline is not None:
            timeout = deadline.bound(timeout, httpcore.ConnectTimeout)
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
        deadline = _CURRENT.get()
        if deadline is not None:
            timeout = deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        deadline = _CURRENT.get()
        if deadline is not None:
            timeout = deadline.bound(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadline(transport: httpx.BaseTransport) -> None:
    if not isinstance(transport, httpx.HTTPTransport):
        return
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
class _Body:
    """Decoded bytes read so far; survives an exception mid-body."""

    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    capped: bool = False

    @property
    def data(self) -> bytes:
        if len(self.chunks) > 1:
            self.chunks = [b"".join(self.chunks)]  # join once; a capped body is large
        return self.chunks[0] if self.chunks else b""


def _take(body: _Body, pieces: Iterator[bytes], cap: int) -> bool:
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


def _read_capped(response: httpx.Response, body: _Body, cap: int, deadline: _Deadline) -> None:
    encoding = response.headers.get("content-encoding", "")
    try:
        decoder = _BoundedDecoder(encoding)
    except ValueError as exc:
        raise httpx.DecodingError(str(exc)) from None

    def take(pieces: Iterator[bytes]) -> bool:
        try:
            return _take(body, pieces, cap)
        except _DECODE_ERRORS as exc:
            raise httpx.DecodingError(f"invalid {encoding} data: {exc}") from None

    for raw in response.iter_raw():
        if not take(decoder.feed(raw)):
            return
        if time.perf_counter() >= deadline.at:  # only reached with a custom transport
            deadline.limited = True
            raise httpx.ReadTimeout("total deadline exceeded")
    take(decoder.flush())


_DECODABLE = frozenset({"", "gzip", "x-gzip", "deflate", "br"})


def decode_capped(chunks: Iterable[bytes], encoding: str, limit: int) -> tuple[bytes, bool]:
    """Decode `chunks` up to `limit` bytes: (data, cut); ValueError for bad or unknown codings."""
    # Unlike `_read_capped`, an unknown coding is an error: undecoded bytes are not a body.
    decoder = _BoundedDecoder(encoding)
    if decoder.coding not in _DECODABLE:
        raise ValueError(f"unsupported content-encoding {encoding!r}")
    body = _Body()
    try:
        if all(_take(body, decoder.feed(raw), limit) for raw in chunks):
            _take(body, decoder.flush(), limit)
    except _DECODE_ERRORS as exc:
        raise ValueError(f"bad {decoder.coding} body ({exc})") from None
    return body.data, body.capped


def ssl_context_for(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """What to pass httpx as `verify`: a CA bundle path (file or directory) becomes a context."""
    if not isinstance(verify, str):
        return verify
    # httpx 0.28 deprecates verify=<path>; build the context it would have built.
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)
