"""The threaded HTTP server that runs the demo in the background."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import socketserver
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from pytest_opsgate.demo._accesslog import AccessLog, loggable_target
from pytest_opsgate.demo._app import DemoApp
from pytest_opsgate.demo._http import SECURITY_HEADERS, Request, Response, error_response
from pytest_opsgate.demo._options import DemoOptions
from pytest_opsgate.demo._state import DemoState

if TYPE_CHECKING:
    from types import TracebackType

MAX_BODY = 1024 * 1024
_log = logging.getLogger("pytest_opsgate.demo")
_IDLE_TIMEOUT_S = 30.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "opsgate-demo"
    timeout = _IDLE_TIMEOUT_S
    # Headers and body go out in separate writes; Nagle would hold the body ~40 ms.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        # The default also names the Python version, which a service should not advertise.
        return self.server_version

    @property
    def _demo(self) -> _DemoHTTPServer:
        return cast("_DemoHTTPServer", self.server)

    def setup(self) -> None:
        super().setup()
        self._demo.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._demo.untrack(self.connection)

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        started = time.perf_counter()
        response = self._read_request()
        path = response.path if isinstance(response, Request) else urlsplit(self.path).path
        if isinstance(response, Request):
            response = self._demo.app.handle(response)
        else:
            response.headers.extend(SECURITY_HEADERS)
        self._write(response)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._demo.app.state.metrics.observe(
            self._demo.app, self.command, path, response.status, elapsed_ms / 1000
        )
        self._demo.access_log.write(
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
            f'{self.client_address[0]} "{self.command} {loggable_target(self.path)} '
            f'{self.request_version}" {response.status} {len(response.body)} {elapsed_ms:.1f}ms'
        )

    def _read_request(self) -> Request | Response:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _closing(error_response(411, "length required", "send a Content-Length body"))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return _closing(error_response(400, "bad request", "Content-Length must be a number"))
        if length > MAX_BODY:
            return _closing(error_response(413, "body too large", f"send at most {MAX_BODY} bytes"))
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        return Request(
            method=self.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            client_ip=self.client_address[0],
        )

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        if response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        if response.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Same JSON shape and headers as every other answer; `message` is not echoed
        # because it quotes the raw request line, which may hold a secret.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # a status line, even for garbage
        phrase = self.responses.get(code, ("error", ""))[0]
        response = _closing(error_response(code, phrase.lower()))
        response.headers.extend(SECURITY_HEADERS)
        with contextlib.suppress(OSError):
            self._write(response)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Leave access logging to _serve, which masks secrets."""

    def log_error(self, format: str, *args: Any) -> None:
        # The default message repeats the raw request line, which may hold a secret.
        self._demo.access_log.write(f"{self.client_address[0]} rejected a malformed request")


def _closing(response: Response) -> Response:
    response.close = True
    return response


class _DemoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops SYNs when a load test opens its users at once,
    # which shows up as 1 s (SYN retry) outliers that are the demo's fault, not the target's.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: DemoApp, access_log: AccessLog) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self.access_log = access_log
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup, which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is routine; anything else is worth a traceback.
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            _log.exception("demo request from %s failed", client_address[0])

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down kept-alive connections so their threads end and no client is served."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _write_port_file(path: str, port: int) -> None:
    # Write then rename, so a script polling the file never reads half a number.
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".port-")
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{port}\n")
    os.replace(temporary, target)


class DemoServer:
    """A demo service running in a background thread; `options` may be changed live."""

    def __init__(self, options: DemoOptions, host: str, port: int) -> None:
        self.options = options
        with contextlib.ExitStack() as undo_on_error:
            self._access_log = AccessLog(options.log_file)
            undo_on_error.callback(self._access_log.close)
            self._state = DemoState(options)
            undo_on_error.callback(self._state.store.close)
            self._httpd = _DemoHTTPServer((host, port), DemoApp(self._state), self._access_log)
            undo_on_error.pop_all()
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"opsgate-demo-{self.port}",
            daemon=True,
        )
        self._thread.start()
        if options.port_file:
            try:
                _write_port_file(options.port_file, self.port)
            except BaseException:
                self.stop()
                raise

    @property
    def url(self) -> str:
        """Return the base URL, e.g. `http://127.0.0.1:8000`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def reset_rate_limits(self) -> None:
        """Forget every rate-limit window."""
        self._state.limiter.reset()

    def stop(self) -> None:
        """Stop serving, close open connections and the database; safe to call twice."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._state.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self._thread.join()
        self._state.store.close()
        self._access_log.close()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<DemoServer {self.url}{' stopped' if self._stopped else ''}>"


def start_demo(
    options: DemoOptions | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> DemoServer:
    """Start the demo service in a background thread; port 0 picks a free port."""
    return DemoServer(options if options is not None else DemoOptions(), host, port)
