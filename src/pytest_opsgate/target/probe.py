"""One health GET bounded as a whole in time and in body bytes, and a name for what went wrong.

Pure logic on httpx; knows nothing of pytest or of what "ready" means. A watchdog ends the
attempt at its timeout even when the server drips (httpx timeouts are per read); the raw body
is read up to a byte cap and decoded by `transport.decode_capped` up to the same cap, so a
gzip bomb is never inflated whole. Redirects are never followed and connections never reused.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ..http.transport import decode_capped, ssl_context_for

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Failure", "Probe", "Reply"]


@dataclass
class Reply:
    """An HTTP answer: status, headers, and the decoded body cut at the probe's byte cap."""

    status: int
    headers: httpx.Headers
    charset: str
    body: bytes
    truncated: bool  # the body went past the cap, raw or decoded
    latency_ms: float


@dataclass
class Failure:
    """No usable answer; `outcome` is refused, dns, timeout, tls, protocol or error."""

    outcome: str
    detail: str
    status: int | None = None  # set when headers came but the body could not be decoded
    latency_ms: float | None = None


class Probe:
    """Sends one GET at a time with one client; never follows redirects."""

    def __init__(self, verify: bool | str, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes
        # No keep-alive: every attempt tests the listener afresh, a dead pooled connection
        # cannot poison the next attempt, and the watchdog always knows the socket.
        self.client = httpx.Client(
            verify=ssl_context_for(verify),
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"accept": "application/json, */*;q=0.5", "accept-encoding": "identity"},
        )

    def get(self, url: str, headers: dict[str, str], timeout: float) -> Reply | Failure:
        """GET `url`, finished or abandoned within `timeout` seconds."""
        timer = _Watchdog(timeout)
        began = time.perf_counter()
        try:
            with self.client.stream(
                "GET", url, headers=headers, timeout=timeout, extensions={"trace": timer.trace}
            ) as resp:
                cap, status = self.max_body_bytes, resp.status_code
                raw, truncated = _read_capped(resp.iter_raw(), cap)
                latency = (time.perf_counter() - began) * 1000
                try:
                    body, cut = decode_capped([raw], resp.headers.get("content-encoding", ""), cap)
                except ValueError as exc:
                    return Failure("protocol", f"protocol error: {exc}", status, latency)
                charset = resp.encoding or "utf-8"
                return Reply(status, resp.headers, charset, body, truncated or cut, latency)
        except httpx.HTTPError as exc:
            if timer.fired:
                return Failure("timeout", f"timed out: no complete answer within {timeout:.3g} s")
            return Failure(*_classify(exc))
        except OSError as exc:  # the watchdog's shutdown can surface raw
            if timer.fired:
                return Failure("timeout", f"timed out: no complete answer within {timeout:.3g} s")
            return Failure("error", f"{type(exc).__name__}: {exc}")
        finally:
            timer.cancel()

    def close(self) -> None:
        self.client.close()


class _Watchdog:
    """Bounds a whole attempt: httpx timeouts are per read, so a drip would never trip them."""

    def __init__(self, timeout: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: dict[str, object]) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = getattr(stream, "get_extra_info", lambda _k: None)("socket")
            if isinstance(sock, socket.socket):
                # A dup survives TLS wrapping (which detaches the original object);
                # shutdown() on it ends the connection for every descriptor.
                with self._lock:
                    self._sock = sock.dup()
                    fire_now = self.fired
                if fire_now:
                    self._fire()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _classify(exc: httpx.HTTPError) -> tuple[str, str]:
    """Name a transport failure: refused, dns, tls, timeout, protocol or error."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    root = chain[-1]
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        msg = getattr(root, "verify_message", None) or str(root)
        return "tls", f"TLS verification failed: {msg}"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls", f"TLS handshake failed: {root}"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns", f"could not resolve host: {root}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "refused", "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out ({type(exc).__name__})"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.ReadError)):
        return "protocol", f"protocol error: {exc or type(exc).__name__}"
    return "error", f"{type(exc).__name__}: {exc}"


def _read_capped(chunks: Iterator[bytes], cap: int) -> tuple[bytes, bool]:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) > cap:
            return bytes(buf[:cap]), True
    return bytes(buf), False
