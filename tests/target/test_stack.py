"""Stack lifecycle commands: real ``/bin/sh -c`` processes, deadlines, redaction, output caps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from pytest_opsgate.target.stack import OUTPUT_TAIL_BYTES, CommandResult, run_command

if TYPE_CHECKING:
    from pathlib import Path

SLACK_S = 5.0  # scheduling slack on a loaded 2-core CI machine, on top of configured timeouts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie waiting for its reaper is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def test_exit_code_and_merged_output_are_reported() -> None:
    result = run_command("seed", "echo to-stdout; echo to-stderr >&2; exit 3", timeout_s=10)
    assert result.exit_code == 3
    assert not result.ok
    assert not result.timed_out
    assert "to-stdout" in result.output
    assert "to-stderr" in result.output
    assert result.status == "exit 3"


def test_success_is_ok() -> None:
    result = run_command("start", "true", timeout_s=10)
    assert result.ok
    assert result.exit_code == 0
    assert result.error is None


def test_timeout_kills_the_process_group_within_timeout_plus_grace(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result = run_command(
        "start",
        f"sleep 60 & echo $! > {pidfile}; wait",
        timeout_s=1.0,
        kill_grace_s=1.0,
    )
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.exit_code is None
    assert not result.ok
    assert "timed out after 1 s" in (result.error or "")
    assert elapsed < 1.0 + 1.0 + 1.0 + SLACK_S  # timeout + grace + drain
    child = int(pidfile.read_text())
    assert _wait_dead(child, SLACK_S), "the command's child outlived the timeout"


def test_a_command_ignoring_sigterm_gets_sigkill(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result = run_command(
        "stop",
        f"trap '' TERM; sleep 60 & echo $! > {pidfile}; wait; echo finished",
        timeout_s=0.5,
        kill_grace_s=0.5,
    )
    assert result.timed_out
    assert "finished" not in result.output
    assert time.monotonic() - started < 0.5 + 0.5 + 1.0 + SLACK_S
    # The child inherited the ignored SIGTERM: only SIGKILL ends it.
    assert _wait_dead(int(pidfile.read_text()), SLACK_S)


def test_background_child_holding_the_pipe_does_not_hang(tmp_path: Path) -> None:
    pidfile = tmp_path / "server.pid"
    started = time.monotonic()
    result = run_command(
        "start",
        f"sleep 30 & echo $! > {pidfile}; echo started",
        timeout_s=20,
        drain_s=0.5,
    )
    elapsed = time.monotonic() - started
    child = int(pidfile.read_text())
    try:
        assert result.ok
        assert "started" in result.output
        assert elapsed < 20  # far below the child's 30 s: it did not wait for EOF
        # A start command may leave the service running: the child is not killed.
        assert _alive(child)
    finally:
        os.kill(child, signal.SIGTERM)


def test_command_and_output_are_redacted(tmp_path: Path) -> None:
    secret = "s3cr3t-TOKEN-42"
    out = tmp_path / "logs.txt"
    result = run_command(
        "logs",
        f"echo token={secret}",
        timeout_s=10,
        output_path=out,
        redact=lambda text: text.replace(secret, "REDACTED"),
    )
    assert secret not in result.command
    assert secret not in result.output
    assert "token=REDACTED" in result.output
    assert secret not in out.read_text()
    assert "token=REDACTED" in out.read_text()
    assert secret not in str(result.to_dict())


def test_output_is_tail_capped_and_the_cut_leaves_no_secret_fragment() -> None:
    secret = "TOPSECRETVALUE"
    # Many lines, each with the secret, so one line is bound to straddle any raw cut.
    command = f"i=0; while [ $i -lt 20000 ]; do echo line-$i-{secret}; i=$((i+1)); done; echo END"
    result = run_command(
        "logs", command, timeout_s=60, redact=lambda text: text.replace(secret, "[R]")
    )
    assert result.ok
    assert result.truncated
    assert len(result.output.encode()) <= OUTPUT_TAIL_BYTES
    assert result.output.rstrip().endswith("END")
    assert "line-0-" not in result.output
    for fragment in ("TOPSE", "SECRETV", "ETVALUE", "VALUE"):
        assert fragment not in result.output
    assert result.output.splitlines()[0].startswith("line-")  # starts on a whole line


@pytest.mark.parametrize("pad", ["", "y", "yy", "yyy"])  # moves where the raw cut lands
def test_a_cut_inside_one_long_line_leaves_no_secret_fragment(pad: str) -> None:
    secret = "TOPSECRETVALUE"
    # No newline to cut at: only the redaction margin keeps a split secret out.
    command = f"i=0; while [ $i -lt 20000 ]; do printf 'x{pad}-{secret}-'; i=$((i+1)); done; echo"
    result = run_command(
        "logs", command, timeout_s=60, redact=lambda text: text.replace(secret, "[R]")
    )
    assert result.truncated
    for cut in range(1, len(secret)):
        assert secret[cut:] + "-" not in result.output
        assert "-" + secret[:cut] not in result.output


def test_output_file_keeps_more_than_the_in_memory_tail(tmp_path: Path) -> None:
    out = tmp_path / "logs" / "stack.log"
    command = "i=0; while [ $i -lt 15000 ]; do echo log-line-$i; i=$((i+1)); done"
    result = run_command("logs", command, timeout_s=60, output_path=out)
    text = out.read_text()
    assert result.output_path == out
    assert "log-line-0\n" in text  # ~190 KB fits under the file cap
    assert "log-line-0\n" not in result.output
    assert "log-line-14999" in result.output
    assert text.startswith("$ i=0;")


def test_env_adds_to_the_inherited_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSGATE_TEST_INHERITED", "kept")
    result = run_command(
        "on-fail",
        'echo "$OPSGATE_VERDICT $OPSGATE_REPORT $OPSGATE_TEST_INHERITED"',
        timeout_s=10,
        env={"OPSGATE_VERDICT": "FAIL", "OPSGATE_REPORT": "/tmp/gate.json"},
    )
    assert result.output.strip() == "FAIL /tmp/gate.json kept"


def test_cwd_is_used(tmp_path: Path) -> None:
    result = run_command("start", "pwd", timeout_s=10, cwd=tmp_path)
    assert result.output.strip() == str(tmp_path.resolve())


def test_missing_cwd_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_command("start", "true", timeout_s=10, cwd=tmp_path / "nope")
    assert not result.ok
    assert result.exit_code is None
    assert "could not start" in (result.error or "")
    assert result.status == "did not start"


def test_death_by_signal_is_reported_like_a_shell() -> None:
    result = run_command("stop", "kill -9 $$", timeout_s=10)
    assert result.exit_code == 128 + signal.SIGKILL
    assert not result.ok


def test_to_dict_is_plain_data(tmp_path: Path) -> None:
    result = run_command("seed", "echo hi", timeout_s=10, output_path=tmp_path / "o.txt")
    data = result.to_dict()
    assert data["exit_code"] == 0
    assert data["ok"] is True
    assert data["output_path"] == str(tmp_path / "o.txt")
    assert isinstance(result, CommandResult)


def test_non_positive_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        run_command("start", "true", timeout_s=0)


def test_ctrl_c_kills_the_group_and_reraises(tmp_path: Path) -> None:
    """SIGINT to a parent waiting in run_command: the child dies and KeyboardInterrupt surfaces."""
    pidfile = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import sys
        from pytest_opsgate.target.stack import run_command
        try:
            run_command("start", "sleep 60 & echo $! > {pidfile}; wait", timeout_s=60)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(42)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.05)
        child = int(pidfile.read_text())
        parent.send_signal(signal.SIGINT)
        out, _ = parent.communicate(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 42
    assert "interrupted" in out
    assert _wait_dead(child, SLACK_S), "Ctrl-C left the command's child running"
