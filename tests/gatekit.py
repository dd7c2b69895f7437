"""Test-side pieces several test modules share: gate runs, locustfiles, loopback servers, /proc."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import textwrap
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import faultserver

SUBPROCESS_TIMEOUT = 120

PING_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Pinger(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def ping(self):
        self.client.get("/ping")
"""

IDLE_LOCUSTFILE = """
from locust import User, constant, task

class Idle(User):
    wait_time = constant(0.5)

    @task
    def nothing(self):
        pass
"""


def burn_locustfile(slo: str) -> str:
    """A locustfile whose task busy-waits 150 ms, so the generator's CPU makes the latency."""
    return f"""
import time
from locust import User, constant, task

SLOS = [{slo!r}]

class Burner(User):
    wait_time = constant(0.01)

    @task
    def burn(self):
        start = time.perf_counter()
        while time.perf_counter() - start < 0.15:
            pass
        self.environment.events.request.fire(
            request_type="CPU", name="burn", response_time=(time.perf_counter() - start) * 1000,
            response_length=0, exception=None, context={{}},
        )
"""


def run_smoke(pytester: pytest.Pytester, url: str, toml: str, *args: str) -> pytest.RunResult:
    """Run the smoke gate in-process on the checks and profiles of ``toml`` (an opsgate.toml)."""
    pytester.makefile(".toml", opsgate=textwrap.dedent(toml))
    return pytester.runpytest("--gate=smoke", f"--base-url={url}", "-p", "no:cacheprovider", *args)


def gate_args(url: str, *extra: str) -> list[str]:
    """Command-line arguments of a load gate run against ``url``."""
    # hypothesis is a dev dependency whose pytest plugin imports it at the terminal summary
    # (1.5 s on a loaded box): users' gate runs do not pay it, so timed runs here do not.
    return [
        "--gate=load",
        f"--base-url={url}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        *extra,
    ]


def add_locustfile(pytester: pytest.Pytester, name: str, source: str | Path) -> Path:
    """Put ``locustfiles/<name>`` in the project: a copy of a file, or (dedented) source text."""
    folder = pytester.path / "locustfiles"
    folder.mkdir(exist_ok=True)
    target = folder / name
    if isinstance(source, Path):
        shutil.copy(source, target)
    else:
        target.write_text(textwrap.dedent(source))
    return target


def load_result(artifacts: Path, name: str) -> dict[str, Any]:
    """The load extension's JSON result for ``locustfiles/<name>`` under ``artifacts``."""
    path = artifacts / f"locustfiles-{name}-load" / "opsgate-result.json"
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def proc_table(filename: str) -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, ``/proc/<pid>/<filename>``) of live non-zombie processes but ours."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            content = (entry / filename).read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), content)
    return found


def serve_marked(marker: str) -> list[int]:
    """Live processes whose environment carries ``OPSGATE_SERVE_MARK=marker`` (a served
    command started with that mark, and whatever it started)."""
    wanted = f"OPSGATE_SERVE_MARK={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def non_loopback_address() -> str | None:
    """This machine's own non-loopback IPv4 address, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 9))  # UDP connect sends nothing
        except OSError:
            return None
        address = str(sock.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


class CountingServer:
    """A loopback HTTP server that answers every GET with a healthy JSON and counts paths."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        counts: dict[str, int] = {}
        received: list[str] = []
        connections: set[socket.socket] = set()
        lock = threading.Lock()
        self.dead = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with lock:
                    connections.add(self.connection)

            def finish(self) -> None:
                with lock:
                    connections.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                if outer.dead:  # a dead service answers nothing, even on kept-alive sockets
                    self.close_connection = True
                    return
                with lock:
                    received.append(self.path)
                    path = self.path.split("?", 1)[0]
                    counts[path] = counts.get(path, 0) + 1
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.counts = counts
        self.received = received  # every request target, query string included, in order
        self._connections = connections
        self._lock = lock

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets from clients that stop, or from stop() itself

        self.httpd = Server((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def total(self) -> int:
        return sum(self.counts.values())

    def stop(self) -> None:
        """Die: stop listening and drop every open connection."""
        if self.dead:
            return
        self.dead = True
        self.httpd.shutdown()
        self.httpd.server_close()
        with self._lock:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


# ---- gate runs of the fault corpus and the secrets sweep

# Headroom for a busy 2-core CI box on top of the configured timeouts: the bounds catch a
# hang or a deadline that is not honoured, not a slow machine.
MARGIN_S = 45.0
OK = faultserver.json({"status": "ok", "checks": {"db": {"status": "ok"}}, "version": "1.4.2"})


@dataclass
class GateRun:
    """One gate run: pytest's result, its wall time, gate.json and everything it printed."""

    result: pytest.RunResult
    elapsed_s: float
    report: dict[str, Any]
    artifacts: Path

    @property
    def output(self) -> str:
        return self.result.stdout.str() + "\n" + self.result.stderr.str()

    @property
    def readiness(self) -> dict[str, Any]:
        found: dict[str, Any] = self.report["readiness"]
        return found

    def reasons(self) -> str:
        return "\n".join(self.report["reasons"])

    def test_reason(self, fragment: str) -> str:
        """The recorded reason of the one test whose node id contains ``fragment``."""
        found = [t["reason"] for t in self.report["tests"] if fragment in t["nodeid"]]
        assert len(found) == 1, (fragment, self.report["tests"])
        return str(found[0])


class Gate:
    """Runs the gate in the pytester project, each run with artifacts of its own."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.runs = 0

    def run(
        self,
        url: str,
        *args: str,
        gate: str = "smoke",
        subprocess: bool = False,
        plugins: Sequence[object] = (),
    ) -> GateRun:
        self.runs += 1
        artifacts = self.pytester.path / f"evidence-{self.runs}"
        argv = (
            f"--gate={gate}",
            f"--base-url={url}",
            f"--gate-artifacts={artifacts}",
            "-p",
            "no:cacheprovider",
            *args,
        )
        started = time.monotonic()
        if subprocess:
            result = self.pytester.runpytest_subprocess(*argv, timeout=300)
        else:
            result = self.pytester.runpytest("-p", "no:playwright", *argv, plugins=list(plugins))
        elapsed = time.monotonic() - started
        report = json.loads((artifacts / "gate.json").read_text())
        return GateRun(result, elapsed, report, artifacts)

    def checks(self, toml: str) -> None:
        """Declare smoke checks in the project's opsgate.toml."""
        self.pytester.makefile(".toml", opsgate=textwrap.dedent(toml))


def assert_verdict(run: GateRun, verdict: str, exit_code: int) -> None:
    """The same verdict in the exit code, gate.json and the terminal's VERDICT line."""
    __tracebackhide__ = True
    assert run.result.ret == exit_code, run.output
    assert run.report["verdict"] == verdict
    assert run.report["exit_code"] == exit_code
    assert f"VERDICT: {verdict} (exit code {exit_code})" in run.output
    assert "INTERNALERROR" not in run.output
    assert "Traceback" not in run.output


class StallingServer:
    """A loopback HTTP server that holds every answer during the first ``stall_s`` of each
    ``period_s`` (a GC pause, a lock, a failover), and answers at once otherwise.

    A request arriving at a uniformly random moment waits ``stall_s - phase`` when it lands
    in a stall, so its true latency exceeds x (0 <= x < stall_s) with probability
    ``(stall_s - x) / period_s``: the p-th percentile is ``stall_s - (1 - p/100) * period_s``
    (:meth:`true_percentile_s`), 0.75 s for p95 when 1 s of every 5 s stalls.
    """

    def __init__(self, stall_s: float = 1.0, period_s: float = 5.0) -> None:
        self.stall_s, self.period_s = stall_s, period_s
        self.started = time.monotonic()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                phase = (time.monotonic() - outer.started) % outer.period_s
                if phase < outer.stall_s:
                    time.sleep(outer.stall_s - phase)
                body = b'{"status": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients that stop mid-stall hang up; that is not news

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def true_percentile_s(self, p: float) -> float:
        """The p-th percentile of the latency of requests arriving at random moments."""
        return max(0.0, self.stall_s - (1 - p / 100) * self.period_s)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
