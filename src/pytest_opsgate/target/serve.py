"""``--gate-serve-cmd``: a foreground server the gate runs for the run, as Playwright's webServer.

``uvicorn app:app`` or ``npm start`` never return, so they cannot be a start command. The
gate starts the command in the background, in a process group of its own, with its output
(redacted line by line as it is written) in ``stack-logs.txt``; readiness then waits for it,
giving up at once if the process exits. At the end of the run the group gets SIGTERM, then
SIGKILL after a grace, always: on PASS, on failure, on Ctrl-C and on SIGTERM (the run's
finish calls :meth:`ServedProcess.stop`, and ``config.add_cleanup`` is the last resort).
Processes that left the group (``setsid``, a server that daemonizes) are found by a variable
of the run's own in their environment (``/proc``, Linux) and stopped the same way. If the
gate itself is killed outright (SIGKILL), the kernel sends the served command SIGTERM
(``PR_SET_PDEATHSIG``; a process it forked and that left is not covered).

Before starting, one connection checks that nothing listens at the base URL already: a server
left over from an earlier run would otherwise be tested in place of the new one. With
``--gate-serve-reuse`` an answering server is used as it is, and the command is not run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ServedProcess", "something_answers"]

STOP_GRACE_S = 5.0
# Every process of the served command carries this variable, set to a token of its own run,
# so the stop finds those that left its process group (setsid, a daemonizing server).
TOKEN_ENV = "OPSGATE_SERVED_BY"


def _die_with_parent() -> Callable[[], None] | None:
    """For the child: SIGTERM when the gate dies, even by SIGKILL (Linux PR_SET_PDEATHSIG).

    A gate killed outright (the CI job's SIGKILL, the OOM killer) runs no cleanup; without
    this its served server would hold the port for every later run. libc is loaded here, in
    the parent: the child between fork and exec may only make the one call.
    """
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: the stop at the end of the run is all there is

    def set_pdeathsig() -> None:
        prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG

    return set_pdeathsig


def _pids_carrying(token: str) -> list[int]:
    """Live processes whose environment holds ``TOKEN_ENV=token`` (Linux /proc; else none)."""
    wanted = f"{TOKEN_ENV}={token}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def something_answers(base_url: str, timeout_s: float = 2.0) -> bool:
    """True when anything accepts a connection at ``base_url``'s host and port (refused is False).

    A listener counts even if it never answers HTTP in time (a slow home page, a hung old
    instance): it holds the port, so the served command could not bind and the gate would
    measure the listener instead.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s):
            return True
    except OSError:
        return False


class ServedProcess:
    """One background server command, its redacted log, and its guaranteed stop."""

    def __init__(self, command: str, log_path: Path, redact: Callable[[str], str]) -> None:
        self.command = command
        self.log_path = log_path
        self._redact = redact
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self.started_at: float | None = None
        self._token = uuid.uuid4().hex

    def start(self) -> None:
        """Start the command in a session of its own, its output copied to the log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", self.command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, TOKEN_ENV: self._token},
            preexec_fn=_die_with_parent(),
        )
        self.started_at = time.monotonic()
        # The reader gets the process itself: stop() may clear self._proc before it runs.
        self._reader = threading.Thread(
            target=self._copy_output, args=(self._proc,), name="opsgate-serve-output"
        )
        self._reader.daemon = True
        self._reader.start()

    def _copy_output(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with self.log_path.open("w", encoding="utf-8") as log:
            log.write(f"$ {self._redact(self.command)}\n")
            for raw in iter(proc.stdout.readline, b""):
                log.write(self._redact(raw.decode("utf-8", "replace")))
                log.flush()

    def exited(self) -> str | None:
        """Why the served process is gone (for readiness to give up), or None while it runs."""
        if self._proc is None or self._proc.poll() is None:
            return None
        # The last line is usually the reason (a missing module, a port in use): say it here
        # rather than send the user to the file. The reader may still be copying it.
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        output = self.tail(lines=1000).splitlines()[1:]  # [0] is the "$ command" header
        last = next((line.strip() for line in reversed(output) if line.strip()), "")
        said = f" (its last line: {last[:200]!r})" if last else ""
        return (
            f"--gate-serve-cmd exited with code {self._proc.returncode} before the target was "
            f"ready{said}; its output is in {self.log_path}"
        )

    def tail(self, lines: int = 15) -> str:
        """The end of the server's log, for messages."""
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> str | None:
        """SIGTERM the process group, SIGKILL it after the grace; says what it took, once."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        how = "stopped"
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            how = f"killed (no exit within {STOP_GRACE_S:g} s of SIGTERM)"
        # Children that left the shell behind are in the same group: make sure none stays.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE_S)
        escaped = self._stop_escaped()
        if escaped:
            how += f", and {escaped} process(es) it left outside its group"
        if self._reader is not None:
            self._reader.join(timeout=STOP_GRACE_S)
        return f"--gate-serve-cmd {how}"

    def _stop_escaped(self) -> int:
        """SIGTERM, then SIGKILL, what the command left in sessions of its own; how many."""
        pids = _pids_carrying(self._token)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while _pids_carrying(self._token) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in _pids_carrying(self._token):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def stop_quietly(self) -> None:
        """:meth:`stop`, for cleanup callbacks that take no result."""
        self.stop()
