"""Requests still unanswered when a closed-model load stops must not vanish from the verdict."""

from __future__ import annotations

import pytest

import faultserver as fs
from gatekit import SUBPROCESS_TIMEOUT, gate_args, load_result

OK = fs.json({"status": "ok"})


def test_a_target_that_hangs_mid_run_is_never_a_pass(project: pytest.Pytester) -> None:
    # Before the fix: PASS on the 200 answers; the 4 users' hanging requests were dropped.
    with fs.FaultServer() as server:
        server.route("/ping", fs.sequence([*[OK] * 200, fs.hang()]))  # then hangs for good
        run = project.runpytest_subprocess(
            *gate_args(
                server.url,
                "--no-gate-ready",
                "--gate-run-time=10s",
                "--gate-users=4",
                "--gate-slo=GET /ping: p95 < 1s",
            ),
            timeout=SUBPROCESS_TIMEOUT,
        )
    assert run.ret == 1, run.stdout.str()
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert result["verdict"] == "fail"
    assert any(
        "no answer within 3 s, when the load stopped" in e["error"] for e in result["errors"]
    )


def test_slow_answers_in_flight_do_not_let_the_load_pass_early(project: pytest.Pytester) -> None:
    # Every 50th request takes 5 s: p99 is about 5 s over the whole run.
    with fs.FaultServer() as server:
        server.route("/ping", fs.flap([OK] * 49 + [fs.delay(5.0, OK)]))
        run = project.runpytest_subprocess(
            *gate_args(
                server.url,
                "--no-gate-ready",
                "--gate-run-time=20s",
                "--gate-users=20",
                "--gate-slo=GET /ping: p99 < 1s",
                "--gate-load-early-pass",
            ),
            timeout=SUBPROCESS_TIMEOUT,
        )
    # Before the fix: PASS early at t=4 s on 791 fast answers, 16 slow ones still in flight.
    assert run.ret == 1, run.stdout.str()
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert result["status"] != "passed_early"
    (p99,) = [s for s in result["slos"] if s["slo"]["statistic"] == "p99"]
    assert p99["verdict"] == "failed"


def test_a_target_that_hangs_late_in_a_long_run_stops_it_with_fail(
    project: pytest.Pytester,
) -> None:
    # 600 answers, then nothing: the 4 hanging requests alone are 0.66 % of the run, inside
    # the 1 % guard, so before the fix this PASSed with the target hung for most of the run.
    run_time = 40
    with fs.FaultServer() as server:
        server.route("/ping", fs.sequence([*[OK] * 600, fs.hang()]))
        run = project.runpytest_subprocess(
            *gate_args(
                server.url,
                "--no-gate-ready",
                f"--gate-run-time={run_time}s",
                "--gate-users=4",
                "--gate-slo=GET /ping: p95 < 1s",
            ),
            timeout=SUBPROCESS_TIMEOUT,
        )
    assert run.ret == 1, run.stdout.str()
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert (result["verdict"], result["status"]) == ("fail", "aborted")
    assert result["abort"]["kind"] == "target"
    assert "no answer for" in result["target_down"]["error"]
    assert result["duration_s"] < run_time
