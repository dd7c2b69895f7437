"""One gate, one verdict: stack commands, gate.json/gate.md, hooks, baseline, JUnit SLOs."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from pytest_opsgate.demo import DemoServer
from pytest_opsgate.report.gate_json import load_schema

PASSING = """
import pytest

@pytest.mark.gate("smoke")
def test_health(gate_client):
    for _ in range(5):
        assert gate_client.get("/healthz").status_code == 200
"""

FAILING = """
import pytest

@pytest.mark.gate("smoke")
def test_health(gate_client):
    assert gate_client.get("/healthz").status_code == 418
"""


def _gate_json(artifacts: Path) -> dict:
    doc = json.loads((artifacts / "gate.json").read_text())
    jsonschema.validate(doc, load_schema())
    return doc


def _smoke_gate(
    pytester: pytest.Pytester, source: str, url: str, *args: str
) -> tuple[pytest.RunResult, Path]:
    """Run the smoke gate in-process on ``source``; returns the result and its artifacts folder."""
    pytester.makepyfile(source)
    artifacts = pytester.path / "artifacts"
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={url}", f"--gate-artifacts={artifacts}", *args
    )
    return result, artifacts


def test_gate_json_and_md_on_pass_validate_against_the_shipped_schema(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    result, artifacts = _smoke_gate(
        pytester, PASSING, demo.url, "--gate-slo=GET /healthz: p95 < 10s"
    )
    assert result.ret == 0
    doc = _gate_json(artifacts)
    assert doc["verdict"] == "PASS"
    assert doc["exit_code"] == 0
    assert doc["target"]["url"] == demo.url
    assert doc["readiness"]["version"]
    slo, guard = doc["slos"]
    assert slo["verdict"] == "passed"
    assert slo["samples"] == 5
    assert slo["successes"] == 5
    assert (guard["expression"], guard["guard"], guard["verdict"]) == (
        "GET /healthz: error_rate < 1%",
        True,
        "passed",
    )
    endpoint = next(e for e in doc["endpoints"] if e["scope"] == "GET /healthz")
    assert endpoint["requests"] == 5
    assert endpoint["histogram"]
    markdown = (artifacts / "gate.md").read_text()
    assert markdown.lstrip().splitlines()[0].count("PASS") == 1


def test_logs_command_output_is_saved_on_fail_only(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    logs_cmd = "--gate-logs-cmd=echo stack-log-line-42"
    pytester.makepyfile(PASSING)
    ok_dir = pytester.path / "ok"
    passed = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-artifacts={ok_dir}", logs_cmd
    )
    assert passed.ret == 0
    assert not (ok_dir / "stack-logs.txt").exists()

    pytester.makepyfile(FAILING)
    bad_dir = pytester.path / "bad"
    failed = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-artifacts={bad_dir}", logs_cmd
    )
    assert failed.ret == 1
    assert "stack-log-line-42" in (bad_dir / "stack-logs.txt").read_text()
    doc = _gate_json(bad_dir)
    assert [c["name"] for c in doc["commands"]] == ["logs"]


@pytest.mark.parametrize(
    ("source", "expected_hook", "exit_code"),
    [(PASSING, "pass", 0), (FAILING, "fail", 1), ("def test_unmarked():\n    pass\n", "fail", 11)],
    ids=["PASS", "FAIL", "ERROR"],
)
def test_on_fail_and_on_pass_hooks(
    pytester: pytest.Pytester, demo: DemoServer, source: str, expected_hook: str, exit_code: int
) -> None:
    marker = pytester.path / "hook-ran"
    result, artifacts = _smoke_gate(
        pytester,
        source,
        demo.url,
        f'--gate-on-fail=echo "fail $OPSGATE_VERDICT $OPSGATE_REPORT" > {marker}',
        f'--gate-on-pass=echo "pass $OPSGATE_VERDICT $OPSGATE_REPORT" > {marker}',
    )
    assert result.ret == exit_code
    hook, verdict, report = marker.read_text().split()
    assert hook == expected_hook
    assert verdict == {0: "PASS", 1: "FAIL", 11: "ERROR"}[exit_code]
    assert Path(report) == artifacts / "gate.json"
    doc = _gate_json(artifacts)
    assert [h["name"] for h in doc["hooks"]] == [f"on-{expected_hook}"]
    assert doc["hooks"][0]["exit_code"] == 0
    assert f"on-{expected_hook}" in (artifacts / "gate.md").read_text()


def test_baseline_regression_fails_with_a_table(
    pytester: pytest.Pytester, fresh_demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            for _ in range(int(os.environ["SAMPLES"])):
                gate_client.get("/api/public/items")
        """
    )
    baseline = pytester.path / "baseline.json"

    def run(name: str, samples: int, *extra: str) -> pytest.RunResult:
        monkeypatch.setenv("SAMPLES", str(samples))
        return pytester.runpytest(
            "--gate=smoke",
            f"--base-url={fresh_demo.url}",
            f"--gate-artifacts={pytester.path / name}",
            *extra,
        )

    assert run("saved", 40, f"--gate-save-baseline={baseline}").ret == 0
    assert baseline.exists()
    # Unchanged: a floor far above a busy machine's jitter, so only a real change could FAIL.
    same = run("same", 40, f"--gate-baseline={baseline}", "--gate-regression-floor=+250ms")
    assert same.ret == 0, same.outlines[-15:]
    assert _gate_json(pytester.path / "same")["baseline"]["rows"][0]["decision"] == "PASS"

    thin = run("thin", 3, f"--gate-baseline={baseline}")  # 3 samples cannot tell
    assert thin.ret == 12
    assert _gate_json(pytester.path / "thin")["verdict"] == "INCONCLUSIVE"
    thin.stdout.fnmatch_lines(["*too few samples*at least 30*INCONCLUSIVE"])

    fresh_demo.options.latency_ms = 200  # the new deploy is slower
    slow = run("slow", 40, f"--gate-baseline={baseline}")
    assert slow.ret == 1
    doc = _gate_json(pytester.path / "slow")
    assert doc["verdict"] == "FAIL"
    failed = [row for row in doc["baseline"]["rows"] if row["decision"] == "FAIL"]
    assert [row["scope"] for row in failed] == ["GET /api/public/items"]
    slow.stdout.fnmatch_lines(["*GET /api/public/items (smoke) got slower by*FAIL"])
    markdown = (pytester.path / "slow" / "gate.md").read_text()
    assert "baseline p50 / p95 / p99 (n)" in markdown
    assert "| FAIL |" in markdown


def test_missing_baseline_file_is_a_usage_error(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(PASSING)
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", "--gate-baseline=nope.json"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gate-baseline 'nope.json' does not exist*"])


def test_junit_xml_carries_one_testcase_per_slo(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(PASSING)
    result = pytester.runpytest(
        "--gate=smoke",
        f"--base-url={demo.url}",
        "--junitxml=junit.xml",
        "--gate-slo=GET /healthz: p95 < 10s",
        "--gate-slo=GET /healthz: p50 < 0.001ms",
    )
    assert result.ret == 1
    cases = ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    by_name = {case.get("name"): case for case in cases}
    slo_cases = {name: case for name, case in by_name.items() if (name or "").startswith("SLO ")}
    # The two SLOs given, and the error-rate guard their latency statistics bring along.
    assert sorted(slo_cases) == [
        "SLO GET /healthz: error_rate < 1%",
        "SLO GET /healthz: p50 < 0.001ms",
        "SLO GET /healthz: p95 < 10s",
    ]
    failed = [name for name, case in slo_cases.items() if case.find("failure") is not None]
    assert len(failed) == 1
    assert "p50" in failed[0]
    assert "test_health" in by_name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_stack_lifecycle_with_ordinary_commands(pytester: pytest.Pytester) -> None:
    """Start the demo service, seed it through its API, print its log, kill it."""
    port = _free_port()
    log = pytester.path / "service.log"
    pidfile = pytester.path / "service.pid"
    start = (
        f"{sys.executable} -m pytest_opsgate.demo --port {port} --log-file {log} "
        f"> /dev/null 2>&1 & echo $! > {pidfile}"
    )
    seed = (
        f"{sys.executable} -c \"import httpx; httpx.post('http://127.0.0.1:{port}"
        "/api/public/items', json={'name': 'seeded-item', 'price': 1})"
        '.raise_for_status()"'
    )
    stop = f"kill $(cat {pidfile})"
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_seeded(gate_client):
            items = gate_client.get("/api/public/items?limit=100").json()["items"]
            names = [item["name"] for item in items]
            assert "seeded-item" in names
            assert False, "fail on purpose so the logs command runs"
        """
    )
    artifacts = pytester.path / "artifacts"
    result = pytester.runpytest(
        "--gate=smoke",
        f"--base-url=http://127.0.0.1:{port}",
        f"--gate-artifacts={artifacts}",
        f"--gate-start-cmd={start}",
        f"--gate-seed-cmd={seed}",
        f"--gate-logs-cmd=cat {log}",
        f"--gate-stop-cmd={stop}",
        "--gate-ready-timeout=30",
    )
    assert result.ret == 1
    doc = _gate_json(artifacts)
    assert [c["name"] for c in doc["commands"]] == ["start", "seed", "logs", "stop"]
    assert all(c["exit_code"] == 0 for c in doc["commands"])
    assert "/api/public/items" in (artifacts / "stack-logs.txt").read_text()
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the stop command did not stop the service"


def test_sigterm_writes_aborted_gate_json_and_runs_stop(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        """
        import pathlib, time, pytest

        @pytest.mark.gate("smoke")
        def test_slow():
            pathlib.Path("started").touch()
            time.sleep(60)
        """
    )
    artifacts = pytester.path / "artifacts"
    stopped = pytester.path / "stopped"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--gate=smoke",
            f"--base-url={demo.url}",
            f"--gate-artifacts={artifacts}",
            f"--gate-stop-cmd=touch {stopped}",
        ],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (pytester.path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2, out
    assert stopped.exists()
    doc = _gate_json(artifacts)
    assert doc["verdict"] == "ABORTED"
    assert doc["exit_code"] == 2


def test_not_ready_still_writes_evidence_and_runs_stop(pytester: pytest.Pytester) -> None:
    stopped = pytester.path / "stopped"
    result, artifacts = _smoke_gate(
        pytester,
        PASSING,
        f"http://127.0.0.1:{_free_port()}",
        "--gate-ready-timeout=1",
        "--gate-logs-cmd=echo why-it-failed",
        f"--gate-stop-cmd=touch {stopped}",
    )
    assert result.ret == 10
    assert stopped.exists()
    doc = _gate_json(artifacts)
    assert doc["verdict"] == "ERROR"
    assert doc["exit_code"] == 10
    assert "refused" in doc["readiness"]["error"]
    assert "why-it-failed" in (artifacts / "stack-logs.txt").read_text()
    result.stdout.fnmatch_lines(["*VERDICT: ERROR*"])


def test_failing_start_command_is_an_error_before_any_request(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    result, artifacts = _smoke_gate(pytester, PASSING, demo.url, "--gate-start-cmd=exit 3")
    assert result.ret == 11
    assert "--gate-start-cmd failed (exit 3)" in result.stdout.str() + result.stderr.str()
    assert _gate_json(artifacts)["verdict"] == "ERROR"


LIVE = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_slo):
    gate_slo.sample("/api/public/items", n=80)
"""


def test_live_baseline_judges_side_by_side(
    pytester: pytest.Pytester, demo: DemoServer, fresh_demo: DemoServer
) -> None:
    pytester.makepyfile(LIVE)
    same = pytester.runpytest(
        "--gate=smoke",
        f"--base-url={demo.url}",
        f"--gate-baseline-url={fresh_demo.url}",
        "--gate-regression-floor=+250ms",  # only a real change, never a busy machine, fails
    )
    assert same.ret == 0, same.outlines[-15:]
    same.stdout.fnmatch_lines([f"baseline: live target {fresh_demo.url}*", "*: PASS"])

    fresh_demo.options.latency_ms = 40  # the candidate is slower than the baseline
    slow = pytester.runpytest(
        "--gate=smoke",
        f"--base-url={fresh_demo.url}",
        f"--gate-baseline-url={demo.url}",
        f"--gate-artifacts={pytester.path / 'slow'}",
    )
    assert slow.ret == 1, slow.outlines[-15:]
    rows = _gate_json(pytester.path / "slow")["baseline"]["rows"]
    assert [row["decision"] for row in rows] == ["FAIL"]
    # One baseline request per sample, in A-B-B-A order, so drift hits both sides alike.
    assert rows[0]["figures"]["baseline"]["n"] == rows[0]["figures"]["current"]["n"] == 80


def test_a_failing_live_baseline_is_an_error_not_a_comparison(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    pytester.makepyfile(LIVE)
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-baseline-url={dead}"
    )
    assert result.ret == 11, result.outlines[-15:]  # ERROR
    result.stdout.fnmatch_lines([f"*the live baseline {dead} failed 80 of 80 requests*"])
    assert "FAIL" not in result.stdout.str().split("VERDICT")[-1]
