"""The end of a Locust run: the verdict by the gate's decision table, and the typed result.

Pure logic (no Locust import): the extension passes what the run saw, these functions say
how it ended (:func:`run_status`), whether it was cut short (:func:`ended_early`), and build
the :class:`~.result.LoadResult` that ``opsgate-result.json`` holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...slo.evaluate import evaluate_all, format_slo_table
from .outcome import distrusted, endpoint_rows
from .result import (
    CpuFigures,
    EndpointRow,
    ErrorCount,
    LoadResult,
    ModelFigures,
    StopRecord,
    TargetDown,
    TimelinePoint,
    WorkerFigures,
)

if TYPE_CHECKING:
    from ...measure.metrics import MetricsStore
    from ...slo.evaluate import SLO, SLOResult
    from ...verdict import Decision
    from .outcome import Health
    from .result import Status

__all__ = ["Ending", "build_result", "ended_early", "judge", "run_status", "summary_text"]


def run_status(health: Health, abort: StopRecord | None, started: bool) -> Status:
    """How the run ended, in one word."""
    if health.interrupted:
        return "interrupted"
    if abort is not None:
        return "passed_early" if abort.kind == "early_pass" else "aborted"
    return "completed" if started else "not_started"


def ended_early(
    *,
    run_time_s: float | None,
    ran_s: float | None,
    abort: StopRecord | None,
    health: Health,
) -> str | None:
    """Why the run is shorter than its run time, unless the gate's own rule stopped it."""
    if not run_time_s or ran_s is None or abort is not None:
        return None
    if health.interrupted or health.config_error or health.workers:
        return None
    if ran_s >= run_time_s - max(1.0, 0.02 * run_time_s):
        return None
    return (
        f"the load stopped after {ran_s:.1f} s of its {run_time_s:g} s run time, not by "
        "the gate's abort rule (a locustfile that stopped the runner, or every user "
        "stopping?); a partial run is never judged"
    )


def error_kind(decision: Decision, health: Health) -> str | None:
    """Why the verdict is an error: configuration, saturation, behind (the open model's
    schedule was not kept), workers, ended early or samples."""
    if decision.verdict.value != "ERROR":
        return None
    if health.config_error:
        return "configuration"
    if health.saturated:
        return "saturation"
    if health.behind:
        return "behind"
    if health.workers or health.late_workers:
        return "workers"
    if health.ended_early:
        return "ended_early"
    return "samples"


def judge(
    slos: list[SLO], store: MetricsStore, health: Health, min_samples: int
) -> list[SLOResult]:
    """Every SLO over everything measured; failures of a saturated generator are not trusted."""
    results = evaluate_all(slos, store, min_samples=min_samples)
    if health.untrusted:
        results = distrusted(results, health.untrusted)
    return results


@dataclass
class Ending:
    """What the extension knows when the run is over, besides the verdict."""

    locust_version: str
    role: str
    host: str | None
    started: float | None  # monotonic
    started_wall: float | None
    stopped: float | None
    now: float
    run_time_s: float | None
    warmup_s: int
    users: int | None
    peak_users: int
    abort: StopRecord | None
    cpu: CpuFigures
    workers: WorkerFigures
    model: ModelFigures
    requests_total: int
    errors: list[dict[str, Any]]
    timeline: list[dict[str, Any]]


def _target_down(health: Health, started_wall: float | None) -> TargetDown | None:
    down = health.target_down
    if down is None:
        return None
    at_wall = None if started_wall is None else started_wall + float(down["at_s"])
    return TargetDown(
        at_s=float(down["at_s"]),
        failures=int(down.get("failures", 0)),
        error=str(down.get("error", "")),
        last_success_s=down.get("last_success_s"),
        at_wall=at_wall,
    )


def build_result(
    ending: Ending,
    store: MetricsStore,
    results: list[SLOResult],
    health: Health,
    decision: Decision,
    *,
    both: tuple[MetricsStore, MetricsStore] | None = None,
) -> LoadResult:
    """The typed result of a run (see :class:`~.result.LoadResult`).

    ``store`` is the judged traffic; ``both`` the open model's service and corrected stores.
    """
    service, corrected = both if both is not None else (None, None)
    end = ending.stopped or ending.now
    duration = round(end - ending.started, 3) if ending.started is not None else 0.0
    return LoadResult(
        locust_version=ending.locust_version,
        role=ending.role,
        host=ending.host,
        status=run_status(health, ending.abort, ending.started is not None),
        verdict=decision.verdict.value.lower(),  # type: ignore[arg-type]
        exit_code=int(decision.exit_code),
        error_kind=error_kind(decision, health),
        reasons=list(decision.reasons),
        started_wall=ending.started_wall,
        duration_s=duration,
        run_time_s=ending.run_time_s,
        warmup_s=ending.warmup_s,
        window_s=store.total().window_s,
        users=ending.users,
        peak_users=ending.peak_users,
        abort=ending.abort,
        target_down=_target_down(health, ending.started_wall),
        cpu=ending.cpu,
        workers=ending.workers,
        model=ending.model,
        requests_total=ending.requests_total,
        slos=list(results),
        endpoints=[
            EndpointRow(**row) for row in endpoint_rows(store, service=service, corrected=corrected)
        ],
        errors=[ErrorCount(**entry) for entry in ending.errors],
        timeline=[TimelinePoint(**point) for point in ending.timeline],
        metrics=store.to_dict(),
        service_metrics=None if service is None else service.to_dict(),
        corrected_metrics=None if corrected is None else corrected.to_dict(),
    )


def summary_text(result: LoadResult) -> str:
    """The verdict and SLO table as printed at the end of a plain Locust run."""
    from .terminal import CLOSED_MODEL_NOTE, latency_table

    lines = [f"opsgate: load verdict {result.verdict.upper()}"]
    if result.slos:
        lines.append(format_slo_table(result.slos))
    if result.endpoints:
        lines.append(latency_table(result))
    if not result.open_model:
        lines.append(f"opsgate: {CLOSED_MODEL_NOTE}")
    lines.extend(f"opsgate: {reason}" for reason in result.reasons)
    if result.abort is not None:
        lines.append(f"opsgate: stopped early at t={result.abort.at_s:.1f} s")
    return "\n".join(lines)


def with_reason(result: SLOResult, extra: str) -> SLOResult:
    """``result`` with ``extra`` appended to its reason."""
    return dataclasses.replace(result, reason=f"{result.reason}; {extra}")
