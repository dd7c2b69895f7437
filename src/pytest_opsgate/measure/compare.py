"""Compare an endpoint with its baseline and decide: PASS, FAIL or INCONCLUSIVE, with the reason.

:func:`compare` gathers the evidence (statistics in :mod:`.twosample`, all exact from bucket
counts): each side's count and p50/p95/p99, the Mann-Whitney U test, the Hodges-Lehmann shift
with its Moses interval, the tail percentile's difference with its exact bootstrap interval,
and Fisher's exact test on the failure counts. Intervals are two-sided at 1-α.

:func:`decide` applies a :class:`RegressionFloor` (``10%`` of the baseline, ``+5ms``, or the
larger of both) by the table below; the first row that matches wins. The shift floor is taken
on the baseline p50, the tail floor on the baseline's tail percentile.

===  ===========================================================================  ============
row  evidence                                                                     decision
===  ===========================================================================  ============
1    errors: one-sided Fisher p < α/2                                             FAIL
2    fewer than ``min_samples`` latency samples on either side                    INCONCLUSIVE
3    shift interval entirely above the shift floor                                FAIL
4    tail estimable (>= 10 samples beyond its rank on both sides) and its
     interval entirely above the tail floor                                       FAIL
5    shift interval entirely at or below the shift floor                          PASS
6    otherwise: the shift interval straddles the floor                            INCONCLUSIVE
===  ===========================================================================  ============

Why. FAIL needs an interval to clear the floor, so a service slower by exactly the floor
FAILs with probability <= α/2 per row (about α/2 for the tail, whose percentile bootstrap is
not exact in coverage), and far less when nothing changed. PASS needs the whole interval at
or below the floor, so a service slower by exactly the floor PASSes with probability <= α/2.
A wide interval that is not significant is not a PASS (row 6): it is too little evidence, not
evidence of no change; a significant shift that may be under the floor is row 6 too. Fisher's
test is exact at any size, so row 1 comes before the sample count; the normal approximations
behind rows 3-5 are not trusted below ``min_samples`` (default 30). Errors have no floor: any
significant rise in the failure rate FAILs. The tail and the errors only add FAIL evidence:
their intervals are too wide to show the absence of a regression at a gate run's sample
sizes, and their absolute budgets belong to the SLOs.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .twosample import Buckets, fisher_greater, hodges_lehmann, mann_whitney, tail_interval

if TYPE_CHECKING:
    from pytest_opsgate.measure.histogram import LatencyHistogram

__all__ = [
    "TAIL_MIN_BEYOND",
    "Comparison",
    "Decision",
    "Judgement",
    "Latency",
    "RegressionFloor",
    "Side",
    "compare",
    "decide",
]

TAIL_MIN_BEYOND = 10  # samples above the tail rank, per side, before the tail may FAIL


@dataclass(frozen=True)
class Side:
    """One side of a comparison: latency samples, percentiles in ms, request counts."""

    n: int
    p50_ms: float | None  # None without samples
    p95_ms: float | None
    p99_ms: float | None
    failures: int
    requests: int

    @classmethod
    def of(cls, side: Buckets, failures: int, requests: int | None) -> Side:
        def at(p: float) -> float | None:
            return side.at_rank(side.rank(p)) / 1000 if side.n else None

        return cls(
            side.n, at(50), at(95), at(99), failures, side.n if requests is None else requests
        )


@dataclass(frozen=True)
class Latency:
    """The latency evidence; shifts are current - baseline in ms, intervals at 1-α."""

    u: float
    p_slower: float  # Mann-Whitney, one-sided: current is stochastically slower
    p_two_sided: float
    shift_ms: float  # Hodges-Lehmann
    shift_low_ms: float  # Moses interval; infinite when the samples are too few
    shift_high_ms: float
    relative_shift: float  # shift / baseline p50
    tail_percentile: float
    tail_baseline_ms: float
    tail_diff_ms: float
    tail_low_ms: float  # exact percentile bootstrap
    tail_high_ms: float
    tail_estimable: bool  # >= TAIL_MIN_BEYOND samples above the tail rank on both sides


@dataclass(frozen=True)
class Comparison:
    """Everything :func:`decide` needs, and what the reports show."""

    name: str
    alpha: float
    baseline: Side
    current: Side
    latency: Latency | None  # None when a side has no samples
    p_errors: float  # Fisher, one-sided: the current failure rate is higher

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; unbounded interval ends become None."""

        def finite(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: finite(v) for k, v in value.items()}
            return None if isinstance(value, float) and not math.isfinite(value) else value

        return {k: finite(v) for k, v in asdict(self).items()}


def compare(
    baseline: LatencyHistogram,
    current: LatencyHistogram,
    *,
    name: str = "",
    alpha: float = 0.02,
    tail_percentile: float = 99.0,
    baseline_failures: int = 0,
    baseline_requests: int | None = None,
    current_failures: int = 0,
    current_requests: int | None = None,
) -> Comparison:
    """Compare two histograms of one endpoint; requests default to the histogram's count."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha!r} is outside (0, 1); use e.g. 0.02 for 98 % confidence")
    if not 0 < tail_percentile < 100:
        raise ValueError(f"tail percentile {tail_percentile!r} is outside (0, 100); use e.g. 99")
    base, cur = Buckets.of(baseline), Buckets.of(current)
    base_side = Side.of(base, baseline_failures, baseline_requests)
    cur_side = Side.of(cur, current_failures, current_requests)
    p_errors = fisher_greater(
        cur_side.failures, cur_side.requests, base_side.failures, base_side.requests
    )
    latency = None
    if base.n and cur.n:
        u, p_slower, p_two_sided = mann_whitney(base, cur)
        shift, low, high = hodges_lehmann(base, cur, alpha)
        tail_low, tail_high = tail_interval(base, cur, tail_percentile, alpha)
        base_rank, cur_rank = base.rank(tail_percentile), cur.rank(tail_percentile)
        tail_base = base.at_rank(base_rank)
        latency = Latency(
            u=u,
            p_slower=p_slower,
            p_two_sided=p_two_sided,
            shift_ms=shift / 1000,
            shift_low_ms=low / 1000,
            shift_high_ms=high / 1000,
            relative_shift=shift / base.at_rank(base.rank(50)),
            tail_percentile=tail_percentile,
            tail_baseline_ms=tail_base / 1000,
            tail_diff_ms=(cur.at_rank(cur_rank) - tail_base) / 1000,
            tail_low_ms=tail_low / 1000,
            tail_high_ms=tail_high / 1000,
            tail_estimable=min(base.n - base_rank, cur.n - cur_rank) >= TAIL_MIN_BEYOND,
        )
    return Comparison(name, alpha, base_side, cur_side, latency, p_errors)


_TERM = r"\+?\s*(\d+(?:\.\d+)?)\s*(%|ms)"


@dataclass(frozen=True)
class RegressionFloor:
    """The smallest slowdown that counts: a share of the baseline value, ms, or the larger."""

    relative: float = 0.0  # 0.10 for 10 %
    absolute_ms: float = 0.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) and v >= 0 for v in (self.relative, self.absolute_ms)):
            raise ValueError(f"{self!r} has a negative or non-finite part; use e.g. 10% or +5ms")
        if self.relative == self.absolute_ms == 0:
            raise ValueError(
                "a regression floor of zero never lets an unchanged service PASS (its interval "
                "always straddles 0); use a floor such as 10% or +5ms"
            )

    @classmethod
    def parse(cls, text: str) -> RegressionFloor:
        """``"10%"``, ``"+5ms"`` or both, ``"10%,+5ms"``."""
        match = re.fullmatch(rf"\s*{_TERM}(?:\s*,?\s*{_TERM})?\s*", text, re.IGNORECASE)
        groups = [] if match is None else [g for g in match.groups() if g is not None]
        parts = {groups[i + 1].lower(): float(groups[i]) for i in range(0, len(groups), 2)}
        if not groups or len(parts) * 2 != len(groups):
            raise ValueError(
                f"regression floor {text!r} is not understood; write a share of the baseline "
                "like 10%, an absolute shift like +5ms, or both: 10%,+5ms"
            )
        return cls(parts.get("%", 0.0) / 100, parts.get("ms", 0.0))

    def ms(self, baseline_ms: float) -> float:
        """The floor in ms for a statistic whose baseline value is ``baseline_ms``."""
        return max(self.relative * baseline_ms, self.absolute_ms)

    def describe(self, baseline_ms: float) -> str:
        """``10 % floor (10.2 ms)``, ``5 ms floor``, or both."""
        parts = [f"{self.relative * 100:g} %"] * bool(self.relative)
        parts += [f"{self.absolute_ms:g} ms"] * bool(self.absolute_ms)
        shown = "" if not self.relative else f" ({_ms(self.ms(baseline_ms))} ms)"
        return f"{' / '.join(parts)} floor{shown}"


class Decision(str, enum.Enum):
    """A comparison's outcome; INCONCLUSIVE means too little evidence, never a PASS."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Judgement:
    """The decision, the row of the decision table that made it, and one sentence why."""

    decision: Decision
    row: int
    reason: str


def _ms(value: float) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole * 100:.3g} %" if whole else "none"


def _moved(shift_ms: float) -> str:
    if shift_ms == 0:
        return "did not move (0 ms)"
    return f"got {'slower' if shift_ms > 0 else 'faster'} by {_ms(abs(shift_ms))} ms"


def decide(comparison: Comparison, floor: RegressionFloor, *, min_samples: int = 30) -> Judgement:
    """PASS, FAIL or INCONCLUSIVE by the decision table of the module docstring."""
    if min_samples < 1:
        raise ValueError(f"min_samples {min_samples} is below 1; use e.g. 30")
    c, name = comparison, comparison.name or "the endpoint"
    conf, half = f"{100 * (1 - c.alpha):g} % CI", c.alpha / 2
    base, cur, lat = c.baseline, c.current, c.latency
    if c.p_errors < half:
        rates = [
            f"{s.failures} of {s.requests} ({_share(s.failures, s.requests)})" for s in (cur, base)
        ]
        return Judgement(Decision.FAIL, 1, (
            f"{name} failed more often: {rates[0]} requests against {rates[1]} in the baseline "
            f"(one-sided Fisher {_p(c.p_errors)}, below α/2 = {half:g}): FAIL"))  # fmt: skip
    if lat is None or base.p50_ms is None or min(base.n, cur.n) < min_samples:
        return Judgement(Decision.INCONCLUSIVE, 2, (
            f"{name} has too few samples to compare: baseline {base.n}, current {cur.n}, at "
            f"least {min_samples} needed on each side: INCONCLUSIVE"))  # fmt: skip
    shift_floor = floor.ms(base.p50_ms)
    evidence = (
        f"{name} {_moved(lat.shift_ms)} ({lat.relative_shift * 100:+.0f} %; {conf} "
        f"{_ms(lat.shift_low_ms)} to {_ms(lat.shift_high_ms)} ms, {_p(lat.p_slower)})"
    )
    if lat.shift_low_ms > shift_floor:
        return Judgement(
            Decision.FAIL, 3, f"{evidence}, above the {floor.describe(base.p50_ms)}: FAIL"
        )
    tail_floor = floor.ms(lat.tail_baseline_ms)
    if lat.tail_estimable and lat.tail_low_ms > tail_floor:
        return Judgement(Decision.FAIL, 4, (
            f"{name} p{lat.tail_percentile:g} got slower by {_ms(lat.tail_diff_ms)} ms ({conf} "
            f"{_ms(lat.tail_low_ms)} to {_ms(lat.tail_high_ms)} ms), above the "
            f"{floor.describe(lat.tail_baseline_ms)} on a baseline of "
            f"{_ms(lat.tail_baseline_ms)} ms: FAIL"))  # fmt: skip
    if lat.shift_high_ms <= shift_floor:
        return Judgement(
            Decision.PASS, 5, f"{evidence}, within the {floor.describe(base.p50_ms)}: PASS"
        )
    return Judgement(Decision.INCONCLUSIVE, 6, (
        f"{evidence}; the interval straddles the {floor.describe(base.p50_ms)}, so more "
        "samples are needed to tell: INCONCLUSIVE"))  # fmt: skip
