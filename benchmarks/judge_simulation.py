"""The statistical judge by simulation: false alarms against α, detection, and time saved early.

    python benchmarks/judge_simulation.py [--runs 10000] [--pairs 1000] [--seed 1]
                                          [--sizes 150,1000] [--speed]

Early decisions (pytest_opsgate.measure.sequential) on the SLO ``p99 < B``: a simulated load
run lasts --duration seconds at --rps requests per second and the gate looks once a second;
each second, the requests at or over B are Binomial(rps, θ).

- At the boundary, θ = 1 %: the share of runs that ever fail early (the SLO is not lost, so
  every one is a false alarm) and that ever pass early (not secured either), against α.
- A clearly failing service (θ = 3 %) and a clearly passing one (θ = 0.2 %): the median share
  of the run saved by stopping at the early decision (0 for a run never decided early).

The two-sample decision (pytest_opsgate.measure.compare, floor 10 %, min 30 samples):
baseline and current latencies lognormal with a 100 ms median and log-sd σ, failures 0.5 % on
both sides, 150 and 1000 samples per side. A/A: the same distribution twice, where every FAIL
is a false alarm. Slowdown: every current latency x 1.2. Each prints the shares of PASS,
INCONCLUSIVE and FAIL, and which row of the decision table made the FAILs.

--speed adds, for two 100k-sample histograms, how long compare() takes relative to reading
both histograms' buckets (the least any bucket-based method must do).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

from pytest_opsgate.measure.compare import Decision, RegressionFloor, compare, decide
from pytest_opsgate.measure.histogram import LatencyHistogram
from pytest_opsgate.measure.sequential import Outcome, SequentialSlo
from pytest_opsgate.measure.twosample import Buckets

ALPHA = 0.02
Q = 0.01  # p99: at most 1 % of requests may reach the budget


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(n, p) draw by inversion (Python 3.11 has no binomialvariate)."""
    u, k = rng.random(), 0
    term = (1 - p) ** n
    cdf = term
    while u > cdf and k < n:
        term *= (n - k) / (k + 1) * p / (1 - p)
        k += 1
        cdf += term
    return k


def load_run(rng: random.Random, share: float, rps: int, duration: int) -> tuple[int, int]:
    """The first second at which the run would fail early and pass early (duration+1: never)."""
    slo = SequentialSlo(Q, alpha=ALPHA)
    first_fail = first_pass = duration + 1
    bad = total = 0
    for second in range(1, duration + 1):
        bad += binomial(rng, rps, share)
        total += rps
        evidence = slo.update(bad, total)
        if evidence.outcome is Outcome.FAIL_EARLY and first_fail > duration:
            first_fail = second
        if evidence.secured >= 1 / ALPHA and first_pass > duration:
            first_pass = second
        if first_fail <= duration and first_pass <= duration:
            break
    return first_fail, first_pass


def early_decisions(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    runs, duration = args.runs, args.duration
    print(
        f"Early decisions on p99 < B (allowed share 1 %), α = {ALPHA:g}: {runs:,} runs of "
        f"{duration} s at {args.rps} requests/s, one look per second"
    )
    boundary = [load_run(rng, Q, args.rps, duration) for _ in range(runs)]
    fails = sum(f <= duration for f, _p in boundary) / runs
    passes = sum(p <= duration for _f, p in boundary) / runs
    se = (ALPHA * (1 - ALPHA) / runs) ** 0.5
    print(f"  at the boundary (1 % slow): early FAIL in {fails:.2%} of runs, α = {ALPHA:.0%}")
    print(f"  at the boundary (1 % slow): early PASS in {passes:.2%} of runs, α = {ALPHA:.0%}")
    print(f"  (one binomial standard error at α: {se:.2%})")
    clear = (("clearly failing (3 % slow)", 0.03, 0), ("clearly passing (0.2 % slow)", 0.002, 1))
    for label, share, pick in clear:
        times = [load_run(rng, share, args.rps, duration)[pick] for _ in range(runs)]
        saved = [max(0.0, 1 - t / duration) for t in times]
        decided = sum(t <= duration for t in times) / runs
        verdict = "FAIL" if pick == 0 else "PASS"
        print(
            f"  {label}: early {verdict} in {decided:.1%} of runs, median share of the run "
            f"saved {statistics.median(saved):.0%}"
        )


def lognormal(rng: random.Random, n: int, median_ms: float, sigma: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for _ in range(n):
        h.record(median_ms * rng.lognormvariate(0, sigma))
    return h


def two_sample(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed + 1)
    floor = RegressionFloor(relative=0.10)
    print(
        f"\nTwo-sample decision, floor 10 %, α = {ALPHA:g}, {args.pairs:,} comparisons per row "
        "(lognormal, median 100 ms, failures 0.5 % both sides)"
    )
    print("  case               σ     n/side   PASS    INCONCL  FAIL    FAIL rows")
    for sigma in (0.25, 0.5):
        for n in args.sizes:
            for case, factor in (("A/A", 1.0), ("20 % slowdown", 1.2)):
                outcomes: Counter[Decision] = Counter()
                rows: Counter[int] = Counter()
                for _ in range(args.pairs):
                    c = compare(
                        lognormal(rng, n, 100, sigma),
                        lognormal(rng, n, 100 * factor, sigma),
                        baseline_failures=binomial(rng, n, 0.005),
                        current_failures=binomial(rng, n, 0.005),
                        alpha=ALPHA,
                    )
                    judgement = decide(c, floor)
                    outcomes[judgement.decision] += 1
                    if judgement.decision is Decision.FAIL:
                        rows[judgement.row] += 1
                order = (Decision.PASS, Decision.INCONCLUSIVE, Decision.FAIL)
                shares = [outcomes[d] / args.pairs for d in order]
                row_text = " ".join(f"{r}:{k}" for r, k in sorted(rows.items())) or "-"
                print(
                    f"  {case:<18} {sigma:<5} {n:<8} "
                    + " ".join(f"{s:<7.1%}" for s in shares)
                    + f" {row_text}"
                )
    print("  (the FAIL share of A/A is the false-alarm rate; of the slowdown, the detection rate)")


def speed(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed + 2)
    print("\ncompare() of two 100k-sample histograms, relative to reading their buckets:")
    for sigma in (0.1, 0.5):
        base, cur = lognormal(rng, 100_000, 100, sigma), lognormal(rng, 100_000, 110, sigma)

        def best(action: Callable[[], object]) -> float:
            times = []
            for _ in range(5):
                start = time.perf_counter()
                action()
                times.append(time.perf_counter() - start)
            return min(times)

        read = best(lambda b=base, c=cur: (Buckets.of(b), Buckets.of(c)))
        full = best(lambda b=base, c=cur: compare(b, c))
        buckets = len(Buckets.of(base).values)
        print(f"  σ = {sigma} ({buckets:,} buckets a side): {full / read:.1f}x the read")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="simulated load runs per case")
    parser.add_argument("--pairs", type=int, default=1000, help="comparisons per table row")
    parser.add_argument("--rps", type=int, default=50)
    parser.add_argument("--duration", type=int, default=60, help="seconds per load run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[150, 1000],
        help="samples per side of the two-sample rows, comma-separated (default 150,1000)",
    )
    parser.add_argument("--speed", action="store_true", help="also time compare() as a ratio")
    args = parser.parse_args()
    early_decisions(args)
    two_sample(args)
    if args.speed:
        speed(args)


if __name__ == "__main__":
    main()
