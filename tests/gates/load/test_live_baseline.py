"""A live baseline for load: the same load against the target and the baseline, side by side."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

import faultserver as fs
from gatekit import (
    SUBPROCESS_TIMEOUT,
    CountingServer,
    gate_args,
    load_result,
)
from pytest_opsgate.gates.load.process import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

# The per-run state the lead's comparison reads, written out where the test can see it.
STORES_CONFTEST = """
import json
from pathlib import Path

from pytest_opsgate.run.state import get_state

def pytest_sessionfinish(session):
    state = get_state(session.config)
    stores = {
        "target": {gate: store.to_dict() for gate, store in state.stores.items()},
        "baseline": {gate: store.to_dict() for gate, store in state.baseline_stores.items()},
    }
    Path("stores.json").write_text(json.dumps(stores))
"""


@pytest.fixture
def project(project: pytest.Pytester) -> pytest.Pytester:
    """The ping project, with a conftest that exposes the run's stores."""
    project.makeconftest(STORES_CONFTEST)
    return project


@pytest.fixture
def servers() -> Iterator[tuple[CountingServer, CountingServer]]:
    target, baseline = CountingServer(), CountingServer()
    yield target, baseline
    target.stop()
    baseline.stop()


def _requests(store: dict[str, object]) -> int:
    return sum(int(series["requests"]) for series in store["series"])  # type: ignore[index]


# The open model keeps a schedule: on a machine shared with other tests' load, a few late
# arrivals make the run an ERROR ("fell behind"), as they should, so it runs alone.
@pytest.mark.parametrize("model", ["closed", pytest.param("open", marks=pytest.mark.serial)])
def test_the_same_load_runs_against_a_live_baseline_at_half_each(
    project: pytest.Pytester, servers: tuple[CountingServer, CountingServer], model: str
) -> None:
    target, baseline = servers
    load = ["--gate-users=4"] if model == "closed" else ["--gate-load-rate=40"]
    run = project.runpytest_subprocess(
        *gate_args(
            target.url,
            f"--gate-baseline-url={baseline.url}",
            "--gate-run-time=3s",
            "--gate-slo=GET /ping: p95 < 5s",
            *load,
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    run.assert_outcomes(passed=1)
    half = "2 users" if model == "closed" else "arrivals 20/s"
    run.stdout.fnmatch_lines(
        [f"*load locustfiles/ping.py: *{half}*; the same against the live baseline {baseline.url}"]
    )
    stores = json.loads((project.path / "stores.json").read_text())
    measured_target = _requests(stores["target"]["load"])
    measured_baseline = _requests(stores["baseline"]["load"])
    assert measured_target > 0
    assert measured_baseline > 0
    # Side by side and alike: neither target got the lion's share of the load.
    assert 0.5 < measured_baseline / measured_target < 2, (measured_target, measured_baseline)
    assert baseline.counts["/ping"] >= measured_baseline
    if model == "open":
        result = load_result(project.path / "gate-artifacts", "ping.py")
        assert result["model"]["rate"] == 20.0
    baseline_files = project.path / "gate-artifacts" / "locustfiles-ping.py-load" / "baseline"
    assert (baseline_files / "opsgate-result.json").is_file()
    gate = json.loads((project.path / "gate-artifacts" / "gate.json").read_text())
    assert any("the live baseline" in note and "side by side" in note for note in gate["notes"])


def test_a_baseline_that_cannot_be_measured_is_an_error_never_a_quiet_pass(
    project: pytest.Pytester, servers: tuple[CountingServer, CountingServer]
) -> None:
    target, _baseline = servers
    nobody = f"http://127.0.0.1:{free_port()}"
    run = project.runpytest_subprocess(
        *gate_args(
            target.url,
            f"--gate-baseline-url={nobody}",
            "--gate-run-time=3s",
            "--gate-users=4",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert run.ret == 11, run.stdout.str()
    run.stdout.fnmatch_lines(
        [f"*the live baseline {nobody} could not be measured, so nothing can be compared*"]
    )
    stores = json.loads((project.path / "stores.json").read_text())
    assert stores["baseline"] == {}
    assert target.counts["/ping"] > 0


def test_a_non_loopback_baseline_is_refused_before_any_request(
    project: pytest.Pytester, servers: tuple[CountingServer, CountingServer]
) -> None:
    target, _baseline = servers
    run = project.runpytest_subprocess(
        *gate_args(target.url, "--gate-baseline-url=http://203.0.113.9:8080", "--collect-only")
    )
    assert run.ret == 4
    run.stderr.fnmatch_lines(["*refusing to send load to '203.0.113.9'*--gate-allow-host*"])
    assert target.total() == 0


def test_an_early_pass_is_refused_beside_a_live_baseline(
    project: pytest.Pytester, servers: tuple[CountingServer, CountingServer]
) -> None:
    target, baseline = servers
    run = project.runpytest_subprocess(
        *gate_args(
            target.url,
            f"--gate-baseline-url={baseline.url}",
            "--gate-load-early-pass",
            "--collect-only",
        )
    )
    assert run.ret == 4
    run.stderr.fnmatch_lines(
        ["*--gate-load-early-pass and --gate-baseline-url exclude each other*drop one of them*"]
    )
    assert target.total() == 0
    assert baseline.total() == 0


def test_a_baseline_that_answers_errors_makes_the_comparison_an_error_not_a_pass(
    project: pytest.Pytester, servers: tuple[CountingServer, CountingServer]
) -> None:
    # Fast 500s would make any candidate look slow, or a slow candidate look fine.
    target, _baseline = servers
    with fs.FaultServer() as broken:
        broken.route("/ping", fs.json({"error": "boom"}, status=500))
        run = project.runpytest_subprocess(
            *gate_args(
                target.url,
                f"--gate-baseline-url={broken.url}",
                "--gate-run-time=3s",
                "--gate-users=2",
            ),
            timeout=SUBPROCESS_TIMEOUT,
        )
        answered = len(broken.requests_for("/ping"))
    assert run.ret == 11, run.stdout.str()
    run.stdout.fnmatch_lines([f"*the live baseline {broken.url} failed * requests to*"])
    assert answered > 0
    assert target.counts["/ping"] > 0
