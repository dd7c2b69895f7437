"""An early PASS only once the configured load is fully applied."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gatekit import (
    SUBPROCESS_TIMEOUT,
    CountingServer,
    gate_args,
    load_result,
)

if TYPE_CHECKING:
    pass


def test_no_early_pass_before_every_user_is_running(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    users = 12
    run = project.runpytest_subprocess(
        *gate_args(
            counting_server.url,
            "--gate-run-time=30s",
            f"--gate-users={users}",
            "--gate-spawn-rate=1",  # 12 s to reach the load the gate is asked to judge
            "--gate-slo=GET /ping: p95 < 1s",
            "--gate-load-early-pass",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    # Before the fix: PASS early at t=7 s with 7 of the 12 users started.
    run.assert_outcomes(passed=1)
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert result["peak_users"] == users
