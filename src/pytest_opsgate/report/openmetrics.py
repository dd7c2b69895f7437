"""The run as Prometheus metrics: ``gate.prom`` in the artifacts, and the registry the push sends.

Metrics, all gauges except the request counter, values in base units (seconds, ratios)::

    opsgate_verdict{verdict}                       1 for the run's verdict, 0 for the others
    opsgate_duration_seconds                       wall time of the run
    opsgate_slo_measured{gate,scope,statistic,op}  measured value (absent when not measured)
    opsgate_slo_budget{gate,scope,statistic,op}    the budget, in the same unit
    opsgate_slo_passed{gate,scope,statistic,op}    1 passed, 0 failed or error
    opsgate_endpoint_requests_total{gate,scope}    requests the run sent per endpoint
    opsgate_last_success_timestamp_seconds         Unix time of the run's end, only on PASS

``op`` is part of the key because one statistic can have two budgets (``>= min`` and
``<= max`` of a Prometheus SLO). The input is :class:`RunSummary`, plain data that the finish
step builds from its record, so this module does not depend on the record's shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from pathlib import Path

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from ..slo.evaluate import SLOResult

__all__ = [
    "GATE_PROM",
    "EndpointCount",
    "RunSummary",
    "SLORow",
    "build_registry",
    "render",
    "to_base_unit",
    "write_gate_prom",
]

GATE_PROM = "gate.prom"
SLO_LABELS = ("gate", "scope", "statistic", "op")


def to_base_unit(kind: str, value: float) -> float:
    """Seconds for durations (our budgets are in ms); ratios, rates, counts, values as they are."""
    return value / 1000.0 if kind == "duration" else value


@dataclass(frozen=True)
class SLORow:
    """One SLO row in base units."""

    gate: str
    scope: str
    statistic: str
    op: str
    budget: float
    measured: float | None
    passed: bool

    @classmethod
    def from_result(cls, result: SLOResult) -> SLORow:
        """The row of an SLOResult, converted to base units."""
        slo = result.slo
        measured = None if result.measured is None else to_base_unit(slo.kind, result.measured)
        return cls(
            gate=result.source or "-",
            scope=slo.scope_label,
            statistic=slo.label,
            op=slo.op,
            budget=to_base_unit(slo.kind, slo.budget),
            measured=measured,
            passed=result.passed,
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The label values that identify the row's series."""
        return (self.gate, self.scope, self.statistic, self.op)


@dataclass(frozen=True)
class EndpointCount:
    """How many requests one gate sent to one endpoint."""

    gate: str
    scope: str
    requests: int


@dataclass(frozen=True)
class RunSummary:
    """What the export needs to know about a run, and nothing else."""

    verdict: str
    duration_seconds: float
    slos: tuple[SLORow, ...] = ()
    endpoints: tuple[EndpointCount, ...] = ()
    finished_at: float = field(default_factory=time.time)  # Unix time, for last_success

    @classmethod
    def build(
        cls,
        verdict: str | Verdict,
        duration_seconds: float,
        slo_results: Iterable[SLOResult] = (),
        endpoint_requests: Mapping[tuple[str, str], int] | None = None,
        finished_at: float | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> RunSummary:
        """From the finish step's values; ``endpoint_requests`` maps (gate, scope) to a count.

        ``redact`` (the run's redactor) scrubs the label values, which come from paths and
        SLO names, as every other artifact's text is scrubbed.
        """
        scrub = redact or str
        rows = (SLORow.from_result(result) for result in slo_results)
        return cls(
            verdict=verdict.value if isinstance(verdict, Verdict) else str(verdict),
            duration_seconds=duration_seconds,
            slos=tuple(replace(row, scope=scrub(row.scope)) for row in rows),
            endpoints=tuple(
                EndpointCount(gate, scrub(scope), count)
                for (gate, scope), count in (endpoint_requests or {}).items()
            ),
            finished_at=time.time() if finished_at is None else finished_at,
        )

    @property
    def passed(self) -> bool:
        """True only for PASS: the one verdict that moves last_success."""
        return self.verdict == Verdict.PASS.value


class _RunCollector:
    """Yields the run's metric families; ``last_success`` decides whether that one is in."""

    def __init__(self, summary: RunSummary, *, run: bool, last_success: bool) -> None:
        self.summary = summary
        self.run = run
        self.last_success = last_success

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.summary
        if self.run:
            verdict = GaugeMetricFamily(
                "opsgate_verdict", "1 for the verdict of the last run, 0 for the others.",
                labels=("verdict",),
            )  # fmt: skip
            names = [v.value for v in Verdict]
            for name in [*names, *([s.verdict] if s.verdict not in names else [])]:
                verdict.add_metric((name,), 1.0 if name == s.verdict else 0.0)
            yield verdict
            yield GaugeMetricFamily(
                "opsgate_duration_seconds", "Wall time of the last gate run.", s.duration_seconds
            )
            yield from self._slo_families()
            requests = CounterMetricFamily(
                "opsgate_endpoint_requests", "Requests the last run sent, per gate and endpoint.",
                labels=("gate", "scope"),
            )  # fmt: skip
            for endpoint in s.endpoints:
                requests.add_metric((endpoint.gate, endpoint.scope), float(endpoint.requests))
            yield requests
        if self.last_success and s.passed:
            yield GaugeMetricFamily(
                "opsgate_last_success_timestamp_seconds",
                "Unix time at which the last PASS run ended.",
                s.finished_at,
            )

    def _slo_families(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        help_texts = {
            "measured": "Measured value of the SLO's statistic, in seconds or as a ratio.",
            "budget": "Budget of the SLO, in the unit of opsgate_slo_measured.",
            "passed": "1 when the SLO passed, 0 when it failed or could not be measured.",
        }
        families = {
            name: GaugeMetricFamily(f"opsgate_slo_{name}", text, labels=SLO_LABELS)
            for name, text in help_texts.items()
        }
        seen: set[tuple[str, str, str, str]] = set()
        for row in self.summary.slos:
            if row.key in seen:  # one series per key; a second identical SLO adds nothing
                continue
            seen.add(row.key)
            if row.measured is not None:
                families["measured"].add_metric(row.key, row.measured)
            families["budget"].add_metric(row.key, row.budget)
            families["passed"].add_metric(row.key, 1.0 if row.passed else 0.0)
        yield from families.values()


def build_registry(
    summary: RunSummary, *, run: bool = True, last_success: bool = True
) -> CollectorRegistry:
    """A fresh registry holding the run's metrics (never the process-wide default one)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunCollector(summary, run=run, last_success=last_success))
    return registry


def render(summary: RunSummary) -> bytes:
    """The text exposition format (0.0.4) of the run, as gate.prom holds it."""
    from prometheus_client import generate_latest

    return generate_latest(build_registry(summary))


def write_gate_prom(directory: Path, summary: RunSummary) -> Path:
    """Write ``gate.prom`` into the artifacts folder, atomically (temp file, then rename)."""
    from prometheus_client import write_to_textfile

    path = directory / GATE_PROM
    write_to_textfile(str(path), build_registry(summary))
    return path
