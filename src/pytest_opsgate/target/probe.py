"""One health GET bounded as a whole in time and in body bytes, and a name for what went wrong.

Pure logic on httpx; knows nothing of pytest or of what "ready" means. A thin use of the
bounded-HTTP core (`http.transport`) that `gate_client` also sends through: its deadline ends
the attempt at its timeout even when the server drips (httpx timeouts are per read), and its
capped reader decodes the body up to a byte cap, so a gzip bomb is never inflated whole.
Redirects are never followed and connections never reused.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

import httpx

from ..http.transport import Body, deadline, install_deadline, read_capped, tls_context

__all__ = ["Failure", "Probe", "Reply"]


@dataclass
class Reply:
    """An HTTP answer: status, headers, and the decoded body cut at the probe's byte cap."""

    status: int
    headers: httpx.Headers
    charset: str
    body: bytes
    truncated: bool  # the decoded body went past the cap
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
        # No keep-alive: every attempt tests the listener afresh, and a dead pooled connection
        # cannot poison the next attempt.
        self.client = httpx.Client(
            verify=tls_context(verify),
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"accept": "application/json, */*;q=0.5", "accept-encoding": "identity"},
        )
        install_deadline(self.client)

    def get(self, url: str, headers: dict[str, str], timeout: float) -> Reply | Failure:
        """GET `url`, finished or abandoned within `timeout` seconds."""
        began = time.perf_counter()
        status: int | None = None
        with deadline(timeout) as current:
            try:
                with self.client.stream("GET", url, headers=headers, timeout=timeout) as resp:
                    status = resp.status_code
                    body = Body()
                    read_capped(resp, body, self.max_body_bytes, current, strict=True)
                    latency = (time.perf_counter() - began) * 1000
                    charset = resp.encoding or "utf-8"
                    return Reply(status, resp.headers, charset, body.data, body.capped, latency)
            except httpx.DecodingError as exc:
                latency = (time.perf_counter() - began) * 1000
                return Failure("protocol", f"protocol error: {exc}", status, latency)
            except httpx.HTTPError as exc:
                if isinstance(exc, httpx.TimeoutException) and current.expired():
                    return Failure(
                        "timeout", f"timed out: no complete answer within {timeout:.3g} s"
                    )
                return Failure(*_classify(exc))
            except OSError as exc:  # httpcore maps socket errors; anything else is named as is
                return Failure("error", f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.client.close()


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
