"""The demo's SQLite store: backed up by the demo, drilled with the stdlib sqlite3, no Postgres."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

from pytest_opsgate.gates.restore import DrillSpec, parse_restore_expect, run_drill
from pytest_opsgate.verdict import Verdict

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit import PgServer


def demo_backup(out: Path, *extra: str) -> tuple[Path, Path]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_opsgate.demo", "backup", "--out", str(out), *extra],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    return out / lines["backup"].rsplit("/", 1)[1], out / lines["manifest"].rsplit("/", 1)[1]


def test_demo_backup_drills_green_with_its_manifest(tmp_path: Path) -> None:
    backup, manifest = demo_backup(tmp_path)
    assert json.loads(manifest.read_text()) == {"audit_events": 0, "items": 20}
    spec = DrillSpec(
        source=tmp_path,
        manifest=manifest,
        max_age_s=26 * 3600,
        expectations=[parse_restore_expect("items.created_at: newest >= now - 26h")],
    )
    result = run_drill(spec)
    assert result.verdict is Verdict.PASS, result.reason
    assert result.backup is not None
    assert (result.backup.path, result.backup.format) == (backup, "sqlite")
    assert result.backup_time_source == "name"
    assert {t.name: (t.found, t.expected) for t in result.tables} == {
        "audit_events": (0, 0), "items": (20, 20)}  # fmt: skip


def test_demo_backup_of_a_running_store_file(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, created_at TEXT)")
        conn.executemany(
            "INSERT INTO items (created_at) VALUES (?)", [("2020-01-01T00:00:00Z",)] * 7
        )
    conn.close()
    _, manifest = demo_backup(tmp_path / "out", "--db", str(db))
    assert json.loads(manifest.read_text()) == {"items": 7}
    stale = run_drill(DrillSpec(source=tmp_path / "out", expectations=[
        parse_restore_expect("items.created_at: newest >= now - 26h")]))  # fmt: skip
    assert stale.verdict is Verdict.FAIL
    assert "newest items.created_at is 2020-01-01T00:00:00+00:00" in stale.reason


def test_a_corrupt_sqlite_backup_fails(tmp_path: Path) -> None:
    backup, _ = demo_backup(tmp_path)
    data = bytearray(backup.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # overwrite a page
    backup.write_bytes(bytes(data))
    result = run_drill(DrillSpec(source=backup))
    assert result.verdict is Verdict.FAIL
    assert "database disk image is malformed" in result.reason
    truncated = bytes(data[:5000])  # a copy cut short mid-page
    backup.write_bytes(truncated)
    assert run_drill(DrillSpec(source=backup)).verdict is Verdict.FAIL


def test_manifest_command_for_sqlite_and_dsn(tmp_path: Path, pg: PgServer) -> None:
    backup, _ = demo_backup(tmp_path)
    out = tmp_path / "m.json"
    cli = [sys.executable, "-m", "pytest_opsgate.gates.restore", "manifest"]
    subprocess.run([*cli, str(backup), "--out", str(out)], check=True, timeout=60)
    assert json.loads(out.read_text()) == {"audit_events": 0, "items": 20}
    pg.psql("CREATE DATABASE manifest_src")
    pg.psql("CREATE TABLE a (x int); INSERT INTO a SELECT generate_series(1, 5);", "manifest_src")
    dsn = pg.admin.for_database("manifest_src").url()
    done = subprocess.run([*cli, dsn], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(done.stdout) == {"a": 5}
    bad = subprocess.run(
        [*cli, "postgresql://u:Sup3rSecretPw@127.0.0.1:1/x?connect_timeout=2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "cannot connect" in bad.stderr
    assert "Sup3rSecretPw" not in bad.stderr + bad.stdout


def test_manifest_of_a_sql_ascii_database_names_its_tables(tmp_path: Path, pg: PgServer) -> None:
    """initdb under the C locale (a bare shell, pg_virtualenv in CI) makes SQL_ASCII databases."""
    pg.psql(
        "CREATE DATABASE manifest_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
        "TEMPLATE template0"
    )
    pg.psql("CREATE TABLE orders (x int); INSERT INTO orders SELECT 1;", "manifest_ascii")
    dsn = pg.admin.for_database("manifest_ascii").url()
    cli = [sys.executable, "-m", "pytest_opsgate.gates.restore", "manifest", dsn]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # not: relation "b'public'.b'orders'" does not exist
    assert json.loads(done.stdout) == {"orders": 1}
