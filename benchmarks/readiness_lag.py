"""How soon after a service turns ready does the gate notice, next to `until curl ...; sleep 2`?

Each trial starts a health route that answers 503 until a known monotonic moment and 200
after it, then measures the lag from that moment until the waiter returns. The gate
(`wait_until_ready`) and the classic shell loop run alternately against the same server.
Run: `.venv/bin/python benchmarks/readiness_lag.py` (about 40 s).
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import faultserver as fs
from pytest_opsgate.target.readiness import ReadinessSpec, wait_until_ready

TRIALS = 10
CURL_SLEEP_S = 2
NOT_READY = fs.json({"status": "starting"}, status=503)
READY = fs.json({"status": "ok"})


def gate_lag(server: fs.FaultServer, ready_in: float) -> tuple[float, int]:
    """Lag of wait_until_ready after the switch, and requests it sent."""
    switch = fs.after(ready_in, NOT_READY, READY)
    server.requests.clear()
    server.route("/health", switch)
    wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=30))
    return time.monotonic() - switch.switch_at, len(server.requests)


def shell_loop_lag(server: fs.FaultServer, ready_in: float) -> tuple[float, int]:
    """Lag of the shell loop after the switch, and requests it sent."""
    switch = fs.after(ready_in, NOT_READY, READY)
    server.requests.clear()
    server.route("/health", switch)
    url = f"{server.url}/health"
    if shutil.which("curl"):
        loop = f"until curl -fsS -o /dev/null {url}; do sleep {CURL_SLEEP_S}; done"
        subprocess.run(["sh", "-c", loop], check=True, stderr=subprocess.DEVNULL, timeout=60)
    else:  # same fixed-interval loop in Python, so the comparison still runs
        while httpx.get(url).status_code >= 400:
            time.sleep(CURL_SLEEP_S)
    return time.monotonic() - switch.switch_at, len(server.requests)


def main() -> None:
    rng = random.Random(20261122)
    moments = [round(rng.uniform(0.3, 2.5), 2) for _ in range(TRIALS)]
    tool = "curl" if shutil.which("curl") else "emulated curl (httpx, curl not installed)"
    print(f"readiness lag: {TRIALS} trials, ready moments {moments} s after start")
    print(f"shell loop: until {tool} -fsS URL; do sleep {CURL_SLEEP_S}; done\n")
    gate: list[float] = []
    shell: list[float] = []
    gate_reqs: list[int] = []
    shell_reqs: list[int] = []
    print(f"{'trial':>5} {'ready at':>9} {'gate lag':>9} {'reqs':>5} {'loop lag':>9} {'reqs':>5}")
    with fs.FaultServer() as server:
        for i, ready_in in enumerate(moments, 1):
            g, gr = gate_lag(server, ready_in)
            s, sr = shell_loop_lag(server, ready_in)
            gate.append(g)
            shell.append(s)
            gate_reqs.append(gr)
            shell_reqs.append(sr)
            print(f"{i:>5} {ready_in:>8.2f}s {g * 1000:>7.0f}ms {gr:>5} {s * 1000:>7.0f}ms {sr:>5}")
    g_med, s_med = statistics.median(gate), statistics.median(shell)
    print()
    print(f"gate  lag: median {g_med * 1000:.0f} ms, max {max(gate) * 1000:.0f} ms,"
          f" median {statistics.median(gate_reqs):.0f} requests")  # fmt: skip
    print(f"shell lag: median {s_med * 1000:.0f} ms, max {max(shell) * 1000:.0f} ms,"
          f" median {statistics.median(shell_reqs):.0f} requests")  # fmt: skip
    print(f"curl loop lag / gate lag = {s_med / g_med:.1f} x (medians)")


if __name__ == "__main__":
    main()
