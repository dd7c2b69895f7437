"""Pure logic of the restore drill: backup names, the newest choice, expectations, formats."""

from __future__ import annotations

import gzip
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_opsgate.gates.restore import (
    DrillFailure,
    expect_text,
    find_backup,
    inspect_backup,
    manifest_slos,
    parse_restore_expect,
    read_manifest,
    timestamp_in_name,
)
from pytest_opsgate.gates.restore.discover import Candidate, choose_newest
from pytest_opsgate.gates.restore.errors import DrillError
from pytest_opsgate.gates.restore.manifest import ManifestError
from pytest_opsgate.slo import SLOSyntaxError

FORMATS = {  # strftime pattern -> the precision it keeps
    "%Y%m%d_%H%M%S": "s", "%Y%m%d-%H%M%S": "s", "%Y%m%dT%H%M%S": "s", "%Y%m%d%H%M%S": "s",
    "%Y-%m-%dT%H:%M:%S": "s", "%Y-%m-%dT%H%M%S": "s", "%Y-%m-%d_%H-%M-%S": "s",
    "%Y%m%d_%H%M": "m", "%Y%m%d%H%M": "m", "%Y-%m-%dT%H:%M": "m", "%Y%m%d": "d", "%Y-%m-%d": "d",
}  # fmt: skip
moments = st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2998, 12, 30))
prefixes = st.sampled_from(["", "shop_", "db-prod.", "backup v2 ", "x_"])
suffixes = st.sampled_from([".sql.gz", ".dump", ".sql", "", ".sqlite", "_full.tar"])


def _truncate(moment: datetime, precision: str) -> datetime:
    if precision == "d":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if precision == "m":
        return moment.replace(second=0, microsecond=0)
    return moment.replace(microsecond=0)


@given(moments, st.sampled_from(sorted(FORMATS)), prefixes, suffixes, st.booleans())
def test_a_timestamp_in_any_accepted_form_parses_back(
    moment: datetime, pattern: str, prefix: str, suffix: str, utc: bool
) -> None:
    name = f"{prefix}{moment.strftime(pattern)}{'Z' if utc else ''}{suffix}"
    expected = _truncate(moment, FORMATS[pattern])
    parsed = timestamp_in_name(name)
    assert parsed is not None, name
    if utc:
        assert parsed == expected.replace(tzinfo=timezone.utc)
    else:
        assert parsed == expected.astimezone()  # local time, as `date` writes it


@given(st.text(alphabet="abcxyz_-.", max_size=30))
def test_names_without_digits_have_no_timestamp(name: str) -> None:
    assert timestamp_in_name(name) is None


@pytest.mark.parametrize(
    "name", ["shop_20251399_000000.sql", "v12345678.sql", "shop_123456789012345.dump"]
)
def test_impossible_dates_and_long_numbers_are_not_timestamps(name: str) -> None:
    assert timestamp_in_name(name) is None


def test_the_last_timestamp_in_a_name_wins() -> None:
    parsed = timestamp_in_name("copy-of-20200101_000000-taken-20240202_030405.dump")
    assert parsed == datetime(2024, 2, 2, 3, 4, 5).astimezone()


candidates = st.lists(
    st.tuples(moments, st.floats(0, 2e9), st.text("abc", min_size=1, max_size=4)),
    min_size=1, max_size=12, unique_by=lambda c: c[2],
)  # fmt: skip


@given(candidates)
def test_the_newest_candidate_is_the_latest_by_time_then_mtime(
    raw: list[tuple[datetime, float, str]],
) -> None:
    items = [Candidate(Path(n), t.replace(tzinfo=timezone.utc), "name", m) for t, m, n in raw]
    chosen = choose_newest(items)
    assert chosen is not None
    assert all((c.time, c.mtime) <= (chosen.time, chosen.mtime) for c in items)
    assert choose_newest(list(reversed(items))) == chosen  # order of listing does not matter


def test_folder_picks_by_name_then_by_mtime_and_ignores_sidecars(tmp_path: Path) -> None:
    old = tmp_path / "shop_20240101_000000.dump"
    new = tmp_path / "shop_20240102_000000.dump"
    for path in (
        old,
        new,
        tmp_path / "shop_20250101_000000.manifest.json",
        tmp_path / "shop_20250101_000000.dump.sha256",
        tmp_path / ".hidden_20990101",
    ):
        path.write_bytes(b"x")  # fmt: skip
    os.utime(old, (2e9, 2e9))  # a newer mtime does not beat the name's timestamp
    assert find_backup(tmp_path).path == new
    unstamped = tmp_path / "latest.dump"
    unstamped.write_bytes(b"x")  # mtime now (2026) > 2024-01-02: wins on mtime
    found = find_backup(tmp_path)
    assert (found.path, found.source) == (unstamped, "mtime")


def test_an_empty_newest_file_is_still_picked(tmp_path: Path) -> None:
    (tmp_path / "shop_20240101_000000.dump").write_bytes(b"PGDMP")
    (tmp_path / "shop_20240102_000000.dump").touch()
    assert find_backup(tmp_path).path.name == "shop_20240102_000000.dump"


def test_no_backup_found_names_the_path_and_what_was_looked_for(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DrillFailure, match=r"no backup found in .*looked for"):
        find_backup(tmp_path)
    with pytest.raises(DrillFailure, match="does not exist"):
        find_backup(tmp_path / "nope")


def test_a_directory_dump_is_a_backup_not_a_folder_of_backups(tmp_path: Path) -> None:
    dump = tmp_path / "shop_20240101_000000.dir"
    dump.mkdir()
    (dump / "toc.dat").write_bytes(b"PGDMP...")
    assert find_backup(dump).path == dump
    assert find_backup(tmp_path).path == dump


@pytest.mark.parametrize(
    ("text", "statistic", "scope", "op", "budget"),
    [
        ("orders: rows >= 1000", "rows", "orders", ">=", 1000),
        ("shop.orders: rows > 0", "rows", "shop.orders", ">", 0),
        # newest is kept as a bound on the newest value's age: age <= 26h
        ("orders.created_at: newest >= now - 26h", "newest", "orders.created_at", "<=", 93_600_000),
        ("backup_age <= 26h", "backup_age", None, "<=", 93_600_000),
        ("restore_time < 10m", "restore_time", None, "<", 600_000),
        ("RESTORE_TIME ≤ 1h30m", "restore_time", None, "<=", 5_400_000),
        ("tables >= 3", "tables", None, ">=", 3),
    ],
)
def test_expectations_parse(
    text: str, statistic: str, scope: str | None, op: str, budget: float
) -> None:
    slo = parse_restore_expect(text)
    assert (slo.metric, slo.statistic, slo.scope, slo.op, slo.budget) == (
        "restore", statistic, scope, op, budget)  # fmt: skip
    assert parse_restore_expect(expect_text(slo)) == slo


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("orders: rows", "no comparison"),
        ("orders: rows = 5", "exact equality"),
        ("orders: count >= 5", "unknown statistic"),
        ("rows >= 5", "needs a table"),
        ("orders: rows >= 5.5", "not a whole number"),
        ("orders: newest >= now - 1h", "TABLE.COLUMN"),
        ("orders.at: newest <= now - 1h", "newest >= now - WINDOW"),
        ("orders.at: newest >= yesterday", "is not 'now - DURATION'"),
        ("backup_age <= 26", "has no unit"),
        ("orders: backup_age <= 1h", "whole backup"),
    ],
)
def test_bad_expectations_say_what_is_wrong_with_an_example(text: str, problem: str) -> None:
    with pytest.raises(SLOSyntaxError, match=problem) as raised:
        parse_restore_expect(text)
    parse_restore_expect(raised.value.example)  # the example itself is valid


def test_manifest_rows_round_the_minimum_up(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"tables": {"orders": 1001, "empty": 0}, "written_at": "now"}')
    slos = manifest_slos(read_manifest(path), 0.05)
    assert [(s.scope, s.budget) for s in slos] == [("empty", 0), ("orders", 951)]


@pytest.mark.parametrize("content", ["[]", "{}", '{"a": -1}', '{"a": 1.5}', '{"a": true}', "no"])
def test_bad_manifests_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match="--gate-restore-manifest"):
        read_manifest(path)


def test_format_is_read_from_content_not_name(tmp_path: Path) -> None:
    custom = tmp_path / "looks_like.sql"
    custom.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
    assert inspect_backup(custom).format == "custom"
    plain = tmp_path / "looks_like.dump.gz"
    plain.write_bytes(gzip.compress(b"CREATE TABLE t (id int);\n"))
    info = inspect_backup(plain)
    assert (info.format, info.compressed, info.from_pg_dump) == ("plain", True, False)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty"),
        (gzip.compress(b"", mtime=0), "empty gzip"),
        (gzip.compress(b"x" * 1000, mtime=0)[:-12], "corrupt or truncated gzip"),
        (b"\x00\x01\x02\x03binary", "not a format the drill knows"),
        (b"--\n-- PostgreSQL database dump\n--\nCREATE TABLE t();\n", "cut short"),
    ],
    # Stable ids: xdist workers must collect the same names.
    ids=["empty", "empty-gzip", "truncated-gzip", "binary", "cut-short"],
)
def test_broken_backups_fail_naming_the_cause(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "b"
    path.write_bytes(content)
    with pytest.raises(DrillFailure, match=problem):
        inspect_backup(path)


def test_a_dump_that_switches_database_is_refused(tmp_path: Path) -> None:
    dump = (b"--\n-- PostgreSQL database dump\n--\nCREATE DATABASE shop;\n\\connect shop\n"
            b"--\n-- PostgreSQL database dump complete\n--\n")  # fmt: skip
    path = tmp_path / "created.sql"
    path.write_bytes(dump)
    with pytest.raises(DrillError, match="without --create"):
        inspect_backup(path)
    copy_data = dump.replace(b"\\connect shop\n", b"COPY t (a) FROM stdin;\n\\connect x\n\\.\n")
    path.write_bytes(copy_data)  # the same text inside COPY data is data
    assert inspect_backup(path).format == "plain"


def test_timestamp_in_name_reads_utc_with_z() -> None:
    parsed = timestamp_in_name("demo_20260101_120000Z.sqlite")
    assert parsed == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:hunter22pw@[h/db",  # libpq quotes the whole URI in its error
        "host=x password=hunter22pw bogus",
        "postgresql://u:hunter22pw@h:5432/db?bogus=1",
    ],
)
def test_a_dsn_that_does_not_parse_is_an_error_without_its_password(
    tmp_path: Path, dsn: str
) -> None:
    from pytest_opsgate.gates.restore import DrillSpec, run_drill, spec_secrets

    backup = tmp_path / "b.dump"
    backup.write_bytes(b"PGDMP" + b"\x00" * 64)
    assert "hunter22pw" in spec_secrets(DrillSpec(source=backup, dsn=dsn))
    result = run_drill(DrillSpec(source=backup, dsn=dsn))
    assert result.verdict.value == "ERROR"
    assert "--gate-restore-dsn does not parse" in result.reason
    assert "hunter22pw" not in str(result.to_dict())
