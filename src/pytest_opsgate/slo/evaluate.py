"""Verdicts on SLOs for smoke, E2E and load gates, and the table that reports them.

The grammar lives in :mod:`pytest_opsgate.slo.grammar`; its names are re-exported here, so
``from pytest_opsgate.slo import parse_slo`` keeps working.

Verdicts: an SLO whose scope never saw a request, or with fewer samples than required,
is an ``error``, never a pass. Latency statistics are compared at the histogram's
resolution (see :mod:`pytest_opsgate.measure.histogram`): a p95 exactly on an 800 ms budget
passes ``<= 800ms`` and fails ``< 800ms``. ``error_rate``, ``rps`` and ``requests``
compare as plain numbers. Latency histograms include the durations of failed requests
(as Locust and k6 do), but a latency SLO needs at least ``min_samples`` *successful*
requests, or it is an error: fast failures must not pass a p95.

Error-rate guards (:func:`with_guards`): a latency SLO alone would pass a service whose
few successful requests are fast while most fail. So every scope with a latency SLO and no
``error_rate`` SLO of its own is also judged by ``SCOPE: error_rate < 1%``; opting out is
explicit (``SCOPE: error_rate <= 100%``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..measure.histogram import LatencyHistogram
from ..measure.metrics import LATENCY, PAGE_METRICS, EndpointStats
from .grammar import (
    COUNTER_STATS,
    FLAGS,
    OPS,
    SLO,
    SLOSyntaxError,
    _kind,
    parse_duration,
    parse_slo,
)
from .statistics import KINDS, STATISTICS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ..measure.metrics import MetricsStore

__all__ = [
    "COUNTER_STATS",
    "FLAGS",
    "OPS",
    "SLO",
    "SLOResult",
    "SLOSyntaxError",
    "Verdict",
    "evaluate_all",
    "evaluate_slo",
    "format_measure",
    "format_slo_table",
    "judge",
    "parse_duration",
    "parse_slo",
    "resolve_stats",
    "with_guards",
]

DEFAULT_GUARD = "error_rate < 1%"

Verdict = Literal["passed", "failed", "error", "inconclusive"]


def format_measure(slo_or_metric: SLO | str, value: float | None) -> str:
    """A value as ``812 ms``, ``1.23 s``, ``0.52 %``, ``48.1/s``, ``120`` or ``0.0423``, by kind."""
    if value is None:
        return "-"
    statistic = slo_or_metric.statistic if isinstance(slo_or_metric, SLO) else slo_or_metric
    return KINDS[_kind(statistic)].shown(value)


@dataclass
class SLOResult:
    """The verdict on one SLO: what was measured, from how many samples, and why."""

    slo: SLO
    measured: float | None
    samples: int
    verdict: Verdict
    reason: str
    source: str = ""  # the gate whose traffic was measured: smoke, e2e, load
    successes: int | None = None  # successful requests behind a latency statistic
    test: str = ""  # node id of the test that asserted it, when a test did

    @property
    def passed(self) -> bool:
        """True only for a pass; an error is never a pass."""
        return self.verdict == "passed"

    @property
    def scope_label(self) -> str:
        """The scope for tables: ``all`` when the SLO covers every request."""
        return self.slo.scope_label

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields; :meth:`from_dict` restores an equal result."""
        return {
            "slo": self.slo.to_dict(),
            "measured": self.measured,
            "samples": self.samples,
            "verdict": self.verdict,
            "reason": self.reason,
            "source": self.source,
            "successes": self.successes,
            "test": self.test,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SLOResult:
        """Rebuild a result from :meth:`to_dict` output."""
        verdict = d["verdict"]
        if verdict not in ("passed", "failed", "error", "inconclusive"):
            raise ValueError(
                f"unknown SLO verdict {verdict!r}; expected passed, failed, error or inconclusive"
            )
        measured = d.get("measured")
        successes = d.get("successes")
        return cls(
            slo=SLO.from_dict(d["slo"]),
            measured=None if measured is None else float(measured),
            samples=int(d["samples"]),
            verdict=verdict,
            reason=str(d["reason"]),
            source=str(d.get("source", "")),
            successes=None if successes is None else int(successes),
            test=str(d.get("test", "")),
        )


def _missing_scope_reason(slo: SLO, store: MetricsStore) -> str:
    known = store.scopes(slo.metric)
    what = "page loads" if slo.metric in PAGE_METRICS else "requests"
    if slo.scope is None:
        return f"no {what} recorded"
    reason = f"no {what} recorded for {slo.scope!r}"
    close = difflib.get_close_matches(slo.scope, known, n=1, cutoff=0.6)
    if close:
        return f"{reason} (did you mean {close[0]!r}?)"
    if known:
        shown = ", ".join(repr(scope) for scope in known[:5])
        more = f" and {len(known) - 5} more" if len(known) > 5 else ""
        return f"{reason} (recorded: {shown}{more})"
    return reason


def resolve_stats(slo: SLO, store: MetricsStore) -> EndpointStats | None:
    """The stats an SLO reads, or None when its scope never saw a request."""
    if slo.scope is None:
        stats = store.total(slo.metric)
        return stats if stats.requests else None
    names = store.matching(slo.scope, slo.metric)
    parts = [part for part in (store.get(name, slo.metric) for name in names) if part]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else EndpointStats.combine(parts)


def _latency(histogram: LatencyHistogram, statistic: str) -> float:
    if statistic == "min":
        return histogram.min()
    if statistic == "max":
        return histogram.max()
    if statistic == "avg":
        return histogram.mean()
    return histogram.percentile(float(statistic[1:]))


def evaluate_slo(slo: SLO, store: MetricsStore, *, min_samples: int = 1) -> SLOResult:
    """Judge one SLO against the store; a missing scope or too few samples give ``error``.

    Samples are latency samples for time statistics and requests for ``error_rate`` and
    ``rps``; ``min_samples`` applies to both (at least 1). ``requests`` ignores it.
    """
    stats = resolve_stats(slo, store)
    if stats is None:
        return SLOResult(slo, None, 0, "error", _missing_scope_reason(slo, store))
    needed = max(1, min_samples)
    where = f" for {slo.scope!r}" if slo.scope is not None else ""
    statistic = STATISTICS.get(slo.statistic)
    if statistic is not None and statistic.samples == "none" and statistic.compute is not None:
        measured = statistic.compute(stats)
        assert measured is not None
        return judge(slo, measured, stats.requests)
    successes: int | None = None
    if slo.kind == "duration":
        successes = stats.successes
        if successes == 0:
            return SLOResult(
                slo,
                None,
                stats.samples,
                "error",
                f"insufficient samples: none of {stats.requests} requests{where} succeeded, "
                "so latency was not measured",
                successes=0,
            )
        if successes < needed:
            return SLOResult(
                slo,
                None,
                stats.samples,
                "error",
                f"insufficient samples: {successes} of {stats.requests} requests{where} "
                f"succeeded, fewer than the {needed} successful samples required "
                "(--gate-min-samples)",
                successes=successes,
            )
        samples = stats.samples
    else:
        samples = stats.requests
    if samples < needed:
        return SLOResult(
            slo, None, samples, "error", f"insufficient samples ({samples} < {needed}){where}"
        )
    if statistic is None:
        result = judge(slo, _latency(stats.histogram, slo.statistic), samples)
        return dataclasses.replace(result, successes=successes)
    if statistic.compute is None:
        return SLOResult(
            slo, None, samples, "error", f"{slo.statistic} is not measured from requests"
        )
    value = statistic.compute(stats)
    if value is None:
        why = statistic.why_unmeasured or "nothing to compute it from"
        return SLOResult(
            slo, None, samples, "error", f"cannot measure {slo.statistic}{where}: {why}"
        )
    return judge(slo, value, samples)


def judge(slo: SLO, measured: float, samples: int) -> SLOResult:
    """The verdict on one measured value; latencies compare at the histogram's resolution."""
    if slo.kind == "duration":
        measured_bucket = LatencyHistogram.at_resolution(measured)
        budget_bucket = LatencyHistogram.at_resolution(slo.budget)
        ok = OPS[slo.op](measured_bucket, budget_bucket)
        same_bucket = measured_bucket == budget_bucket
    else:
        ok = OPS[slo.op](measured, slo.budget)
        same_bucket = False
    shown, budget = format_measure(slo, measured), format_measure(slo, slo.budget)
    if ok:
        reason = f"{slo.label} {shown} {slo.op} {budget}"
    else:
        reason = f"{slo.label} {shown} is not {slo.op} {budget}"
    if same_bucket:
        reason += " (equal to the budget at the histogram's 0.1 % resolution)"
    if slo.guard and not ok:
        opt_out = f"{slo.scope}: error_rate <= 100%" if slo.scope else "error_rate <= 100%"
        whose = (
            "the default guard of a latency SLO: fast failures must not pass it"
            if slo.scope
            else "the default run-wide guard: failed requests are never a quiet pass"
        )
        reason += (
            f" ({whose}; set your own error_rate SLO for this scope, or opt out with {opt_out!r})"
        )
    return SLOResult(slo, measured, samples, "passed" if ok else "failed", reason)


def _guard(scope: str | None, metric: str) -> SLO:
    from .grammar import parse_slo as parse

    text = f"{scope}: {DEFAULT_GUARD}" if scope is not None else DEFAULT_GUARD
    return dataclasses.replace(parse(text), guard=True)


def with_guards(slos: Iterable[SLO], *, run_wide: bool = False) -> list[SLO]:
    """``slos`` plus the default ``error_rate < 1%`` guard of every scope that judges latency
    without an error-rate SLO of its own, and with ``run_wide`` one over all requests unless
    a run-wide error-rate SLO is given. Duplicates are dropped, order kept."""
    given = list(slos)
    covered = {slo.scope for slo in given if slo.statistic == "error_rate"}
    guards: list[SLO] = []
    for slo in given:
        if slo.kind == "duration" and slo.scope not in covered:
            covered.add(slo.scope)
            guards.append(_guard(slo.scope, slo.metric))
    if run_wide and None not in covered:
        guards.append(_guard(None, LATENCY))
    return list(dict.fromkeys([*given, *guards]))


def evaluate_all(
    slos: Iterable[SLO], store: MetricsStore, *, min_samples: int = 1, guards: bool = False
) -> list[SLOResult]:
    """Judge every SLO against one store, in order; ``guards`` adds :func:`with_guards`."""
    chosen = with_guards(slos) if guards else list(slos)
    return [evaluate_slo(slo, store, min_samples=min_samples) for slo in chosen]


_HEADERS = ("endpoint", "statistic", "measured", "budget", "samples", "verdict")
_RIGHT_ALIGNED = {"measured", "samples"}


def format_slo_table(results: Sequence[SLOResult]) -> str:
    """An aligned plain-text table of results, then the reason for each one that did not pass.

    A ``gate`` column leads when the results say which gate measured them; a ``test``
    column ends it when a test asserted some of them (``gate_slo...assert_slo()``).
    """
    with_gate = any(result.source for result in results)
    with_test = any(result.test for result in results)
    headers = (("gate",) if with_gate else ()) + _HEADERS + (("test",) if with_test else ())
    rows = [
        (
            *((result.source or "-",) if with_gate else ()),
            result.scope_label,
            result.slo.label + (" (guard)" if result.slo.guard else ""),
            format_measure(result.slo, result.measured),
            f"{result.slo.op} {format_measure(result.slo, result.slo.budget)}",
            str(result.samples),
            result.verdict.upper(),
            *((result.test or "-",) if with_test else ()),
        )
        for result in results
    ]
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if header in _RIGHT_ALIGNED else cell.ljust(width)
            for cell, width, header in zip(cells, widths, headers, strict=True)
        ]
        return "  ".join(padded).rstrip()

    lines = [line(headers), "  ".join("-" * width for width in widths)]
    lines.extend(line(row) for row in rows)
    notes = [
        f"{result.verdict.upper()} {result.scope_label} {result.slo.label}: {result.reason}"
        for result in results
        if not result.passed
    ]
    if notes:
        lines.extend(["", *notes])
    return "\n".join(lines)
