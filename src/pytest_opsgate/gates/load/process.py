"""Locust as a child process group: command line, progress, watchdog, signals, no orphans.

Locust runs in its own session (process group), so one signal reaches the master and
every worker it forked, and a terminal's Ctrl-C reaches pytest alone. While it runs,
SIGINT and SIGTERM of the pytest process are caught: Locust is asked to stop (it writes a
partial result), is killed if it has not stopped within :data:`STOP_WAIT_S`, and the
caller is told, so it can re-raise the interruption. Nothing here imports pytest.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

    from .result import LoadResult
    from .settings import LoadSettings

RESULT_FILE = "opsgate-result.json"
PROGRESS_FILE = "progress.jsonl"
LOG_FILE = "locust.log"
CSV_PREFIX = "locust"
HTML_FILE = "locust.html"
JSON_PREFIX = "locust"  # Locust appends ".json"
# Start-up (imports, fork) and shut-down (reports) on top of the run time.
WATCHDOG_GRACE_S = 20.0
POLL_S = 0.2
# F28: from the signal to the last Locust process gone within 5 s, in the worst case too:
# a stop request gets STOP_WAIT_S, then SIGKILL and at most KILL_WAIT_S to reap the group.
STOP_WAIT_S = 3.0
KILL_WAIT_S = 1.0


@dataclass
class LoadRun:
    """One Locust run to start: what, against which URL, with which settings, where."""

    locustfile: Path
    base_url: str
    settings: LoadSettings
    workdir: Path
    cwd: Path | None = None
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)

    @property
    def result_path(self) -> Path:
        """Where the extension writes its JSON result."""
        return self.workdir / RESULT_FILE

    @property
    def deadline_s(self) -> float:
        """The watchdog's limit for the whole child run."""
        settings = self.settings
        wait = settings.workers_wait_s if settings.distributed else 0.0
        return wait + math.ceil(settings.run_time_s) + WATCHDOG_GRACE_S


@dataclass
class RunOutcome:
    """How a Locust run ended, and what it left behind."""

    returncode: int | None
    result: LoadResult | None
    duration_s: float
    watchdog_fired: bool = False
    signal_received: int | None = None
    stop_s: float | None = None  # from the stop request to the last process gone
    orphans: list[int] = field(default_factory=list)
    result_error: str | None = None  # a result file that could not be read

    def log_tail(self, workdir: Path, lines: int = 15) -> str:
        """The end of Locust's log, for error messages."""
        try:
            text = (workdir / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def locust_command(run: LoadRun) -> list[str]:
    """The Locust command line: headless, reports into the work folder, our extension."""
    s = run.settings
    work = run.workdir
    cmd = [
        run.python,
        "-m",
        "pytest_opsgate.gates.load.launch",
        "-f",
        str(run.locustfile),
        "--headless",
        "-u",
        "0" if s.open_model else str(s.users),
        "-r",
        "1" if s.open_model else f"{s.effective_spawn_rate:g}",
        "-t",
        f"{max(1, math.ceil(s.run_time_s))}s",
        "-H",
        run.base_url,
        "--csv",
        str(work / CSV_PREFIX),
        "--html",
        str(work / HTML_FILE),
        "--json-file",
        str(work / JSON_PREFIX),
        "--only-summary",
        "--opsgate-result",
        str(run.result_path),
        "--opsgate-progress",
        str(work / PROGRESS_FILE),
        "--opsgate-warmup",
        f"{s.warmup_s:g}",
        "--opsgate-min-samples",
        str(s.min_samples),
        "--opsgate-workers-wait",
        f"{s.workers_wait_s:g}",
    ]
    for slo in s.slos:
        cmd += ["--opsgate-slo", slo.text]
    if s.early_pass:
        cmd.append("--opsgate-early-pass")
    if s.open_model:
        if s.rate is not None:
            cmd += ["--opsgate-rate", f"{s.rate:g}"]
        if s.stages:
            cmd += ["--opsgate-stages", s.stages_text]
        cmd += ["--opsgate-max-inflight", str(s.max_inflight), "--opsgate-latency", s.latency]
    if s.workers:
        port = free_port()
        cmd += [
            "--processes",
            str(s.workers),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--master-port",
            str(port),
        ]
    elif s.expect_workers:
        host, port = s.bind
        cmd += [
            "--master",
            "--expect-workers",
            str(s.expect_workers),
            "--master-bind-host",
            host,
            "--master-bind-port",
            str(port),
        ]
    cmd += list(s.locust_args)
    return cmd


class _SignalTrap:
    """Remembers SIGINT/SIGTERM while Locust runs instead of dying with it running."""

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum


@contextmanager
def _trapped_signals() -> Iterator[_SignalTrap]:
    trap = _SignalTrap()
    if threading.current_thread() is not threading.main_thread():
        yield trap
        return
    previous = {sig: signal.signal(sig, trap) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield trap
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(proc: subprocess.Popen[bytes], wait_s: float = STOP_WAIT_S) -> list[int]:
    """Ask the whole group to stop (SIGINT), then kill it; return pids that survived."""
    return stop_groups([proc], wait_s)


def stop_groups(procs: list[subprocess.Popen[bytes]], wait_s: float = STOP_WAIT_S) -> list[int]:
    """:func:`stop_group` for several groups at once, within one bound for all of them."""
    for proc in procs:
        _signal_group(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + wait_s

    def gone() -> bool:
        return all(p.poll() is not None and not group_members(p.pid) for p in procs)

    while time.monotonic() < deadline:
        if gone():
            return []
        time.sleep(0.05)
    for proc in procs:
        _signal_group(proc.pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + KILL_WAIT_S
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored; this is a bound
            proc.wait(timeout=max(0.0, kill_deadline - time.monotonic()))
    while not gone() and time.monotonic() < kill_deadline:
        time.sleep(0.05)
    return [pid for proc in procs for pid in group_members(proc.pid)]


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) in a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


class ProgressTail:
    """New complete JSON lines of the progress file, as they appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        """Lines written since the last call."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []
        self._offset += len(data)
        data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def run_locust(
    run: LoadRun, on_progress: Callable[[dict[str, Any]], None] | None = None
) -> RunOutcome:
    """Run Locust to the end (or the watchdog, or a signal) and read its result."""
    return run_locusts([run], [on_progress])[0]


class _Child:
    """One Locust process group of :func:`run_locusts`."""

    def __init__(self, run: LoadRun, log: Any) -> None:
        self.run = run
        env = {**os.environ, **run.env}
        env["OPSGATE_PARENT_PID"] = str(os.getpid())
        env["PYTHONUNBUFFERED"] = "1"
        self.tail = ProgressTail(run.workdir / PROGRESS_FILE)
        self.watchdog_fired = False
        self.stop_s: float | None = None
        self.orphans: list[int] = []
        self.proc = subprocess.Popen(
            locust_command(run),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(run.cwd) if run.cwd else None,
            env=env,
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def feed(self, on_progress: Callable[[dict[str, Any]], None] | None) -> None:
        if on_progress is not None:
            for line in self.tail.read():
                on_progress(line)


def run_locusts(
    runs: list[LoadRun], on_progress: list[Callable[[dict[str, Any]], None] | None]
) -> list[RunOutcome]:
    """Run several Locust children side by side (a target and its live baseline), each to
    its end or its own watchdog; a signal stops them all within the one stop bound."""
    for run in runs:
        run.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    children: list[_Child] = []
    with _trapped_signals() as trap, ExitStack() as stack:
        for run in runs:
            log = stack.enter_context((run.workdir / LOG_FILE).open("wb"))
            children.append(_Child(run, log))
        try:
            while any(child.running for child in children):
                time.sleep(POLL_S)
                for child, callback in zip(children, on_progress, strict=True):
                    child.feed(callback)
                if trap.received is not None:
                    stop_started = time.monotonic()
                    orphans = stop_groups([child.proc for child in children])
                    for child in children:
                        child.stop_s = time.monotonic() - stop_started
                        child.orphans = [pid for pid in orphans if pid in _group(child)]
                    break
                for child in children:
                    if child.running and time.monotonic() - started > child.run.deadline_s:
                        child.watchdog_fired = True
                        child.orphans = stop_group(child.proc)
        finally:
            # Forked workers may outlive a master that exited on its own (or was killed).
            for child in children:
                if child.proc.poll() is None or group_members(child.proc.pid):
                    child.orphans = stop_group(child.proc, wait_s=1.0)
    outcomes = []
    for child, callback in zip(children, on_progress, strict=True):
        child.feed(callback)
        result, result_error = read_result(child.run.result_path)
        outcomes.append(
            RunOutcome(
                returncode=child.proc.returncode,
                result=result,
                duration_s=time.monotonic() - started,
                watchdog_fired=child.watchdog_fired,
                signal_received=trap.received,
                stop_s=child.stop_s,
                orphans=child.orphans,
                result_error=result_error,
            )
        )
    return outcomes


def _group(child: _Child) -> set[int]:
    return {child.proc.pid, *group_members(child.proc.pid)}


def read_result(path: Path) -> tuple[LoadResult | None, str | None]:
    """The typed result Locust wrote, or why there is none usable (None, None: no file)."""
    from .result import LoadResult, ResultFormatError

    if not path.is_file():
        return None, None
    try:
        return LoadResult.read(path), None
    except (OSError, ResultFormatError) as exc:
        return None, str(exc)
