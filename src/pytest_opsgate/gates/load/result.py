"""The typed result a Locust run hands the pytest side: ``opsgate-result.json``.

The extension (inside Locust) builds a :class:`LoadResult` and writes it as JSON; the load
gate's pytest item reads it back with :meth:`LoadResult.read`. Both sides share these
dataclasses, so a key cannot drift between writer and reader, and the ``format`` string
carries a schema version: a reader refuses a result of another version instead of guessing.
Nothing here imports Locust or pytest.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ...slo.evaluate import SLOResult

if TYPE_CHECKING:
    from pathlib import Path

    from ...measure.metrics import MetricsStore

__all__ = [
    "RESULT_FORMAT",
    "CpuFigures",
    "EndpointRow",
    "ErrorCount",
    "LoadResult",
    "ModelFigures",
    "ResultFormatError",
    "StopRecord",
    "TargetDown",
    "TimelinePoint",
    "WorkerFigures",
]

RESULT_FORMAT = "opsgate-load-result/2"

Status = Literal["completed", "aborted", "passed_early", "interrupted", "not_started"]
LoadVerdict = Literal["pass", "fail", "error", "aborted", "inconclusive"]


_NESTED = frozenset(
    ("abort", "target_down", "cpu", "workers", "model", "slos", "endpoints", "errors", "timeline")
)


class ResultFormatError(ValueError):
    """A result file that is not an ``opsgate-load-result`` of this version."""


def _flat(cls: Any, data: Any, what: str) -> Any:
    """A dataclass of plain fields from a JSON object, with a clear error for anything else."""
    if not isinstance(data, dict):
        raise ResultFormatError(f"{what} is {type(data).__name__}, not an object")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{key: value for key, value in data.items() if key in names})
    except TypeError as exc:
        raise ResultFormatError(f"{what}: {exc}") from None


def _optional(cls: Any, data: Any, what: str) -> Any:
    return None if data is None else _flat(cls, data, what)


@dataclass(frozen=True)
class StopRecord:
    """Why the gate stopped the load before its run time: kind, reason, seconds in."""

    kind: str  # slo (an SLO lost or hopeless), target, worker_lost, early_pass
    reason: str
    at_s: float


@dataclass(frozen=True)
class TargetDown:
    """When every generator saw only transport errors (no HTTP answer at all)."""

    at_s: float
    failures: int
    error: str
    last_success_s: float | None = None
    at_wall: float | None = None  # wall-clock time of death, when the start is known


@dataclass(frozen=True)
class CpuFigures:
    """The generator's own health: saturation, peak CPU, worst event-loop lag."""

    saturated: bool = False
    max_percent: float = 0.0
    max_lag_ms: float = 0.0


@dataclass(frozen=True)
class WorkerFigures:
    """Distributed runs: workers expected and seen, requests each sent, late final reports."""

    expected: int = 0
    seen: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelFigures:
    """The load model: closed (users that wait for answers) or open (arrivals on a clock).

    ``judged`` names the latency the SLOs read: ``service`` (from the actual send; the only
    one the closed model has) or ``corrected`` (from each arrival's intended start). The
    counts are the open model's arrivals, all workers added up.
    """

    kind: Literal["closed", "open"] = "closed"
    judged: Literal["service", "corrected"] = "service"
    rate: float | None = None
    stages: list[list[float]] = field(default_factory=list)  # [duration_s, target] pairs
    max_inflight: int | None = None
    scheduled: int = 0
    started: int = 0
    late_generator: int = 0
    late_cap: int = 0
    missed: int = 0
    missed_cap: int = 0
    unanswered: int = 0
    peak_inflight: int = 0
    users: int = 0


@dataclass(frozen=True)
class EndpointRow:
    """Figures of one scope (``all`` for the total): counts, rate and latency percentiles.

    ``p50``..``mean`` are of the judged latency (:attr:`ModelFigures.judged`); ``service_*``
    and ``corrected_*`` give both latencies side by side (``corrected_*`` is None in the
    closed model).
    """

    scope: str
    requests: int
    failures: int
    error_rate: float | None
    rps: float | None
    window_s: float
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    mean: float | None = None
    service_p50: float | None = None
    service_p95: float | None = None
    service_p99: float | None = None
    corrected_p50: float | None = None
    corrected_p95: float | None = None
    corrected_p99: float | None = None


@dataclass(frozen=True)
class ErrorCount:
    """One kind of failure and how often it happened."""

    scope: str
    error: str
    count: int


@dataclass(frozen=True)
class TimelinePoint:
    """One second of the run, all generators merged: ``p*`` service times, ``corrected_*``
    the open model's latencies from the intended start."""

    t: int
    requests: int
    failures: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    corrected_p50: float | None = None
    corrected_p95: float | None = None
    corrected_p99: float | None = None


@dataclass
class LoadResult:
    """Everything one Locust run measured and how the extension judged it.

    ``verdict`` and ``exit_code`` come from the gate's one decision table
    (:func:`pytest_opsgate.verdict.decide`); ``metrics`` is the judged traffic as a
    :meth:`MetricsStore.to_dict`, merged over every worker. The open model also keeps both
    latencies apart: ``service_metrics`` and ``corrected_metrics`` (None in the closed model).
    """

    locust_version: str
    role: str
    status: Status
    verdict: LoadVerdict
    exit_code: int
    host: str | None = None
    error_kind: str | None = None
    reasons: list[str] = field(default_factory=list)
    started_wall: float | None = None
    duration_s: float = 0.0
    run_time_s: float | None = None
    warmup_s: int = 0
    window_s: float = 0.0
    users: int | None = None
    peak_users: int = 0
    abort: StopRecord | None = None
    target_down: TargetDown | None = None
    cpu: CpuFigures = field(default_factory=CpuFigures)
    workers: WorkerFigures = field(default_factory=WorkerFigures)
    model: ModelFigures = field(default_factory=ModelFigures)
    requests_total: int = 0
    slos: list[SLOResult] = field(default_factory=list)
    endpoints: list[EndpointRow] = field(default_factory=list)
    errors: list[ErrorCount] = field(default_factory=list)
    timeline: list[TimelinePoint] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    service_metrics: dict[str, Any] | None = None
    corrected_metrics: dict[str, Any] | None = None
    format: str = RESULT_FORMAT

    # ---- reading

    def store(self) -> MetricsStore:
        """The judged traffic as a store (histograms merged over every worker)."""
        from ...measure.metrics import MetricsStore

        return MetricsStore.from_dict(self.metrics)

    @property
    def open_model(self) -> bool:
        """True when arrivals ran on a clock (the open model)."""
        return self.model.kind == "open"

    def total(self) -> EndpointRow | None:
        """The ``all`` row of :attr:`endpoints`."""
        return next((row for row in self.endpoints if row.scope == "all"), None)

    # ---- JSON

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON; :meth:`from_dict` rebuilds an equal result."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["slos"] = [result.to_dict() for result in self.slos]
        for name in ("abort", "target_down", "cpu", "workers", "model"):
            value = data[name]
            data[name] = None if value is None else dataclasses.asdict(value)
        for name in ("endpoints", "errors", "timeline"):
            data[name] = [dataclasses.asdict(item) for item in data[name]]
        return data

    def to_json(self) -> str:
        """The result as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def summary(self) -> dict[str, Any]:
        """The result without its bulky parts (histograms, timeline), for reports."""
        data = self.to_dict()
        for bulky in ("metrics", "service_metrics", "corrected_metrics", "timeline"):
            data.pop(bulky, None)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LoadResult:
        """Rebuild a result from :meth:`to_dict` output; another format is refused."""
        if not isinstance(data, dict):
            raise ResultFormatError("the load result is not a JSON object")
        found = data.get("format")
        if found != RESULT_FORMAT:
            raise ResultFormatError(
                f"load result format {found!r} is not {RESULT_FORMAT!r}; the Locust side and "
                "the pytest side must run the same pytest-opsgate"
            )
        simple = {
            f.name: data[f.name]
            for f in dataclasses.fields(cls)
            if f.name in data and f.name not in _NESTED
        }
        try:
            return cls(
                **simple,
                abort=_optional(StopRecord, data.get("abort"), "abort"),
                target_down=_optional(TargetDown, data.get("target_down"), "target_down"),
                cpu=_flat(CpuFigures, data.get("cpu", {}), "cpu"),
                workers=_flat(WorkerFigures, data.get("workers", {}), "workers"),
                model=_flat(ModelFigures, data.get("model", {}), "model"),
                slos=[SLOResult.from_dict(item) for item in data.get("slos", [])],
                endpoints=[_flat(EndpointRow, r, "endpoint") for r in data.get("endpoints", [])],
                errors=[_flat(ErrorCount, e, "error") for e in data.get("errors", [])],
                timeline=[_flat(TimelinePoint, p, "timeline") for p in data.get("timeline", [])],
            )
        except ResultFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFormatError(f"unreadable load result: {exc}") from None

    @classmethod
    def read(cls, path: Path) -> LoadResult:
        """Read a result file; :class:`ResultFormatError` (a ValueError) when it is not one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ResultFormatError(f"{path.name} is not JSON: {exc}") from None
        return cls.from_dict(data)
