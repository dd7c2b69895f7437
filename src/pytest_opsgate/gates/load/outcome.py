"""From recorder snapshots to a verdict: merging workers, early abort, and the exit code.

Pure logic shared by the Locust extension (which decides) and tests (which check the
rules with plain function calls). The verdict itself comes from the gate's one
:func:`pytest_opsgate.verdict.decide`: exit codes 0 pass, 1 fail, 2 aborted, 11 error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...measure.histogram import LatencyHistogram
from ...measure.metrics import MetricsStore
from ...slo.evaluate import OPS, evaluate_slo, resolve_stats
from ...verdict import Evidence, PhaseEvidence, SLOEvidence, decide
from .recorder import DOWN_AFTER_S, DOWN_MIN_FAILURES

if TYPE_CHECKING:
    from ...slo.evaluate import SLO, SLOResult
    from ...verdict import Decision

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
    late_workers: list[str] = field(default_factory=list)  # final report never arrived
    target_down: dict[str, Any] | None = None
    interrupted: str | None = None  # the signal that stopped the run, in words
    ended_early: str | None = None  # the run stopped before its run time, not by the gate
    started: bool = True


def distrusted(results: list[SLOResult], why: str) -> list[SLOResult]:
    """SLO failures measured by an untrustworthy generator become errors, never FAIL."""
    return [
        dataclasses.replace(r, verdict="error", reason=f"{r.reason}; not trusted: {why}")
        if r.verdict == "failed"
        else r
        for r in results
    ]


def load_evidence(results: list[SLOResult], health: Health, requests_total: int) -> Evidence:
    """The verdict core's view of one Locust run (the extension asks ``decide`` with it)."""
    if health.saturated:
        results = distrusted(results, "the load generator was saturated")
    errors = [
        text for text in (health.config_error, health.saturated, health.workers) if text is not None
    ]
    if health.late_workers:
        errors.append(
            f"load worker(s) {', '.join(health.late_workers)} never sent a final report, so "
            "their last requests are missing; the partial figures are not judged"
        )
    if health.ended_early:
        errors.append(health.ended_early)
    if health.started and requests_total == 0 and not health.config_error:
        errors.append("insufficient samples: no request was sent")
    failures = []
    if health.target_down is not None:
        down = health.target_down
        failures.append(f"target stopped answering at t={down['at_s']:.1f} s: {down['error']}")
    if health.interrupted:
        phase = PhaseEvidence("load", interrupted=1)
    elif health.started:
        phase = PhaseEvidence("load", passed=1)
    else:
        phase = PhaseEvidence("load", not_run="the load test never started")
    return Evidence(
        phases=(phase,),
        slos=tuple(
            SLOEvidence(
                name=r.slo.text,
                state=r.verdict,
                reason=r.reason,
                gate="load",
                successes=r.successes if r.slo.kind == "duration" else None,
                min_samples=1,
            )
            for r in results
        ),
        signal=health.interrupted,
        failures=tuple(failures),
        errors=tuple(errors),
    )


def decide_load(results: list[SLOResult], health: Health, requests_total: int) -> Decision:
    """The verdict of one Locust run, by the gate's one decision table."""
    return decide(load_evidence(results, health, requests_total))


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


def judged_slos(given: list[SLO], *, default_guard: bool = True) -> list[SLO]:
    """The SLOs a load run is judged by: the given ones, each latency SLO's error-rate guard,
    and (unless switched off) the run-wide ``error_rate < 1%`` that user SLOs never remove."""
    from ...slo.evaluate import with_guards

    return with_guards(given, run_wide=default_guard)
