"""--gate-serve-cmd: a foreground server run for the run, and nothing of it left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from gatekit import MARGIN_S, serve_marked

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

SMOKE_TEST = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_client):
    assert gate_client.get("/api/public/items").status_code == 200
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_cmd(port: int, marker: str, *extra: str) -> str:
    demo = f"{sys.executable} -m pytest_opsgate.demo --port {port} {' '.join(extra)}"
    return f"OPSGATE_SERVE_MARK={marker} exec {demo}"


def test_a_foreground_server_is_served_for_the_run_and_stopped_after(
    pytester: pytest.Pytester,
) -> None:
    port, marker = _free_port(), f"serve-{time.monotonic_ns()}"
    pytester.makepyfile(SMOKE_TEST)
    result = pytester.runpytest(
        "--gate=smoke",
        f"--base-url=http://127.0.0.1:{port}",
        f"--gate-serve-cmd={_serve_cmd(port, marker, '--startup-delay', '1')}",
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*--gate-serve-cmd stopped*", "*VERDICT: PASS*"])
    assert serve_marked(marker) == []
    log = (pytester.path / "gate-artifacts" / "stack-logs.txt").read_text()
    assert "pytest_opsgate.demo" in log


def test_a_server_that_exits_stops_the_wait_at_once(pytester: pytest.Pytester) -> None:
    port = _free_port()
    pytester.makepyfile(SMOKE_TEST)
    started = time.monotonic()
    result = pytester.runpytest(
        "--gate=smoke",
        f"--base-url=http://127.0.0.1:{port}",
        "--gate-serve-cmd=echo 'missing settings file' >&2; exit 3",
        "--gate-ready-timeout=120",
    )
    assert result.ret == 10
    result.stdout.fnmatch_lines(
        ["*--gate-serve-cmd exited with code 3 *(its last line: 'missing settings file')*"]
    )
    assert time.monotonic() - started < 120  # it did not wait out the readiness deadline
    log = (pytester.path / "gate-artifacts" / "stack-logs.txt").read_text()
    assert "missing settings file" in log


def test_a_server_already_answering_is_an_error_unless_reused(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    port = int(demo.url.rsplit(":", 1)[1])
    marker = f"serve-{time.monotonic_ns()}"
    pytester.makepyfile(SMOKE_TEST)
    args = [
        "--gate=smoke",
        f"--base-url={demo.url}",
        f"--gate-serve-cmd={_serve_cmd(port, marker)}",
    ]
    refused = pytester.runpytest(*args)
    assert refused.ret == 11
    refused.stdout.fnmatch_lines(["*something already answers at*--gate-serve-reuse*"])
    reused = pytester.runpytest(*args, "--gate-serve-reuse")
    assert reused.ret == 0
    reused.stdout.fnmatch_lines(["*--gate-serve-reuse: tested the server already answering*"])
    assert serve_marked(marker) == []  # the command was never run


def _gate_serving_and_waiting(
    pytester: pytest.Pytester, port: int, marker: str
) -> subprocess.Popen[str]:
    """A gate run (its own process) whose served demo answered a test that now sleeps."""
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.gate("smoke")
        def test_waits(gate_client):
            assert gate_client.get("/api/public/items").status_code == 200
            print("SERVED AND WAITING", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "-s", "--gate=smoke",
            f"--base-url=http://127.0.0.1:{port}", f"--gate-serve-cmd={_serve_cmd(port, marker)}",
        ],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTEST_ADDOPTS": "-p no:schemathesis -p no:hypothesispytest"},
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "SERVED AND WAITING" in line:
            break
    if not serve_marked(marker):
        proc.kill()
        proc.wait()
        raise AssertionError("the served demo is not running")
    return proc


def test_sigterm_stops_the_served_server_too(pytester: pytest.Pytester) -> None:
    port, marker = _free_port(), f"serve-{time.monotonic_ns()}"
    proc = _gate_serving_and_waiting(pytester, port, marker)
    try:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=MARGIN_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, output
    deadline = time.monotonic() + MARGIN_S
    while serve_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert serve_marked(marker) == []


def test_a_foreground_start_command_is_told_to_use_serve_cmd(pytester: pytest.Pytester) -> None:
    port, marker = _free_port(), f"serve-{time.monotonic_ns()}"
    pytester.makepyfile(SMOKE_TEST)
    result = pytester.runpytest(
        "--gate=smoke",
        f"--base-url=http://127.0.0.1:{port}",
        f"--gate-start-cmd={_serve_cmd(port, marker)}",
        "--gate-cmd-timeout=2",
    )
    assert result.ret == 11
    result.stdout.fnmatch_lines(["*a start command must return*use --gate-serve-cmd*"])
    assert serve_marked(marker) == []  # the timed-out command's process group was killed


def test_a_gate_killed_outright_takes_its_served_server_along(pytester: pytest.Pytester) -> None:
    port, marker = _free_port(), f"serve-{time.monotonic_ns()}"
    proc = _gate_serving_and_waiting(pytester, port, marker)
    try:
        proc.kill()  # SIGKILL: no cleanup of the gate's runs
        proc.wait(timeout=MARGIN_S)
        deadline = time.monotonic() + MARGIN_S
        while serve_marked(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert serve_marked(marker) == []
    finally:
        for pid in serve_marked(marker):
            os.kill(pid, signal.SIGKILL)
