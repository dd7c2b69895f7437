"""Drills of real pg_dump backups into a real throwaway Postgres and an ephemeral database."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from restorekit import SHOP_ROWS, leftover_folders, leftover_processes

from pytest_opsgate.gates.restore import DrillSpec, SqlCheck, parse_restore_expect, run_drill
from pytest_opsgate.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from restorekit import PgServer

    from conftest import Backups
    from pytest_opsgate.gates.restore import DrillResult

ROW_EXPECTATIONS = [f"{table}: rows >= {rows}" for table, rows in SHOP_ROWS.items()]


def drill(source: Path, *, dsn: str | None = None, expect: list[str] = ROW_EXPECTATIONS,
          **options: object) -> DrillResult:  # fmt: skip
    spec = DrillSpec(source=source, dsn=dsn, expectations=[parse_restore_expect(e) for e in expect],
                     **options)  # type: ignore[arg-type]  # fmt: skip
    return run_drill(spec)


def assert_nothing_left(pg: PgServer) -> None:
    assert pg.server.root is not None
    assert pg.ephemeral_databases() == []
    assert leftover_processes(pg.server.root) == []
    assert leftover_folders(pg.server.root) == []


def reasons(result: DrillResult) -> str:
    return (
        result.reason + "\n" + "\n".join(f"{c.verdict} {c.name}: {c.reason}" for c in result.checks)
    )


@pytest.mark.parametrize("fmt", ["plain", "plain_gz", "custom", "custom_gz", "directory", "tar"])
def test_each_format_restores_from_a_folder_into_an_ephemeral_database(
    pg: PgServer, backups: Backups, one_backup: Callable[..., Path], fmt: str
) -> None:
    fresh = getattr(backups, fmt)
    folder = one_backup(backups.stale, fresh)  # the 3-day-old one must not be picked
    result = drill(folder, dsn=pg.dsn)
    assert result.verdict is Verdict.PASS, reasons(result)
    assert result.backup is not None
    assert result.backup.path.name == fresh.name
    assert {t.name: t.found for t in result.tables} == SHOP_ROWS
    assert_nothing_left(pg)


def test_custom_format_file_restores_into_a_throwaway_server(
    pg: PgServer, backups: Backups
) -> None:
    result = drill(
        backups.custom,
        expect=[*ROW_EXPECTATIONS, "orders.created_at: newest >= now - 26h", "restore_time < 10m",
                "backup_age <= 26h", "tables >= 3"],
        manifest=backups.manifest,
        sql_checks=[SqlCheck("SELECT count(*) FROM orders WHERE total < 0", "0")],
    )  # fmt: skip
    assert result.verdict is Verdict.PASS, reasons(result)
    assert result.target.startswith("throwaway local Postgres")
    assert result.backup is not None
    assert result.backup.format == "custom"
    assert len(result.backup.sha256) == 64
    names = [c.name for c in result.checks]
    assert "restore with pg_restore" in names
    assert any("(manifest)" in name for name in names)
    assert_nothing_left(pg)


def test_truncated_gzip_fails_naming_the_cause(pg: PgServer, backups: Backups) -> None:
    result = drill(backups.truncated_gz, dsn=pg.dsn)
    assert result.verdict is Verdict.FAIL
    assert "truncated gzip" in result.reason
    assert backups.truncated_gz.name in result.reason
    unchecked = [c for c in result.checks if c.slo_result is not None]
    assert len(unchecked) == len(ROW_EXPECTATIONS)  # listed, as errors, never passes
    assert all(c.verdict == "error" and "not checked" in c.reason for c in unchecked)
    assert_nothing_left(pg)


def test_empty_dump_fails(backups: Backups) -> None:
    result = drill(backups.empty)
    assert result.verdict is Verdict.FAIL
    assert "empty" in result.reason


def test_stale_backup_fails_its_max_age(pg: PgServer, backups: Backups) -> None:
    result = drill(backups.stale, dsn=pg.dsn, max_age_s=26 * 3600)
    assert result.verdict is Verdict.FAIL, reasons(result)
    assert result.reason.startswith("backup_age <= 26h: backup age 3d")
    assert result.backup_time_source == "name"


def test_missing_table_fails_naming_it(pg: PgServer, backups: Backups) -> None:
    result = drill(backups.custom, dsn=pg.dsn, expect=["invoices: rows >= 1"])
    assert result.verdict is Verdict.FAIL
    assert "table 'invoices' is missing" in result.reason
    assert "customers" in result.reason  # the tables found are listed


def test_too_few_rows_fail(pg: PgServer, backups: Backups) -> None:
    result = drill(backups.plain_gz, dsn=pg.dsn, expect=["orders: rows >= 121"])
    assert result.verdict is Verdict.FAIL
    assert result.reason == "orders: rows >= 121: orders: rows 120 is not >= 121"


def test_manifest_short_of_rows_fails_saying_expected_and_found(
    pg: PgServer, backups: Backups, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({**SHOP_ROWS, "orders": 200}))
    result = drill(
        backups.custom, dsn=pg.dsn, expect=[], manifest=manifest, manifest_tolerance=0.05
    )
    assert result.verdict is Verdict.FAIL
    assert "rows 120 is not >= 190" in result.reason
    assert "the manifest says 200" in result.reason


def test_a_hanging_restore_is_bounded_by_the_timeout(pg: PgServer, tmp_path: Path) -> None:
    hang = tmp_path / "hang_20990101_000000.sql"
    hang.write_text("--\n-- PostgreSQL database dump\n--\nSELECT pg_sleep(600);\n"
                    "--\n-- PostgreSQL database dump complete\n--\n")  # fmt: skip
    result = drill(hang, dsn=pg.dsn, timeout_s=2.0)
    assert result.verdict is Verdict.FAIL
    assert "restore did not finish within 2 s" in result.reason
    assert result.restore_time_s is not None
    assert result.restore_time_s < 2.0 + 30  # the bound, with a generous margin
    assert_nothing_left(pg)  # WITH (FORCE) ended the backend still sleeping


def test_a_failing_statement_fails_the_restore(pg: PgServer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.sql"
    broken.write_text("CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nSELECT 1/0;\n")
    result = drill(broken, dsn=pg.dsn, expect=["t: rows >= 1"])
    assert result.verdict is Verdict.FAIL
    assert "psql exited 3" in result.reason
    assert "division by zero" in result.reason  # the tool's first error line names the cause
    assert "division by zero" in result.tool_output


def test_cut_plain_dump_without_the_completion_line_fails(backups: Backups, tmp_path: Path) -> None:
    cut = tmp_path / backups.plain.name
    text = backups.plain.read_text()
    cut.write_text(text[: text.index("-- PostgreSQL database dump complete")])
    result = drill(cut)
    assert result.verdict is Verdict.FAIL
    assert "cut short" in result.reason


def test_unreachable_dsn_is_an_error_naming_the_fix_without_the_password(
    backups: Backups,
) -> None:
    dsn = "postgresql://postgres:S3cretPassw0rd@127.0.0.1:1/postgres?connect_timeout=3"
    result = drill(backups.custom, dsn=dsn)
    assert result.verdict is Verdict.ERROR
    assert "cannot connect" in result.reason
    assert "apt-get install postgresql" in result.reason
    assert "S3cretPassw0rd" not in json.dumps(result.to_dict())
    assert result.secrets == ["S3cretPassw0rd"]


def test_missing_server_binaries_is_an_error_naming_the_install(
    backups: Backups, tmp_path: Path
) -> None:
    result = drill(backups.custom, bindir=tmp_path)
    assert result.verdict is Verdict.ERROR
    assert "apt-get install postgresql" in result.reason
    assert str(tmp_path) in result.reason


def test_then_command_sees_the_restored_database(
    pg: PgServer, backups: Backups, tmp_path: Path
) -> None:
    seen = tmp_path / "url"
    ok = drill(backups.custom, dsn=pg.dsn, then=f'echo "$DATABASE_URL" > {seen}; exit 0')
    assert ok.verdict is Verdict.PASS, reasons(ok)
    url = seen.read_text().strip()
    assert ok.database is not None
    assert url.endswith(f"/{ok.database}")
    assert pg.server.password not in json.dumps(ok.to_dict())
    failing = drill(backups.custom, dsn=pg.dsn, then="echo migrate failed; exit 3")
    assert failing.verdict is Verdict.FAIL
    assert "exit 3" in failing.reason
    assert "migrate failed" in failing.then_output
    assert_nothing_left(pg)


def test_password_never_reaches_the_evidence(pg: PgServer, backups: Backups) -> None:
    result = drill(backups.custom, dsn=pg.dsn, then='echo "$DATABASE_URL"; exit 1')
    evidence = json.dumps(result.to_dict())
    assert pg.server.password in result.secrets
    assert pg.server.password not in evidence
    assert "[REDACTED]" in result.then_output


def test_sql_check_runs_read_only(pg: PgServer, backups: Backups) -> None:
    result = drill(backups.custom, dsn=pg.dsn, expect=[],
                   sql_checks=[SqlCheck("DELETE FROM orders RETURNING 1", "1")])  # fmt: skip
    assert result.verdict is Verdict.ERROR
    assert "read-only transaction" in result.reason


def test_empty_database_dump_fails(pg: PgServer, tmp_path: Path) -> None:
    pg.psql("CREATE DATABASE nothing")
    empty = tmp_path / "nothing.dump"
    import subprocess

    subprocess.run([pg.server.binaries.tool("pg_dump"), "-Fc", "-f", str(empty),
                    "-d", pg.admin.for_database("nothing").conninfo()], check=True)  # fmt: skip
    result = drill(empty, dsn=pg.dsn, expect=[])
    assert result.verdict is Verdict.FAIL
    assert "holds no tables" in result.reason
