"""From merged measurements to a verdict: early abort, health, evidence and the exit code.

Pure logic shared by the Locust extension (which decides) and tests (which check the
rules with plain function calls). The verdict itself comes from the gate's one
:func:`pytest_opsgate.verdict.decide`: exit codes 0 pass, 1 fail, 2 aborted, 11 error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...slo.evaluate import OPS, resolve_stats
from ...verdict import Evidence, PhaseEvidence, SLOEvidence, decide

if TYPE_CHECKING:
    from ...measure.metrics import EndpointStats, MetricsStore
    from ...slo.evaluate import SLO, SLOResult
    from ...verdict import Decision

# When projecting how many requests are still to come, assume up to this many times the
# current rate, so a ramp-up does not make a recoverable error rate look hopeless.
PROJECTION_FACTOR = 2.0
PERCENTILES = (50.0, 90.0, 95.0, 99.0)


@dataclass
class AbortWatch:
    """Decides, while the load runs, that an error-rate budget can no longer be met."""

    slos: list[SLO]
    min_samples: int = 1

    def check(self, store: MetricsStore, now_s: float, remaining_s: float | None) -> str | None:
        """A reason to stop now, or None.

        An error-rate budget that cannot be met even if every request still to come
        succeeds (at up to twice the current rate for the rest of the run). The statistical
        early decisions, which need no projection, are :class:`.early.EarlyJudge`'s.
        """
        if remaining_s is None:
            return None
        for slo in self.slos:
            if slo.statistic == "error_rate" and slo.op in ("<", "<="):
                reason = self._hopeless_error_rate(slo, store, remaining_s)
                if reason:
                    return reason
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
    behind: str | None = None  # the open model's generator fell behind its schedule
    lost: str | None = None  # an SLO the early decisions found lost (the run stopped)
    behind_generator: bool = False  # ...because of the generator itself, not a full cap
    task_errors: str | None = None  # the locustfile's tasks raised: the load ran not as written
    record_errors: str | None = None  # requests the gate failed to count
    started: bool = True

    @property
    def untrusted(self) -> str | None:
        """Why latency failures measured by this generator are not trusted, if they are not."""
        if self.saturated:
            return "the load generator was saturated"
        if self.behind_generator:
            return "the load generator itself started arrivals late"
        return None


def behind_reason(
    figures: dict[str, Any] | None,
    max_inflight: int,
    *,
    tolerance_s: float,
    limit: float,
) -> tuple[str | None, bool]:
    """Did the open model's generator fall behind its schedule? The reason, and whether the
    generator itself (not arrivals waiting for one of ``max_inflight`` slots) was late.

    An arrival is behind when it started more than ``tolerance_s`` after its time, or never
    started by the end; more than ``limit`` of the scheduled arrivals behind is an ERROR: the
    rate was not kept, and is never silently a lower one.
    """
    if not figures:
        return None, False
    scheduled = int(figures.get("scheduled", 0))
    late_cap = int(figures.get("late_cap", 0))
    late_generator = int(figures.get("late_generator", 0))
    missed = int(figures.get("missed", 0))
    missed_cap = int(figures.get("missed_cap", 0))
    behind = late_cap + late_generator + missed
    if scheduled <= 0 or behind <= limit * scheduled:
        return None, False
    generator = late_generator + missed - missed_cap
    text = (
        f"the load generator fell behind by {behind / scheduled:.1%}: {behind} of {scheduled} "
        f"scheduled arrivals started more than {tolerance_s * 1000:g} ms late or never "
        f"({late_cap + missed_cap} waited for one of the {max_inflight} in-flight slots, "
        f"{generator} were late because the generator itself was); the rate was not kept. "
        "Raise --gate-load-max-inflight when a slow target holds the slots, or add workers "
        "(--gate-load-workers) when the generator is busy"
    )
    return text, generator > limit * scheduled


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
    if health.untrusted:
        results = distrusted(results, health.untrusted)
    errors = [
        text
        for text in (
            health.config_error,
            health.saturated,
            health.workers,
            health.behind,
            health.task_errors,
            health.record_errors,
        )
        if text is not None
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
    failures: list[str] = []
    if health.lost is not None:
        # Lost on the generator's own numbers is not the service's failure.
        (errors if health.untrusted else failures).append(f"lost early: {health.lost}")
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


def task_errors_reason(counts: dict[str, int]) -> str | None:
    """Why task exceptions make the run unjudgeable: a task that raised skipped the rest of
    what it was written to request, so the requests measured are not the load asked for."""
    if not counts:
        return None
    return (
        f"the locustfile's tasks raised {sum(counts.values())} exception(s), so the load did "
        f"not run as written ({_most_frequent(counts)}); fix the locustfile, or the service "
        "whose answers it could not use"
    )


def _most_frequent(counts: dict[str, int], shown: int = 3) -> str:
    """``"12x text; 3x other"``: the most frequent texts first."""
    top = sorted(counts.items(), key=lambda item: -item[1])[:shown]
    return "; ".join(f"{count}x {text}" for text, count in top)


def record_errors_reason(counts: dict[str, int]) -> str | None:
    """Why request events the gate could not count make the run unjudgeable: one of them
    may be the failure that decides the verdict."""
    if not counts:
        return None
    total = sum(counts.values())
    return f"the gate could not count {total} request event(s): {_most_frequent(counts)}"


def decide_load(results: list[SLOResult], health: Health, requests_total: int) -> Decision:
    """The verdict of one Locust run, by the gate's one decision table."""
    return decide(load_evidence(results, health, requests_total))


def _stats(store: MetricsStore, scope: str | None) -> EndpointStats | None:
    return store.total() if scope is None else store.get(scope)


def _percentiles(stats: EndpointStats | None, prefix: str) -> dict[str, float | None]:
    has = stats is not None and stats.samples > 0
    return {
        f"{prefix}p{p:g}": stats.histogram.percentile(p) if has and stats else None
        for p in (50.0, 95.0, 99.0)
    }


def endpoint_rows(
    store: MetricsStore,
    *,
    service: MetricsStore | None = None,
    corrected: MetricsStore | None = None,
) -> list[dict[str, Any]]:
    """Per-endpoint figures (and a total row) for the JSON result and the terminal.

    ``store`` is the judged traffic; ``service`` and ``corrected`` (the open model) add both
    latencies side by side. Without them the judged latency is the service time.
    """
    rows = []
    for scope in [*store.scopes(), None]:
        stats = _stats(store, scope)
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
        row.update(_percentiles(stats if service is None else _stats(service, scope), "service_"))
        if corrected is not None:
            row.update(_percentiles(_stats(corrected, scope), "corrected_"))
        rows.append(row)
    return rows


def judged_slos(given: list[SLO], *, default_guard: bool = True) -> list[SLO]:
    """The SLOs a load run is judged by: the given ones, each latency SLO's error-rate guard,
    and (unless switched off) the run-wide ``error_rate < 1%`` that user SLOs never remove."""
    from ...slo.evaluate import with_guards

    return with_guards(given, run_wide=default_guard)
