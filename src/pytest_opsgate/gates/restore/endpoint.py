"""Where a restore goes: connection parameters for the tools, psycopg and ``DATABASE_URL``.

The password never goes on a command line (``ps`` would show it): tools get it in
``PGPASSWORD``, psycopg as a parameter, and it is in :attr:`Endpoint.secrets` for the
redactor. psycopg is imported lazily: a SQLite drill does not need it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from .errors import DrillError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PSYCOPG_HINT", "Endpoint", "dsn_secrets"]

PSYCOPG_HINT = "install the restore extra: pip install 'pytest-opsgate[restore]'"
CONNECT_TIMEOUT_S = 10


def _conninfo() -> Any:
    try:
        import psycopg.conninfo
    except ImportError:
        raise DrillError(
            f"the restore drill needs psycopg 3 for Postgres; {PSYCOPG_HINT}"
        ) from None
    return psycopg.conninfo


# A DSN that does not parse may still carry a password, and libpq quotes the bad part.
_URL_PASSWORD = re.compile(r"://[^/@:]*:([^@/]+)@")
_KV_PASSWORD = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def _loose_secrets(dsn: str) -> list[str]:
    found = [m.group(1) for m in _URL_PASSWORD.finditer(dsn)]
    found += [m.group(1).strip("'") for m in _KV_PASSWORD.finditer(dsn)]
    return [unquote(secret) for secret in found] + found


def _parse(dsn: str) -> dict[str, Any]:
    conninfo = _conninfo()
    try:
        params: dict[str, Any] = conninfo.conninfo_to_dict(dsn)
    except Exception as error:  # psycopg.ProgrammingError, which libpq's words fill
        message = str(error).strip()
        for secret in sorted(_loose_secrets(dsn), key=len, reverse=True):
            message = message.replace(secret, "[REDACTED]")
        raise DrillError(
            f"--gate-restore-dsn does not parse ({message}); pass a URL such as "
            "postgresql://user@host:5432/postgres or key=value pairs"
        ) from None
    return params


def dsn_secrets(dsn: str | None) -> list[str]:
    """The secrets a DSN carries (its password, and PGPASSWORD if set), for the redactor."""
    found = [os.environ["PGPASSWORD"]] if os.environ.get("PGPASSWORD") else []
    if dsn:
        found.extend(_loose_secrets(dsn))
        try:
            password = _parse(dsn).get("password")
        except DrillError:
            password = None
        if password:
            found.append(str(password))
    return sorted(set(found))


@dataclass(frozen=True)
class Endpoint:
    """One database: ``params`` for tools and psycopg, ``url_params`` for ``DATABASE_URL``."""

    params: dict[str, Any]  # libpq keywords without the password
    password: str | None = field(default=None, repr=False)
    url_params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dsn(cls, dsn: str) -> Endpoint:
        """Parse a URL or key=value DSN; raise DrillError when it does not parse."""
        params = _parse(dsn)
        password = params.pop("password", None)
        params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
        return cls(params, None if password is None else str(password), dict(params))

    @classmethod
    def local(cls, socket_dir: Path, port: int, password: str) -> Endpoint:
        """A throwaway server: tools over its Unix socket, the URL over loopback TCP."""
        tools = {"host": str(socket_dir), "port": str(port), "user": "postgres",
                 "dbname": "postgres"}  # fmt: skip
        url = {"host": "127.0.0.1", "port": str(port), "user": "postgres", "dbname": "postgres"}
        return cls(tools, password, url)

    @property
    def dbname(self) -> str:
        """The database name (libpq's default is the user name)."""
        return str(self.params.get("dbname") or self.params.get("user") or "postgres")

    @property
    def secrets(self) -> list[str]:
        """What the redactor must hide."""
        return [self.password] if self.password else []

    def for_database(self, name: str) -> Endpoint:
        """The same server, another database."""
        return replace(
            self,
            params={**self.params, "dbname": name},
            url_params={**self.url_params, "dbname": name},
        )

    def describe(self) -> str:
        """``db on host:port`` for messages (no user, no password)."""
        host = self.url_params.get("host") or self.params.get("host") or "localhost"
        port = self.url_params.get("port") or self.params.get("port") or "5432"
        return f"{self.dbname} on {host}:{port}"

    def conninfo(self) -> str:
        """A libpq conninfo string without the password, for ``-d``."""
        made: str = _conninfo().make_conninfo(**self.params)
        return made

    def tool_env(self) -> dict[str, str]:
        """Environment for psql and pg_restore: the password, and no stray PG* defaults."""
        env = {"PGCONNECT_TIMEOUT": str(self.params.get("connect_timeout", CONNECT_TIMEOUT_S))}
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def url(self) -> str:
        """``postgresql://user:password@host:port/db?...``, the ``DATABASE_URL`` form."""
        p = dict(self.url_params)
        user = quote(str(p.pop("user", "")), safe="")
        password = quote(self.password, safe="") if self.password else ""
        host = str(p.pop("host", ""))
        port = str(p.pop("port", ""))
        dbname = quote(str(p.pop("dbname", "")), safe="")
        query = {k: str(v) for k, v in p.items() if k != "connect_timeout"}
        if host.startswith("/") or "," in host:
            query["host"] = host  # a socket folder or several hosts go in the query
            host = ""
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        netloc = auth + host + (f":{port}" if port and host else "")
        if port and not host:
            query["port"] = port
        tail = "&".join(f"{k}={quote(v, safe='/')}" for k, v in sorted(query.items()))
        return f"postgresql://{netloc}/{dbname}" + (f"?{tail}" if tail else "")

    def connect(self, *, autocommit: bool = True) -> Any:
        """A psycopg connection; raise DrillError naming the fix when it cannot connect."""
        try:
            import psycopg
        except ImportError:
            raise DrillError(f"the restore drill needs psycopg 3; {PSYCOPG_HINT}") from None
        try:
            # A SQL_ASCII database (initdb under the C locale, the default of a bare shell or
            # container) makes psycopg return bytes: table b'orders', and every check misses.
            params = {"client_encoding": "utf8", **self.params}
            return psycopg.connect(autocommit=autocommit, password=self.password, **params)
        except psycopg.Error as error:
            raise DrillError(
                f"cannot connect to {self.describe()} ({str(error).strip()}); check the host, "
                "port and credentials of --gate-restore-dsn, or leave it out to restore into a "
                "throwaway local server ('apt-get install postgresql')"
            ) from None
