"""Plugin overhead: the same httpx smoke tests under ``--gate=smoke`` and under plain pytest.

Both runs hit the bundled demo service on loopback with the same tests, in alternation (the
order flips every round), so machine noise falls on both sides alike. A first, unmeasured
round of each warms the caches; the runs write bytecode as a normal install does, whatever
PYTHONDONTWRITEBYTECODE says (without it pytest re-parses and rewrites every plugin module
on every run, seconds that would dilute the gate's share). Prints medians, their ratio and
the load average before and after.

    .venv/bin/python benchmarks/plugin_overhead.py [--rounds 7] [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pytest_opsgate.demo import start_demo

PLAIN = """
import httpx, os, pytest

BASE = os.environ["BENCH_BASE_URL"]
N = int(os.environ["BENCH_REQUESTS"])

@pytest.fixture
def client():
    with httpx.Client(base_url=BASE, timeout=10) as c:
        yield c

@pytest.mark.parametrize("i", range(10))
def test_health(client, i):
    for _ in range(N // 10):
        assert client.get("/healthz").status_code == 200
"""

GATED = """
import pytest

N = int(__import__("os").environ["BENCH_REQUESTS"])

@pytest.mark.gate("smoke")
@pytest.mark.parametrize("i", range(10))
def test_health(gate_client, i):
    for _ in range(N // 10):
        assert gate_client.get("/healthz").status_code == 200
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{a:.2f}" for a in averages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_demo(port=0) as demo:
        root = Path(tmp)
        (root / "plain").mkdir()
        (root / "gated").mkdir()
        (root / "plain" / "test_plain.py").write_text(textwrap.dedent(PLAIN))
        (root / "gated" / "test_gated.py").write_text(textwrap.dedent(GATED))
        env = dict(os.environ, BENCH_BASE_URL=demo.url, BENCH_REQUESTS=str(args.requests))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        gated_args = [
            str(root / "gated"),
            "--gate=smoke",
            f"--base-url={demo.url}",
            f"--gate-artifacts={root / 'artifacts'}",
        ]

        def plain_run() -> float:
            return _run([str(root / "plain")], root / "plain", env)

        def gated_run() -> float:
            return _run(gated_args, root / "gated", env)

        load_before = os.getloadavg()
        plain_run(), gated_run()  # warm-up: bytecode, page cache
        plain: list[float] = []
        gated: list[float] = []
        for round_ in range(args.rounds):
            if round_ % 2:
                gated.append(gated_run())
                plain.append(plain_run())
            else:
                plain.append(plain_run())
                gated.append(gated_run())
        load_after = os.getloadavg()
        p, g = statistics.median(plain), statistics.median(gated)
        print(f"requests per run: {args.requests}, rounds: {args.rounds}")
        print(f"load average before {_load(load_before)}, after {_load(load_after)}")
        print(f"plain pytest + httpx      median {p:.3f} s")
        print(f"pytest --gate=smoke       median {g:.3f} s (readiness, recording, verdict)")
        print(f"overhead ratio gate/plain = {g / p:.2f}x")


if __name__ == "__main__":
    main()
