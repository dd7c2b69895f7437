"""What the load gate prints: the start line, a progress line a second, the failure text.

Light (no Locust, no pytest at import): the pytest item hands these functions its settings
and the typed :class:`~.result.LoadResult`.
"""

from __future__ import annotations

import datetime
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from ...slo.evaluate import format_slo_table

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from .result import LoadResult
    from .settings import LoadSettings

__all__ = ["ProgressPrinter", "failure_message", "slo_table", "start_line"]


def slo_table(result: LoadResult) -> str:
    """The SLO table of a result, or a line saying there was none."""
    return format_slo_table(result.slos) if result.slos else "(no SLO evaluated)"


def start_line(name: str, settings: LoadSettings, url: str) -> str:
    """What is about to run, in one line."""
    where = ""
    if settings.workers:
        where = f", {settings.workers} local workers"
    elif settings.expect_workers:
        host, port = settings.bind
        where = f", waiting for {settings.expect_workers} workers on {host}:{port}"
    warmup = f" ({settings.warmup_s:g} s warmup)" if settings.warmup_s else ""
    return (
        f"opsgate: load {name}: {settings.users} users at {settings.effective_spawn_rate:g}/s "
        f"for {settings.run_time_s:g} s{warmup} against {url}{where}"
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


class ProgressPrinter:
    """Writes one line per progress record to the terminal, around output capturing."""

    def __init__(self, config: pytest.Config, name: str) -> None:
        self.name = name
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capman = config.pluginmanager.get_plugin("capturemanager")

    def line(self, text: str) -> None:
        """Write ``text`` as it is."""
        if self.reporter is None:
            return
        context = self.capman.global_and_fixture_disabled() if self.capman else nullcontext()
        with context:
            self.reporter.write_line(text)

    def __call__(self, record: dict[str, Any]) -> None:
        requests = int(record.get("requests") or 0)
        failures = int(record.get("failures") or 0)
        share = f" ({failures / requests:.1%})" if requests else ""
        p95 = record.get("p95")
        rps = record.get("rps")
        workers = record.get("workers")
        text = (
            f"  load {self.name} {float(record.get('t', 0)):6.1f} s  "
            f"users {record.get('users', 0):>4}  "
            f"rps {(f'{rps:.1f}' if rps is not None else '-'):>7}  "
            f"failures {failures}{share}  "
            f"p95 {(f'{p95:.1f} ms' if p95 is not None else '-')}"
        )
        if workers is not None:
            text += f"  workers {workers}"
        self.line(text)
