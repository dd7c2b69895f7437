"""What the load gate prints: the start line, a progress line a second, the failure text.

Light (no Locust, no pytest at import): the pytest item hands these functions its settings
and the typed :class:`~.result.LoadResult`.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from ...report.terminal import LiveLines
from ...slo.evaluate import format_measure, format_slo_table

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from .result import LoadResult
    from .settings import LoadSettings

__all__ = [
    "CLOSED_MODEL_NOTE",
    "ProgressPrinter",
    "failure_message",
    "latency_table",
    "model_note",
    "slo_table",
    "start_line",
]

CLOSED_MODEL_NOTE = (
    "closed model: each user waits for an answer before it sends again, so a stalling "
    "service is measured by few requests (coordinated omission); --gate-load-rate measures "
    "from each request's intended start"
)


def slo_table(result: LoadResult) -> str:
    """The SLO table of a result, or a line saying there was none."""
    return format_slo_table(result.slos) if result.slos else "(no SLO evaluated)"


def start_line(name: str, settings: LoadSettings, url: str) -> str:
    """What is about to run, in one line."""
    if settings.open_model:
        rate = f"{settings.rate:g}/s" if settings.rate is not None else ""
        if settings.stages:
            rate = (f"from {rate} " if rate else "") + f"in stages {settings.stages_text}"
        model = (
            f"open model, arrivals {rate}, up to {settings.max_inflight} in flight, SLOs judge "
            f"{settings.latency} latency"
        )
    else:
        model = f"{settings.users} users at {settings.effective_spawn_rate:g}/s"
    where = ""
    if settings.workers:
        where = f", {settings.workers} local workers"
    elif settings.expect_workers:
        host, port = settings.bind
        where = f", waiting for {settings.expect_workers} workers on {host}:{port}"
    warmup = f" ({settings.warmup_s:g} s warmup)" if settings.warmup_s else ""
    return (
        f"opsgate: load {name}: {model} for {settings.run_time_s:g} s{warmup} against {url}{where}"
    )


def _ms(value: float | None) -> str:
    return format_measure("p95", value)


def latency_table(result: LoadResult) -> str:
    """Per-endpoint latencies: corrected and service side by side in the open model."""
    open_model = result.open_model
    if open_model:
        headline = (
            f"latency, open model ({result.model.judged} judged): corrected from each "
            "arrival's intended start, service from the actual send"
        )
        heads = ["endpoint", "requests", "failed"]
        heads += [f"corrected p{p}" for p in (50, 95, 99)] + [f"service p{p}" for p in (50, 95, 99)]
    else:
        headline = "latency, closed model: service time from the actual send"
        heads = ["endpoint", "requests", "failed", "p50", "p95", "p99"]
    rows = []
    for row in result.endpoints:
        cells = [row.scope, str(row.requests), str(row.failures)]
        if open_model:
            cells += [_ms(row.corrected_p50), _ms(row.corrected_p95), _ms(row.corrected_p99)]
        cells += [_ms(row.service_p50), _ms(row.service_p95), _ms(row.service_p99)]
        rows.append(cells)
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([headline, line(heads), *(line(r) for r in rows)])


def model_note(name: str, result: LoadResult) -> str:
    """One sentence on the load model and both latencies, for gate.json and gate.md notes."""
    total = result.total()
    if not result.open_model:
        return f"load {name}: {CLOSED_MODEL_NOTE}"
    model = result.model
    rate = f"{model.rate:g}/s" if model.rate else "staged rate"
    figures = ""
    if total is not None:
        figures = (
            f"; all requests: corrected p95 {_ms(total.corrected_p95)}, p99 "
            f"{_ms(total.corrected_p99)}; service p95 {_ms(total.service_p95)}, p99 "
            f"{_ms(total.service_p99)}"
        )
    return (
        f"load {name}: open model at {rate}, {model.started} of {model.scheduled} arrivals "
        f"started, SLOs judged {model.judged} latency{figures}"
    )


def failure_message(name: str, result: LoadResult, folder: Path) -> str:
    """The load verdict as the test's failure text: headline, SLO table, reasons, figures."""
    verdict = result.verdict.upper()
    abort = result.abort
    lines = [f"load {name}: {verdict}"]
    if abort is not None:
        lines[0] += f", stopped early at t={abort.at_s:.1f} s"
        lines.append(f"stopped early: {abort.reason}")
    if result.slos:
        lines += ["", format_slo_table(result.slos)]
    if result.endpoints:
        lines += ["", latency_table(result)]
    if not result.open_model:
        lines.append(CLOSED_MODEL_NOTE)
    reasons = [r for r in result.reasons if not any(r.startswith(x.slo.text) for x in result.slos)]
    down = result.target_down
    if reasons or down:
        lines.append("")
    lines += reasons
    if down is not None and down.at_wall:
        when = datetime.datetime.fromtimestamp(down.at_wall, datetime.timezone.utc)
        lines.append(f"target died at {when.isoformat(timespec='milliseconds')}")
    total = result.total()
    figures = f"requests: {result.requests_total} sent"
    if total is not None:
        rps = total.rps
        figures += (
            f"; measured {total.requests} in {total.window_s:.1f} s"
            + (f" ({rps:.1f}/s)" if rps else "")
            + f", {total.failures} failed"
        )
    figures += f"; peak users {result.peak_users}"
    if result.workers.seen:
        figures += f"; workers {len(result.workers.seen)}"
    lines += ["", figures, f"report: {folder}"]
    if result.errors:
        lines.append("top errors:")
        lines += [f"  {e.count}x {e.scope}: {e.error}" for e in result.errors[:5]]
    # The last line is what one-line summaries of a failed test show.
    why = abort.reason if abort is not None else next(iter(result.reasons), "")
    lines += ["", f"load {name}: {verdict}" + (f": {why}" if why else "")]
    return "\n".join(lines)


class ProgressPrinter(LiveLines):
    """Writes one line per progress record to the terminal, around output capturing."""

    def __init__(self, config: pytest.Config, name: str) -> None:
        super().__init__(config)
        self.name = name

    def __call__(self, record: dict[str, Any]) -> None:
        requests = int(record.get("requests") or 0)
        failures = int(record.get("failures") or 0)
        share = f" ({failures / requests:.1%})" if requests else ""
        p95 = record.get("p95")
        rps = record.get("rps")
        workers = record.get("workers")
        if "rate" in record:
            service = record.get("service_p95")
            who = f"rate {float(record['rate']):6.1f}/s  in-flight {record.get('inflight', 0):>4}  "
            extra = f" (service {service:.1f} ms)" if service is not None else ""
        else:
            who, extra = f"users {record.get('users', 0):>4}  ", ""
        text = (
            f"  load {self.name} {float(record.get('t', 0)):6.1f} s  {who}"
            f"rps {(f'{rps:.1f}' if rps is not None else '-'):>7}  "
            f"failures {failures}{share}  "
            f"p95 {(f'{p95:.1f} ms' if p95 is not None else '-')}{extra}"
        )
        if workers is not None:
            text += f"  workers {workers}"
        self.line(text)
