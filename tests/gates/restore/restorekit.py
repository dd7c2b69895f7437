"""Test-side helpers for the restore drill: the shop database, the session server, leak scans."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_opsgate.gates.restore.endpoint import Endpoint
    from pytest_opsgate.gates.restore.server import LocalServer

SHOP_SQL = """
CREATE TABLE customers (
    id serial PRIMARY KEY, email text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
    total numeric(10, 2) NOT NULL CHECK (total >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE order_items (
    id serial PRIMARY KEY, order_id int NOT NULL REFERENCES orders(id),
    sku text NOT NULL, quantity int NOT NULL,
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
INSERT INTO customers (email, created_at)
    SELECT 'customer' || i || '@example.com', now() - (i || ' hours')::interval
    FROM generate_series(1, 40) AS i;
INSERT INTO orders (customer_id, total, created_at)
    SELECT 1 + i % 40, (i * 3.5)::numeric(10, 2), now() - (i || ' minutes')::interval
    FROM generate_series(1, 120) AS i;
INSERT INTO order_items (order_id, sku, quantity)
    SELECT 1 + i % 120, 'SKU-' || (i % 17), 1 + i % 5 FROM generate_series(1, 300) AS i;
"""
SHOP_ROWS = {"customers": 40, "orders": 120, "order_items": 300}
BACKUP_PREFIX = "opsgate-restore-"


@dataclass
class PgServer:
    """The session's Postgres: the admin endpoint, a DSN with password, its folder."""

    server: LocalServer
    admin: Endpoint

    @property
    def dsn(self) -> str:
        """A URL DSN over loopback TCP, with the password (as a user would pass it)."""
        return self.admin.url()

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser through the socket; its output."""
        endpoint = self.admin.for_database(dbname)
        done = subprocess.run(
            [self.server.binaries.tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-d", endpoint.conninfo(), "-c", sql],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return done.stdout

    def ephemeral_databases(self) -> list[str]:
        """Databases the drill names ``opsgate_restore_...`` that exist now."""
        out = self.psql(
            "SELECT datname FROM pg_database WHERE datname LIKE 'opsgate\\_restore\\_%'"
        )
        return out.split()


def leftover_processes(keep: Path) -> list[str]:
    """Processes working in a drill's temporary folder (not the session server's ``keep``)."""
    found = []
    temp = Path(tempfile.gettempdir()).resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if cwd.startswith(str(temp / BACKUP_PREFIX)) and not cwd.startswith(str(keep)):
            found.append(f"{entry.name} {comm} in {cwd}")
    return found


def leftover_folders(keep: Path) -> list[Path]:
    """The drill's temporary folders that still exist (not the session server's ``keep``)."""
    temp = Path(tempfile.gettempdir())
    return sorted(p for p in temp.glob(f"{BACKUP_PREFIX}*") if p.resolve() != keep.resolve())
