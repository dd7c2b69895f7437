"""False passes found by hunting the gate: each test drives a real gate run on loopback and
asserts the verdict a fail-closed gate owes. Each one fails on the main it was written against.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from faultserver import FaultServer, delay, hang, redirect
from faultserver import json as json_body
from gatekit import MARGIN_S, OK, Gate, GateRun, assert_verdict, serve_marked

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer


# A canary test as the README and tests/run/test_finish.py write it: sample, let the gate judge.
CANARY = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_slo):
    gate_slo.sample("/api/public/items", n=40)
"""


def not_pass(run: GateRun) -> None:
    """The run did not end in PASS (exit 0), whatever else it said."""
    __tracebackhide__ = True
    assert run.result.ret != 0, run.output
    assert run.report["verdict"] != "PASS"


# 1. A live baseline that is the candidate itself compares the deploy with itself.


@pytest.mark.parametrize("spelling", ["same", "localhost"])
def test_a_live_baseline_at_the_candidates_own_url_is_not_a_comparison(
    gate: Gate, demo: DemoServer, spelling: str
) -> None:
    gate.pytester.makepyfile(CANARY)
    baseline = demo.url if spelling == "same" else demo.url.replace("127.0.0.1", "localhost")
    result = gate.pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-baseline-url={baseline}"
    )
    # Whatever the deploy does, it is compared with itself: that proves nothing.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is the target itself*pass the URL of the stable version*"])


# 2. A saved baseline that is the gate.json of a failed run ratchets a regression in.

SLOW_ITEMS = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_client):
    for _ in range(40):
        assert gate_client.get("/api/public/items").status_code == 200
"""


def test_the_gate_json_of_a_failed_run_is_not_a_baseline(
    gate: Gate, fresh_demo: DemoServer
) -> None:
    gate.pytester.makepyfile(SLOW_ITEMS)
    good = gate.pytester.path / "good.json"
    assert_verdict(gate.run(fresh_demo.url, f"--gate-save-baseline={good}"), "PASS", 0)
    fresh_demo.options.latency_ms = 60  # the next deploy is slower
    slow = gate.run(fresh_demo.url, f"--gate-baseline={good}")
    assert_verdict(slow, "FAIL", 1)
    # The README offers <artifacts>/gate.json as a baseline; this one records a FAIL, and
    # the same slow deploy, compared with it, "did not move".
    again = gate.run(fresh_demo.url, f"--gate-baseline={slow.artifacts / 'gate.json'}")
    not_pass(again)


# 3. The judge counts a 4xx/3xx answer as a success: a deploy whose every answer is a fast
# redirect to the login page, or a 404, "got faster" than its healthy baseline.


@pytest.mark.parametrize("broken", ["login redirect", "not found"])
def test_a_candidate_answering_redirects_or_404s_does_not_pass_a_canary_comparison(
    gate: Gate, server: FaultServer, demo: DemoServer, broken: str
) -> None:
    server.route("/api/health/", OK)
    if broken == "login redirect":
        server.route("/api/public/items", redirect("/login?next=/api/public/items"))
    # else: the route is missing: 404
    gate.pytester.makepyfile(CANARY)
    run = gate.run(server.url, f"--gate-baseline-url={demo.url}")
    not_pass(run)


def test_a_candidate_answering_404_does_not_pass_a_saved_baseline(
    gate: Gate, server: FaultServer, demo: DemoServer
) -> None:
    gate.pytester.makepyfile(CANARY)
    good = gate.pytester.path / "good.json"
    assert_verdict(gate.run(demo.url, f"--gate-save-baseline={good}"), "PASS", 0)
    server.route("/api/health/", OK)  # /api/public/items is gone: 404
    run = gate.run(server.url, f"--gate-baseline={good}")
    not_pass(run)


# 4. A smoke check that follows redirects is timed on its last hop only.


def test_a_checks_latency_covers_every_hop_it_followed(gate: Gate, server: FaultServer) -> None:
    server.route("/api/health/", OK)
    server.route("/account", delay(0.6, redirect("/home")))  # the slow hop
    server.route("/home", json_body({"ok": True}))  # the fast one
    gate.checks(
        """
        [[checks]]
        path = "/account"
        follow_redirects = true
        latency = "300ms"

        [[checks]]
        name = "repeated"
        path = "/account"
        follow_redirects = true
        repeat = 3
        slo = ["p95 < 300ms"]
        """
    )
    run = gate.run(server.url)
    # A user waits 0.6 s for /account; both budgets are 0.3 s.
    assert_verdict(run, "FAIL", 1)
    assert {t["verdict"] for t in run.report["tests"]} == {"FAIL"}


# 5. A test (or a fixture, or a plugin) that ends the session with pytest.exit(returncode=0).


def test_pytest_exit_with_code_zero_mid_run_is_not_a_pass(gate: Gate, demo: DemoServer) -> None:
    gate.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_health(gate_client):
            assert gate_client.get("/api/health/").status_code == 200

        @pytest.mark.gate("smoke")
        def test_maintenance_window(gate_client):
            pytest.exit("maintenance window, nothing more to check", returncode=0)

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    run = gate.run(demo.url)
    # Two of the three selected tests never ran to a verdict.
    not_pass(run)


# 6. --gate-serve-cmd: the served process died, and something else answered for it.


def _kill_marked(marker: str) -> None:
    for pid in serve_marked(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _demo_cmd(port: int, marker: str, *, wrap: str = "") -> str:
    demo = f"{sys.executable} -m pytest_opsgate.demo --port {port}"
    return f"OPSGATE_SERVE_MARK={marker} {wrap}{demo}"


def test_serve_cmd_does_not_test_an_old_instance_that_holds_the_port(
    gate: Gate, server: FaultServer
) -> None:
    # An old instance holds the port. Its home page is slow, so the 2 s "does something
    # answer?" probe times out and takes it for nobody; its health path and API are fine.
    # The new build then cannot bind (it exits 1) and the gate measures the old one.
    server.route("/", hang())
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"items": []}))
    gate.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    marker = f"hunt-{time.monotonic_ns()}"
    try:
        run = gate.run(server.url, f"--gate-serve-cmd={_demo_cmd(server.port, marker)}")
    finally:
        _kill_marked(marker)
    not_pass(run)


def test_a_serve_command_that_daemonizes_leaves_nothing_running(gate: Gate) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gate.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    marker = f"hunt-{time.monotonic_ns()}"
    # `setsid ... &`: what `gunicorn --daemon`, `nginx` or a `start.sh` that backgrounds does.
    serve = f"{_demo_cmd(port, marker, wrap='setsid ')} >/dev/null 2>&1 &"
    try:
        run = gate.run(f"http://127.0.0.1:{port}", f"--gate-serve-cmd={serve}")
        deadline = time.monotonic() + 5
        while serve_marked(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = serve_marked(marker)
    finally:
        _kill_marked(marker)
    assert left == [], f"the served demo outlived the run ({run.report['verdict']})"


# 7. Listing the tests or fixtures is not a gate run: no verdict hook, no stop command.


@pytest.mark.parametrize("mode", ["--collect-only", "--fixtures"])
def test_listing_runs_no_rollback_and_keeps_the_last_evidence(
    gate: Gate, demo: DemoServer, mode: str
) -> None:
    gate.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    marker = gate.pytester.path / "hooks.txt"
    # Hooks as a pipeline keeps them, in the ini file, so every invocation has them.
    gate.pytester.makeini(
        f"""
        [pytest]
        opsgate_on_fail = echo rollback >> {marker}
        opsgate_stop_cmd = echo stop >> {marker}
        """
    )
    artifacts = gate.pytester.path / "evidence"
    args = [f"--gate-artifacts={artifacts}", "-p", "no:cacheprovider"]
    first = gate.pytester.runpytest("--gate=smoke", f"--base-url={demo.url}", *args)
    assert first.ret == 0
    assert json.loads((artifacts / "gate.json").read_text())["verdict"] == "PASS"
    marker.unlink()
    listed = gate.pytester.runpytest("--gate=smoke", f"--base-url={demo.url}", mode, *args)
    # Listing sent nothing worth judging: no rollback, no stop command, and the evidence of
    # the last real run stays where the upload step looks for it.
    assert not marker.exists(), marker.read_text()
    assert json.loads((artifacts / "gate.json").read_text())["verdict"] == "PASS"
    assert listed.ret == 0, listed.stdout.str()


# 8. Modes in which pytest reports tests as passed without running their bodies.


@pytest.mark.parametrize("mode", ["--setup-plan", "--setup-only"])
def test_modes_that_do_not_run_test_bodies_never_pass(
    gate: Gate, server: FaultServer, mode: str
) -> None:
    server.route("/api/health/", OK)  # /api/public/items is broken: 404
    gate.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    marker = gate.pytester.path / "promoted.txt"
    result = gate.pytester.runpytest(
        "--gate=smoke", f"--base-url={server.url}", mode, f"--gate-on-pass=echo promote > {marker}"
    )
    assert not marker.exists(), "the on-pass hook promoted a deploy whose test never ran"
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--setup-only and --setup-plan run no test body*"])


# 9. A baseline file whose counts cannot be true, or that vouches for nothing.


def _edit_baseline(path: Path, **fields: int) -> None:
    doc = json.loads(path.read_text())
    for entry in doc["endpoints"]:
        entry.update(fields)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "fields", [{"failures": -1}, {"requests": 0}, {"requests": 10**9}], ids=str
)
def test_a_baseline_with_impossible_counts_is_an_error_naming_the_file(
    gate: Gate, demo: DemoServer, fields: dict[str, int]
) -> None:
    gate.pytester.makepyfile(CANARY)
    saved = gate.pytester.path / "saved.json"
    assert_verdict(gate.run(demo.url, f"--gate-save-baseline={saved}"), "PASS", 0)
    _edit_baseline(saved, **fields)
    run = gate.run(demo.url, f"--gate-baseline={saved}")
    assert_verdict(run, "ERROR", 11)
    assert "saved.json" in run.reasons()


def test_a_baseline_that_failed_every_request_vouches_for_no_failing_candidate(
    gate: Gate, demo: DemoServer, server: FaultServer
) -> None:
    gate.pytester.makepyfile(CANARY)
    saved = gate.pytester.path / "saved.json"
    assert_verdict(gate.run(demo.url, f"--gate-save-baseline={saved}"), "PASS", 0)
    _edit_baseline(saved, failures=40)  # every request of the baseline failed
    server.route("/api/health/", OK)
    server.route("/api/public/items", json_body({"error": "db down"}, status=500))
    run = gate.run(server.url, f"--gate-baseline={saved}")
    # The candidate fails every request; "no worse than a baseline that failed them all"
    # is not evidence of a good deploy.
    not_pass(run)


# 10. A run-wide SLO over gate_slo samples counts a 404 as a success, while the sample
# itself counts it as a failure.


def test_a_run_slo_over_samples_that_all_answered_404_does_not_pass(
    gate: Gate, server: FaultServer
) -> None:
    server.route("/api/health/", OK)  # /api/public/items is gone: 404, fast
    gate.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_slo):
            sample = gate_slo.sample("/api/public/items", n=20)
            assert sample.error_rate == 1.0  # the sample knows: every request failed
        """
    )
    run = gate.run(server.url, "--gate-slo=GET /api/public/items: p95 < 500ms")
    assert_verdict(run, "FAIL", 1)


# 11. A run killed before it wrote gate.json (the CI job's SIGKILL, the OOM killer) leaves
# its own evidence behind, and every later run refuses the folder as "not ours".


def test_the_folder_of_a_killed_run_does_not_block_every_later_run(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.gate("smoke")
        def test_a_broken(gate_client):
            assert gate_client.get("/missing").status_code == 200  # evidence is written

        @pytest.mark.gate("smoke")
        def test_b_slow(gate_client):
            print("KILL ME NOW", flush=True)
            time.sleep(60)
        """
    )
    artifacts = pytester.path / "evidence"
    argv = [
        sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "--gate=smoke",
        f"--base-url={demo.url}", f"--gate-artifacts={artifacts}", "--gate-keep-going",
    ]  # fmt: skip
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:schemathesis -p no:hypothesispytest"}
    proc = subprocess.Popen(
        argv,
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "KILL ME NOW" in line:
                break
        proc.kill()
    finally:
        proc.kill()
        proc.communicate(timeout=MARGIN_S)
    assert any(artifacts.rglob("exchanges.txt")), "the killed run wrote evidence"
    assert not (artifacts / "gate.json").exists()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    again = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-artifacts={artifacts}"
    )
    assert again.ret == 0, again.stdout.str() + again.stderr.str()


# 12. --gate-serve-cmd with --no-gate-ready: the tests race the server's start.


def test_serve_cmd_without_readiness_does_not_fail_a_good_build(pytester: pytest.Pytester) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    marker = f"hunt-{time.monotonic_ns()}"
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    rollback = pytester.path / "rollback.txt"
    serve = _demo_cmd(port, marker) + " --startup-delay 0.5"
    try:
        result = pytester.runpytest(
            "--gate=smoke",
            f"--base-url=http://127.0.0.1:{port}",
            f"--gate-serve-cmd={serve}",
            "--no-gate-ready",
            f"--gate-on-fail=echo rollback > {rollback}",
        )
    finally:
        _kill_marked(marker)
    # A good build, started by the gate itself, must not be rolled back because the gate
    # sent its first request before the server listened (refuse the pair, or wait for it).
    assert not rollback.exists(), result.stdout.str()
    assert result.ret in (0, pytest.ExitCode.USAGE_ERROR), result.stdout.str()


# 13. A target that never became ready is exit 10 (retry later), baseline or not.


def test_not_ready_stays_exit_10_with_a_baseline(pytester: pytest.Pytester) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
        """
    )
    baseline = pytester.path / "baseline.json"
    baseline.write_text(json.dumps({"schema_version": 1, "verdict": "PASS", "endpoints": []}))
    plain = pytester.runpytest("--gate=smoke", f"--base-url={dead}", "--gate-ready-timeout=0.5")
    assert plain.ret == 10
    compared = pytester.runpytest(
        "--gate=smoke",
        f"--base-url={dead}",
        "--gate-ready-timeout=0.5",
        f"--gate-baseline={baseline}",
    )
    assert compared.ret == 10, compared.stdout.str()


# 14. A live baseline that answers every sample with a redirect (http -> https, a moved
# host) is a fast baseline of nothing: it makes any healthy canary "slower".


def test_a_live_baseline_that_only_redirects_is_an_error_not_a_regression(
    gate: Gate, fresh_demo: DemoServer, server: FaultServer
) -> None:
    server.route("/api/public/items", redirect("https://stable.invalid/api/public/items", 301))
    fresh_demo.options.latency_ms = 20  # a healthy canary that does real work
    gate.pytester.makepyfile(CANARY)
    run = gate.run(fresh_demo.url, f"--gate-baseline-url={server.url}")
    assert_verdict(run, "ERROR", 11)


def test_a_baseline_inside_the_artifacts_folder_is_refused(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(CANARY)
    inside = pytester.path / "gate-artifacts" / "gate.json"
    first = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}")
    assert first.ret == 0
    assert inside.is_file()
    # Each run moves the folder aside first, so this baseline would vanish under the run.
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-baseline={inside}"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is inside --gate-artifacts*keep baselines outside it*"])


def test_saving_over_the_compared_baseline_warns_of_the_drift(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(CANARY)
    saved = pytester.path / "main.json"
    assert (
        pytester.runpytest(
            "--gate=smoke", f"--base-url={demo.url}", f"--gate-save-baseline={saved}"
        ).ret
        == 0
    )
    again = pytester.runpytest(
        "--gate=smoke",
        f"--base-url={demo.url}",
        f"--gate-baseline={saved}",
        f"--gate-save-baseline={saved}",
    )
    again.stdout.fnmatch_lines(
        ["*--gate-save-baseline overwrites the baseline this run is compared with*"]
    )
