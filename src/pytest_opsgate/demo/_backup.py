"""``python -m pytest_opsgate.demo backup --out DIR``: a timestamped backup of the demo's store.

Writes ``demo_<YYYYmmdd_HHMMSS>Z.sqlite`` (SQLite's online backup API, so a running demo's
file is copied consistently) and ``demo_<...>Z.manifest.json`` ({table: rows}) beside it, the
pair the restore gate drills: ``--gate-restore-from DIR --gate-restore-manifest FILE``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_opsgate.demo._store import Store

if TYPE_CHECKING:
    from collections.abc import Sequence


def write_backup(out: Path, db: Path | None = None) -> tuple[Path, Path]:
    """Back up ``db`` (default: a freshly seeded demo store) into ``out``; backup and manifest."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%SZ")
    backup, manifest = out / f"demo_{stamp}.sqlite", out / f"demo_{stamp}.manifest.json"
    with tempfile.TemporaryDirectory(prefix="opsgate-demo-") as scratch:
        if db is None:
            db = Path(scratch) / "demo.sqlite"
            Store(str(db)).close()  # the demo's own schema and seed rows
        source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        target = sqlite3.connect(backup)
        try:
            source.backup(target)
            tables = [row[0] for row in target.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )]  # fmt: skip
            counts = {
                t: target.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables
            }
        finally:
            target.close()
            source.close()
    manifest.write_text(json.dumps(counts, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return backup, manifest


def main(argv: Sequence[str]) -> int:
    """Run the ``backup`` command; 0 on success, 2 when the store cannot be read."""
    parser = argparse.ArgumentParser(prog="opsgate-demo backup")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the backup to")
    parser.add_argument("--db", type=Path, help="the demo's SQLite file (default: a fresh store)")
    args = parser.parse_args(argv)
    if args.db is not None and not args.db.is_file():
        print(
            f"opsgate-demo backup: --db {args.db} is not a file; pass the demo's --db",
            file=sys.stderr,
        )
        return 2
    try:
        backup, manifest = write_backup(args.out, args.db)
    except (OSError, sqlite3.Error) as error:
        print(f"opsgate-demo backup: {error}", file=sys.stderr)
        return 2
    print(f"backup {backup}\nmanifest {manifest}")
    return 0
