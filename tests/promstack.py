"""Real Prometheus and Pushgateway processes (Debian's binaries) on free loopback ports, for tests.

Each runs in a folder under pytest's basetemp (so even a run killed by SIGTERM leaves it where
pytest prunes old runs), removed on stop, and dies with the test process even if that is
killed (PR_SET_PDEATHSIG), so no server outlives a run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

PROMETHEUS = "/usr/bin/prometheus"
PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
START_DEADLINE_S = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_binaries() -> list[str]:
    """The Debian binaries that are not installed (make test installs them)."""
    return [path for path in (PROMETHEUS, PUSHGATEWAY) if not Path(path).is_file()]


def skip_without_binaries() -> bool:
    """Skip on a developer machine without them; in CI (CI=true) a missing binary fails."""
    return bool(missing_binaries()) and os.environ.get("CI", "").lower() not in ("1", "true")


class Server:
    """One server process in its own temp folder."""

    def __init__(self, name: str, parent: Path) -> None:
        self.name = name
        self.folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, argv: Callable[[int], Sequence[str]], ready_path: str) -> None:
        """Start on a free port and wait until ``ready_path`` answers 200."""
        for _attempt in range(3):  # another process may take the port between probe and bind
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            log = (self.folder / "log").open("wb")
            with log:
                self.process = subprocess.Popen(
                    list(argv(port)),
                    cwd=self.folder,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
            if self._wait_ready(ready_path):
                return
            self.stop_process()
        raise RuntimeError(f"{self.name} did not start; log: {self.log()[-2000:]}")

    def _wait_ready(self, path: str) -> bool:
        deadline = time.monotonic() + START_DEADLINE_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return True
            time.sleep(0.1)
        return False

    def log(self) -> str:
        """What the server printed."""
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_process(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def stop(self) -> None:
        """Stop and remove the temp folder; afterwards /proc has no trace of the process."""
        self.stop_process()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid


def start_prometheus(targets: Sequence[str], parent: Path) -> Server:
    """Prometheus scraping ``targets`` (host:port) every second, TSDB in a temp folder."""
    server = Server("prometheus", parent)
    lines = [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "  evaluation_interval: 1s",
        "scrape_configs:",
        "  - job_name: demo",
        "    static_configs:",
        f"      - targets: [{', '.join(repr(t) for t in targets)}]",
    ]
    (server.folder / "prometheus.yml").write_text("\n".join(lines) + "\n")
    try:
        server.start(
            lambda port: [
                PROMETHEUS,
                "--config.file=prometheus.yml",
                "--storage.tsdb.path=data",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            "/-/ready",
        )
    except BaseException:
        server.stop()
        raise
    return server


def start_pushgateway(parent: Path) -> Server:
    """A Pushgateway without persistence."""
    server = Server("pushgateway", parent)
    try:
        server.start(
            lambda port: [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"], "/-/ready"
        )
    except BaseException:
        server.stop()
        raise
    return server


def query(prometheus_url: str, promql: str) -> Any:
    """The data.result of an instant query (test-side, plain httpx)."""
    answer = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]["result"]


def wait_for(
    what: str, check: Callable[[], bool], *, deadline_s: float = 60.0, step_s: float = 0.25
) -> None:
    """Poll ``check`` until it holds; AssertionError naming ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        if check():
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s:g} s waiting for {what}")
        time.sleep(step_s)
