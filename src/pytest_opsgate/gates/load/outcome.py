"""From recorder snapshots to a verdict: merging workers, early abort, and the exit code.

Pure logic shared by the Locust extension (which decides) and tests (which check the
rules with plain function calls). Exit codes follow the gate: 0 pass, 1 fail, 11 error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...measure.histogram import LatencyHistogram
from ...measure.metrics import MetricsStore
from ...slo.evaluate import OPS, evaluate_slo, resolve_stats
from .recorder import DOWN_AFTER_S, DOWN_MIN_FAILURES

if TYPE_CHECKING:
    from ...slo.evaluate import SLO, SLOResult

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_ERROR = 11
# When projecting how many requests are still to come, assume up to this many times the
# current rate, so a ramp-up does not make a recoverable error rate look hopeless.
PROJECTION_FACTOR = 2.0
PERCENTILES = (50.0, 90.0, 95.0, 99.0)


class SnapshotMerger:
    """The latest snapshot of each worker, merged on demand."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.bins: dict[int, dict[str, list[Any]]] = {}
        self.without_extension: set[str] = set()

    def add(self, worker: str, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` as ``worker``'s current state and file its timeline bins."""
        self.latest[worker] = snapshot
        for entry in snapshot.get("bins", []):
            self.bins.setdefault(int(entry[0]), {})[worker] = entry

    def store(self) -> MetricsStore:
        """Every worker's measured requests in one store (histograms added)."""
        merged = MetricsStore()
        for snapshot in self.latest.values():
            merged.merge(MetricsStore.from_dict(snapshot.get("store", {})))
        return merged

    def worker_requests(self) -> dict[str, int]:
        """Requests each worker sent, warmup included."""
        return {worker: int(s.get("requests_total", 0)) for worker, s in self.latest.items()}

    def requests_total(self) -> int:
        """Requests sent by all workers, warmup included."""
        return sum(self.worker_requests().values())

    def saturated(self) -> list[str]:
        """Workers whose own CPU monitor reported saturation."""
        return sorted(w for w, s in self.latest.items() if s.get("cpu", {}).get("saturated"))

    def max_cpu(self) -> float:
        """The highest CPU percentage any worker reported."""
        return max(
            (float(s.get("cpu", {}).get("max", 0.0)) for s in self.latest.values()), default=0.0
        )

    def not_final(self) -> list[str]:
        """Workers whose last report came before they stopped."""
        return sorted(w for w, s in self.latest.items() if not s.get("final"))

    def target_down(self, *, at_end: bool) -> dict[str, Any] | None:
        """When every worker sees only transport errors: since when, and the first error."""
        if not self.latest:
            return None
        states = [s.get("transport", {}) for s in self.latest.values() if s.get("requests_total")]
        if not states or any(st.get("down_since_s") is None for st in states):
            return None
        count = sum(int(st.get("down_count", 0)) for st in states)
        if count < DOWN_MIN_FAILURES:
            return None
        since = min(float(st["down_since_s"]) for st in states)
        if not at_end:
            elapsed = min(float(s.get("elapsed_s", 0.0)) for s in self.latest.values())
            if elapsed - since < DOWN_AFTER_S:
                return None
        first = min(states, key=lambda st: float(st["down_since_s"]))
        last_ok = [float(st["last_ok_s"]) for st in states if st.get("last_ok_s") is not None]
        return {
            "at_s": round(since, 3),
            "failures": count,
            "error": str(first.get("down_error", "")),
            "last_success_s": round(max(last_ok), 3) if last_ok else None,
        }

    def errors(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most frequent failure messages over all workers."""
        counts: dict[tuple[str, str], int] = {}
        for snapshot in self.latest.values():
            for scope, error, count in snapshot.get("errors", []):
                counts[(scope, error)] = counts.get((scope, error), 0) + int(count)
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
        return [{"scope": s, "error": e, "count": c} for (s, e), c in ranked]

    def timeline(self) -> list[dict[str, Any]]:
        """Per-second requests, failures and latency percentiles, all workers merged."""
        points = []
        for index in sorted(self.bins):
            hist = LatencyHistogram()
            requests = failures = 0
            for _index, n, f, encoded in self.bins[index].values():
                requests += int(n)
                failures += int(f)
                hist.merge(LatencyHistogram.decode(encoded))
            point: dict[str, Any] = {"t": index, "requests": requests, "failures": failures}
            for p in (50.0, 95.0, 99.0):
                point[f"p{p:g}"] = hist.percentile(p) if hist.count else None
            points.append(point)
        return points

    def recent_rps(self, seconds: int = 3) -> float | None:
        """Requests per second over the last few complete seconds, for progress lines."""
        if not self.bins:
            return None
        recent = sorted(self.bins)[-seconds:]
        total = sum(int(entry[1]) for index in recent for entry in self.bins[index].values())
        return total / len(recent)

    def recent_percentile(self, p: float, seconds: int = 3) -> float | None:
        """The p-th percentile over the last few complete seconds, for progress lines."""
        if not self.bins:
            return None
        hist = LatencyHistogram()
        for index in sorted(self.bins)[-seconds:]:
            for entry in self.bins[index].values():
                hist.merge(LatencyHistogram.decode(entry[3]))
        return hist.percentile(p) if hist.count else None


@dataclass
class AbortWatch:
    """Decides, while the load runs, that going on is pointless (see :meth:`check`)."""

    slos: list[SLO]
    min_samples: int = 1
    grace_s: float = 5.0
    broken_since: dict[int, float] = field(default_factory=dict)

    def check(self, store: MetricsStore, now_s: float, remaining_s: float | None) -> str | None:
        """A reason to stop now, or None.

        Two rules: an error-rate budget that cannot be met even if every request still to
        come succeeds (at up to twice the current rate for the rest of the run), and an SLO
        marked ``[abort]`` that has stayed broken for the grace period.
        """
        for index, slo in enumerate(self.slos):
            if slo.statistic == "error_rate" and slo.op in ("<", "<=") and remaining_s is not None:
                reason = self._hopeless_error_rate(slo, store, remaining_s)
                if reason:
                    return reason
            if not slo.abort:
                continue
            result = evaluate_slo(slo, store, min_samples=self.min_samples)
            if result.verdict != "failed":
                self.broken_since.pop(index, None)
                continue
            since = self.broken_since.setdefault(index, now_s)
            if now_s - since >= self.grace_s:
                return f"{slo.text!r} broken for {now_s - since:.1f} s: {result.reason}"
        return None

    def _hopeless_error_rate(self, slo: SLO, store: MetricsStore, remaining_s: float) -> str:
        stats = resolve_stats(slo, store)
        if stats is None or stats.requests < max(1, self.min_samples) or not stats.failures:
            return ""
        rate = stats.rps or 0.0
        upcoming = rate * PROJECTION_FACTOR * max(0.0, remaining_s)
        best = stats.failures / (stats.requests + upcoming)
        if OPS[slo.op](best, slo.budget):
            return ""
        scope = f" of {slo.scope}" if slo.scope else ""
        return (
            f"error_rate{scope} is {stats.failures / stats.requests:.2%} after "
            f"{stats.requests} requests; even if every remaining request succeeded it would "
            f"end at {best:.2%}, not {slo.op} {slo.budget:.2%} ({slo.text!r})"
        )


@dataclass
class Health:
    """What besides SLOs decides a load verdict."""

    config_error: str | None = None
    saturated: str | None = None
    workers: str | None = None
    target_down: dict[str, Any] | None = None
    interrupted: bool = False


def decide(
    results: list[SLOResult], health: Health, requests_total: int
) -> tuple[str, int, list[str]]:
    """``(verdict, exit code, reasons)``: pass 0, fail 1, error 11.

    Order: a measurement that cannot be trusted (bad configuration, saturated generator,
    missing worker) is an error whatever the SLOs say; a target that stopped answering is
    a failure; then SLO errors (no or too few samples) win over SLO failures, as in the
    gate's overall verdict; no request at all is never a pass.
    """
    errors = [
        text for text in (health.config_error, health.saturated, health.workers) if text is not None
    ]
    if errors:
        return "error", EXIT_ERROR, errors
    if health.target_down is not None:
        down = health.target_down
        return (
            "fail",
            EXIT_FAIL,
            [f"target stopped answering at t={down['at_s']:.1f} s: {down['error']}"],
        )
    if requests_total == 0:
        return "error", EXIT_ERROR, ["insufficient samples: no request was sent"]
    bad = [r for r in results if r.verdict == "error"]
    if bad:
        return "error", EXIT_ERROR, [f"{r.slo.text}: {r.reason}" for r in bad]
    failed = [r for r in results if r.verdict == "failed"]
    if failed:
        return "fail", EXIT_FAIL, [f"{r.slo.text}: {r.reason}" for r in failed]
    return "pass", EXIT_PASS, []


def endpoint_rows(store: MetricsStore) -> list[dict[str, Any]]:
    """Per-endpoint figures (and a total row) for the JSON result and the terminal."""
    rows = []
    for scope in [*store.scopes(), None]:
        stats = store.total() if scope is None else store.get(scope)
        if stats is None:
            continue
        row: dict[str, Any] = {
            "scope": scope or "all",
            "requests": stats.requests,
            "failures": stats.failures,
            "error_rate": stats.error_rate,
            "rps": stats.rps,
            "window_s": stats.window_s,
        }
        for p in PERCENTILES:
            row[f"p{p:g}"] = stats.histogram.percentile(p) if stats.samples else None
        row["max"] = stats.histogram.max() if stats.samples else None
        row["mean"] = stats.histogram.mean() if stats.samples else None
        rows.append(row)
    return rows


def default_slos() -> list[SLO]:
    """What a run with no SLO at all is judged by: a low error rate."""
    from ...slo.evaluate import parse_slo

    return [parse_slo("error_rate < 1%")]
