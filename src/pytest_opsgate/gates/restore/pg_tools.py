"""Restoring a dump with the right tool and its fail-stop flags, bounded by a timeout.

- plain SQL: ``psql -X -q -v ON_ERROR_STOP=1 -1 -f -`` (one transaction; the first error
  stops and rolls back all), gzip decompressed on the fly into its stdin;
- custom, tar, directory: ``pg_restore --exit-on-error --no-owner --no-privileges``; a
  gzipped custom dump is decompressed into the drill's temporary folder first, because
  pg_restore cannot seek in a pipe and fails on out-of-order data.

A tool that exits 0 but printed an error line still fails: "zero errors reported".
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from .errors import DrillError
from .procs import ToolRun, run_in_group
from .server import _candidate_bindirs

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .endpoint import Endpoint
    from .inspect import BackupInfo

__all__ = ["ClientTools", "RestoreRun", "find_client_tools", "restore_postgres"]

_CHUNK = 1 << 20
_ERROR_LINE = re.compile(
    r"^(?:psql:[^\n]*?\b(?:ERROR|FATAL):|pg_restore: error:|ERROR:|FATAL:)", re.M
)
_IGNORED = re.compile(r"errors ignored on restore: (\d+)")
_MISSING_ROLE = re.compile(r'role "[^"]+" does not exist')


@dataclass(frozen=True)
class ClientTools:
    """psql and pg_restore."""

    psql: str
    pg_restore: str


def find_client_tools(bindir: Path | None = None) -> ClientTools:
    """psql and pg_restore from ``bindir``, else PATH, else the server folders."""
    folders = [bindir] if bindir is not None else [None, *_candidate_bindirs()]
    for folder in folders:
        if folder is None:
            psql, pg_restore = shutil.which("psql"), shutil.which("pg_restore")
        else:
            psql, pg_restore = str(folder / "psql"), str(folder / "pg_restore")
            if not (os.access(psql, os.X_OK) and os.access(pg_restore, os.X_OK)):
                continue
        if psql and pg_restore:
            return ClientTools(psql, pg_restore)
    where = str(bindir) if bindir is not None else "PATH or /usr/lib/postgresql/*/bin"
    raise DrillError(
        f"psql and pg_restore are not in {where}; install them with 'apt-get install "
        "postgresql-client' (or postgresql), or point --gate-restore-bindir at their folder"
    )


@dataclass
class RestoreRun:
    """How the restore tool ended, in words, with its (unredacted) stderr tail."""

    tool: str
    ok: bool
    problem: str | None  # why it failed, in words
    duration_s: float
    stderr: str


def _judge(tool: str, run: ToolRun, timeout_s: float) -> RestoreRun:
    problem = None
    if run.timed_out:
        problem = f"restore did not finish within {timeout_s:g} s; {tool} was killed"
    elif run.feed_error is not None:
        problem = f"reading the backup failed mid-restore ({run.feed_error}); {tool} was killed"
    elif run.exit_code != 0:
        problem = f"{tool} exited {run.exit_code}"
    else:
        ignored = _IGNORED.search(run.stderr)
        errors = _ERROR_LINE.findall(run.stderr)
        if ignored and int(ignored.group(1)):
            problem = f"{tool} exited 0 but reported {ignored.group(1)} ignored errors"
        elif errors:
            problem = f"{tool} exited 0 but reported {len(errors)} error line(s)"
    first = _ERROR_LINE.search(run.stderr)
    if problem is not None and first is not None:
        # The first error names the cause ("relation ... does not exist", "invalid input").
        line = run.stderr[first.start() :].splitlines()[0].strip()
        problem += f": {line[:300]}"
    if problem is not None and _MISSING_ROLE.search(run.stderr):
        problem += (
            "; the dump names roles this server does not have: make it with "
            "--no-owner --no-privileges, or use the custom format (-Fc)"
        )
    return RestoreRun(tool, problem is None, problem, run.duration_s, run.stderr)


def _gunzip_into(path: Path) -> Callable[[IO[bytes]], None]:
    def feed(pipe: IO[bytes]) -> None:
        with gzip.open(path, "rb") as source:
            while chunk := source.read(_CHUNK):
                pipe.write(chunk)

    return feed


def restore_postgres(
    info: BackupInfo, endpoint: Endpoint, tools: ClientTools, *, timeout_s: float, workdir: Path
) -> RestoreRun:
    """Restore ``info`` into ``endpoint``'s database; never raises for a failing restore."""
    env = endpoint.tool_env()
    log = workdir / "restore-stderr.log"
    if info.format == "plain":
        argv = [tools.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", "-",
                "-d", endpoint.conninfo()]  # fmt: skip
        if info.compressed:
            feed = _gunzip_into(info.path)
            run = run_in_group(argv, timeout_s=timeout_s, stderr_path=log, env=env, feed=feed)
        else:
            with info.path.open("rb") as stdin:
                run = run_in_group(argv, timeout_s=timeout_s, stderr_path=log, env=env, stdin=stdin)
        return _judge("psql", run, timeout_s)
    source = info.path
    started = time.monotonic()
    if info.compressed:  # part of the restore: it counts in its time and its timeout
        source = workdir / "backup.dump"
        with gzip.open(info.path, "rb") as unzipped, source.open("wb") as out:
            shutil.copyfileobj(unzipped, out, _CHUNK)
    unzip_s = time.monotonic() - started
    argv = [tools.pg_restore, "--exit-on-error", "--no-owner", "--no-privileges",
            "-d", endpoint.conninfo(), str(source)]  # fmt: skip
    left = max(0.001, timeout_s - unzip_s)
    run = run_in_group(argv, timeout_s=left, stderr_path=log, env=env)
    run.duration_s += unzip_s
    return _judge("pg_restore", run, timeout_s)
