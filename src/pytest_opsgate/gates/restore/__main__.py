"""Command line: ``python -m pytest_opsgate.gates.restore manifest DSN_OR_SQLITE [--out FILE]``.

Run it right after each backup; the drill compares the restored row counts with this file
(``--gate-restore-manifest``). The DSN's password never appears in the output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .databases import PostgresDatabase, RestoredDatabase, SqliteDatabase
from .endpoint import Endpoint, dsn_secrets
from .errors import DrillError
from .inspect import SQLITE_MAGIC
from .manifest import count_tables

if TYPE_CHECKING:
    from collections.abc import Sequence


def _open(target: str, timeout_s: float) -> RestoredDatabase:
    path = Path(target)
    if path.is_file():
        with path.open("rb") as stream:
            if stream.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC:
                return SqliteDatabase(path, statement_timeout_s=timeout_s)
        raise DrillError(f"{path} is a file but not a SQLite database; pass a DSN or a SQLite file")
    if "://" not in target and "=" not in target:
        raise DrillError(f"{target!r} is neither a file nor a DSN (postgresql://user@host/db)")
    endpoint = Endpoint.from_dsn(target)
    return PostgresDatabase(endpoint.connect(autocommit=False), statement_timeout_s=timeout_s)


def write_manifest(target: str, out: Path | None, *, timeout_s: float = 300.0) -> dict[str, int]:
    """Count every table of ``target`` (a DSN or a SQLite file); write JSON to ``out`` if given."""
    database = _open(target, timeout_s)
    try:
        counts = count_tables(database)
    finally:
        database.close()
    if out is not None:
        # Written next to its final name and renamed, so a reader never sees half a manifest.
        with tempfile.NamedTemporaryFile(
            "w", dir=out.parent, delete=False, prefix=f".{out.name}.", encoding="utf-8"
        ) as tmp:
            json.dump(counts, tmp, indent=2, sort_keys=True)
            tmp.write("\n")
        os.replace(tmp.name, out)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 on a bad argument or an unreachable database."""
    parser = argparse.ArgumentParser(prog="python -m pytest_opsgate.gates.restore")
    commands = parser.add_subparsers(dest="command", required=True)
    manifest = commands.add_parser("manifest", help="write {table: rows} of a database")
    manifest.add_argument("target", help="a DSN (postgresql://...) or a SQLite file")
    manifest.add_argument("--out", type=Path, help="write the JSON here (default: print it)")
    args = parser.parse_args(argv)
    secrets = dsn_secrets(args.target)
    try:
        counts = write_manifest(args.target, args.out)
    except DrillError as error:
        message = str(error)
        for secret in secrets:
            message = message.replace(secret, "[REDACTED]")
        print(f"manifest: {message}", file=sys.stderr)
        return 2
    if args.out is None:
        print(json.dumps(counts, indent=2, sort_keys=True))
    else:
        print(f"wrote {len(counts)} table{'' if len(counts) == 1 else 's'} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
