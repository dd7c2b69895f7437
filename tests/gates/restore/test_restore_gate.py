"""``pytest --gate=restore``: the drill as a gate, through pytester and subprocesses, against
real Postgres (a throwaway server per drill, or a new database on the session's server).

Each test's drills make their temporary folders in a folder of its own (``drill_tmp``, from
conftest), so "nothing left behind" is checked on exactly that folder and the processes
working in it, whatever other tests run beside this one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from restorekit import SHOP_ROWS

from gatekit import MARGIN_S, PING_LOCUSTFILE, GateRun, add_locustfile, assert_verdict
from pytest_opsgate.report.gate_json import load_schema

if TYPE_CHECKING:
    from collections.abc import Callable

    from restorekit import PgServer

    from conftest import Backups

ROWS = [f"--gate-restore-expect={table}: rows >= {rows}" for table, rows in SHOP_ROWS.items()]
HANG = (
    "--\n-- PostgreSQL database dump\n--\nCREATE TABLE t (id int);\nSELECT pg_sleep(600);\n"
    "--\n-- PostgreSQL database dump complete\n--\n"
)
REPO_ROOT = Path(__file__).resolve().parents[3]
SUBPROCESS_TIMEOUT_S = 180


# ---- running the gate


def processes_in(folder: Path) -> list[str]:
    """Live processes whose working directory is inside ``folder`` (a throwaway server's)."""
    found = []
    root = str(folder.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            found.append(f"{entry.name} {comm} in {cwd}")
    return found


def assert_nothing_left(folder: Path, pg: PgServer | None = None) -> None:
    """No file, folder or process of a drill survives it; no ephemeral database either."""
    __tracebackhide__ = True
    assert processes_in(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == []
    if pg is not None:
        assert pg.ephemeral_databases() == []


class RestoreGate:
    """Runs ``--gate=restore`` in the pytester project, each run with artifacts of its own."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.runs = 0
        pytester.makeini("[pytest]\n")

    def run(self, *args: str, gate: str = "restore", subprocess: bool = False) -> GateRun:
        self.runs += 1
        artifacts = self.pytester.path / f"evidence-{self.runs}"
        argv = (f"--gate={gate}", f"--gate-artifacts={artifacts}", "-p", "no:cacheprovider", *args)
        started = time.monotonic()
        if subprocess:
            result = self.pytester.runpytest_subprocess(*argv, timeout=SUBPROCESS_TIMEOUT_S)
        else:
            result = self.pytester.runpytest("-p", "no:playwright", *argv)
        elapsed = time.monotonic() - started
        report = json.loads((artifacts / "gate.json").read_text())
        jsonschema.Draft202012Validator(load_schema()).validate(report)
        return GateRun(result, elapsed, report, artifacts)

    def usage_error(self, *args: str) -> pytest.RunResult:
        result = self.pytester.runpytest(
            "-p", "no:playwright", "--gate=restore", "-p", "no:cacheprovider", *args
        )
        assert result.ret == 4, result.stdout.str() + result.stderr.str()
        return result


@pytest.fixture
def gate(pytester: pytest.Pytester) -> RestoreGate:
    return RestoreGate(pytester)


def drill_of(run: GateRun) -> dict[str, Any]:
    found: dict[str, Any] = run.report["restore"]
    assert found is not None, run.output
    return found


# ---- a fresh pg_dump passes


@pytest.mark.parametrize("where", ["folder", "custom file"])
def test_a_fresh_pg_dump_restores_into_a_throwaway_server_and_passes_its_row_counts(
    gate: RestoreGate,
    backups: Backups,
    one_backup: Callable[..., Path],
    drill_tmp: Path,
    where: str,
) -> None:
    # In the folder, a 3-day-old dump and a manifest lie beside the fresh plain.gz: the
    # newest by name is drilled, the manifest is not a candidate.
    source = one_backup(backups.stale, backups.plain_gz, backups.manifest)
    chosen = source / backups.plain_gz.name
    if where == "custom file":
        source = chosen = backups.custom
    run = gate.run(f"--gate-restore-from={source}", *ROWS, "--gate-restore-max-age=26h")
    assert_verdict(run, "PASS", 0)
    drill = drill_of(run)
    nodeid = f"restore::{chosen.name}"
    assert drill["test"] == nodeid
    assert drill["backup"]["path"] == str(chosen)
    assert drill["backup"]["time_source"] == "name"
    assert drill["target"].startswith("throwaway local Postgres")
    assert drill["restore_time_s"] > 0
    assert {t["table"]: t["found"] for t in drill["tables"]} == SHOP_ROWS
    assert {t["table"]: t["minimum"] for t in drill["tables"]} == SHOP_ROWS
    assert "stopped the throwaway server" in drill["cleanup"]
    # Every expectation is an SLO row of the restore gate, named after the drill's test.
    rows = {s["expression"]: s for s in run.report["slos"]}
    assert set(rows) == {a.split("=", 1)[1] for a in ROWS} | {"backup_age <= 26h"}
    assert {(s["gate"], s["test"], s["verdict"]) for s in rows.values()} == {
        ("restore", nodeid, "passed")
    }
    assert rows["orders: rows >= 120"]["measured"] == 120
    assert rows["orders: rows >= 120"]["unit"] == "count"
    assert rows["backup_age <= 26h"]["unit"] == "ms"
    assert [(p["gate"], p["verdict"], p["passed"]) for p in run.report["phases"]] == [
        ("restore", "PASS", 1)
    ]
    assert run.report["readiness"] is None
    assert run.report["target"]["url"] is None
    gate_md = (run.artifacts / "gate.md").read_text()
    assert "## Restore drill" in gate_md
    assert f"| sha256 | `{drill['backup']['sha256']}` |" in gate_md
    assert "| orders | - | 120 | 120 |" in gate_md
    assert "no expectation was given" not in run.output
    assert_nothing_left(drill_tmp)


def test_without_an_expectation_a_clean_restore_passes_with_a_note(
    gate: RestoreGate, backups: Backups, drill_tmp: Path
) -> None:
    run = gate.run(f"--gate-restore-from={backups.custom}")
    assert_verdict(run, "PASS", 0)
    note = "no expectation was given: this drill only proves the backup restores"
    assert note in run.output
    assert any(note in line for line in run.report["notes"])
    assert note in (run.artifacts / "gate.md").read_text()
    assert run.report["slos"] == []
    checks = {c["name"]: c["verdict"] for c in drill_of(run)["checks"]}
    assert checks == {"restore with pg_restore": "passed", "restored database has tables": "passed"}
    assert_nothing_left(drill_tmp)


def test_a_dsn_run_restores_into_a_new_database_and_drops_it(
    gate: RestoreGate,
    pg: PgServer,
    backups: Backups,
    drill_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSGATE_RESTORE_DSN", pg.dsn)  # the safe way: not on the command line
    run = gate.run(f"--gate-restore-from={backups.custom}", *ROWS)
    assert_verdict(run, "PASS", 0)
    drill = drill_of(run)
    assert re.fullmatch(r"opsgate_restore_\d{14}_[0-9a-f]{6}", drill["database"])
    assert f"dropped database {drill['database']}" in drill["cleanup"]
    assert drill["target"].startswith("ephemeral database on 127.0.0.1:")
    assert pg.ephemeral_databases() == []
    assert pg.server.password not in run.output
    assert_nothing_left(drill_tmp, pg)


# ---- a bad backup fails, naming the cause


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("truncated", "is a corrupt or truncated gzip"),
        ("empty", "is empty (0 bytes)"),
        ("stale", "backup age 3d 0h is not <= 26h"),
        ("missing table", "table 'refunds' is missing from the restored database"),
        ("too few rows", "orders: rows 120 is not >= 121"),
    ],
    ids=["truncated", "empty", "stale", "missing_table", "too_few_rows"],
)
def test_F37_a_bad_backup_fails_naming_the_cause_and_leaves_nothing(
    gate: RestoreGate,
    pg: PgServer,
    backups: Backups,
    one_backup: Callable[..., Path],
    drill_tmp: Path,
    case: str,
    cause: str,
) -> None:
    args = [f"--gate-restore-dsn={pg.dsn}", *ROWS]
    if case in ("truncated", "empty"):
        broken = backups.truncated_gz if case == "truncated" else backups.empty
        # Beside a good older dump: the newest file is drilled even when it is broken.
        args.append(f"--gate-restore-from={one_backup(backups.stale, broken)}")
    elif case == "stale":
        args += [f"--gate-restore-from={backups.stale}", "--gate-restore-max-age=26h"]
    else:
        args.append(f"--gate-restore-from={backups.custom}")
        extra = "refunds: rows >= 1" if case == "missing table" else "orders: rows >= 121"
        args.append(f"--gate-restore-expect={extra}")
    run = gate.run(*args)
    assert_verdict(run, "FAIL", 1)
    drill = drill_of(run)
    assert drill["verdict"] == "FAIL"
    nodeid = drill["test"]
    [test] = run.report["tests"]
    assert (test["nodeid"], test["verdict"]) == (nodeid, "FAIL")
    assert cause in test["reason"]  # the failed test's one line names the cause
    assert cause in run.output
    assert cause in (run.artifacts / "gate.md").read_text()
    failed = [s for s in run.report["slos"] if s["verdict"] == "failed"]
    if case in ("truncated", "empty"):
        # Nothing was restored: every expectation is a row that could not be checked.
        assert failed == []
        assert {s["verdict"] for s in run.report["slos"]} == {"error"}
        assert drill["backup"] is None
    else:
        assert [s["test"] for s in failed] == [nodeid]
        assert cause in failed[0]["reason"]
    assert pg.server.password not in run.output
    assert_nothing_left(drill_tmp, pg)


def test_a_failing_sql_check_and_then_command_from_the_config_table_fail(
    gate: RestoreGate,
    pytester: pytest.Pytester,
    pg: PgServer,
    backups: Backups,
    drill_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (pytester.path / "backups").mkdir()
    shutil.copy2(backups.custom, pytester.path / "backups" / backups.custom.name)
    pytester.makefile(
        ".toml",
        opsgate=textwrap.dedent(
            """
            [restore]
            from = "backups"
            dsn_env = "SHOP_RESTORE_DSN"
            expect = ["customers: rows >= 40", "restore_time < 10m"]
            then = "test -n \\"$DATABASE_URL\\" && exit 3"

            [[restore.sql]]
            name = "every order has a customer"
            query = "SELECT count(*) FROM orders WHERE customer_id NOT BETWEEN 1 AND 40"
            expect = 0

            [[restore.sql]]
            name = "a big spender"
            query = "SELECT max(total) FROM orders"
            expect = "> 1000"
            """
        ),
    )
    monkeypatch.setenv("SHOP_RESTORE_DSN", pg.dsn)
    run = gate.run()
    assert_verdict(run, "FAIL", 1)
    checks = {c["name"]: (c["verdict"], c["reason"]) for c in drill_of(run)["checks"]}
    assert checks["every order has a customer"] == ("passed", "returned 0; expected == 0")
    assert checks["a big spender"] == ("failed", "returned 420.00; expected > 1000")
    then = checks['then: test -n "$DATABASE_URL" && exit 3']
    assert then[0] == "failed"
    assert "exit 3" in then[1]
    assert {s["expression"] for s in run.report["slos"]} == {
        "customers: rows >= 40",
        "restore_time < 10m",
    }
    assert pg.server.password not in json.dumps(run.report)
    assert_nothing_left(drill_tmp, pg)


# ---- could not measure, interrupted


def test_missing_server_binaries_are_an_error_naming_the_install_command(
    gate: RestoreGate, backups: Backups, tmp_path: Path, drill_tmp: Path
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    run = gate.run(f"--gate-restore-from={backups.custom}", f"--gate-restore-bindir={empty}", *ROWS)
    assert_verdict(run, "ERROR", 11)
    reason = run.test_reason("restore::")
    assert "no Postgres server binaries" in reason
    assert "apt-get install postgresql" in reason
    assert {s["verdict"] for s in run.report["slos"]} == {"error"}  # not one row passed
    assert_nothing_left(drill_tmp)


def test_a_dsn_user_without_createdb_is_an_error_naming_the_fix(
    gate: RestoreGate, pg: PgServer, backups: Backups, drill_tmp: Path
) -> None:
    pg.psql("CREATE ROLE nocreate LOGIN PASSWORD 'nocreate-pw-1234'")
    try:
        host, port = pg.admin.url_params["host"], pg.admin.url_params["port"]
        dsn = f"postgresql://nocreate:nocreate-pw-1234@{host}:{port}/postgres"
        run = gate.run(f"--gate-restore-from={backups.custom}", f"--gate-restore-dsn={dsn}", *ROWS)
    finally:
        pg.psql("DROP ROLE nocreate")
    assert_verdict(run, "ERROR", 11)
    assert "the --gate-restore-dsn user needs CREATEDB" in run.test_reason("restore::")
    assert "nocreate-pw-1234" not in run.output
    assert_nothing_left(drill_tmp, pg)


CRASH = """
import pytest_opsgate.gates.restore.drill as drill

REAL = drill.inspect_backup


def crash(path):
    raise RuntimeError("planted crash in the drill")


def pytest_configure(config):
    drill.inspect_backup = crash


def pytest_unconfigure(config):  # in-process runs share the module with the tests
    drill.inspect_backup = REAL
"""


def test_a_crash_inside_the_drill_is_an_error_never_a_pass_or_a_fail(
    gate: RestoreGate, pytester: pytest.Pytester, backups: Backups, drill_tmp: Path
) -> None:
    pytester.makeconftest(CRASH)
    run = gate.run(f"--gate-restore-from={backups.custom}", *ROWS)
    # Not assert_verdict: a crash shows its traceback, which that helper forbids.
    assert (run.result.ret, run.report["verdict"]) == (11, "ERROR"), run.output
    crashed = "the restore drill crashed (RuntimeError: planted crash in the drill)"
    assert crashed in run.test_reason("restore::")
    assert "raise RuntimeError" in run.output  # the traceback of the crash is kept
    assert_nothing_left(drill_tmp)


def test_F38_a_hanging_restore_fails_at_the_restore_timeout_and_leaves_nothing(
    gate: RestoreGate, pytester: pytest.Pytester, pg: PgServer, drill_tmp: Path
) -> None:
    hang = pytester.path / "hang_20260101_000000.sql"
    hang.write_text(HANG)
    run = gate.run(
        f"--gate-restore-from={hang}", f"--gate-restore-dsn={pg.dsn}", "--gate-restore-timeout=2s"
    )
    assert_verdict(run, "FAIL", 1)
    assert "restore did not finish within 2 s; psql was killed" in run.test_reason("restore::")
    assert run.elapsed_s < 2 + MARGIN_S  # the timeout, not pg_sleep(600), ended it
    assert_nothing_left(drill_tmp, pg)
    assert not _sleeping(pg)  # the server-side statement went with the dropped database


@pytest.mark.parametrize("mode", ["dsn", "local"])
def test_F38_sigterm_mid_restore_is_aborted_and_leaves_nothing(
    pytester: pytest.Pytester, pg: PgServer, drill_tmp: Path, mode: str
) -> None:
    pytester.makeini("[pytest]\n")
    hang = pytester.path / "hang_20260101_000000.sql"
    hang.write_text(HANG)
    artifacts = pytester.path / "evidence"
    env = {**os.environ, "OPSGATE_RESTORE_DSN": pg.dsn if mode == "dsn" else ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--gate=restore", f"--gate-restore-from={hang}",
         f"--gate-artifacts={artifacts}", "-p", "no:cacheprovider", "-p", "no:playwright",
         "--gate-restore-expect=t: rows >= 1"],
        cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "opsgate: restore: restoring" in line:
                break
        deadline = time.monotonic() + 30
        if mode == "dsn":  # wait until the restore is really running inside the server
            while not _sleeping(pg) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _sleeping(pg), "".join(lines)
        else:
            time.sleep(1.0)  # psql is connecting or connected: either is mid-restore
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + out
    assert proc.returncode == 2, output
    assert "VERDICT: ABORTED (exit code 2)" in output
    report = json.loads((artifacts / "gate.json").read_text())
    assert report["verdict"] == "ABORTED"
    assert "aborted: signal 15 (SIGTERM)" in report["reasons"]
    drill = report["restore"]
    assert drill["verdict"] == "ABORTED"
    assert drill["reason"] == "the drill was interrupted by signal 15 (SIGTERM)"
    assert not any(note.startswith("could not") for note in drill["cleanup"])
    assert pg.server.password not in output
    assert_nothing_left(drill_tmp, pg)


def _sleeping(pg: PgServer) -> bool:
    out = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' "
                  "AND datname LIKE 'opsgate\\_restore\\_%'")  # fmt: skip
    return int(out) > 0


# ---- usage errors, before anything runs


def test_without_a_backup_the_restore_gate_is_a_usage_error_naming_the_flag(
    gate: RestoreGate,
) -> None:
    result = gate.usage_error()
    result.stderr.fnmatch_lines(
        ["*--gate=restore needs a backup to drill; pass --gate-restore-from PATH*"]
    )


@pytest.mark.parametrize(
    ("args", "toml", "message"),
    [
        (["--gate-restore-expect=orders: rows = 5"], "",
         "*--gate-restore-expect*exact equality is not a budget*"),
        (["--gate-restore-expect=orders: rows >= 5", "--gate-restore-tolerance=5%"], "",
         "*--gate-restore-tolerance is set but no manifest is given*"),
        (["--gate-restore-tolerance=150%"], "", "*--gate-restore-tolerance*out of range*"),
        (["--gate-restore-max-age=26"], "", None),  # a bare number is seconds: valid
        (["--gate-restore-bindir=/nonexistent/bin"], "",
         "*--gate-restore-bindir /nonexistent/bin is not a folder*"),
        ([], '[restore]\nform = "backups"\n', "*key 'form' is unknown (did you mean 'from'?)*"),
        ([], '[restore]\nfrom = "b"\ndsn_env = "OPSGATE_TEST_UNSET_DSN"\n',
         "*key 'dsn_env' names OPSGATE_TEST_UNSET_DSN, which is not set or empty*"),
        ([], '[restore]\nfrom = "b"\nmax_age = 26\n',
         "*key 'max_age' must be a duration with a unit*"),
        ([], '[restore]\nfrom = "b"\nexpect = ["rows >= 1"]\n',
         "*key 'expect'*rows needs a table before ':'*"),
        ([], '[restore]\nfrom = "b"\n[[restore.sql]]\nquery = "SELECT 1"\n',
         "*restore.sql?? #1: key 'expect' is required*"),
    ],
)  # fmt: skip
def test_bad_settings_are_usage_errors_naming_the_flag_or_key(
    gate: RestoreGate,
    pytester: pytest.Pytester,
    backups: Backups,
    args: list[str],
    toml: str,
    message: str | None,
) -> None:
    if toml:
        pytester.makefile(".toml", opsgate=toml)
    else:
        args = [f"--gate-restore-from={backups.custom}", *args]
    if message is None:
        result = pytester.runpytest(
            "-p", "no:playwright", "--gate=restore", "--collect-only", "-p", "no:cacheprovider",
            *args,
        )  # fmt: skip
        assert result.ret != 4, result.stdout.str() + result.stderr.str()
        result.stdout.fnmatch_lines(["*<RestoreItem shop_*.dump>*"])
        return
    gate.usage_error(*args).stderr.fnmatch_lines([message])


def test_a_dsn_that_does_not_parse_is_a_usage_error_that_never_shows_its_password(
    gate: RestoreGate, backups: Backups
) -> None:
    result = gate.usage_error(
        f"--gate-restore-from={backups.custom}",
        # libpq quotes the whole URI, password and all, when it does not parse.
        "--gate-restore-dsn=postgresql://drill:hunter2-planted@[db.example/postgres",
    )
    output = result.stdout.str() + result.stderr.str()
    assert "--gate-restore-dsn does not parse" in output
    assert "hunter2-planted" not in output


# ---- --gate=all, and the demo


def _gates_header(result: pytest.RunResult) -> str:
    return next(line for line in result.outlines if line.startswith("opsgate: gates "))


def test_gate_all_takes_restore_only_when_a_backup_is_configured(
    pytester: pytest.Pytester, demo: Any, backups: Backups
) -> None:
    pytester.makeini("[pytest]\n")
    add_locustfile(pytester, "ping.py", PING_LOCUSTFILE)
    argv = ["--gate=all", f"--base-url={demo.url}", "--collect-only", "-p", "no:cacheprovider"]
    plain = pytester.runpytest_subprocess(*argv, timeout=SUBPROCESS_TIMEOUT_S)
    assert _gates_header(plain) == "opsgate: gates smoke,e2e,load"
    drilled = pytester.runpytest_subprocess(
        *argv, f"--gate-restore-from={backups.custom}", timeout=SUBPROCESS_TIMEOUT_S
    )
    assert _gates_header(drilled) == "opsgate: gates smoke,e2e,load,restore"
    drilled.stdout.fnmatch_lines([f"*<RestoreItem {backups.custom.name}>*"])


@pytest.mark.serial  # the demo's load SLOs measure latency: tests beside it would disturb it
def test_make_demo_runs_all_four_gates_and_drills_a_fresh_demo_backup(tmp_path: Path) -> None:
    """`make demo`: the newcomer sees smoke, e2e, load and the restore drill of the demo."""
    out = tmp_path / "demo-report"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_opsgate.demo.rungate", "--out", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "opsgate demo: python -m pytest_opsgate.demo backup --out" in output
    report = json.loads((out / "artifacts" / "gate.json").read_text())
    assert report["gates"] == ["smoke", "e2e", "load", "restore"], output
    ran = {p["gate"]: p["passed"] + p["failed"] + p["errors"] for p in report["phases"]}
    assert all(count >= 1 for count in ran.values()), ran
    drill = report["restore"]
    assert drill["verdict"] == "PASS", drill["reason"]
    assert drill["backup"]["format"] == "sqlite"
    assert {t["table"] for t in drill["tables"]} == {"items", "audit_events"}
    assert "## Restore drill" in (out / "artifacts" / "gate.md").read_text()
    assert (report["verdict"], done.returncode) == ("PASS", 0), output[-3000:]


# ---- the DSN's password in no artifact

SENTINEL_PASSWORD = "opsgate-sentinel-restore-9d4e1b"


def test_the_dsn_password_reaches_no_file_and_no_output(
    pytester: pytest.Pytester, pg: PgServer, backups: Backups, drill_tmp: Path
) -> None:
    """A failing DSN drill writes every kind of evidence; none holds the DSN's password."""
    from test_secrets import encoded_forms

    pg.psql(f"CREATE ROLE drill LOGIN CREATEDB PASSWORD '{SENTINEL_PASSWORD}'")
    try:
        host, port = pg.admin.url_params["host"], pg.admin.url_params["port"]
        dsn = f"postgresql://drill:{SENTINEL_PASSWORD}@{host}:{port}/postgres"
        os.environ["OPSGATE_RESTORE_DSN"] = dsn
        pytester.makeini("[pytest]\n")
        sources = {path for path in pytester.path.rglob("*") if path.is_file()}
        artifacts = pytester.path / "evidence"
        result = pytester.runpytest_subprocess(
            "--gate=restore", f"--gate-restore-from={backups.custom}",
            f"--gate-artifacts={artifacts}", "--gate-restore-expect=refunds: rows >= 1",
            # DATABASE_URL holds the password: the command prints it and fails.
            "--gate-restore-then=echo \"connecting to $DATABASE_URL\"; exit 1",
            "--html=report.html", "--junitxml=junit.xml", "-rA", "-p", "no:cacheprovider",
            timeout=SUBPROCESS_TIMEOUT_S,
        )  # fmt: skip
    finally:
        os.environ.pop("OPSGATE_RESTORE_DSN", None)
        pg.psql("DROP ROLE IF EXISTS drill")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 1, output
    report = json.loads((artifacts / "gate.json").read_text())
    drill = report["restore"]
    then = [c for c in drill["checks"] if c["name"].startswith("then:")]
    assert [c["verdict"] for c in then] == ["failed"]
    assert "connecting to postgresql://drill:[REDACTED]@" in drill["then_output"]
    written = {p for p in pytester.path.rglob("*") if p.is_file()} - sources
    names = {p.relative_to(pytester.path).as_posix() for p in written}
    for expected in ("report.html", "junit.xml", "evidence/gate.json", "evidence/gate.md"):
        assert expected in names, sorted(names)
    assert any(name.endswith("/restore-drill.json") for name in names), sorted(names)
    forms = encoded_forms(SENTINEL_PASSWORD)
    leaks = [
        path.name for path in written if any(form.encode() in path.read_bytes() for form in forms)
    ]
    assert leaks == []
    assert not any(form in output for form in forms)
    # The drill's evidence reached the HTML report (attached to its test) and JUnit's rows.
    html = (pytester.path / "report.html").read_text()
    assert "restore drill" in html
    assert "table &#x27;refunds&#x27; is missing" in html or "table 'refunds' is missing" in html
    suite = ET.parse(pytester.path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = [c for c in suite.iter("testcase") if c.get("classname") == "opsgate.slo.restore"]
    assert {c.get("name") for c in cases} == {f"SLO refunds: rows >= 1 ({drill['test']})"}
    assert cases[0].find("failure") is not None
