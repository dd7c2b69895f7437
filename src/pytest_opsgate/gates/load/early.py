"""Early decisions while the load runs: stop with FAIL once an SLO is surely lost, and (asked
for with ``--gate-load-early-pass``) with PASS once every SLO is surely held.

Each SLO becomes a question about a share of requests, tracked by an anytime-valid test
(:class:`pytest_opsgate.measure.sequential.SequentialSlo`), so looking every second does not
inflate false alarms:

- ``pXX < B`` holds when fewer than (100 - XX) % of samples reach B; the requests that count
  against it are those in B's histogram bucket or above (for ``<=``, above B's bucket), the
  same rule as the SLO's own verdict and the error budget;
- ``error_rate < B`` holds when the share of failed requests is below B.

A few SLOs are lost for certain, no statistics needed: ``max`` once a sample reaches the
budget, ``min`` once one falls to it, ``requests`` once the count passes it. Others (``avg``,
``rps``, bounds from below) have no early form: they are judged at the end only, and an
early PASS waits for them, so with one of them in the run there is none.

An early PASS needs every SLO secured, each with at least ``--gate-min-samples`` samples
(successful ones, for latency), and still secured with every request in flight counted
against it (a stop kills them unanswered, and a hanging or very slow answer would never be
measured); what else could spoil the run (a saturated or late
generator, a lost worker, a dead target) the supervisor checks before it stops, and the
verdict at the end is still the decision table's, over everything measured. Pure logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ...measure.histogram import LatencyHistogram
from ...measure.sequential import Outcome, SequentialSlo
from ...slo.evaluate import resolve_stats

if TYPE_CHECKING:
    from ...measure.metrics import EndpointStats, MetricsStore
    from ...slo.evaluate import SLO

__all__ = ["ALPHA", "EarlyDecision", "EarlyJudge", "violations"]

# The chance that a held SLO is called lost (or a lost one held) early, per SLO.
ALPHA = 0.02


@dataclass(frozen=True)
class EarlyDecision:
    """Stop now: ``fail`` (an SLO is lost) or ``pass`` (every SLO is secured), and why."""

    outcome: Literal["fail", "pass"]
    reason: str
    slo: str = ""  # the SLO text a fail is about


def violations(slo: SLO, stats: EndpointStats) -> tuple[int, int] | None:
    """``(against, total)``: the requests that count against ``slo`` and all of them, or None
    when the SLO is not a share of requests (see the module docstring)."""
    if slo.statistic == "error_rate" and slo.op in ("<", "<="):
        return stats.failures, stats.requests
    if slo.kind != "duration" or not slo.statistic.startswith("p") or slo.op not in ("<", "<="):
        return None
    histogram = stats.histogram
    limit = LatencyHistogram.at_resolution(slo.budget)
    against = sum(
        count
        for low, _high, count in histogram.buckets()
        if (low >= limit if slo.op == "<" else low > limit)
    )
    return against, histogram.count


def _sequential(slo: SLO, early_pass: bool, alpha: float) -> SequentialSlo | None:
    label = slo.text
    try:
        if slo.statistic == "error_rate" and slo.op in ("<", "<="):
            return SequentialSlo.for_error_rate(
                slo.budget, alpha=alpha, label=label, early_pass=early_pass
            )
        if slo.kind == "duration" and slo.statistic.startswith("p") and slo.op in ("<", "<="):
            return SequentialSlo.for_percentile(
                float(slo.statistic[1:]), alpha=alpha, label=label, early_pass=early_pass
            )
    except ValueError:
        return None  # p100, or a zero or full error budget: no share to test
    return None


def certain_loss(slo: SLO, stats: EndpointStats) -> str | None:
    """Why ``slo`` is already lost whatever comes next, for statistics that only grow worse."""
    if slo.statistic == "requests" and slo.op in ("<", "<="):
        broken = stats.requests >= slo.budget if slo.op == "<" else stats.requests > slo.budget
        if broken:
            return f"{slo.text}: {stats.requests} requests already, and the count only grows"
    if slo.statistic == "error_rate" and slo.op == "<=" and slo.budget <= 0 and stats.failures:
        return f"{slo.text}: {stats.failures} request(s) failed already"
    if slo.kind != "duration" or not stats.samples:
        return None
    limit = LatencyHistogram.at_resolution(slo.budget)
    if slo.statistic == "max" and slo.op in ("<", "<="):
        worst = LatencyHistogram.at_resolution(stats.histogram.max())
        if worst >= limit if slo.op == "<" else worst > limit:
            return f"{slo.text}: a sample already took {stats.histogram.max():g} ms"
    if slo.statistic == "min" and slo.op in (">", ">="):
        best = LatencyHistogram.at_resolution(stats.histogram.min())
        if best <= limit if slo.op == ">" else best < limit:
            return f"{slo.text}: a sample already took only {stats.histogram.min():g} ms"
    return None


@dataclass
class EarlyJudge:
    """The running early decisions of one load run's SLOs."""

    slos: list[SLO]
    min_samples: int = 1
    early_pass: bool = False
    alpha: float = ALPHA
    secured: dict[str, str] = field(default_factory=dict)  # SLO text -> why it is held
    lost_slo: str | None = None  # the SLO a fail decision was about
    unanswered: str = ""  # why requests in flight held back an early pass at the last look
    _tests: list[SequentialSlo | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._tests = [_sequential(slo, self.early_pass, self.alpha) for slo in self.slos]

    def check(self, store: MetricsStore, inflight: int = 0) -> EarlyDecision | None:
        """Look at everything measured so far; a decision, or None to go on.

        ``inflight`` requests were sent and not answered yet: an SLO is only secured if it
        would still be with every one of them against it, since a stop now would never
        learn how (or whether) they end.
        """
        all_secured = bool(self.slos)
        self.unanswered = ""
        for slo, test in zip(self.slos, self._tests, strict=True):
            stats = resolve_stats(slo, store)
            if stats is None:
                all_secured = False  # never requested yet: nothing is known about it
                continue
            lost = certain_loss(slo, stats)
            if lost is not None:
                self.lost_slo = slo.text
                return EarlyDecision("fail", f"{lost}: lost for certain", slo.text)
            counts = violations(slo, stats) if test is not None else None
            if test is None or counts is None:
                all_secured = False  # judged at the end only
                continue
            try:
                evidence = test.update(*counts)
            except ValueError:
                all_secured = False  # counts went backwards: a broken merge, decide nothing
                continue
            if evidence.outcome is Outcome.FAIL_EARLY:
                self.lost_slo = slo.text
                return EarlyDecision("fail", evidence.reason, slo.text)
            if evidence.outcome is not Outcome.PASS_EARLY or not self._enough(slo, stats):
                all_secured = False
            elif inflight and not test.holds_with(counts[0] + inflight, counts[1] + inflight):
                all_secured = False
                self.unanswered = (
                    f"{slo.text} is not held if the {inflight} request(s) still unanswered "
                    "went against it"
                )
            else:
                self.secured[slo.text] = evidence.reason
        if self.early_pass and all_secured:
            needed = max(1, self.min_samples)
            return EarlyDecision(
                "pass",
                f"all {len(self.slos)} SLOs are held with {(1 - self.alpha) * 100:g} % "
                f"confidence, each on at least {needed} sample{'s' if needed != 1 else ''}",
            )
        return None

    def _enough(self, slo: SLO, stats: EndpointStats) -> bool:
        """As many samples as the verdict at the end will require."""
        needed = max(1, self.min_samples)
        if slo.kind == "duration":
            return stats.successes >= needed and stats.samples >= needed
        return stats.requests >= needed
