"""Nothing outlives a drill: no database, data folder or postgres process, even on SIGTERM."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from restorekit import leftover_folders, leftover_processes

from pytest_opsgate.gates.restore.endpoint import Endpoint
from pytest_opsgate.gates.restore.inspect import BackupInfo
from pytest_opsgate.gates.restore.pg_tools import ClientTools, restore_postgres

if TYPE_CHECKING:
    from pathlib import Path

    from restorekit import PgServer

    from conftest import Backups

DRILL_SCRIPT = """
import json, os, signal, sys
from pathlib import Path
from pytest_opsgate.gates.restore import DrillAborted, DrillSpec, run_drill

def interrupt(signum, frame):  # what the plugin's SIGTERM handler does
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, interrupt)
spec = DrillSpec(source=Path(sys.argv[1]), dsn=os.environ.get("DRILL_DSN") or None)
try:
    result = run_drill(spec, on_event=lambda message: print("EVENT", message, flush=True))
except DrillAborted as aborted:
    print("RESULT", json.dumps(aborted.result.to_dict()), flush=True)
    sys.exit(2)
print("NOT ABORTED", result.verdict, result.reason, flush=True)
"""
HANG = (
    "--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\nSELECT pg_sleep(600);\n"
    "--\n-- PostgreSQL database dump complete\n--\n"
)


def _sleeping(pg: PgServer) -> bool:
    out = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' "
                  "AND datname LIKE 'opsgate\\_restore\\_%'")  # fmt: skip
    return int(out) > 0


@pytest.mark.parametrize("mode", ["dsn", "local"])
def test_sigterm_mid_restore_aborts_and_leaves_nothing(
    pg: PgServer, tmp_path: Path, mode: str
) -> None:
    hang = tmp_path / "hang.sql"
    hang.write_text(HANG)
    env = {**os.environ, "DRILL_DSN": pg.dsn if mode == "dsn" else ""}
    proc = subprocess.Popen(
        [sys.executable, "-c", DRILL_SCRIPT, str(hang)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("EVENT restoring"):
                break
        deadline = time.monotonic() + 30
        if mode == "dsn":  # wait until the restore is really inside the server
            while not _sleeping(pg) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _sleeping(pg)
        else:
            time.sleep(1.0)  # psql is connected or about to be; either is mid-restore
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines.extend(out.splitlines())
    assert proc.returncode == 2, "".join(lines)
    result = json.loads(next(line for line in lines if line.startswith("RESULT"))[7:])
    assert result["verdict"] == "ABORTED"
    assert not any(note.startswith("could not") for note in result["cleanup"])
    assert pg.server.root is not None
    assert pg.ephemeral_databases() == []
    assert leftover_processes(pg.server.root) == []
    assert leftover_folders(pg.server.root) == []
    assert pg.server.password not in "".join(lines)


def test_local_drill_leaves_no_postgres_process(pg: PgServer, backups: Backups) -> None:
    from pytest_opsgate.gates.restore import DrillSpec, run_drill

    seen: list[str] = []
    result = run_drill(DrillSpec(source=backups.plain_gz), on_event=seen.append)
    assert result.verdict.value == "PASS", result.reason
    assert any(event.startswith("starting a throwaway Postgres") for event in seen)
    assert any(note == "stopped the throwaway server" for note in result.cleanup)
    assert pg.server.root is not None
    assert leftover_processes(pg.server.root) == []
    assert leftover_folders(pg.server.root) == []


def test_a_gzip_broken_after_whole_statements_commits_nothing(pg: PgServer, tmp_path: Path) -> None:
    """psql -1 commits at a clean end of input; a broken gzip must kill it before that."""
    # 32-byte lines, so each 1 MiB chunk the feeder writes ends on a whole statement.
    lines = ["CREATE TABLE t (id int);"] + ["INSERT INTO t VALUES (1);"] * (3 * 32768 - 1)
    good = gzip.compress("".join(line.ljust(31) + "\n" for line in lines).encode())
    second = bytearray(gzip.compress(b"INSERT INTO t VALUES (2);\n"))
    second[-8] ^= 0xFF  # a wrong CRC in the last member: reading fails after 3 MiB
    broken = tmp_path / "broken.sql.gz"
    broken.write_bytes(good + bytes(second))
    pg.psql("CREATE DATABASE feed_target")
    try:
        info = BackupInfo(broken, "plain", True, broken.stat().st_size, "", None, False)
        tools = ClientTools(pg.server.binaries.tool("psql"), pg.server.binaries.tool("pg_restore"))
        target = Endpoint.from_dsn(pg.dsn).for_database("feed_target")
        run = restore_postgres(info, target, tools, timeout_s=60, workdir=tmp_path)
        assert not run.ok
        assert run.problem is not None
        assert "reading the backup failed mid-restore" in run.problem
        tables = pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 't'", "feed_target")
        assert tables.strip() == "0"
    finally:
        pg.psql("DROP DATABASE feed_target WITH (FORCE)")
