"""A throwaway local Postgres for one drill: initdb, pg_ctl start, and always stop and delete.

pytest-postgresql's executor was considered and not used: it runs ``pg_ctl initdb`` and
``pg_ctl start`` as the calling user with no way to switch to the unprivileged ``postgres``
user that a root CI job needs (Postgres refuses root), and its stop (``-m fast`` through
mirakuru) does not reach the postmaster's children, which each run in a session of their own.

The server listens on a free loopback port with scram-sha-256 and a random password (the
drill restores production data; trust on TCP would open it to every local user), and on a
Unix socket in its 0700 temporary directory with trust, which the restore tools use.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DrillError
from .procs import run_in_group, sweep_cwd

if TYPE_CHECKING:
    from .endpoint import Endpoint

__all__ = ["INSTALL_HINT", "LocalServer", "ServerBinaries", "find_server_binaries"]

INSTALL_HINT = (
    "install the server with 'apt-get install postgresql' (or point --gate-restore-bindir at a "
    "folder with initdb, pg_ctl, postgres, psql and pg_restore), or pass --gate-restore-dsn "
    "postgresql://... to restore into an existing server"
)
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres", "psql", "pg_restore")
_SERVICE_USER = "postgres"
_START_ATTEMPTS = 3
# A throwaway cluster needs no durability; these make restores of big dumps much faster.
_FAST_SETTINGS = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")


@dataclass(frozen=True)
class ServerBinaries:
    """The folder holding initdb, pg_ctl, postgres, psql and pg_restore."""

    bindir: Path

    def tool(self, name: str) -> str:
        """The path of one tool in the folder."""
        return str(self.bindir / name)


def _candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
            if out:
                found.append(Path(out))

    def major(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    found.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True))
    return found


def find_server_binaries(bindir: Path | None = None) -> ServerBinaries:
    """The given bindir, else pg_config's, else the newest /usr/lib/postgresql/*/bin.

    Raises :class:`DrillError` naming the install command when no folder has every tool.
    """
    dirs = [bindir] if bindir is not None else _candidate_bindirs()
    for folder in dirs:
        missing = [tool for tool in SERVER_TOOLS if not os.access(folder / tool, os.X_OK)]
        if not missing:
            return ServerBinaries(folder)
    where = ", ".join(str(d) for d in dirs) or "pg_config --bindir and /usr/lib/postgresql/*/bin"
    raise DrillError(
        f"no Postgres server binaries ({', '.join(SERVER_TOOLS)}) found in {where}; {INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalServer:
    """One throwaway cluster; :meth:`start` it, and :meth:`stop` it in a ``finally``."""

    def __init__(self, binaries: ServerBinaries, *, start_timeout_s: float = 60.0) -> None:
        self.binaries = binaries
        self.start_timeout_s = start_timeout_s
        self.password = secrets.token_urlsafe(24)
        self.root: Path | None = None
        self.port: int | None = None
        self._postmaster: int | None = None
        self._as_user: list[str] = []
        self._owner: pwd.struct_passwd | None = None

    @property
    def data(self) -> Path:
        """The data directory."""
        assert self.root is not None
        return self.root / "data"

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            self._owner = pwd.getpwnam(_SERVICE_USER)
        except KeyError:
            raise DrillError(
                f"running as root, the drill needs the unprivileged user {_SERVICE_USER!r} "
                f"to run Postgres (it refuses root) and there is none; {INSTALL_HINT}"
            ) from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise DrillError("running as root, the drill needs 'runuser' (util-linux)")
        self._as_user = [runuser, "-u", _SERVICE_USER, "--"]

    def _give(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def start(self) -> Endpoint:
        """Create, initdb and start the cluster; the endpoint of its ``postgres`` database."""
        from .endpoint import Endpoint

        self._prepare_user()
        self.root = Path(tempfile.mkdtemp(prefix="opsgate-restore-"))
        self._give(self.root)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        self._give(pwfile)
        initdb = [
            *self._as_user, self.binaries.tool("initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
            "-E", "UTF8", "--locale=C", "--no-sync",
        ]  # fmt: skip
        run = run_in_group(
            initdb, timeout_s=self.start_timeout_s, stderr_path=self.root / "initdb.log"
        )
        pwfile.unlink()
        if run.exit_code != 0:
            raise DrillError(
                f"initdb failed ({'timed out' if run.timed_out else f'exit {run.exit_code}'}): "
                f"{run.stderr.strip()[-500:]}; check the server binaries in {self.binaries.bindir} "
                "and that the postgres user can reach the temporary folder (set TMPDIR=/tmp)"
            )
        for attempt in range(_START_ATTEMPTS):
            self.port = _free_port()
            options = " ".join(
                [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1"]
                + [f"-c {setting}" for setting in _FAST_SETTINGS]
            )
            start = [
                *self._as_user, self.binaries.tool("pg_ctl"), "start", "-w",
                "-t", str(int(self.start_timeout_s)), "-D", str(self.data),
                "-l", str(self.root / "server.log"), "-o", options,
            ]  # fmt: skip
            run = run_in_group(
                start, timeout_s=self.start_timeout_s + 5, stderr_path=self.root / "pg_ctl.log"
            )
            self._postmaster = self._read_postmaster_pid()
            if run.exit_code == 0:
                return Endpoint.local(self.root, self.port, self.password)
            log = (self.root / "server.log").read_text("utf-8", "replace")
            if "could not bind" not in log or attempt == _START_ATTEMPTS - 1:
                raise DrillError(
                    f"the throwaway Postgres did not start: {log.strip()[-500:]}; {INSTALL_HINT}"
                )
            self._stop_server()
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def _stop_server(self) -> None:
        assert self.root is not None
        try:
            if (self.data / "postmaster.pid").exists():
                stop = [
                    *self._as_user, self.binaries.tool("pg_ctl"), "stop", "-m", "immediate",
                    "-w", "-t", "10", "-D", str(self.data),
                ]  # fmt: skip
                run_in_group(stop, timeout_s=15, stderr_path=self.root / "pg_ctl-stop.log")
        finally:
            if self._postmaster is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(self._postmaster, signal.SIGKILL)
                self._postmaster = None  # never signal a pid that may since have been reused
            sweep_cwd(self.root)

    def stop(self) -> list[str]:
        """Stop the server, kill whatever still works in its folder, delete it; what was done."""
        done: list[str] = []
        if self.root is None:
            return done
        interrupted: BaseException | None = None
        for step, what in ((self._stop_server, "stopped the throwaway server"),
                           (self._delete, f"deleted {self.root}")):  # fmt: skip
            try:
                step()
                done.append(what)
            except KeyboardInterrupt as error:  # finish cleaning first, then stop
                interrupted = error
            except Exception as error:
                done.append(f"could not finish ({what}): {error}")
        if interrupted is not None:
            raise interrupted
        self.root = None
        return done

    def _delete(self) -> None:
        assert self.root is not None
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            raise OSError(f"{self.root} is still there")


def version_of(binaries: ServerBinaries) -> str:
    """``15.18`` from ``postgres --version``, or ``unknown``."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [binaries.tool("postgres"), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        match = re.search(r"(\d+(?:\.\d+)?)", out)
        if match:
            return match.group(1)
    return "unknown"
