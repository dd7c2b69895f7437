"""SQLite storage for the demo's items and audit events."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timezone
from typing import Any

SEED_ITEMS: tuple[tuple[str, float], ...] = (
    ("Anvil", 129.0),
    ("Bolt", 0.25),
    ("Cable tie", 0.05),
    ("Drill", 89.9),
    ("Empty crate", 4.5),
    ("Flashlight", 12.0),
    ("Gasket", 1.2),
    ("Hammer", 19.99),
    ("Insulating tape", 2.4),
    ("Jigsaw", 74.0),
    ("Key ring", 0.8),
    ("Ladder", 149.0),
    ("Mallet", 15.5),
    ("Nut", 0.1),
    ("O-ring", 0.3),
    ("Pliers", 9.75),
    ("Quick clamp", 11.0),
    ("Rivet", 0.07),
    ("Screwdriver", 6.5),
    ("Tape measure", 8.25),
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    price REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """One SQLite connection shared by all handler threads behind a lock."""

    def __init__(self, path: str | None) -> None:
        # A lock around one connection costs microseconds per query and keeps an
        # in-memory database shared between threads without URI tricks.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)
            (count,) = self._db.execute("SELECT COUNT(*) FROM items").fetchone()
            if count == 0:
                created = _now()
                self._db.executemany(
                    "INSERT INTO items (name, price, created_at) VALUES (?, ?, ?)",
                    [(name, price, created) for name, price in SEED_ITEMS],
                )

    def ping_ms(self) -> float:
        """Run a trivial query and return how long it took, in milliseconds."""
        started = time.perf_counter()
        with self._lock:
            self._db.execute("SELECT 1").fetchone()
        return round((time.perf_counter() - started) * 1000, 3)

    def list_items(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Return one page of items in id order and the total number of items."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, name, price, created_at FROM items ORDER BY id LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
            (total,) = self._db.execute("SELECT COUNT(*) FROM items").fetchone()
        return [dict(row) for row in rows], int(total)

    def get_item(self, item_id: int) -> dict[str, Any] | None:
        """Return one item, or None when no item has that id."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, price, created_at FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        return None if row is None else dict(row)

    def add_item(self, name: str, price: float) -> dict[str, Any]:
        """Insert an item and return it as stored."""
        created = _now()
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO items (name, price, created_at) VALUES (?, ?, ?)",
                (name, float(price), created),
            )
        return {"id": cursor.lastrowid, "name": name, "price": float(price), "created_at": created}

    def record(self, actor: str, action: str, detail: str = "") -> None:
        """Append an audit event; callers pass roles and names, never credentials."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO audit_events (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (_now(), actor, action, detail),
            )

    def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest audit events first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, at, actor, action, detail FROM audit_events ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [dict(row) for row in rows]

    def close(self) -> None:
        """Close the connection; later queries raise sqlite3.ProgrammingError."""
        with self._lock:
            self._db.close()
