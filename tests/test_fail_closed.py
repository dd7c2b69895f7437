"""Fail closed, finding by finding: each run that used to end in PASS or a wrong verdict.

Every test drives the real gate against a real loopback server (the demo or a fault
server) and asserts the verdict in the exit code, gate.json and the VERDICT line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from faultserver import FaultServer, text
from faultserver import json as json_body
from gatekit import MARGIN_S, OK, SUBPROCESS_TIMEOUT, Gate, add_locustfile, assert_verdict
from pytest_opsgate.demo import DemoOptions, start_demo

if TYPE_CHECKING:
    pass

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCUST = Path(sys.executable).with_name("locust")

PUBLIC_READER = """
from locust import FastHttpUser, constant, task

class Reader(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def read(self):
        self.client.get("/api/public/items")
"""

SMOKE_TEST = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_client):
    assert gate_client.get("/api/public/items").status_code == 200
"""


# 1. A latency-only SLO on a service that fails 95 % of its requests.


def test_F33_a_latency_only_slo_on_a_failing_service_is_never_a_pass(gate: Gate) -> None:
    with start_demo(DemoOptions(error_rate=0.95, seed=7)) as failing:
        add_locustfile(gate.pytester, "reader.py", PUBLIC_READER)
        run = gate.run(
            failing.url,
            "--gate-run-time=3s",
            "--gate-users=2",
            "--gate-slo=GET /api/public/items: p95 < 1s",
            "-p",
            "no:hypothesispytest",
            gate="load",
            subprocess=True,
        )
    assert_verdict(run, "FAIL", 1)
    rows = {slo["expression"]: slo for slo in run.report["slos"]}
    # The latency SLO alone would pass on the few fast successes...
    assert rows["GET /api/public/items: p95 < 1s"]["verdict"] in ("passed", "error")
    # ...but its error-rate guard, and the run-wide one user SLOs never remove, fail it.
    assert rows["GET /api/public/items: error_rate < 1%"]["guard"] is True
    assert rows["GET /api/public/items: error_rate < 1%"]["verdict"] == "failed"
    assert rows["error_rate < 1%"]["verdict"] == "failed"


# 2. A selected gate with no test in it.


def test_F34_a_selected_gate_with_no_test_is_an_error(gate: Gate, server: FaultServer) -> None:
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(server.url, gate="smoke,e2e", subprocess=True)
    assert_verdict(run, "ERROR", 11)
    assert "e2e: no test, check or locustfile in this gate" in run.reasons()
    phases = {phase["gate"]: phase for phase in run.report["phases"]}
    assert phases["smoke"]["passed"] == 1
    assert phases["e2e"]["skipped_reason"] == "no test in this gate"


def test_gate_all_names_the_absent_gates_and_needs_one_that_ran(
    gate: Gate, server: FaultServer
) -> None:
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    gate.pytester.makepyfile(SMOKE_TEST)
    (gate.pytester.path / "locustfiles").mkdir()
    add_locustfile(gate.pytester, "reader.py", PUBLIC_READER)
    run = gate.run(
        server.url,
        "--gate-run-time=2s",
        "--gate-users=1",
        "-p",
        "no:hypothesispytest",
        gate="all",
        subprocess=True,
    )
    assert_verdict(run, "PASS", 0)
    assert "e2e: absent (no test in this gate; --gate=all skips it)" in run.report["notes"]


# 3. Collection errors are ERROR, with or without --continue-on-collection-errors.


@pytest.mark.parametrize("keep_going", [False, True], ids=["stops", "continues"])
def test_F34_a_module_that_fails_to_import_is_an_error_and_runs_the_on_fail_hook(
    gate: Gate, server: FaultServer, keep_going: bool
) -> None:
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    gate.pytester.makepyfile(test_good=SMOKE_TEST, test_broken="import no_such_module_anywhere\n")
    hook_file = gate.pytester.path / "hook-ran.txt"
    args = [f"--gate-on-fail=echo $OPSGATE_VERDICT $OPSGATE_EXIT_CODE > {hook_file}"]
    if keep_going:
        args.append("--continue-on-collection-errors")
    run = gate.run(server.url, *args)
    # Not assert_verdict: pytest's collection error rightly prints the import traceback.
    assert run.result.ret == 11, run.output
    assert (run.report["verdict"], run.report["exit_code"]) == ("ERROR", 11)
    assert "VERDICT: ERROR (exit code 11)" in run.output
    assert "collection error: test_broken.py: ModuleNotFoundError" in run.reasons()
    assert "no_such_module_anywhere" in run.reasons()
    assert "aborted" not in run.reasons()
    assert hook_file.read_text().split() == ["ERROR", "11"]


def test_pytest_collecting_no_test_at_all_is_an_error(gate: Gate, server: FaultServer) -> None:
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(server.url, "-k", "no_such_test_name")  # pytest's exit 5
    assert_verdict(run, "ERROR", 11)
    assert "no test was collected" in run.reasons()


# 4. Load runs judged on partial data are never PASS.


def test_F35_an_interrupted_plain_locust_run_is_aborted_not_passed(tmp_path: Path) -> None:
    locustfile = tmp_path / "reader.py"
    locustfile.write_text(
        PUBLIC_READER.replace(
            "from locust import", "import pytest_opsgate.gates.load.locust_ext\nfrom locust import"
        )
    )
    with start_demo() as demo:
        proc = subprocess.Popen(
            [
                *(str(LOCUST), "-f", str(locustfile), "--headless", "-u", "2", "-t", "60s"),
                *("-H", demo.url, "--only-summary"),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "Ramping to 2 users" in line or "All users spawned" in line:
                    break
            time.sleep(2.0)  # some requests measured: the partial data looks like a pass
            proc.send_signal(signal.SIGINT)
            output, _ = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 2, output
    assert "opsgate: load verdict ABORTED" in output
    assert "load verdict PASS" not in output


def test_F35_a_locust_child_stopped_by_someone_else_is_not_judged(
    gate: Gate, pytester: pytest.Pytester
) -> None:
    marker = f"opsgate-fail-closed-{os.getpid()}-{time.monotonic_ns()}"
    with start_demo() as demo:
        add_locustfile(gate.pytester, "reader.py", PUBLIC_READER)
        env = {**os.environ, "OPSGATE_TEST_MARKER": marker}
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "pytest", "--gate=load", f"--base-url={demo.url}"),
                *("--gate-run-time=60s", "--gate-users=2", "-p", "no:cacheprovider"),
                "--gate-artifacts=evidence",
            ],
            cwd=pytester.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if "rps " in line and " 1.0 s " not in line and "rps       -" not in line:
                    break
            locust = _locust_pids(marker, exclude=proc.pid)
            assert locust, "Locust is not running"
            for pid in locust:
                os.kill(pid, signal.SIGINT)  # not the gate's own signal trap
            output, _ = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    report = json.loads((pytester.path / "evidence" / "gate.json").read_text())
    assert proc.returncode == 11, "".join(lines) + output
    assert report["verdict"] == "ERROR"
    assert "interrupted by something other than the gate" in "".join(lines) + output


def _locust_pids(marker: str, *, exclude: int) -> list[int]:
    wanted = f"OPSGATE_TEST_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# 5. Baseline comparisons say what they could not compare.


# Runs that must PASS a comparison with an unchanged server: the floor is far above any
# scheduling jitter of a shared CI machine, so only coverage decides.
NOISE_FLOOR = "--gate-regression-floor=+250ms"

BASELINE_TESTS = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_client):
    for _ in range(40):  # enough samples a side for the judge (--gate-baseline-min-samples 30)
        assert gate_client.get("/api/public/items").status_code == 200

@pytest.mark.gate("smoke")
@pytest.mark.skipif("{skip}" == "yes", reason="left out of this run")
def test_health(gate_client):
    for _ in range(40):
        assert gate_client.get("/api/health/").status_code == 200
"""


def test_a_baseline_with_no_endpoint_in_common_or_left_out_endpoints_is_an_error(
    gate: Gate, server: FaultServer
) -> None:
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    baseline = gate.pytester.path / "baseline.json"
    gate.pytester.makepyfile(test_api=BASELINE_TESTS.format(skip="no"))
    saved = gate.run(server.url, f"--gate-save-baseline={baseline}")
    assert_verdict(saved, "PASS", 0)
    # This run never requests /api/health/, which the baseline has: not a full comparison.
    gate.pytester.makepyfile(test_api=BASELINE_TESTS.format(skip="yes"))
    partial = gate.run(server.url, f"--gate-baseline={baseline}")
    assert_verdict(partial, "ERROR", 11)
    assert "were not requested in this run (GET /api/health/ (smoke))" in partial.reasons()
    assert partial.report["baseline"]["missing"] == ["GET /api/health/ (smoke)"]
    # A wide floor: this row is about coverage, and a busy CI machine's jitter is not a change.
    allowed = gate.run(
        server.url, f"--gate-baseline={baseline}", "--gate-baseline-partial", NOISE_FLOOR
    )
    assert_verdict(allowed, "PASS", 0)
    # Nothing in common at all is an error even with a partial comparison allowed.
    gate.pytester.makepyfile(
        test_api="""
        import pytest

        @pytest.mark.gate("smoke")
        def test_other(gate_client):
            assert gate_client.get("/other").status_code == 404
        """
    )
    disjoint = gate.run(server.url, f"--gate-baseline={baseline}", "--gate-baseline-partial")
    assert_verdict(disjoint, "ERROR", 11)
    assert "no endpoint in common" in disjoint.reasons()


def test_traffic_labels_do_not_depend_on_the_gates_selected(
    gate: Gate, server: FaultServer
) -> None:
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    gate.pytester.makepyfile(
        test_mixed="""
        import pytest

        @pytest.mark.gate("smoke")
        def test_smoke(gate_client):
            assert gate_client.get("/api/health/").status_code == 200

        @pytest.mark.gate("e2e")
        def test_flow(gate_client):
            for _ in range(40):  # enough samples a side for the judge
                assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    baseline = gate.pytester.path / "baseline.json"
    e2e_only = gate.run(server.url, f"--gate-save-baseline={baseline}", gate="e2e", subprocess=True)
    assert_verdict(e2e_only, "PASS", 0)
    both = gate.run(
        server.url, f"--gate-baseline={baseline}", NOISE_FLOOR, gate="smoke,e2e", subprocess=True
    )
    assert_verdict(both, "PASS", 0)
    endpoints = {(e["gate"], e["scope"]) for e in both.report["endpoints"]}
    assert ("e2e", "GET /api/public/items") in endpoints
    assert ("smoke", "GET /api/health/") in endpoints
    assert both.report["baseline"]["compared"] == 1


# 6. Real health formats are read, not taken as ready.


@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        (text("Degraded"), '"Degraded"'),
        (json_body({"ok": False}), "ok is false"),
        (json_body({"healthy": False}), "healthy is false"),
        (json_body({"status": "OUT_OF_SERVICE"}), '"OUT_OF_SERVICE"'),
    ],
)
def test_F31_health_formats_of_real_services_are_not_taken_as_ready(
    gate: Gate, server: FaultServer, body: object, quoted: str
) -> None:
    server.route("/healthz", body)  # type: ignore[arg-type]
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(server.url, "--gate-ready-path=/healthz", "--gate-ready-timeout=1")
    assert_verdict(run, "ERROR", 10)
    assert quoted in run.readiness["error"]
    assert "--gate-ready-expect" in run.readiness["error"]
    assert run.report["tests"] == []


# 7. A definite failure is FAIL even when something else could not be measured.


def test_the_shipped_smoke_suite_against_a_service_without_its_endpoints_fails(
    tmp_path: Path, server: FaultServer
) -> None:
    server.route("/api/health/", json_body({"status": "ok", "version": "9.9.9"}))
    env = {
        **os.environ,
        "DEMO_DEV_KEY": "dev-key-0123456789",
        "DEMO_ADMIN_KEY": "admin-key-0123456789",
        "DEMO_READONLY_KEY": "ro-key-0123456789",
        "DEMO_LOAD_KEY": "load-key-0123456789",
        "DEMO_WEBHOOK_SECRET": "webhook-secret-0123456789",
    }
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "suites/smoke", "--gate=smoke"),
            *(f"--base-url={server.url}", f"--gate-artifacts={tmp_path / 'evidence'}"),
            *("-p", "no:cacheprovider", "-p", "no:hypothesispytest"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    report = json.loads((tmp_path / "evidence" / "gate.json").read_text())
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["verdict"] == "FAIL"
    assert any("smoke:" in reason and "failed" in reason for reason in report["reasons"])


# 8. The time limit covers setup and teardown, not only the test body.


@pytest.mark.parametrize("where", ["setup", "teardown"])
def test_a_fixture_that_hangs_is_stopped_by_the_test_timeout(
    gate: Gate, server: FaultServer, where: str
) -> None:
    server.route("/api/health/", OK)
    hang = "time.sleep(3600)"
    setup, teardown = (hang, "pass") if where == "setup" else ("pass", hang)
    gate.pytester.makepyfile(
        f"""
        import time
        import pytest

        @pytest.fixture
        def stuck():
            {setup}
            yield
            {teardown}

        @pytest.mark.gate("smoke")
        def test_waits(stuck):
            pass
        """
    )
    started = time.monotonic()
    run = gate.run(server.url, "--gate-test-timeout=1")
    assert_verdict(run, "ERROR", 11)
    assert f"--gate-test-timeout=1s (in {where})" in run.output
    # Bounded by the limit (teardown gets at least 5 s to clean up), not by the hang.
    assert time.monotonic() - started < 1 + 5 + MARGIN_S
