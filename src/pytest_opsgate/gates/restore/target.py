"""The ephemeral Postgres database a dump is restored into, and its removal, always.

With a DSN: ``opsgate_restore_<YYYYmmddHHMMSS>_<random>`` on that server (from template0, as
pg_dump's docs advise), dropped ``WITH (FORCE)`` after, which also ends a restore still
running in it. Without: the same database in a throwaway local server, which is then stopped
and deleted with its data directory.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from .endpoint import Endpoint
from .errors import DrillError
from .pg_tools import ClientTools, find_client_tools
from .server import LocalServer, find_server_binaries, version_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["PostgresTarget", "ephemeral_name"]

EPHEMERAL_PREFIX = "opsgate_restore_"


def ephemeral_name(now: datetime | None = None) -> str:
    """``opsgate_restore_20260101120000_a1b2c3``: sortable, unique, a valid identifier."""
    moment = now or datetime.now()
    return f"{EPHEMERAL_PREFIX}{moment:%Y%m%d%H%M%S}_{secrets.token_hex(3)}"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresTarget:
    """Opens an ephemeral database for one restore; :meth:`close` removes it in a ``finally``."""

    def __init__(self, dsn: str | None, *, bindir: Path | None, start_timeout_s: float) -> None:
        self.dsn = dsn
        self.bindir = bindir
        self.start_timeout_s = start_timeout_s
        self.admin: Endpoint | None = Endpoint.from_dsn(dsn) if dsn else None
        self.server: LocalServer | None = None
        self.database: str | None = None
        self.description = ""
        self.tools: ClientTools | None = None

    @property
    def secrets(self) -> list[str]:
        """Passwords in play: the DSN's, or the throwaway server's."""
        found = list(self.admin.secrets) if self.admin is not None else []
        if self.server is not None:
            found.append(self.server.password)
        return found

    def open(self, note: Callable[[str], None]) -> Endpoint:
        """Start what is needed and create the ephemeral database; its endpoint."""
        if self.admin is None:
            binaries = find_server_binaries(self.bindir)
            self.tools = ClientTools(binaries.tool("psql"), binaries.tool("pg_restore"))
            self.server = LocalServer(binaries, start_timeout_s=self.start_timeout_s)
            note(f"starting a throwaway Postgres {version_of(binaries)} from {binaries.bindir}")
            self.admin = self.server.start()
            self.description = (
                f"throwaway local Postgres {version_of(binaries)} ({binaries.bindir}) "
                f"on 127.0.0.1:{self.server.port}"
            )
        else:
            self.tools = find_client_tools(self.bindir)
            self.description = f"ephemeral database on {self.admin.describe().split(' on ', 1)[1]}"
        name = ephemeral_name()
        with self.admin.connect() as conn:
            self.database = name  # before CREATE: an interrupt mid-CREATE still drops it
            try:
                conn.execute(f"CREATE DATABASE {_quote(name)} TEMPLATE template0")
            except Exception as error:
                self.database = None
                raise DrillError(
                    f"cannot create the ephemeral database on {self.admin.describe()} "
                    f"({str(error).strip()}); the --gate-restore-dsn user needs CREATEDB"
                ) from None
        note(f"created ephemeral database {name}")
        return self.admin.for_database(name)

    def _drop(self) -> str:
        assert self.admin is not None
        assert self.database is not None
        with self.admin.connect() as conn:
            force = " WITH (FORCE)" if conn.info.server_version >= 130000 else ""
            if not force:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (self.database,),
                )
            conn.execute(f"DROP DATABASE IF EXISTS {_quote(self.database)}{force}")
            left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
            if left.fetchone() is not None:
                raise DrillError(f"{self.database} is still there after DROP DATABASE")
        dropped, self.database = self.database, None
        return f"dropped database {dropped}"

    def close(self) -> list[str]:
        """Drop the database (DSN) or stop and delete the server; what was done, in words."""
        done: list[str] = []
        interrupted: BaseException | None = None
        if self.server is None and self.database is not None:
            for attempt in range(2):  # an interrupt during the drop gets one more try
                try:
                    done.append(self._drop())
                    break
                except KeyboardInterrupt as error:
                    interrupted = error
                    if attempt:
                        done.append(f"could not drop database {self.database}: interrupted")
                except Exception as error:
                    done.append(f"could not drop database {self.database}: {error}")
                    break
        if self.server is not None:
            try:
                done.extend(self.server.stop())
            except KeyboardInterrupt as error:
                interrupted = error
            self.database = None
        if interrupted is not None:
            raise interrupted
        return done
