"""Stack lifecycle commands (start, seed, logs, stop, on-pass/on-fail hooks) run with a deadline.

A command runs as ``/bin/sh -c COMMAND`` in a session of its own, with stdout and stderr
merged into one pipe. Guarantees, whatever the command does:

- It never outlives its timeout: the whole process group gets SIGTERM, then SIGKILL after
  ``kill_grace_s``, and :func:`run_command` returns within about ``timeout_s + kill_grace_s``.
- A background child that keeps the pipe open (``server &``) does not hang the gate: once
  the shell exits, output is read for at most ``drain_s`` more and the child is left running
  (a start command is allowed to leave the service up). A reader thread keeps draining the
  pipe so that child does not die of SIGPIPE when it writes.
- Ctrl-C (KeyboardInterrupt) kills the process group, then re-raises.
- Output is redacted before it is cut to its tail, so a cut never leaves part of a secret.

POSIX only: it relies on ``/bin/sh``, sessions and process groups.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

__all__ = ["OUTPUT_TAIL_BYTES", "CommandResult", "run_command"]

OUTPUT_TAIL_BYTES = 64 * 1024
FILE_TAIL_BYTES = 4 * 1024 * 1024
# Bytes kept beyond a cap so a secret straddling the raw cut is redacted and then dropped.
_REDACTION_MARGIN = 4096
_CHUNK = 65536


@dataclass
class CommandResult:
    """How one lifecycle command or hook ended; ``command`` and ``output`` are redacted."""

    name: str
    command: str
    exit_code: int | None  # None when it timed out, was killed by us, or could not start
    timed_out: bool
    duration_s: float
    output: str  # the last OUTPUT_TAIL_BYTES of stdout+stderr
    output_path: Path | None = None
    truncated: bool = False  # True when output is only the tail of what the command printed
    error: str | None = None  # why it did not run to completion (timeout, could not start)

    @property
    def ok(self) -> bool:
        """True when the command ran to completion and exited 0."""
        return self.exit_code == 0 and not self.timed_out and self.error is None

    @property
    def status(self) -> str:
        """``exit 0``, ``exit 3``, ``timed out after 5 s`` or ``did not start``, for reports."""
        if self.timed_out:
            return f"timed out after {self.duration_s:.1f} s"
        if self.exit_code is None:
            return "did not start"
        return f"exit {self.exit_code}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (``output_path`` as a string)."""
        return {
            "name": self.name,
            "command": self.command,
            "exit_code": self.exit_code,
            "ok": self.ok,
            "timed_out": self.timed_out,
            "duration_s": round(self.duration_s, 3),
            "output": self.output,
            "output_truncated": self.truncated,
            "output_path": None if self.output_path is None else str(self.output_path),
            "error": self.error,
        }


class _TailReader:
    """Reads a pipe on a daemon thread into a tail-capped buffer until EOF."""

    def __init__(self, stream: Any, cap: int) -> None:
        self._stream = stream
        self._cap = cap
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._dropped = 0
        self.eof = threading.Event()
        self._thread = threading.Thread(target=self._run, name="opsgate-command-output")
        self._thread.daemon = True
        self._thread.start()

    def _run(self) -> None:
        fd = self._stream.fileno()
        try:
            while True:
                chunk = os.read(fd, _CHUNK)
                if not chunk:
                    break
                with self._lock:
                    self._buffer += chunk
                    excess = len(self._buffer) - self._cap
                    if excess > 0:
                        del self._buffer[:excess]
                        self._dropped += excess
        except OSError:
            pass  # the pipe was closed under us; what was read is kept
        finally:
            self.eof.set()
            with contextlib.suppress(OSError):
                self._stream.close()

    def snapshot(self) -> tuple[bytes, bool]:
        """The bytes read so far and whether earlier bytes were dropped."""
        with self._lock:
            return bytes(self._buffer), self._dropped > 0


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace_s``."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        # Reap the shell first: a zombie still counts as a member of the group.
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_code(returncode: int) -> int:
    # Report a death by signal the way a shell does (SIGKILL -> 137), not as Python's -9.
    return 128 - returncode if returncode < 0 else returncode


def _redacted_tail(
    raw: bytes, dropped: bool, cap: int, redact: Callable[[str], str]
) -> tuple[str, bool]:
    """Redact, then keep the last ``cap`` bytes; True when anything was cut."""
    data = redact(raw.decode("utf-8", errors="replace")).encode("utf-8")
    cut = dropped
    if dropped:
        # The buffer's first bytes may hold the end of a secret the redactor could not
        # recognise; the margin read beyond the cap is there to be thrown away.
        data = data[_REDACTION_MARGIN:]
    if len(data) > cap:
        data = data[-cap:]
        cut = True
    tail = data.decode("utf-8", errors="ignore")
    if cut:
        newline = tail.find("\n", 0, 512)  # start on a whole line when one begins near the cut
        tail = tail[newline + 1 :] if newline >= 0 else tail
    return tail, cut


def _build_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


def run_command(
    name: str,
    command: str,
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    output_path: Path | None = None,
    redact: Callable[[str], str] | None = None,
    kill_grace_s: float = 5.0,
    drain_s: float = 1.0,
) -> CommandResult:
    """Run ``command`` with ``/bin/sh -c`` under a deadline; never raises for a failing command.

    ``env`` adds to (and overrides) the inherited environment. ``output_path``, when given,
    receives the redacted output (its last 4 MiB). Returns within about
    ``timeout_s + kill_grace_s + drain_s``; KeyboardInterrupt kills the group and re-raises.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s {timeout_s!r} is not positive; pass seconds > 0")
    scrub: Callable[[str], str] = redact if redact is not None else (lambda text: text)
    shown = scrub(command)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_build_env(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        where = f" in {cwd}" if cwd is not None else ""
        return CommandResult(
            name=name,
            command=shown,
            exit_code=None,
            timed_out=False,
            duration_s=time.monotonic() - started,
            output="",
            error=scrub(f"could not start /bin/sh{where}: {exc}; check the directory and shell"),
        )

    cap = FILE_TAIL_BYTES if output_path is not None else OUTPUT_TAIL_BYTES
    reader = _TailReader(proc.stdout, cap + _REDACTION_MARGIN)
    deadline = started + timeout_s
    timed_out = False
    try:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, kill_grace_s)
        # After the shell exits, a background child may still hold the pipe: read on
        # only briefly, and never past the deadline plus the kill grace.
        reader.eof.wait(timeout=drain_s)
    except BaseException:
        _kill_group(proc, min(kill_grace_s, 1.0))
        raise
    duration = time.monotonic() - started

    raw, dropped = reader.snapshot()
    full, file_cut = _redacted_tail(raw, dropped, cap, scrub)
    output, output_cut = _redacted_tail(full.encode("utf-8"), False, OUTPUT_TAIL_BYTES, str)

    exit_code = None if timed_out or proc.returncode is None else _exit_code(proc.returncode)
    error = None
    if timed_out:
        error = (
            f"timed out after {timeout_s:g} s; the process group was killed "
            "(raise the command's timeout if it needs longer)"
        )
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        header = f"$ {shown}\n# {name}: " + (error or f"exit {exit_code}") + "\n"
        if file_cut:
            header += "# (earlier output was cut; this is the tail)\n"
        output_path.write_text(header + full, encoding="utf-8")
    return CommandResult(
        name=name,
        command=shown,
        exit_code=exit_code,
        timed_out=timed_out,
        duration_s=duration,
        output=output,
        output_path=output_path,
        truncated=file_cut or output_cut,
        error=error,
    )
