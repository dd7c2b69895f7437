"""Early decisions end to end: a load test stops as soon as its verdict is statistically sure.

Time bounds here are the configured run times: a run that stops early ends well inside
its run time, one that must not stop early runs all of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gatekit import (
    SUBPROCESS_TIMEOUT,
    CountingServer,
    StallingServer,
    gate_args,
    load_result,
)

if TYPE_CHECKING:
    pass

RUN_TIME_S = 60


def test_held_slos_pass_early_when_asked(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    run = project.runpytest_subprocess(
        *gate_args(
            counting_server.url,
            f"--gate-run-time={RUN_TIME_S}s",
            "--gate-users=4",
            "--gate-slo=GET /ping: p95 < 1s",
            "--gate-load-early-pass",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    run.assert_outcomes(passed=1)
    # The SLO, its scope's error-rate guard and the run-wide one.
    run.stdout.fnmatch_lines(["*passed early: all 3 SLOs are held with 98 % confidence*"])
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert (result["verdict"], result["status"]) == ("pass", "passed_early")
    assert result["abort"]["kind"] == "early_pass"
    assert result["duration_s"] < RUN_TIME_S / 2
    assert all("held early" in slo["reason"] for slo in result["slos"])


def test_no_false_early_pass_without_the_samples_the_verdict_needs(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    run_time = 6
    run = project.runpytest_subprocess(
        *gate_args(
            counting_server.url,
            f"--gate-run-time={run_time}s",
            "--gate-users=4",
            "--gate-slo=GET /ping: p95 < 1s",
            "--gate-min-samples=100000",
            "--gate-load-early-pass",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert run.ret == 11, run.stdout.str()
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert result["status"] == "completed"
    assert result["abort"] is None
    assert result["duration_s"] >= run_time - 1
    assert "fewer than the 100000 successful samples required" in " ".join(result["reasons"])


def test_no_false_early_pass_while_an_slo_cannot_be_decided_early(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    run_time = 6
    run = project.runpytest_subprocess(
        *gate_args(
            counting_server.url,
            f"--gate-run-time={run_time}s",
            "--gate-users=4",
            "--gate-slo=GET /ping: p95 < 1s",
            "--gate-slo=GET /ping: avg < 1s",  # judged at the end only
            "--gate-slo=GET /never: p95 < 1s",  # never requested
            "--gate-load-early-pass",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert run.ret == 11, run.stdout.str()
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert (result["status"], result["abort"]) == ("completed", None)
    assert result["duration_s"] >= run_time - 1
    run.stdout.fnmatch_lines(["*no requests recorded for 'GET /never'*"])


def test_a_lost_slo_stops_the_load_early_with_fail_and_the_grace_option_is_deprecated(
    project: pytest.Pytester,
) -> None:
    # Half of each second stalls: p95 is about 0.45 s, far from 100 ms, and no request fails.
    slow = StallingServer(stall_s=0.5, period_s=1.0)
    try:
        run = project.runpytest_subprocess(
            *gate_args(
                slow.url,
                "--no-gate-ready",
                f"--gate-run-time={RUN_TIME_S}s",
                "--gate-users=4",
                "--gate-slo=GET /ping: p95 < 100ms [abort]",
                "--gate-load-abort-grace=3s",
            ),
            timeout=SUBPROCESS_TIMEOUT,
        )
    finally:
        slow.stop()
    assert run.ret == 1, run.stdout.str()
    run.stdout.fnmatch_lines_random(
        [
            "*stopped early: GET /ping: p95 < 100ms [[]abort] is lost with 98 % confidence*",
            "*PytestDeprecationWarning: --gate-load-abort-grace is deprecated and has no effect*",
            "*PytestDeprecationWarning: [[]abort] on the load SLO*is no longer needed*",
        ]
    )
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert (result["verdict"], result["status"]) == ("fail", "aborted")
    assert result["abort"]["kind"] == "slo"
    assert result["duration_s"] < RUN_TIME_S / 2
    (p95,) = [s for s in result["slos"] if s["slo"]["statistic"] == "p95"]
    assert p95["verdict"] == "failed"
    assert "lost early:" in p95["reason"]
