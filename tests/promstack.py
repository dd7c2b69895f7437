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
    from collections.abc import Callable, Iterator, Sequence

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


def listens_on(pid: int, port: int) -> bool:
    """True when process ``pid`` holds the listening TCP socket of ``port`` (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


@contextlib.contextmanager
def refused_url() -> Iterator[str]:
    """A loopback URL that refuses connections: its port is bound (so no other process takes
    it while the test runs) but never listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_samples(text: str) -> Samples:
    """(name, labels) -> value of every sample in a text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample_value(samples: Samples, name: str, **labels: str) -> float | None:
    """The one sample of ``name`` whose labels include ``labels``; None when there is none."""
    found = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def gateway_samples(url: str) -> Samples:
    """Everything a Pushgateway exposes on /metrics now."""
    return parse_samples(httpx.get(f"{url}/metrics", timeout=10).text)


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
        port = int(self.url.rsplit(":", 1)[1])
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    # Another test process may have bound the same free port first; then
                    # that server answered, and ours is about to exit: try another port.
                    return listens_on(self.process.pid, port)
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


ITEMS = "/api/public/items"


class Traffic:
    """Sends requests to a scraped demo and waits until Prometheus has scraped all of them."""

    def __init__(self, demo_url: str, prometheus_url: str) -> None:
        self.demo_url = demo_url
        self.prometheus_url = prometheus_url
        self.sent = 0

    def scraped(self) -> float:
        """Requests to ITEMS that Prometheus has seen so far."""
        result = query(self.prometheus_url, f'sum(http_requests_total{{handler="{ITEMS}"}})')
        return float(result[0]["value"][1]) if result else 0.0

    def send(self, count: int) -> None:
        """``count`` requests to ITEMS and /healthz, then wait for a scrape that saw them."""
        with httpx.Client(base_url=self.demo_url) as client:
            for _ in range(count):
                assert client.get(ITEMS).status_code == 200
                assert client.get("/healthz").status_code == 200
        self.sent += count
        # rate() needs a scrape after the traffic: poll the API, never sleep-and-hope.
        wait_for("Prometheus to scrape the traffic", lambda: self.scraped() >= self.sent)
