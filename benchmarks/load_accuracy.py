"""Latency accuracy of the load gate: percentiles, and coordinated omission.

    python benchmarks/load_accuracy.py [--run-time 12] [--users 20] [--seed 1]
                                       [--stall-run-time 20] [--rate 40]

Part 1, percentiles.
A loopback server answers each request after a latency drawn from a known, seeded
distribution: 90 % between 100 and 130 ms, 10 % between 140 and 160 ms (the region
where Locust's two-significant-digit buckets are 10 ms wide). The locustfile keeps every
response time Locust measured (a ``request`` listener, the same numbers the gate
records); the exact nearest-rank percentile of those raw samples is the reference.

Beside it: the gate's percentiles (its JSON result, HdrHistogram at 3 significant
digits) and Locust's own (its JSON statistics, computed the way Locust computes them).
The goal for the gate is <= 1 % relative error.

Part 2, coordinated omission. A loopback server holds every answer during the first 1 s of
each 5 s. A request arriving at a random moment waits ``1 - phase`` s when it lands in a
stall, so its latency exceeds x (0 <= x < 1 s) with probability (1 - x) / 5: the true p95 is
1 - 0.05 * 5 = 0.75 s and the true p99 0.95 s. Side by side, through the gate:

- the open model at ``--rate`` arrivals a second: the corrected latency (from each arrival's
  intended start, what SLOs judge) and the service time (from the actual send);
- the open model again with 4 in-flight slots, as many as the closed model's users: the
  arrivals that find no slot start late, so only the corrected latency sees the stall
  (the generator falls behind: that run's verdict is ERROR, its figures still printed);
- the closed model with 4 users (``--gate-users``), which waits out each stall.

The goal: the open model's corrected p95/p99 within 10 % of the truth.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOCUSTFILE = """
import json
import os
from pathlib import Path

from locust import FastHttpUser, events, task

RAW = []


@events.request.add_listener
def keep(response_time, **_kw):
    RAW.append(response_time)


@events.quitting.add_listener
def dump(environment, **_kw):
    Path(os.environ["OPSGATE_BENCH_RAW"]).write_text(json.dumps(RAW))


class Client(FastHttpUser):
    @task
    def get(self):
        self.client.get("/")
"""
PERCENTILES = (50.0, 95.0, 99.0)
PING_LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Pinger(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def ping(self):
        self.client.get("/ping")
"""
STALL_S, PERIOD_S = 1.0, 5.0


class StallingServer:
    """Holds every answer during the first STALL_S of each PERIOD_S (loopback)."""

    def __init__(self) -> None:
        started = time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                phase = (time.monotonic() - started) % PERIOD_S
                if phase < STALL_S:
                    time.sleep(STALL_S - phase)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def true_percentile_ms(p: float) -> float:
    """The p-th percentile of the stall wait of a request arriving at a random moment."""
    return max(0.0, STALL_S - (1 - p / 100) * PERIOD_S) * 1000


class KnownLatencyServer:
    """Answers every GET after a latency from a seeded two-band distribution."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        lock = threading.Lock()

        def latency_s() -> float:
            with lock:
                band = (100.0, 130.0) if rng.random() < 0.9 else (140.0, 160.0)
                return rng.uniform(*band) / 1000

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # or headers and body wait for a delayed ACK

            def do_GET(self) -> None:
                time.sleep(latency_s())
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients hang up when the run stops; that is not news

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def nearest_rank(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def locust_percentile(response_times: dict[str, int], num_requests: int, p: float) -> float:
    """locust.stats.calculate_response_time_percentile, on its rounded response times."""
    wanted = int(num_requests * p / 100)
    processed = 0
    for value in sorted((int(k) for k in response_times), reverse=True):
        processed += response_times[str(value)]
        if num_requests - processed <= wanted:
            return float(value)
    return 0.0


def gate_result(url: str, run_time: int, *args: str) -> dict[str, Any]:
    """One gate run of the ping locustfile; its opsgate-result.json."""
    with tempfile.TemporaryDirectory(prefix="opsgate-accuracy-") as tmp:
        work = Path(tmp)
        (work / "pytest.ini").write_text("[pytest]\n")
        (work / "ping.py").write_text(PING_LOCUSTFILE)
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--gate=load", f"--base-url={url}", "--no-gate-ready",
            f"--gate-locustfile={work / 'ping.py'}", f"--gate-run-time={run_time}s", *args,
        ]  # fmt: skip
        subprocess.run(command, cwd=work, capture_output=True, check=False)
        folder = next((work / "gate-artifacts").iterdir())
        found: dict[str, Any] = json.loads((folder / "opsgate-result.json").read_text())
        return found


def coordinated_omission(run_time: int, rate: float) -> None:
    """Part 2 (see the module docstring): three views of one stalling target."""
    server = StallingServer()
    try:
        opened = gate_result(server.url, run_time, f"--gate-load-rate={rate:g}")
        capped = gate_result(
            server.url, run_time, f"--gate-load-rate={rate:g}", "--gate-load-max-inflight=4"
        )
        closed = gate_result(server.url, run_time, "--gate-users=4")
    finally:
        server.stop()

    def total(result: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = next(r for r in result["endpoints"] if r["scope"] == "all")
        return found

    truth = {p: true_percentile_ms(p) for p in (95.0, 99.0)}
    rows = [
        (f"open model {rate:g}/s, corrected", total(opened), "corrected_p", opened),
        (f"open model {rate:g}/s, service", total(opened), "service_p", opened),
        ("open, 4 in-flight slots, corrected", total(capped), "corrected_p", capped),
        ("open, 4 in-flight slots, service", total(capped), "service_p", capped),
        ("closed model, 4 users", total(closed), "service_p", closed),
    ]
    print(
        f"\nstall {STALL_S:g} s in every {PERIOD_S:g} s, {run_time} s runs; truth "
        f"p95 {truth[95.0]:.0f} ms, p99 {truth[99.0]:.0f} ms"
    )
    print(f"{'':36s} {'requests':>8s} {'p95':>9s} {'error':>8s} {'p99':>9s} {'error':>8s}  verdict")
    for label, row, prefix, result in rows:
        cells = []
        for p in (95.0, 99.0):
            value = float(row[f"{prefix}{p:g}"])
            cells.append(f"{value:7.0f}ms {(value - truth[p]) / truth[p]:+8.1%}")
        print(f"{label:36s} {row['requests']:8d} {' '.join(cells)}  {result['verdict']}")
    corrected = total(opened)
    worst = max(
        abs(float(corrected[f"corrected_p{p:g}"]) - truth[p]) / truth[p] for p in (95.0, 99.0)
    )
    print(f"open model corrected, worst relative error {worst:.1%} (goal <= 10 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-time", type=int, default=12)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stall-run-time", type=int, default=20)
    parser.add_argument("--rate", type=float, default=40.0)
    args = parser.parse_args()
    percentile_accuracy(args)
    coordinated_omission(args.stall_run_time, args.rate)


def percentile_accuracy(args: argparse.Namespace) -> None:
    """Part 1 (see the module docstring): gate and Locust percentiles vs the exact ones."""
    server = KnownLatencyServer(args.seed)
    with tempfile.TemporaryDirectory(prefix="opsgate-accuracy-") as tmp:
        work = Path(tmp)
        (work / "pytest.ini").write_text("[pytest]\n")
        (work / "known.py").write_text(LOCUSTFILE)
        raw_path = work / "raw.json"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--gate=load", f"--base-url={server.url}", "--no-gate-ready",
            f"--gate-locustfile={work / 'known.py'}", f"--gate-users={args.users}",
            f"--gate-run-time={args.run_time}s", "--gate-slo=p99 < 10s",
        ]  # fmt: skip
        env = {**__import__("os").environ, "OPSGATE_BENCH_RAW": str(raw_path)}
        try:
            subprocess.run(command, cwd=work, env=env, capture_output=True, check=False)
        finally:
            server.stop()
        folder = next((work / "gate-artifacts").iterdir())
        result = json.loads((folder / "opsgate-result.json").read_text())
        locust_stats = json.loads((folder / "locust.json").read_text())
        raw = json.loads(raw_path.read_text())
    gate = next(row for row in result["endpoints"] if row["scope"] == "GET /")
    entry = next(e for e in locust_stats if e["name"] == "/")
    print(
        f"{len(raw)} raw samples, gate counted {gate['requests']}, Locust {entry['num_requests']}"
        f" ({args.users} users, {args.run_time} s, seed {args.seed})"
    )
    print(f"{'':5s} {'exact':>9s} {'gate':>9s} {'error':>8s} {'locust':>9s} {'error':>8s}")
    worst_gate = worst_locust = 0.0
    for p in PERCENTILES:
        exact = nearest_rank(raw, p)
        ours = float(gate[f"p{p:g}"])
        theirs = locust_percentile(entry["response_times"], entry["num_requests"], p)
        gate_error = (ours - exact) / exact
        locust_error = (theirs - exact) / exact
        worst_gate = max(worst_gate, abs(gate_error))
        worst_locust = max(worst_locust, abs(locust_error))
        print(
            f"p{p:<4g} {exact:8.2f}ms {ours:8.2f}ms {gate_error:+8.3%}"
            f" {theirs:7.0f}ms {locust_error:+8.3%}"
        )
    print(f"worst relative error: gate {worst_gate:.3%} (goal <= 1 %), Locust {worst_locust:.3%}")


if __name__ == "__main__":
    main()
