"""``make demo``: start the demo service, back up its store, run every gate, print the verdict.

    python -m pytest_opsgate.demo.rungate [--gate all] [--out demo-report] [-- PYTEST_ARGS...]

The service runs as a child process on a free loopback port and is stopped whatever happens.
A fresh backup of the demo's store (``python -m pytest_opsgate.demo backup``) goes to
``<out>/backups``, and the restore gate drills it with its manifest, so ``--gate=all`` shows
all four gates. Exit status is the gate's own, so the script can stand in a pipeline as the
real thing would.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VERDICTS = {0: "PASS", 1: "FAIL", 2: "ABORTED", 4: "USAGE ERROR", 10: "ERROR", 11: "ERROR"}


def _start_service(port_file: Path, log_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_opsgate.demo",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--log-file",
            str(log_file),
        ],
        stdout=subprocess.DEVNULL,
    )


def _wait_for_port(proc: subprocess.Popen[bytes], port_file: Path, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the demo service exited with {proc.returncode} before binding")
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text().strip())
        time.sleep(0.05)
    raise SystemExit(f"the demo service did not bind within {timeout_s:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _gate_environment() -> dict[str, str]:
    """The pipeline's secrets, as a CI job would export them for the shipped checks."""
    from . import ADMIN_KEY, DEV_KEY, LOAD_KEY, READONLY_KEY, WEBHOOK_SECRET

    return dict(
        os.environ,
        PYTHONUNBUFFERED="1",
        DEMO_DEV_KEY=DEV_KEY,
        DEMO_ADMIN_KEY=ADMIN_KEY,
        DEMO_READONLY_KEY=READONLY_KEY,
        DEMO_LOAD_KEY=LOAD_KEY,
        DEMO_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


def _fresh_backup(folder: Path) -> list[str]:
    """Back up the demo's store into an empty ``folder``; the restore gate's options for it."""
    shutil.rmtree(folder, ignore_errors=True)  # an earlier run's backup would be drilled too
    command = [sys.executable, "-m", "pytest_opsgate.demo", "backup", "--out", str(folder)]
    print("opsgate demo: " + " ".join(["python", *command[1:]]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the demo backup failed ({done.returncode}): {done.stderr.strip()}")
    manifest = next(folder.glob("*.manifest.json"))
    return [
        f"--gate-restore-from={folder}",
        f"--gate-restore-manifest={manifest}",
        "--gate-restore-max-age=26h",
        "--gate-restore-expect=items: rows >= 20",
        "--gate-restore-expect=restore_time < 1m",
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the demo gate; returns the gate's exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gate", default="all", help="gates to run (default all)")
    parser.add_argument("--out", default="demo-report", help="folder for the report and evidence")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)

    root = Path.cwd()
    out = (root / args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    html = out / "report.html"
    artifacts = out / "artifacts"
    restore = _fresh_backup(out / "backups")
    with tempfile.TemporaryDirectory(prefix="opsgate-demo-") as tmp:
        port_file = Path(tmp) / "port"
        proc = _start_service(port_file, out / "demo-service.log")
        try:
            port = _wait_for_port(proc, port_file, timeout_s=30)
            base_url = f"http://127.0.0.1:{port}"
            print(f"opsgate demo: service at {base_url}", flush=True)
            suites = [str(p) for p in (root / "suites",) if p.is_dir()]
            command = [
                sys.executable,
                "-m",
                "pytest",
                f"--gate={args.gate}",
                f"--base-url={base_url}",
                f"--gate-artifacts={artifacts}",
                f"--html={html}",
                "--self-contained-html",
                "-p",
                "no:cacheprovider",
                "-o",
                "testpaths=suites",
                *restore,
                *suites,
                *args.pytest_args,
            ]
            print("opsgate demo: " + " ".join(command[2:]), flush=True)
            status = subprocess.call(command, env=_gate_environment())
        finally:
            _stop(proc)
    verdict = VERDICTS.get(status, f"ERROR (exit {status})")
    gate_json = artifacts / "gate.json"
    if gate_json.exists():
        verdict = json.loads(gate_json.read_text()).get("verdict", verdict)
    print()
    print(f"opsgate demo: verdict {verdict} (exit code {status})")
    print(f"opsgate demo: HTML report  {html}")
    for name in ("gate.json", "gate.md"):
        if (artifacts / name).exists():
            print(f"opsgate demo: {name:<12} {artifacts / name}")
    print(f"opsgate demo: artifacts    {artifacts}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
