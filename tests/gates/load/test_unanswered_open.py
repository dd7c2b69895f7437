"""Open-model arrivals left unanswered count against the SLOs of the endpoint they waited on."""

from __future__ import annotations

import pytest

import faultserver as fs
from gatekit import PING_LOCUSTFILE, SUBPROCESS_TIMEOUT, add_locustfile, gate_args, load_result

OK = fs.json({"status": "ok"})


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\n")
    add_locustfile(pytester, "ping.py", PING_LOCUSTFILE)
    return pytester


@pytest.mark.serial  # the open model keeps a schedule: alone, so lateness is the target's
def test_hanging_arrivals_break_the_error_guard_of_their_endpoint(project: pytest.Pytester) -> None:
    # Every 10th request never answers; the run-wide error budget is generous on purpose.
    # Before the fix the unanswered arrivals were failures of their own scope only, and
    # GET /ping passed its p95 and its error guard on the answered nine tenths.
    with fs.FaultServer() as server:
        server.route("/ping", fs.flap([*[OK] * 9, fs.hang()]))
        run = project.runpytest_subprocess(
            *gate_args(
                server.url,
                "--no-gate-ready",
                "--gate-run-time=5s",
                "--gate-load-rate=40",
                "--gate-slo=GET /ping: p95 < 1s",
                "--gate-slo=error_rate < 50%",
            ),
            timeout=SUBPROCESS_TIMEOUT,
        )
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert run.ret == 1, run.stdout.str()
    guard = [s for s in result["slos"] if s["slo"]["text"] == "GET /ping: error_rate < 1%"]
    assert [s["verdict"] for s in guard] == ["failed"]
