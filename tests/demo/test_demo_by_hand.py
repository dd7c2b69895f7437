"""A newcomer drives the demo by hand: start it, copy the printed lines, run the smoke gate."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30


def _read_banner(proc: subprocess.Popen[str]) -> list[str]:
    """The demo's start-up text, up to its last line."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Stop the demo"):
            return lines
    raise AssertionError(f"the demo printed no complete banner: {lines}")


def test_the_printed_exports_and_smoke_command_pass_in_a_fresh_environment(
    tmp_path: Path,
) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "pytest_opsgate.demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = _read_banner(demo)
        url = lines[0].rsplit(" ", 1)[1]
        assert lines[0] == f"opsgate-demo listening on {url}"
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert set(exports) == {
            "DEMO_DEV_KEY",
            "DEMO_ADMIN_KEY",
            "DEMO_READONLY_KEY",
            "DEMO_LOAD_KEY",
            "DEMO_WEBHOOK_SECRET",
            "E2E_PASSWORD",
        }
        commands = [line for line in lines if line.startswith("pytest ")]
        assert [shlex.split(c)[1:3] for c in commands] == [
            ["suites/smoke", "--gate=smoke"],
            ["suites/e2e", "--gate=e2e"],
            ["suites", "--gate=load"],
        ]
        assert all(command.endswith(f"--base-url {url}") for command in commands)
        # Only what a newcomer would have: the printed exports and a PATH to find pytest.
        environment = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
            "HOME": str(tmp_path),
            **{name: shlex.split(value)[0] for name, value in exports.items()},
        }
        smoke = subprocess.run(
            [
                *shlex.split(commands[0]),
                "-p",
                "no:cacheprovider",
                f"--gate-artifacts={tmp_path / 'evidence'}",
            ],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        demo.terminate()
        demo.wait(timeout=10)
    assert smoke.returncode == 0, smoke.stdout[-4000:] + smoke.stderr[-2000:]
    assert "VERDICT: PASS (exit code 0)" in smoke.stdout
