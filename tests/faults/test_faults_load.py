"""The hostile-target corpus, load rows F22-F30 of FAULTS.md, run through the real gate.

One test per row (a row with two targets has two). Every run is a real subprocess: Locust
runs in children of the gate, and the gate itself is signalled, crashed or hung here. Each
test asserts the verdict in gate.json and on the VERDICT line, the exit code, the message's
key words and an upper bound on wall time taken from the configured limits (run time, worker
wait, the watchdog's grace) plus a generous margin, the same way tests/test_faults.py does
for F1-F21. Rows whose target can leave processes behind also check that no process started
by the run survives it: every run carries a unique marker in its environment, which Locust
masters, Locust workers and xdist workers inherit, and /proc is searched for it afterwards.
docs/reliability.md maps rows to these names (benchmarks/reliability_table.py regenerates it).
"""

from __future__ import annotations

import contextlib
import datetime
import json as _json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from faultserver import FaultServer, flap, json
from gatekit import (
    IDLE_LOCUSTFILE,
    MARGIN_S,
    OK,
    PING_LOCUSTFILE,
    SUBPROCESS_TIMEOUT,
    CountingServer,
    Gate,
    GateRun,
    add_locustfile,
    assert_verdict,
    burn_locustfile,
    gate_args,
    load_result,
    non_loopback_address,
    proc_table,
)
from pytest_opsgate.gates.load.process import STOP_WAIT_S, WATCHDOG_GRACE_S, free_port
from pytest_opsgate.gates.load.recorder import DOWN_AFTER_S

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytest_opsgate.demo import DemoServer


MARKER_ENV = "FAULTS_LOAD_MARKER"  # not OPSGATE_*: the gate reads those as options
LAUNCH_MODULE = b"pytest_opsgate.gates.load.launch"


@pytest.fixture
def gate(pytester: pytest.Pytester) -> Gate:
    pytester.makeini("[pytest]\n")  # the pytester folder is the rootdir
    return Gate(pytester)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        s.route("/healthz", OK)
        s.route("/ping", json({"pong": True}))
        yield s


@pytest.fixture
def marker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A value in the environment of every process the gate run starts, to find survivors."""
    value = uuid.uuid4().hex
    monkeypatch.setenv(MARKER_ENV, value)
    yield value
    # A failed test must not leave its processes to the next one; they are this test's own.
    for pid in marked_processes(value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def marked_processes(marker: str) -> dict[int, int]:
    """pid -> parent pid of live processes (not zombies) whose environment holds ``marker``."""
    wanted = f"{MARKER_ENV}={marker}".encode()
    return {
        pid: ppid
        for pid, (ppid, environ) in proc_table("environ").items()
        if wanted in environ.split(b"\0")
    }


def survivors(marker: str, grace_s: float = 10.0) -> dict[int, int]:
    """Marked processes still alive after ``grace_s``: exiting children get time to go."""
    deadline = time.monotonic() + grace_s
    found = marked_processes(marker)
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = marked_processes(marker)
    return found


def command_line(pid: int) -> bytes:
    """A process's command line, or nothing once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def locust_workers(marker: str) -> list[int]:
    """Locust worker processes of the marked run: launched Locust processes forked by another."""
    procs = marked_processes(marker)
    launched = {pid for pid in procs if LAUNCH_MODULE in command_line(pid)}
    return sorted(pid for pid in launched if procs[pid] in launched)


def load_run(gate: Gate, url: str, *args: str) -> GateRun:
    return gate.run(url, "--gate-ready-path=/healthz", *args, gate="load", subprocess=True)


def when(condition: Callable[[], bool], action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` on a thread as soon as ``condition`` holds (polled; bounded)."""

    def watch() -> None:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- F22


def test_F22_five_percent_failed_requests_fail_the_error_rate_slo(
    gate: Gate, server: FaultServer
) -> None:
    # Every 20th request is a 500: exactly 5 %, whatever the request rate.
    failing = json({"error": "upstream timeout"}, status=500)
    server.route("/ping", flap([*[json({"pong": True})] * 19, failing]))
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    run_time = 6
    run = load_run(
        gate,
        server.url,
        f"--gate-run-time={run_time}s",
        "--gate-users=3",
        "--gate-slo=error_rate < 1%",
    )
    assert_verdict(run, "FAIL", 1)
    reason = run.test_reason("ping.py")
    assert "load locustfiles/ping.py: FAIL" in reason
    assert "error_rate" in reason
    assert "not < 1.00%" in reason
    run.result.stdout.fnmatch_lines(["*all*error_rate*%*< 1 %*FAILED*"])
    result = load_result(run.artifacts, "ping.py")
    (slo,) = [s for s in result["slos"] if not s["slo"]["guard"]]
    assert slo["verdict"] == "failed"
    assert 0.03 <= slo["measured"] <= 0.06  # 1 in 20, give or take the requests cut off
    total = next(row for row in result["endpoints"] if row["scope"] == "all")
    assert total["failures"] > 0
    # Once 1 % cannot be reached any more, the broken deploy is not hammered to the end.
    assert result["status"] == "aborted"
    assert result["abort"]["kind"] == "slo"
    assert result["duration_s"] < run_time
    assert run.elapsed_s < run_time + WATCHDOG_GRACE_S + MARGIN_S


# --------------------------------------------------------------------------- F23

ALL_FAIL_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

SLOS = ["GET /broken: p95 < 1s"]

class Broken(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def broken(self):
        self.client.get("/broken")
"""

TYPO_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

SLOS = ["GET /api/itemz: p95 < 1s"]

class Reader(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def items(self):
        self.client.get("/api/items")
"""


def test_F23_F33_no_successful_sample_is_never_a_pass(gate: Gate, server: FaultServer) -> None:
    server.route("/broken", json({"error": "boom"}, status=500))
    server.route("/api/items", json({"items": []}))
    add_locustfile(gate.pytester, "idle.py", IDLE_LOCUSTFILE)
    add_locustfile(gate.pytester, "all_fail.py", ALL_FAIL_LOCUSTFILE)
    add_locustfile(gate.pytester, "typo.py", TYPO_LOCUSTFILE)
    run_time = 2
    run = load_run(gate, server.url, f"--gate-run-time={run_time}s", "--gate-users=2")
    # Every request failing is a definite failure: FAIL outranks what could not be measured.
    assert_verdict(run, "FAIL", 1)
    run.result.assert_outcomes(failed=3)
    assert " PASS" not in run.test_reason("idle.py")
    # No request at all: nothing was measured (ERROR).
    assert "insufficient samples: no request was sent" in run.test_reason("idle.py")
    # Requests, every one of them failed: the latency SLO has nothing to judge (its row is an
    # error), and the error-rate guard a latency SLO always brings fails the run (F33).
    all_fail = run.test_reason("all_fail.py")
    assert "load locustfiles/all_fail.py: FAIL" in all_fail
    assert "GET /broken: error_rate < 1%" in all_fail
    p95 = next(s for s in run.report["slos"] if s["expression"] == "GET /broken: p95 < 1s")
    assert "succeeded, so latency was not measured" in p95["reason"]
    # An SLO naming an endpoint that never got a request.
    typo = run.test_reason("typo.py")
    assert "no requests recorded for 'GET /api/itemz' (did you mean 'GET /api/items'?)" in typo
    assert len(server.requests_for("/broken")) > 0
    assert len(server.requests_for("/api/items")) > 0
    for name in ("idle.py", "typo.py"):
        result = load_result(run.artifacts, name)
        assert (result["verdict"], result["exit_code"], result["error_kind"]) == (
            "error",
            11,
            "samples",
        )
    broken = load_result(run.artifacts, "all_fail.py")
    assert (broken["verdict"], broken["exit_code"]) == ("fail", 1)
    by_text = {slo["expression"]: slo["verdict"] for slo in run.report["slos"]}
    assert by_text["GET /broken: p95 < 1s"] == "error"
    assert by_text["GET /broken: error_rate < 1%"] == "failed"
    assert "passed" not in {v for k, v in by_text.items() if "broken" in k or "itemz" in k}
    assert run.elapsed_s < 3 * (run_time + WATCHDOG_GRACE_S) + MARGIN_S


# --------------------------------------------------------------------------- F24

# One task fires a whole cycle of 20 latencies, so the sample count is a multiple of 20 and
# the nearest-rank p95 is exactly the 19th value, 190 ms. Interpolating percentiles would
# report 190.5 ms: more than 0.1 % away, another bucket, and then "<= 190ms" would fail.
EXACT_LOCUSTFILE = """
from locust import User, constant, task

LATENCIES_MS = [10.0 * i for i in range(1, 21)]

class Exact(User):
    wait_time = constant(0.05)

    @task
    def cycle(self):
        for ms in LATENCIES_MS:
            self.environment.events.request.fire(
                request_type="GET", name="/api/exact", response_time=ms,
                response_length=0, exception=None, context={},
            )
"""
EXACT_P95_MS = 190.0


@pytest.mark.parametrize(
    ("op", "verdict", "exit_code"),
    [("<=", "PASS", 0), ("<", "FAIL", 1)],
    ids=["le_passes", "lt_fails"],
)
def test_F24_p95_exactly_on_the_budget_follows_the_comparator(
    gate: Gate, demo: DemoServer, op: str, verdict: str, exit_code: int
) -> None:
    add_locustfile(gate.pytester, "exact.py", EXACT_LOCUSTFILE)
    slo = f"GET /api/exact: p95 {op} {EXACT_P95_MS:g}ms"
    run_time = 2
    run = gate.run(
        demo.url,
        f"--gate-run-time={run_time}s",
        "--gate-users=2",
        f"--gate-slo={slo}",
        gate="load",
        subprocess=True,
    )
    assert_verdict(run, verdict, exit_code)
    (result_slo,) = [
        s for s in load_result(run.artifacts, "exact.py")["slos"] if not s["slo"]["guard"]
    ]
    assert result_slo["samples"] > 0
    assert result_slo["samples"] % 20 == 0
    # The measured value is the budget's own bucket at the histogram's 0.1 % resolution.
    assert abs(result_slo["measured"] - EXACT_P95_MS) <= EXACT_P95_MS * 0.001
    assert "(equal to the budget at the histogram's 0.1 % resolution)" in result_slo["reason"]
    (reported,) = [s for s in run.report["slos"] if not s["guard"]]
    assert reported["verdict"] == ("passed" if op == "<=" else "failed")
    if op == "<":
        assert "p95 190 ms is not < 190 ms" in run.test_reason("exact.py")
    run.result.stdout.fnmatch_lines(
        [f"*GET /api/exact*p95*190 ms*{op} 190 ms*{'PASSED' if op == '<=' else 'FAILED'}*"]
    )
    assert run.elapsed_s < run_time + WATCHDOG_GRACE_S + MARGIN_S


# --------------------------------------------------------------------------- F25


def test_F25_target_dying_mid_load_fails_stops_early_and_records_the_time(
    gate: Gate, server: FaultServer
) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    run_time = 20
    # Die one second into the load, wherever the run's start-up left it.
    watcher = when(
        lambda: len(server.requests_for("/ping")) > 0, lambda: server.stop_listening_after(1.0)
    )
    # A latency SLO only: no error-rate budget gives up first, the death itself must stop it.
    run = load_run(
        gate,
        server.url,
        f"--gate-run-time={run_time}s",
        "--gate-users=2",
        "--gate-slo=GET /ping: p95 < 1s",
    )
    watcher.join(timeout=5)
    assert server.died_at is not None
    died_wall = time.time() - (time.monotonic() - server.died_at)
    assert_verdict(run, "FAIL", 1)
    reason = run.test_reason("ping.py")
    assert "load locustfiles/ping.py: FAIL" in reason
    assert "target stopped answering at t=" in reason
    result = load_result(run.artifacts, "ping.py")
    down = result["target_down"]
    # Recorded when it happened: not before the death, and within the detection delay.
    assert died_wall - 0.25 <= down["at_wall"] <= died_wall + DOWN_AFTER_S
    assert down["last_success_s"] <= down["at_s"]
    when_died = datetime.datetime.fromtimestamp(down["at_wall"], datetime.timezone.utc)
    run.result.stdout.fnmatch_lines(
        [f"*target died at {when_died.isoformat(timespec='milliseconds')}*"]
    )
    assert result["status"] == "aborted"
    assert result["abort"]["kind"] == "target"
    assert result["duration_s"] < run_time / 2  # stopped early, not at the end of the run
    assert run.elapsed_s < run_time + WATCHDOG_GRACE_S + MARGIN_S


# --------------------------------------------------------------------------- F26


def test_F26_saturated_generator_is_an_error_not_a_service_failure(
    gate: Gate, demo: DemoServer
) -> None:
    # The task busy-waits: the generator's CPU, not the service, makes the latency, so the
    # SLO "fails" on numbers that say nothing about the service.
    add_locustfile(gate.pytester, "burn.py", burn_locustfile("burn: p95 < 100ms"))
    run_time = 5  # the CPU monitor needs two busy two-second samples
    run = gate.run(
        demo.url, f"--gate-run-time={run_time}s", "--gate-users=3", gate="load", subprocess=True
    )
    assert_verdict(run, "ERROR", 11)
    reason = run.test_reason("burn.py")
    assert "load locustfiles/burn.py: ERROR" in reason
    run.result.stdout.fnmatch_lines(["*load generator saturated*not trustworthy*"])
    result = load_result(run.artifacts, "burn.py")
    assert result["cpu"]["saturated"] is True
    assert result["error_kind"] == "saturation"
    # The latency SLO broke on numbers that are the generator's: not trusted, so an error,
    # never a definite failure of the service (which would outrank the error).
    (slo,) = [s for s in result["slos"] if not s["slo"]["guard"]]
    assert slo["verdict"] == "error"
    assert "not trusted: the load generator was saturated" in slo["reason"]
    assert run.elapsed_s < run_time + WATCHDOG_GRACE_S + MARGIN_S


# --------------------------------------------------------------------------- F27


def test_F27_expected_worker_never_connecting_is_an_error_after_a_bounded_wait(
    gate: Gate, server: FaultServer, marker: str
) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    wait_s, run_time = 2, 2
    run = load_run(
        gate,
        server.url,
        f"--gate-run-time={run_time}s",
        "--gate-load-expect-workers=1",
        f"--gate-load-bind=127.0.0.1:{free_port()}",
        f"--gate-load-workers-wait={wait_s}s",
    )
    assert_verdict(run, "ERROR", 11)
    reason = run.test_reason("ping.py")
    assert "expected 1 load worker(s), 0 connected within 2 s" in reason
    assert "locust --worker --master-host" in reason  # the fix
    assert load_result(run.artifacts, "ping.py")["error_kind"] == "workers"
    assert server.requests_for("/ping") == []
    assert survivors(marker) == {}  # the master that waited is gone too
    assert run.elapsed_s < wait_s + run_time + WATCHDOG_GRACE_S + MARGIN_S


def kill_a_worker_under_load(
    server: FaultServer, marker: str, sig: signal.Signals
) -> tuple[threading.Thread, list[int]]:
    """Once load flows, send ``sig`` to one Locust worker; returns the watcher and its target."""
    victims: list[int] = []

    def loaded() -> bool:
        return len(server.requests_for("/ping")) >= 40 and len(locust_workers(marker)) == 2

    def strike() -> None:
        victims.append(locust_workers(marker)[0])
        os.kill(victims[0], sig)

    return when(loaded, strike), victims


def test_F27_worker_killed_mid_run_is_an_error_and_the_rest_are_stopped(
    gate: Gate, server: FaultServer, marker: str
) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    run_time = 20
    watcher, victims = kill_a_worker_under_load(server, marker, signal.SIGKILL)
    run = load_run(
        gate, server.url, f"--gate-run-time={run_time}s", "--gate-users=4", "--gate-load-workers=2"
    )
    watcher.join(timeout=5)
    assert victims, "no Locust worker was found to kill"
    assert_verdict(run, "ERROR", 11)
    reason = run.test_reason("ping.py")
    assert re.search(r"load worker \S+ stopped sending heartbeats", reason), reason
    assert "the remaining workers were stopped, results are incomplete" in reason
    result = load_result(run.artifacts, "ping.py")
    assert result["error_kind"] == "workers"
    assert result["abort"]["kind"] == "worker_lost"
    assert result["duration_s"] < run_time
    assert survivors(marker) == {}
    assert run.elapsed_s < run_time + WATCHDOG_GRACE_S + MARGIN_S


# --------------------------------------------------------------------------- F28


@pytest.mark.serial  # measures the 5 s stop bound from outside: nothing else may share the cores
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_F28_signal_during_load_aborts_with_a_partial_report_and_no_orphans(
    gate: Gate, server: FaultServer, marker: str, sig: signal.Signals
) -> None:
    locustfile = add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    artifacts = gate.pytester.path / "evidence"
    run_time = 60
    args = gate_args(
        server.url,
        "--gate-ready-path=/healthz",
        f"--gate-artifacts={artifacts}",
        f"--gate-run-time={run_time}s",
        "--gate-users=4",
        "--gate-load-workers=2",
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=gate.pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            # Workers report every few seconds; wait until the master has merged requests.
            if re.search(r"load locustfiles/ping.py .* rps +[0-9]", line):
                break
        assert len(locust_workers(marker)) == 2, "Locust is not running"
        assert any(
            str(locustfile).encode() in command_line(pid) for pid in marked_processes(marker)
        )
        proc.send_signal(sig)
        signalled = time.monotonic()

        # Measured from outside the gate: the signal, then the last load process gone (the
        # pytest process itself goes on to write the evidence, bounded below by the margin).
        def load_processes() -> set[int]:
            return set(marked_processes(marker)) - {proc.pid}

        while load_processes() and time.monotonic() - signalled < STOP_WAIT_S + MARGIN_S:
            time.sleep(0.02)
        gone_after_s = time.monotonic() - signalled
        output, _ = proc.communicate(timeout=STOP_WAIT_S + MARGIN_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - started
    lines.append(output)
    result = pytest.RunResult(proc.returncode, "".join(lines).splitlines(), [], elapsed)
    report = _json.loads((artifacts / "gate.json").read_text())
    run = GateRun(result, elapsed, report, artifacts)
    assert_verdict(run, "ABORTED", 2)
    stopped = re.search(rf"load stopped by signal {int(sig)} within ([0-9.]+) s", run.output)
    assert stopped, run.output
    assert float(stopped.group(1)) < 5.0  # FAULTS.md: the load stops within 5 s
    # The 5 s is a bound of the design (STOP_WAIT_S, then SIGKILL and KILL_WAIT_S), not a
    # measurement of speed; what is measured must stay inside it.
    assert gone_after_s <= 5.0, (gone_after_s, stopped.group(1))
    assert f"partial report in {artifacts / 'locustfiles-ping.py-load'}" in run.output
    partial = load_result(run.artifacts, "ping.py")
    assert partial["status"] == "interrupted"
    assert partial["requests_total"] > 0
    assert (artifacts / "locustfiles-ping.py-load" / "locust_stats.csv").is_file()
    assert survivors(marker) == {}
    assert run.elapsed_s < run_time  # the signal ended it, not the run time


# --------------------------------------------------------------------------- F29


@pytest.fixture
def elsewhere() -> Iterator[CountingServer]:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    target = CountingServer(host=address)
    yield target
    target.stop()


def refused(result: pytest.RunResult, host: str) -> None:
    __tracebackhide__ = True
    assert result.ret == 4, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(
        [
            f"*refusing to send load to '{host}': it is not a loopback address*"
            f"--gate-allow-host={host}*"
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output
    assert "waiting up to" not in output  # readiness, the first request, never started


@pytest.mark.parametrize(
    "url",
    ["http://203.0.113.7:8080", "http://127.0.0.1.nip.io:8080", "http://[2001:db8::1]:8080"],
    ids=["test_net", "name_of_loopback", "ipv6_doc"],
)
def test_F29_non_loopback_base_url_is_refused_at_configure_time(gate: Gate, url: str) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    host = url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
    # --collect-only: even a gate that forgot to refuse could send nothing off this machine.
    started = time.monotonic()
    result = gate.pytester.runpytest_subprocess(
        *gate_args(url, "--collect-only"), timeout=SUBPROCESS_TIMEOUT
    )
    refused(result, host)
    assert time.monotonic() - started < MARGIN_S


def test_F29_non_loopback_target_receives_no_request_at_all(
    gate: Gate, elsewhere: CountingServer
) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    host = elsewhere.url.split("//", 1)[1].rsplit(":", 1)[0]
    started = time.monotonic()
    result = gate.pytester.runpytest_subprocess(
        *gate_args(elsewhere.url, "--gate-ready-path=/healthz", "--gate-run-time=2s"),
        timeout=SUBPROCESS_TIMEOUT,
    )
    refused(result, host)
    assert elsewhere.received == []  # not even a readiness poll
    assert time.monotonic() - started < MARGIN_S


def test_F29_non_loopback_host_smuggled_in_a_locust_argument_is_refused(
    gate: Gate, server: FaultServer, elsewhere: CountingServer
) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    result = gate.pytester.runpytest_subprocess(
        *gate_args(
            server.url,
            "--gate-ready-path=/healthz",
            "--gate-run-time=2s",
            "--gate-users=1",
            f"--gate-locust-arg=--host={elsewhere.url}",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert elsewhere.received == []
    assert result.ret == 4


# --------------------------------------------------------------------------- F30

CRASHING_TESTS = """
    import os

    import pytest

    pytestmark = pytest.mark.gate("smoke")

    def test_worker_dies(gate_client):
        gate_client.get("/ping")
        os._exit(1)

    @pytest.mark.parametrize("n", range(3))
    def test_fine(gate_client, n):
        assert gate_client.get("/ping").status_code == 200
"""


def test_F30_crashed_xdist_worker_is_an_error_naming_the_test(
    gate: Gate, server: FaultServer, marker: str
) -> None:
    gate.pytester.makepyfile(test_crash=CRASHING_TESTS)
    run = gate.run(server.url, "--gate-ready-path=/healthz", "-n", "2", subprocess=True)
    assert_verdict(run, "ERROR", 11)
    reason = run.test_reason("test_worker_dies")
    assert re.search(
        r"worker 'gw\d' crashed while running 'test_crash.py::test_worker_dies'", reason
    )
    verdicts = {t["nodeid"].split("::")[-1]: t["verdict"] for t in run.report["tests"]}
    assert verdicts == {
        "test_worker_dies": "ERROR",
        "test_fine[0]": "PASS",
        "test_fine[1]": "PASS",
        "test_fine[2]": "PASS",
    }
    assert survivors(marker) == {}
    assert run.elapsed_s < MARGIN_S


TEST_TIMEOUT_S = 1

HUNG_TESTS = """
    import time

    import pytest

    pytestmark = pytest.mark.gate("smoke")

    def test_hangs(gate_client):
        gate_client.get("/ping")
        time.sleep(300)

    @pytest.mark.parametrize("n", range(3))
    def test_fine(gate_client, n):
        assert gate_client.get("/ping").status_code == 200
"""


def test_F30_hung_test_in_an_xdist_worker_is_stopped_and_named(
    gate: Gate, server: FaultServer, marker: str
) -> None:
    gate.pytester.makepyfile(test_hang=HUNG_TESTS)
    run = gate.run(
        server.url,
        "--gate-ready-path=/healthz",
        f"--gate-test-timeout={TEST_TIMEOUT_S}",
        "-n",
        "2",
        subprocess=True,
    )
    assert_verdict(run, "ERROR", 11)
    assert (
        f"test_hang.py::test_hangs still running after --gate-test-timeout={TEST_TIMEOUT_S}s"
        in run.test_reason("test_hangs")
    )
    assert [t["verdict"] for t in run.report["tests"] if "test_fine" in t["nodeid"]] == ["PASS"] * 3
    assert survivors(marker) == {}
    assert run.elapsed_s < TEST_TIMEOUT_S + MARGIN_S


SWALLOWING_TEST = """
    import time

    import pytest

    @pytest.mark.gate("smoke")
    def test_polls_until_done(gate_client):
        # A common polling loop: any error means "not yet", try again.
        while True:
            try:
                gate_client.get("/ping")
                time.sleep(0.2)
            except Exception:
                pass
"""


def test_F30_hung_test_that_swallows_exceptions_is_still_stopped(
    gate: Gate, server: FaultServer, marker: str
) -> None:
    gate.pytester.makepyfile(test_poll=SWALLOWING_TEST)
    bound = TEST_TIMEOUT_S + MARGIN_S / 2
    try:
        result = gate.pytester.runpytest_subprocess(
            "--gate=smoke",
            f"--base-url={server.url}",
            "--gate-ready-path=/healthz",
            f"--gate-test-timeout={TEST_TIMEOUT_S}",
            "-p",
            "no:cacheprovider",
            timeout=bound,
        )
    finally:
        assert survivors(marker) == {}  # pytester kills a run that outlives the bound
    assert result.ret == 11
    result.stdout.fnmatch_lines(["*test_polls_until_done still running after*", "*VERDICT: ERROR*"])


def test_F30_hung_locust_worker_is_an_error_and_leaves_no_process(
    gate: Gate, server: FaultServer, marker: str
) -> None:
    add_locustfile(gate.pytester, "ping.py", PING_LOCUSTFILE)
    run_time = 20
    # SIGSTOP: the worker neither answers nor dies, and ignores the polite SIGINT.
    watcher, victims = kill_a_worker_under_load(server, marker, signal.SIGSTOP)
    run = load_run(
        gate, server.url, f"--gate-run-time={run_time}s", "--gate-users=4", "--gate-load-workers=2"
    )
    watcher.join(timeout=5)
    assert victims, "no Locust worker was found to stop"
    assert_verdict(run, "ERROR", 11)
    reason = run.test_reason("locustfiles/ping.py::load")
    assert re.search(r"load worker \S+ stopped sending heartbeats", reason), reason
    assert load_result(run.artifacts, "ping.py")["duration_s"] < run_time
    assert survivors(marker) == {}  # the stopped worker was killed, not left behind
    assert run.elapsed_s < run_time + WATCHDOG_GRACE_S + MARGIN_S
