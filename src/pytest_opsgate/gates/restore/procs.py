"""Running restore tools and server commands so that none can outlive the drill.

Each command runs in a session of its own. On a timeout, on any exception in the caller
(KeyboardInterrupt from SIGTERM included) and when the stdin feeder fails, the whole process
group gets SIGKILL before stdin is closed: ``psql -1`` must never see a clean end of input
after a broken gzip, or it would commit half a database. The postmaster and every backend
call ``setsid()`` (checked: each has pid = pgid = sid), so a process group kill cannot reach
them; :func:`sweep_cwd` finds them by their working directory, the data directory.

``target.stack.run_command`` is not used here: it runs through ``/bin/sh -c`` with a string,
merges stdout into stderr and cannot feed stdin, which a streamed gunzip needs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["ToolRun", "kill_group", "run_in_group", "sweep_cwd"]

TAIL_BYTES = 16 * 1024


@dataclass
class ToolRun:
    """How one command ended; ``stderr`` is its raw tail (redact before showing it)."""

    exit_code: int | None  # None when it timed out or the feeder failed and we killed it
    timed_out: bool
    duration_s: float
    stderr: str
    feed_error: str | None = None


def kill_group(pgid: int) -> None:
    """SIGKILL a process group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            stream.seek(max(0, path.stat().st_size - TAIL_BYTES))
            return stream.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_in_group(
    argv: Sequence[str],
    *,
    timeout_s: float,
    stderr_path: Path,
    env: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
    feed: Callable[[IO[bytes]], None] | None = None,
) -> ToolRun:
    """Run ``argv`` in its own session, bounded by ``timeout_s``; never leaves it running.

    ``feed`` (run on a thread) writes the command's stdin; if it raises, the group is
    killed first and the error is reported as ``feed_error``.
    """
    started = time.monotonic()
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if feed is not None else (stdin or subprocess.DEVNULL),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=None if env is None else {**os.environ, **env},
            start_new_session=True,
        )
    feed_errors: list[str] = []
    feeder: threading.Thread | None = None
    if feed is not None:
        assert proc.stdin is not None
        pipe = proc.stdin

        def pump() -> None:
            try:
                feed(pipe)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the tool stopped reading: its exit status says why
            except Exception as error:
                feed_errors.append(f"{type(error).__name__}: {error}")
                kill_group(proc.pid)
            finally:
                with contextlib.suppress(OSError):
                    pipe.close()

        feeder = threading.Thread(target=pump, name="opsgate-restore-feed", daemon=True)
        feeder.start()
    timed_out = False
    try:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid)
            proc.wait()
    except BaseException:
        kill_group(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        raise
    finally:
        kill_group(proc.pid)  # children it left behind in its group
        if feeder is not None:
            feeder.join(timeout=5)
    code = None if timed_out or feed_errors else proc.returncode
    return ToolRun(
        exit_code=code,
        timed_out=timed_out,
        duration_s=time.monotonic() - started,
        stderr=_tail(stderr_path),
        feed_error=feed_errors[0] if feed_errors else None,
    )


def _pids_under(root: Path) -> list[int]:
    found = []
    resolved = str(root.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        cwd = cwd.removesuffix(" (deleted)")
        if cwd == resolved or cwd.startswith(resolved + os.sep):
            found.append(int(entry.name))
    return found


def sweep_cwd(root: Path, *, wait_s: float = 5.0) -> list[int]:
    """SIGKILL every process working inside ``root`` and wait for them to go; the pids killed."""
    if not Path("/proc/self/cwd").exists():
        return []  # not Linux: the pg_ctl stop and the postmaster kill have to do
    killed = _pids_under(root)
    for pid in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    while killed and time.monotonic() < deadline and _pids_under(root):
        time.sleep(0.05)
    return killed
