"""The load gate end to end: real Locust child processes against real loopback servers.

Runs are short (2-5 s, a few users). Time bounds asserted here derive from configured
limits (run time, worker wait, the stop grace), never from how fast this machine is.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

import pytest

from gatekit import (
    IDLE_LOCUSTFILE,
    PING_LOCUSTFILE,
    SUBPROCESS_TIMEOUT,
    CountingServer,
    add_locustfile,
    burn_locustfile,
    gate_args,
    load_result,
    non_loopback_address,
    proc_table,
)
from pytest_opsgate.demo import DemoOptions, start_demo
from pytest_opsgate.gates.load.process import STOP_WAIT_S, WATCHDOG_GRACE_S, free_port

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

REPO_ROOT = Path(__file__).resolve().parents[3]
DEMO_LOCUSTFILE = REPO_ROOT / "locustfiles" / "demo.py"
LOCUST = Path(sys.executable).with_name("locust")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytest project with an ini file (the rootdir) and no locustfiles yet."""
    pytester.makeini("[pytest]\n")
    return pytester


# ---- through pytest


def test_demo_locustfile_passes_without_locust_in_the_pytest_process(
    project: pytest.Pytester, demo: DemoServer
) -> None:
    add_locustfile(project, "demo.py", DEMO_LOCUSTFILE)
    project.makeconftest(
        """
        import sys
        from pathlib import Path

        def pytest_sessionfinish(session):
            loaded = [name for name in ("locust", "gevent") if name in sys.modules]
            Path("heavy-modules.txt").write_text(" ".join(loaded))
        """
    )
    run = project.runpytest_subprocess(
        *gate_args(demo.url, "--gate-run-time=3s", "--gate-users=4", "--html=report.html"),
        timeout=SUBPROCESS_TIMEOUT,
    )
    run.assert_outcomes(passed=1)
    run.stdout.fnmatch_lines(
        ["*load locustfiles/demo.py*users*rps*p95*", "*GET /api/items/{id}*p95*PASSED*"]
    )
    assert (project.path / "heavy-modules.txt").read_text() == ""
    folder = project.path / "gate-artifacts" / "locustfiles-demo.py-load"
    for name in ("load-chart.svg", "locust.html", "locust_stats.csv", "opsgate-result.json"):
        assert (folder / name).is_file(), name
    svg = ElementTree.fromstring((folder / "load-chart.svg").read_text())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert not (folder / "load-chart.png").exists()
    # The report shows the chart itself under the load test, not a link to it.
    blob = re.search(r'data-jsonblob="([^"]*)"', (project.path / "report.html").read_text())
    assert blob is not None
    rows = json.loads(html.unescape(blob.group(1)))["tests"]
    extras = [extra for entries in rows.values() for row in entries for extra in row["extras"]]
    inline = [extra for extra in extras if str(extra.get("content", "")).startswith("<svg")]
    assert len(inline) == 1
    assert inline[0]["content"] == (folder / "load-chart.svg").read_text()
    result = load_result(project.path / "gate-artifacts", "demo.py")
    assert result["verdict"] == "pass"
    assert result["requests_total"] > 0


def test_slow_service_fails_the_p95_slo_naming_the_endpoint(
    project: pytest.Pytester, fresh_demo: DemoServer
) -> None:
    add_locustfile(project, "demo.py", DEMO_LOCUSTFILE)
    fresh_demo.options.latency_ms = 900
    # Enough users that every endpoint of the mix gets requests despite the slowness.
    run = project.runpytest_subprocess(
        *gate_args(fresh_demo.url, "--gate-run-time=4s", "--gate-users=10"),
        timeout=SUBPROCESS_TIMEOUT,
    )
    run.assert_outcomes(failed=1)
    assert run.ret == 1
    run.stdout.fnmatch_lines(
        [
            "*endpoint*statistic*measured*budget*samples*verdict*",
            "*GET /api/items/{id}*p95*< 300 ms*FAILED*",
            "*FAILED GET /api/items/{id} p95: p95 * is not < 300 ms*",
        ]
    )


def test_failing_requests_fail_the_error_rate_slo_and_stop_the_load_early(
    project: pytest.Pytester,
) -> None:
    add_locustfile(project, "demo.py", DEMO_LOCUSTFILE)
    run_time = 15
    with start_demo(DemoOptions(error_rate=0.05, seed=3)) as server:
        run = project.runpytest_subprocess(
            *gate_args(server.url, f"--gate-run-time={run_time}s", "--gate-users=6"),
            timeout=SUBPROCESS_TIMEOUT,
        )
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*stopped early: error_rate*", "*all*error_rate*< 1 %*FAILED*"])
    result = load_result(project.path / "gate-artifacts", "demo.py")
    assert result["status"] == "aborted"
    assert result["abort"]["kind"] == "slo"
    assert result["duration_s"] < run_time - 2


TYPO_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Reader(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def items(self):
        self.client.get("/api/public/items")
"""


def test_no_samples_or_a_never_requested_endpoint_is_an_error_not_a_pass(
    project: pytest.Pytester, demo: DemoServer
) -> None:
    add_locustfile(project, "idle.py", IDLE_LOCUSTFILE)
    add_locustfile(project, "typo.py", TYPO_LOCUSTFILE)
    # Settings from pyproject.toml this time: common ones, and an SLO for one locustfile.
    project.makepyprojecttoml(
        """
        [tool.opsgate.load]
        users = 2
        run_time = "2s"

        [tool.opsgate.load.locustfiles."typo.py"]
        slo = ["GET /api/itemz: p95 < 1s"]
        """
    )
    run = project.runpytest_subprocess(*gate_args(demo.url), timeout=SUBPROCESS_TIMEOUT)
    assert run.ret == 11
    run.assert_outcomes(failed=2)
    run.stdout.fnmatch_lines_random(
        [
            "*insufficient samples: no request was sent*",
            "*no requests recorded for 'GET /api/itemz' (did you mean*",
        ]
    )
    typo = load_result(project.path / "gate-artifacts", "typo.py")
    assert (typo["users"], typo["run_time_s"]) == (2, 2)
    assert typo["error_kind"] == "samples"


def test_a_bad_load_setting_is_a_usage_error_before_any_request(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    add_locustfile(project, "ping.py", PING_LOCUSTFILE)
    project.makepyprojecttoml('[tool.opsgate.load.locustfiles."ping.py"]\nuser = 5\n')
    run = project.runpytest_subprocess(*gate_args(counting_server.url))
    assert run.ret == 4
    run.stderr.fnmatch_lines(["*ping.py*unknown key user; use users, spawn_rate*"])
    warmup = project.runpytest_subprocess(
        *gate_args(counting_server.url, "--gate-run-time=2s", "--gate-load-warmup=2s")
    )
    assert warmup.ret == 4
    warmup.stderr.fnmatch_lines(["*--gate-load-warmup 2s is not shorter than --gate-run-time*"])
    assert counting_server.total() == 0


def test_a_target_that_dies_fails_stops_the_load_and_records_the_time_of_death(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    add_locustfile(project, "ping.py", PING_LOCUSTFILE)
    run_time = 20

    def kill_when_loaded() -> None:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while counting_server.counts.get("/ping", 0) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        counting_server.stop()

    killer = threading.Thread(target=kill_when_loaded, daemon=True)
    killer.start()
    run = project.runpytest_subprocess(
        *gate_args(counting_server.url, f"--gate-run-time={run_time}s", "--gate-users=2"),
        timeout=SUBPROCESS_TIMEOUT,
    )
    killer.join(timeout=5)
    run.assert_outcomes(failed=1)
    assert run.ret == 1
    run.stdout.fnmatch_lines(["*target stopped answering at t=* s: *", "*target died at 20*"])
    result = load_result(project.path / "gate-artifacts", "ping.py")
    assert result["target_down"]["at_s"] > 0
    assert result["target_down"]["last_success_s"] <= result["target_down"]["at_s"]
    assert result["duration_s"] < run_time - 5


def test_a_saturated_generator_is_an_error_not_a_service_failure(
    project: pytest.Pytester, demo: DemoServer
) -> None:
    add_locustfile(project, "burn.py", burn_locustfile("burn: p95 < 10s"))
    run = project.runpytest_subprocess(
        *gate_args(demo.url, "--gate-run-time=5s", "--gate-users=3"), timeout=SUBPROCESS_TIMEOUT
    )
    assert run.ret == 11
    run.stdout.fnmatch_lines(["*load generator saturated*not trustworthy*"])
    assert load_result(project.path / "gate-artifacts", "burn.py")["cpu"]["saturated"] is True


def test_an_expected_worker_that_never_connects_is_an_error_after_a_bounded_wait(
    project: pytest.Pytester, demo: DemoServer
) -> None:
    add_locustfile(project, "demo.py", DEMO_LOCUSTFILE)
    wait_s, run_s = 2, 2
    started = time.monotonic()
    run = project.runpytest_subprocess(
        *gate_args(
            demo.url,
            f"--gate-run-time={run_s}s",
            "--gate-load-expect-workers=1",
            f"--gate-load-bind=127.0.0.1:{free_port()}",
            f"--gate-load-workers-wait={wait_s}s",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    assert run.ret == 11
    run.stdout.fnmatch_lines(["*expected 1 load worker(s), 0 connected within 2 s*"])
    assert elapsed < wait_s + run_s + WATCHDOG_GRACE_S


def _processes_mentioning(marker: str) -> list[int]:
    return [
        pid
        for pid, (_, cmdline) in proc_table("cmdline").items()
        if marker in cmdline.replace(b"\0", b" ").decode()
    ]


@pytest.mark.serial  # a stop measured in seconds
def _sigint_ignored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# "background": the gate started by a shell without job control (`pytest --gate=load &` in a
# CI script) inherits SIGINT ignored. Its Locust children must not: the gate stops them with
# SIGINT first, and one that ignored it would die by the SIGKILL after it, its partial report
# lost. (The gate's own signal trap is installed before Locust starts, and an exec resets a
# handled signal to its default, so they do not.)
@pytest.mark.parametrize("started", ["foreground", "background"])
def test_sigterm_stops_all_locust_processes_quickly_and_keeps_a_partial_report(
    project: pytest.Pytester, demo: DemoServer, started: str
) -> None:
    locustfile = add_locustfile(project, "demo.py", DEMO_LOCUSTFILE)
    args = gate_args(demo.url, "--gate-run-time=60s", "--gate-users=4", "--gate-load-workers=2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=project.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_sigint_ignored if started == "background" else None,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            # Workers report every 3 s; wait until the master has merged some requests.
            if re.search(r"load locustfiles/demo.py .* rps +[0-9]", line):
                break
            assert time.monotonic() < deadline, "no progress line from the load test"
        assert _processes_mentioning(str(locustfile)), "Locust is not running"
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        output, _ = proc.communicate(timeout=STOP_WAIT_S + 10)
        elapsed = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, output
    assert "VERDICT: ABORTED" in output
    assert "load stopped by signal 15" in output
    assert elapsed < STOP_WAIT_S + 5
    assert _processes_mentioning(str(locustfile)) == []
    result = load_result(project.path / "gate-artifacts", "demo.py")
    assert result["status"] == "interrupted"
    assert result["requests_total"] > 0


def test_a_non_loopback_target_is_refused_before_any_request(project: pytest.Pytester) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    add_locustfile(project, "ping.py", PING_LOCUSTFILE)
    server = CountingServer(host=address)
    try:
        refused = project.runpytest_subprocess(
            *gate_args(server.url, "--gate-run-time=2s"), timeout=SUBPROCESS_TIMEOUT
        )
        allowed = project.runpytest_subprocess(
            *gate_args(server.url, f"--gate-allow-host={address}", "--collect-only"),
            timeout=SUBPROCESS_TIMEOUT,
        )
    finally:
        server.stop()
    assert refused.ret == 4
    refused.stderr.fnmatch_lines([f"*refusing to send load to '{address}'*--gate-allow-host*"])
    assert "refusing" not in allowed.stdout.str() + allowed.stderr.str()
    allowed.stdout.fnmatch_lines(
        ["*<Dir locustfiles>*", "*<LocustFile ping.py>*", "*<LocustfileItem load>*"]
    )
    assert server.total() == 0


def test_two_local_workers_merge_to_exactly_the_requests_they_sent(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    add_locustfile(project, "ping.py", PING_LOCUSTFILE)
    users = 4
    run = project.runpytest_subprocess(
        *gate_args(
            counting_server.url,
            "--gate-run-time=4s",
            "--gate-load-warmup=1s",
            f"--gate-users={users}",
            "--gate-load-workers=2",
            "--gate-slo=GET /ping: p95 < 5s",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    run.assert_outcomes(passed=1)
    result = load_result(project.path / "gate-artifacts", "ping.py")
    per_worker = result["workers"]["requests"]
    assert len(per_worker) == 2
    assert all(count > 0 for count in per_worker.values())
    assert result["requests_total"] == sum(per_worker.values())
    locust_json = project.path / "gate-artifacts" / "locustfiles-ping.py-load" / "locust.json"
    locust_total = sum(entry["num_requests"] for entry in json.loads(locust_json.read_text()))
    assert result["requests_total"] == locust_total
    # A request in flight when users stop is answered but never recorded.
    assert 0 <= counting_server.counts["/ping"] - result["requests_total"] <= users
    # The warmup second counts as sent but not as measured.
    measured = next(row for row in result["endpoints"] if row["scope"] == "all")["requests"]
    assert 0 < measured < result["requests_total"]
    assert result["warmup_s"] == 1


PLAIN_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

import pytest_opsgate.gates.load.locust_ext  # noqa: F401

SLOS = ["GET /api/public/items: p95 < 10s"]

class Reader(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def items(self):
        self.client.get("/api/public/items")
"""


def test_plain_locust_with_the_extension_exits_0_1_or_11(tmp_path: Path, demo: DemoServer) -> None:
    simple = tmp_path / "simple.py"
    simple.write_text(PLAIN_LOCUSTFILE)

    def locust(locustfile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        command = [str(LOCUST), "-f", str(locustfile), "--headless", "-u", "2", "-t", "2s"]
        return subprocess.run(
            [*command, "-H", demo.url, "--only-summary", *extra],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
        )

    shipped = locust(DEMO_LOCUSTFILE, "-u", "4", "-t", "3s")
    failed = locust(simple, "--opsgate-slo", "GET /api/public/items: p50 < 1us")
    unmeasured = locust(simple, "--opsgate-slo", "GET /api/nothing: p95 < 1s")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "opsgate: load verdict PASS" in shipped.stdout
    assert "GET /api/items/{id}" in shipped.stdout  # the shipped SLO table
    assert failed.returncode == 1, failed.stdout
    assert "FAILED GET /api/public/items p50" in failed.stdout
    assert unmeasured.returncode == 11, unmeasured.stdout
    assert "no requests recorded for 'GET /api/nothing'" in unmeasured.stdout


README_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

SLOS = ["GET /api/public/items: p95 < 10s"]

class Reader(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def items(self):
        self.client.get("/api/public/items")
"""


def readme_plain_locust_command() -> str:
    """The command the README's "Plain Locust" section gives, without its prompt."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("#### Plain Locust", 1)[1].split("\n### ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    (line,) = [line for line in block.splitlines() if line.startswith("$ locust ")]
    return line.removeprefix("$ ")


def test_the_readmes_plain_locust_command_works_as_written(
    tmp_path: Path, demo: DemoServer
) -> None:
    command = readme_plain_locust_command()
    assert " -t 30s " in command
    # The locustfile does not import the extension: the extra -f must bring it.
    (tmp_path / "locustfile.py").write_text(README_LOCUSTFILE)
    env = {**os.environ, "URL": demo.url, "PATH": f"{LOCUST.parent}:{os.environ['PATH']}"}

    def run(shell_command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", shell_command.replace(" -t 30s ", " -t 2s ")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
        )

    passed = run(command)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "opsgate: load verdict PASS" in passed.stdout
    assert "GET /api/public/items  p95" in passed.stdout
    failed = run(command + ' --opsgate-slo "GET /api/public/items: p50 < 1us"')
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "opsgate: load verdict FAIL" in failed.stdout


COLLECTION_CONFTEST = """
import sys
from pathlib import Path

def pytest_collection_finish(session):
    lines = []
    for item in session.items:
        marks = sorted(
            f"{mark.name}={','.join(map(str, mark.args))}" for mark in item.iter_markers()
        )
        lines.append(f"{item.nodeid} {type(item.parent).__name__} {' '.join(marks)}")
    Path("collected.txt").write_text("\\n".join(lines))

def pytest_sessionfinish(session):
    heavy = [name for name in ("locust", "gevent") if name in sys.modules]
    Path("heavy.txt").write_text(" ".join(heavy))
"""


def test_locustfiles_are_collected_as_files_and_run_once_without_locust_in_pytest(
    project: pytest.Pytester, counting_server: CountingServer
) -> None:
    # Under xdist (-n) the load gate is a usage error (tests/run/test_artifacts.py).
    add_locustfile(project, "ping.py", PING_LOCUSTFILE)
    project.makeconftest(COLLECTION_CONFTEST)
    run = project.runpytest_subprocess(
        *gate_args(counting_server.url, "--gate-run-time=2s", "--gate-users=1"),
        timeout=SUBPROCESS_TIMEOUT,
    )
    run.assert_outcomes(passed=1)
    collected = (project.path / "collected.txt").read_text()
    assert collected.startswith("locustfiles/ping.py::load LocustFile gate=load"), collected
    assert len(collected.splitlines()) == 1
    assert (project.path / "heavy.txt").read_text() == ""
    assert counting_server.counts["/ping"] > 0


SECRET_LOCUSTFILE = """
import os
from locust import FastHttpUser, constant, task

class Leaky(FastHttpUser):
    wait_time = constant(0.1)

    @task
    def leak(self):
        token = os.environ["LOAD_TEST_TOKEN"]
        self.client.get(f"/api/public/items?token={token}")
        self.client.get(f"/api/missing?token={token}", headers={"Authorization": f"Bearer {token}"})
"""


def test_secrets_in_query_strings_never_reach_load_artifacts(
    project: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = "opsgate-sentinel-5d41402abc"
    monkeypatch.setenv("LOAD_TEST_TOKEN", sentinel)
    add_locustfile(project, "leaky.py", SECRET_LOCUSTFILE)
    run = project.runpytest_subprocess(
        *gate_args(
            demo.url,
            "--gate-run-time=2s",
            "--gate-users=2",
            "--gate-secret-env=LOAD_TEST_TOKEN",
            "--html=report.html",
        ),
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert run.ret == 1  # the 404s break the default error-rate SLO
    written = [p for p in project.path.rglob("*") if p.is_file() and "locustfiles" not in p.parts]
    assert any(p.name == "locust.html" for p in written)
    leaks = [str(p) for p in written if sentinel.encode() in p.read_bytes()]
    assert leaks == []
    assert sentinel not in run.stdout.str() + run.stderr.str()
