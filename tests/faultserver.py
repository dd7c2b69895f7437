"""A hostile HTTP target on loopback: each route answers with a scripted fault (FAULTS.md)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import itertools
import json as _json
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping, Sequence

__all__ = [
    "Behaviour",
    "Exchange",
    "FaultServer",
    "Request",
    "after",
    "broken_json",
    "close_after_headers",
    "close_immediately",
    "deep_json",
    "delay",
    "drip",
    "echo",
    "endless",
    "flap",
    "garbage",
    "gzip_bomb",
    "hang",
    "huge",
    "json",
    "nan_json",
    "raw",
    "redirect",
    "reset_mid_body",
    "retry_after",
    "sequence",
    "short_body",
    "text",
]

_T = TypeVar("_T")
_MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One parsed request as the server saw it."""

    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # names lower-cased; a repeated header keeps its last value
    body: bytes
    at: float  # time.monotonic() when the head was parsed
    connection: int  # serial number of the TCP connection it arrived on

    @property
    def target(self) -> str:
        """The request target as sent (path plus query)."""
        return f"{self.path}?{self.query}" if self.query else self.path


class Exchange:
    """What a behaviour gets: the request and the live connection to answer on."""

    def __init__(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        server: FaultServer,
    ) -> None:
        self.request = request
        self.reader = reader
        self.writer = writer
        self.server = server

    def head(
        self,
        status: int,
        headers: Mapping[str, str] | None = None,
        *,
        content_length: int | None = None,
        chunked: bool = False,
        close: bool = False,
    ) -> bytes:
        """Build a status line plus headers (no body)."""
        reason = _reason(status)
        lines = [f"HTTP/1.1 {status} {reason}"]
        merged = {"server": "faultserver"}
        for name, value in (headers or {}).items():
            merged[name.lower()] = value
        if chunked:
            merged["transfer-encoding"] = "chunked"
            merged.pop("content-length", None)
        elif content_length is not None and "content-length" not in merged:
            merged["content-length"] = str(content_length)
        merged["connection"] = "close" if close else merged.get("connection", "keep-alive")
        lines.extend(f"{name}: {value}" for name, value in merged.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(
        self,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> bool:
        """Send a complete response; returns whether the connection stays open."""
        data = self.head(status, headers, content_length=len(body), close=close)
        if self.request.method != "HEAD":
            data += body
        self.writer.write(data)
        await self.writer.drain()
        return not close

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0) rather than a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Behaviour:
    """How a route answers; subclasses implement `serve`."""

    def on_route(self) -> None:
        """Called when the behaviour is installed on a route (starts time-based switches)."""

    async def serve(self, ex: Exchange) -> bool:
        """Answer one request; return True to keep the connection open for the next one."""
        raise NotImplementedError


# --- plain answers -------------------------------------------------------------------------


@dataclass
class Raw(Behaviour):
    """Fixed status, body bytes and content type."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    async def serve(self, ex: Exchange) -> bool:
        return await ex.send(
            self.status, self.body, {"content-type": self.content_type, **self.headers}
        )


def raw(
    body: bytes,
    content_type: str = "application/octet-stream",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Raw:
    """Answer with exactly these bytes."""
    return Raw(body, content_type, status, dict(headers or {}))


def json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Raw:
    """Answer with a JSON document."""
    return raw(_json.dumps(body).encode(), "application/json", status, headers)


def text(
    body: str,
    status: int = 200,
    content_type: str = "text/plain",
    headers: Mapping[str, str] | None = None,
) -> Raw:
    """Answer with text (text/html for a proxy error page or an SPA fallback)."""
    if "charset" not in content_type:
        content_type += "; charset=utf-8"
    return raw(body.encode(), content_type, status, headers)


def broken_json(status: int = 200) -> Raw:
    """A JSON content type with a truncated document (F17)."""
    return raw(b'{"status": "ok", "checks": {"db": ', "application/json", status)


def nan_json(status: int = 200) -> Raw:
    """JSON that Python accepts but strict parsers reject: NaN and Infinity (F17)."""
    return raw(b'{"status": "ok", "latency": NaN, "load": Infinity}', "application/json", status)


def deep_json(depth: int = 100_000, status: int = 200) -> Raw:
    """Nested arrays deep enough to blow a recursive parser's stack (F17)."""
    return raw(b"[" * depth + b"]" * depth, "application/json", status)


def redirect(location: str, status: int = 302) -> Raw:
    """Redirect to `location` (F8, and F9 when two routes point at each other)."""
    return raw(b"", "text/plain", status, {"location": location})


def retry_after(seconds: int = 86400, status: int = 429) -> Raw:
    """Throttle with a Retry-After far beyond any sane budget (F19)."""
    return raw(b"slow down", "text/plain", status, {"retry-after": str(seconds)})


@dataclass
class Echo(Behaviour):
    """Answer with a JSON view of the request (method, path, query, headers, body)."""

    status: int = 200

    async def serve(self, ex: Exchange) -> bool:
        r = ex.request
        doc = {
            "method": r.method,
            "path": r.path,
            "query": r.query,
            "headers": r.headers,
            "body": r.body.decode("utf-8", "replace"),
        }
        body = _json.dumps(doc).encode()
        return await ex.send(self.status, body, {"content-type": "application/json"})


def echo(status: int = 200) -> Echo:
    """Reflect the request back as JSON."""
    return Echo(status)


# --- combinators ---------------------------------------------------------------------------


class Scripted(Behaviour):
    """Each request gets the next behaviour; then the last repeats, or the list cycles."""

    def __init__(self, behaviours: Sequence[Behaviour], *, cycle: bool) -> None:
        if not behaviours:
            raise ValueError("sequence() needs at least one behaviour, e.g. sequence([json({})])")
        self.behaviours = list(behaviours)
        self.cycle = cycle
        self.count = 0
        self._lock = threading.Lock()

    def on_route(self) -> None:
        with self._lock:
            self.count = 0
        for b in self.behaviours:
            b.on_route()

    def _pick(self) -> Behaviour:
        with self._lock:
            n = self.count
            self.count += 1
        if self.cycle:
            return self.behaviours[n % len(self.behaviours)]
        return self.behaviours[min(n, len(self.behaviours) - 1)]

    async def serve(self, ex: Exchange) -> bool:
        return await self._pick().serve(ex)


def sequence(behaviours: Sequence[Behaviour], repeat_last: bool = True) -> Scripted:
    """Answer request N with behaviour N; after the list, repeat the last (or cycle)."""
    return Scripted(behaviours, cycle=not repeat_last)


def flap(behaviours: Sequence[Behaviour]) -> Scripted:
    """Cycle through the behaviours forever, e.g. [ok, 503] (F10)."""
    return Scripted(behaviours, cycle=True)


class After(Behaviour):
    """Answer as `before` until `seconds` after route(), then as `then`."""

    def __init__(self, seconds: float, before: Behaviour, then: Behaviour) -> None:
        self.seconds = seconds
        self.before = before
        self.then = then
        self.routed_at = time.monotonic()
        self.switch_at = self.routed_at + seconds  # the exact monotonic moment it turns
        self.first_then_at: float | None = None  # when the first request got `then`

    def on_route(self) -> None:
        self.routed_at = time.monotonic()
        self.switch_at = self.routed_at + self.seconds
        self.first_then_at = None
        self.before.on_route()
        self.then.on_route()

    async def serve(self, ex: Exchange) -> bool:
        now = time.monotonic()
        if now < self.switch_at:
            return await self.before.serve(ex)
        if self.first_then_at is None:
            self.first_then_at = now
        return await self.then.serve(ex)


def after(seconds: float, before_behaviour: Behaviour, then_behaviour: Behaviour) -> After:
    """Switch from one behaviour to another at a known moment (`.switch_at`, monotonic)."""
    return After(seconds, before_behaviour, then_behaviour)


@dataclass
class Delay(Behaviour):
    """Wait, then answer as `inner`."""

    seconds: float
    inner: Behaviour

    def on_route(self) -> None:
        self.inner.on_route()

    async def serve(self, ex: Exchange) -> bool:
        await asyncio.sleep(self.seconds)
        return await self.inner.serve(ex)


def delay(seconds: float, inner: Behaviour) -> Delay:
    """Add latency before answering as `inner`."""
    return Delay(seconds, inner)


# --- connection-level faults ---------------------------------------------------------------


class Hang(Behaviour):
    """Read the request, never answer (F4); cancelled cleanly at shutdown."""

    async def serve(self, ex: Exchange) -> bool:
        await asyncio.Event().wait()
        return False


def hang() -> Hang:
    """Accept and never answer."""
    return Hang()


class CloseImmediately(Behaviour):
    """Close the connection without a byte of response."""

    async def serve(self, ex: Exchange) -> bool:
        return False


def close_immediately() -> CloseImmediately:
    """Read the request, then close with no response (server disconnected)."""
    return CloseImmediately()


@dataclass
class Garbage(Behaviour):
    """Answer with bytes that are not HTTP, then close."""

    payload: bytes = b"SSH-2.0-OpenSSH_9.2\r\n"

    async def serve(self, ex: Exchange) -> bool:
        ex.writer.write(self.payload)
        await ex.writer.drain()
        return False


def garbage(payload: bytes = b"SSH-2.0-OpenSSH_9.2\r\n") -> Garbage:
    """Answer with a non-HTTP banner (a wrong port)."""
    return Garbage(payload)


@dataclass
class CloseAfterHeaders(Behaviour):
    """Send headers promising a body, then close cleanly with none."""

    status: int = 200
    content_length: int = 100

    async def serve(self, ex: Exchange) -> bool:
        ex.writer.write(
            ex.head(
                self.status,
                {"content-type": "application/json"},
                content_length=self.content_length,
            )
        )
        await ex.writer.drain()
        return False


def close_after_headers(status: int = 200, content_length: int = 100) -> CloseAfterHeaders:
    """Headers with a Content-Length, then a clean close before the body (F14)."""
    return CloseAfterHeaders(status, content_length)


@dataclass
class ShortBody(Behaviour):
    """Declare `declared` bytes, send `actual`, then close cleanly (F14)."""

    declared: int = 1000
    actual: int = 100

    async def serve(self, ex: Exchange) -> bool:
        head = ex.head(200, {"content-type": "text/plain"}, content_length=self.declared)
        ex.writer.write(head + b"x" * self.actual)
        await ex.writer.drain()
        return False


def short_body(declared: int = 1000, actual: int = 100) -> ShortBody:
    """A body shorter than its Content-Length, then a clean close."""
    return ShortBody(declared, actual)


@dataclass
class ResetMidBody(Behaviour):
    """Declare `total` bytes, send `send`, then RST (F14)."""

    total: int = 10_000
    send: int = 1_000

    async def serve(self, ex: Exchange) -> bool:
        head = ex.head(200, {"content-type": "text/plain"}, content_length=self.total)
        ex.writer.write(head + b"x" * self.send)
        await ex.writer.drain()
        # Give loopback a moment to deliver the partial body before the reset discards it.
        await asyncio.sleep(0.05)
        ex.reset()
        return False


def reset_mid_body(total: int = 10_000, send: int = 1_000) -> ResetMidBody:
    """Partial body, then a TCP reset."""
    return ResetMidBody(total, send)


@dataclass
class Drip(Behaviour):
    """Send one byte per interval: the body only, or the whole response (F13)."""

    body: bytes
    interval_s: float = 1.0
    headers_first: bool = True

    async def serve(self, ex: Exchange) -> bool:
        head = ex.head(200, {"content-type": "text/plain"}, content_length=len(self.body))
        if self.headers_first:
            ex.writer.write(head)
            await ex.writer.drain()
            payload = self.body
        else:
            payload = head + self.body
        for i in range(len(payload)):
            await asyncio.sleep(self.interval_s)
            ex.writer.write(payload[i : i + 1])
            await ex.writer.drain()
        return True


def drip(body: bytes, interval_s: float = 1.0, headers_first: bool = True) -> Drip:
    """Trickle the response, one byte per `interval_s` (headers too unless headers_first)."""
    return Drip(body, interval_s, headers_first)


@dataclass
class Huge(Behaviour):
    """A body of `size_bytes` with a Content-Length, streamed (F15)."""

    size_bytes: int
    content_type: str = "application/octet-stream"

    async def serve(self, ex: Exchange) -> bool:
        ex.writer.write(
            ex.head(200, {"content-type": self.content_type}, content_length=self.size_bytes)
        )
        block = b"x" * _CHUNK
        left = self.size_bytes
        while left > 0:
            ex.writer.write(block[: min(left, _CHUNK)])
            left -= _CHUNK
            await ex.writer.drain()
        return True


def huge(
    size_bytes: int = 10 * 1024 * 1024, content_type: str = "application/octet-stream"
) -> Huge:
    """A large body with an honest Content-Length."""
    return Huge(size_bytes, content_type)


class Endless(Behaviour):
    """Chunked transfer that never ends; stops when the client goes away (F15)."""

    def __init__(self) -> None:
        self.bytes_sent = 0

    async def serve(self, ex: Exchange) -> bool:
        ex.writer.write(ex.head(200, {"content-type": "text/plain"}, chunked=True))
        chunk = f"{_CHUNK:x}\r\n".encode() + b"y" * _CHUNK + b"\r\n"
        while True:
            ex.writer.write(chunk)
            self.bytes_sent += _CHUNK
            await ex.writer.drain()


def endless() -> Endless:
    """A chunked body without end."""
    return Endless()


@functools.lru_cache(maxsize=4)
def gzip_bomb_bytes(decoded_size: int) -> bytes:
    """A gzip member inflating to `decoded_size` zero bytes, built without compressing them all."""
    block = 1 << 20
    # After a full flush the deflate dictionary is empty, so one compressed 1 MiB block of zeros
    # can be repeated verbatim; only the CRC needs a pass over the (uncompressed) size.
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(block)
    unit = comp.compress(zeros) + comp.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(decoded_size, block)
    tail = comp.compress(bytes(rest)) + comp.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(full):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, decoded_size & 0xFFFFFFFF)
    return header + unit * full + tail + trailer


@dataclass
class GzipBomb(Behaviour):
    """Content-Encoding: gzip whose tiny body inflates to `decoded_size` bytes (F16)."""

    decoded_size: int = 1_000_000_000
    content_type: str = "application/json"

    def on_route(self) -> None:
        gzip_bomb_bytes(self.decoded_size)  # ~0.6 s for 1 GB: pay it here, not while serving

    async def serve(self, ex: Exchange) -> bool:
        body = gzip_bomb_bytes(self.decoded_size)
        headers = {"content-type": self.content_type, "content-encoding": "gzip"}
        return await ex.send(200, body, headers)


def gzip_bomb(
    decoded_size: int = 1_000_000_000, content_type: str = "application/json"
) -> GzipBomb:
    """A small gzip stream that decodes to `decoded_size` bytes."""
    return GzipBomb(decoded_size, content_type)


# --- TLS -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _self_signed_cert() -> tuple[str, str]:
    """A throwaway self-signed cert/key for 127.0.0.1, made once per process with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("FaultServer(tls=True) needs the openssl CLI: apt-get install openssl")
    folder = Path(tempfile.mkdtemp(prefix="faultserver-tls-"))
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


# --- the server --------------------------------------------------------------------------


_NOT_FOUND = text("not found", status=404)
_CATCH_ALL = text("ok")


class FaultServer:
    """An HTTP/1.1 server on 127.0.0.1 (port 0) whose routes misbehave on demand."""

    def __init__(self, *, tls: bool = False, catch_all: bool = False) -> None:
        self.tls = tls
        self.catch_all = catch_all
        self.port = 0
        self.url = ""
        self.cert_path: str | None = None  # the self-signed cert, usable as `verify=` CA bundle
        self.requests: list[Request] = []  # appended from the server thread; list ops are atomic
        self.connections = 0  # TCP connections accepted so far
        self.healed_at: float | None = None  # monotonic moment refuse_for() listened again
        self.died_at: float | None = None  # monotonic moment stop_listening() took effect
        self._routes: dict[str, Behaviour] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heal: asyncio.TimerHandle | None = None
        self._held: socket.socket | None = None  # the port, kept bound while refusing
        self._serial = itertools.count(1)

    # lifecycle

    def __enter__(self) -> FaultServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Bind a loopback port and serve from a daemon thread."""
        if self.tls:
            cert, key = _self_signed_cert()
            self.cert_path = cert
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._ssl = ctx
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _loop, _ctx: None)  # failed handshakes are expected here
        self._loop = loop
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(loop, ready), name="faultserver", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("FaultServer thread did not start within 10 s")
        self._call(self._listen(0))
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def stop(self) -> None:
        """Close everything, including hanging and streaming connections, and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    # control, from any thread

    def route(self, path: str, behaviour: Behaviour) -> None:
        """Install or replace the behaviour for an exact path (query ignored)."""
        behaviour.on_route()
        with self._lock:
            self._routes[path] = behaviour

    def refuse_for(self, seconds: float, *, hold_port: bool = True) -> None:
        """Close the listener (and open connections, like a restart) now; listen again later.

        With ``hold_port`` the port stays bound but not listening meanwhile: connections are
        still refused, and no other process (an xdist worker binding port 0) can take it.
        """
        self._call(self._close_listener(drop_connections=True))
        if hold_port:
            self._held = _bind_without_listening(self.port)
        self.healed_at = None
        loop = self._require_loop()
        loop.call_soon_threadsafe(self._schedule_heal, seconds)

    def stop_listening(self) -> None:
        """Die: close the listener and every open connection, for good (F25).

        The port stays bound but not listening, so it keeps refusing connections and no
        other process (an xdist worker binding port 0) can take it over.
        """
        self._call(self._close_listener(drop_connections=True))
        if self._held is None:
            self._held = _bind_without_listening(self.port)
        self.died_at = time.monotonic()

    def stop_listening_after(self, seconds: float) -> None:
        """Die `seconds` from now, e.g. in the middle of a load test; `died_at` records when."""
        loop = self._require_loop()

        def die() -> None:
            loop.create_task(self._close_listener(drop_connections=True))
            self.died_at = time.monotonic()

        loop.call_soon_threadsafe(loop.call_later, seconds, die)

    def requests_for(self, path: str) -> list[Request]:
        """Requests received on one path."""
        return [r for r in list(self.requests) if r.path == path]

    # internals (server thread)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("FaultServer is not running; use it as a context manager")
        return self._loop

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10) -> _T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._require_loop())
        return fut.result(timeout)

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", port, ssl=self._ssl, reuse_address=True, limit=_MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def _schedule_heal(self, seconds: float) -> None:
        loop = self._require_loop()
        if self._heal is not None:
            self._heal.cancel()
        self._heal = loop.call_later(seconds, lambda: loop.create_task(self._relisten()))

    async def _relisten(self) -> None:
        self._heal = None
        if self._held is not None:
            held, self._held = self._held, None
            # Listening on the held socket itself leaves no moment in which the port is free.
            self._server = await asyncio.start_server(
                self._handle, sock=held, ssl=self._ssl, limit=_MAX_HEAD
            )
            self.healed_at = time.monotonic()
            return
        for _ in range(50):  # the port may linger briefly; rebinding the same one is the point
            try:
                await self._listen(self.port)
            except OSError:
                await asyncio.sleep(0.05)
            else:
                self.healed_at = time.monotonic()
                return

    async def _close_listener(self, *, drop_connections: bool) -> None:
        if self._heal is not None:
            self._heal.cancel()
            self._heal = None
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._held is not None:
            self._held.close()
            self._held = None
        if drop_connections:
            for writer in list(self._writers):
                writer.transport.abort()
            me = asyncio.current_task()
            for task in list(self._tasks):
                if task is not me:
                    task.cancel()  # a hanging behaviour is not reading, so abort alone won't end it

    async def _shutdown(self) -> None:
        await self._close_listener(drop_connections=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def _lookup(self, path: str) -> Behaviour:
        with self._lock:
            found = self._routes.get(path)
        if found is not None:
            return found
        return _CATCH_ALL if self.catch_all else _NOT_FOUND

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        conn = next(self._serial)
        try:
            while True:
                request = await _read_request(reader, conn)
                if request is None:
                    break
                self.requests.append(request)
                ex = Exchange(request, reader, writer, self)
                keep = await self._lookup(request.path).serve(ex)
                if not keep or request.headers.get("connection", "").lower() == "close":
                    break
        except _BadRequest as exc:
            with contextlib.suppress(Exception):
                writer.write(f"HTTP/1.1 400 Bad Request\r\ncontent-length: {len(str(exc))}\r\n"
                             f"connection: close\r\n\r\n{exc}".encode())  # fmt: skip
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)


def _bind_without_listening(port: int) -> socket.socket:
    """A socket bound to the loopback port and never listening: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class _BadRequest(Exception):
    pass


async def _read_request(reader: asyncio.StreamReader, conn: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest("incomplete request head") from None
        return None
    at = time.monotonic()
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(f"bad request line {lines[0]!r}")
    method, target, _version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(f"bad header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers and "chunked" in headers["transfer-encoding"].lower():
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
    split = urlsplit(target)
    path = split.path or "/"  # also right for an absolute-form target, as a proxy receives
    return Request(method, path, split.query, headers, body, at, conn)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)
