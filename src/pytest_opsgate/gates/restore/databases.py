"""The restored database, read through one small interface: Postgres (psycopg) or SQLite.

Every read runs in a read-only transaction under a statement timeout, so a check can neither
change the restored data nor hang the gate. A SQLite backup is "restored" by copying it
(gunzipping when needed) into the drill's temporary folder and running ``PRAGMA
integrity_check`` on the copy; the original is never opened.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import time
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from .pg_tools import RestoreRun

if TYPE_CHECKING:
    from pathlib import Path

    from .inspect import BackupInfo

__all__ = ["PostgresDatabase", "RestoredDatabase", "SqliteDatabase", "as_instant", "restore_sqlite"]

_CHUNK = 1 << 20


class RestoredDatabase(Protocol):
    """What the checks need from a restored database."""

    def tables(self) -> list[str]:
        """Table names: ``orders`` for the public schema (or SQLite), else ``schema.table``."""

    def count_rows(self, table: str) -> int:
        """``SELECT count(*)`` of one table (a name from :meth:`tables`)."""

    def newest(self, table: str, column: str) -> object:
        """``SELECT max(column)`` of one table."""

    def scalar(self, query: str) -> object:
        """The first column of the first row of a read-only query (None without rows)."""

    def close(self) -> None:
        """Release the connection."""


def as_instant(value: object) -> tuple[datetime | None, str]:
    """A newest value as an aware datetime, and a note on how it was read ("" when plain)."""
    if value is None:
        return None, "no value (empty table, or only NULLs)"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc), "a timestamp without time zone, read as UTC"
        return value, ""
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc), "a date"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc), "a number, read as Unix time"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None, f"{value[:40]!r} is not a timestamp"
        return as_instant(parsed)
    return None, f"a {type(value).__name__} is not a timestamp"


class PostgresDatabase:
    """A restored Postgres database over one psycopg connection."""

    def __init__(self, connection: Any, *, statement_timeout_s: float) -> None:
        self._conn = connection
        self._conn.read_only = True
        self._timeout_ms = str(max(1, int(statement_timeout_s * 1000)))

    def _one(self, query: Any) -> Any:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (self._timeout_ms,))
            cur.execute(query)  # no parameters: a user's '%' stays a '%'
            return cur.fetchall() if cur.description is not None else []

    def tables(self) -> list[str]:
        rows = self._one(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
            "ORDER BY 1, 2"
        )
        return [name if schema == "public" else f"{schema}.{name}" for schema, name in rows]

    def _ident(self, table: str) -> Any:
        from psycopg import sql

        schema, _, name = table.rpartition(".")
        return sql.Identifier(schema or "public", name)

    def count_rows(self, table: str) -> int:
        from psycopg import sql

        return int(self._one(sql.SQL("SELECT count(*) FROM {}").format(self._ident(table)))[0][0])

    def newest(self, table: str, column: str) -> object:
        from psycopg import sql

        query = sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), self._ident(table))
        return self._one(query)[0][0]

    def scalar(self, query: str) -> object:
        rows = self._one(query)
        return rows[0][0] if rows else None

    def close(self) -> None:
        self._conn.close()


class SqliteDatabase:
    """A restored SQLite copy, opened read-only."""

    def __init__(self, path: Path, *, statement_timeout_s: float) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self._timeout_s = statement_timeout_s

    def _one(self, query: str) -> list[Any]:
        deadline = time.monotonic() + self._timeout_s
        self._conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10000)
        try:
            return self._conn.execute(query).fetchall()
        finally:
            self._conn.set_progress_handler(None, 0)

    @staticmethod
    def _quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def tables(self) -> list[str]:
        rows = self._one(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY name"
        )
        return [str(row[0]) for row in rows]

    def count_rows(self, table: str) -> int:
        return int(self._one(f"SELECT count(*) FROM {self._quote(table)}")[0][0])

    def newest(self, table: str, column: str) -> object:
        return self._one(f"SELECT max({self._quote(column)}) FROM {self._quote(table)}")[0][0]

    def scalar(self, query: str) -> object:
        rows = self._one(query)
        return rows[0][0] if rows else None

    def close(self) -> None:
        self._conn.close()


def restore_sqlite(info: BackupInfo, workdir: Path, *, timeout_s: float) -> tuple[Path, RestoreRun]:
    """Copy the backup into ``workdir`` and check its integrity; the copy and how it went."""
    started = time.monotonic()
    copy = workdir / "restored.sqlite"
    opener = gzip.open if info.compressed else open
    with opener(info.path, "rb") as source, copy.open("wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
    deadline = started + timeout_s
    problem: str | None = None
    detail = ""
    try:
        conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10000)
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
        detail = "\n".join(str(row[0]) for row in rows)
        if detail != "ok":
            problem = f"PRAGMA integrity_check found problems: {detail[:300]}"
    except sqlite3.Error as error:
        if time.monotonic() > deadline:
            problem = f"restore did not finish within {timeout_s:g} s (integrity check interrupted)"
        else:
            problem = f"the SQLite file does not open cleanly ({error})"
        detail = str(error)
    return copy, RestoreRun("sqlite3", problem is None, problem, time.monotonic() - started, detail)
