"""The verdict where people look first: at the top of the pytest-html report, before anything.

pytest-html puts its Environment table first and the summary hooks' HTML after it, so the
block is inserted into the written file instead, right after the title, once pytest-html has
written it (a ``pytest_sessionfinish`` wrapper, public APIs only). A run that stops before
any test (the target never became ready) never reaches pytest-html; with ``--html`` it gets
a report of its own with the same block, whose readiness attempts are a table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..run.state import get_settings, get_state
from .terminal import readiness_line

if TYPE_CHECKING:
    from collections.abc import Generator

    from ..run.state import GateState
    from ..settings import GateSettings
    from ..verdict import Decision
    from .record import RunRecord

__all__ = ["HtmlReportHooks", "verdict_block", "write_standalone_report"]

_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e"}
_ROW_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e"}
_STYLE = (
    "<style>.opsgate table{border-collapse:collapse;margin:6px 0 12px}"
    ".opsgate td,.opsgate th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;"
    "vertical-align:top}.opsgate th{background:#f6f8fa}.opsgate h2{margin:8px 0}"
    ".opsgate .chart{max-width:960px}</style>"
)


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[str]], cls: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(rows_cell for rows_cell in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><tr>{head}</tr>{body}</table>"


def slo_table(state: GateState) -> str:
    """Every SLO row of the run, with the test that asserted it when a test did."""
    from ..slo.evaluate import format_measure

    results = state.slo_results
    if not results:
        return "<p>No SLOs were evaluated.</p>"
    with_test = any(result.test for result in results)
    rows = []
    for r in results:
        colour = _ROW_COLOURS.get(r.verdict, "#9a6700")
        cells = [
            f"<td>{_e(r.source or '-')}</td>",
            f"<td>{_e(r.scope_label)}</td>",
            f"<td>{_e(r.slo.label)}{' (guard)' if r.slo.guard else ''}</td>",
            f"<td>{_e(format_measure(r.slo, r.measured))}</td>",
            f"<td>{_e(r.slo.op)} {_e(format_measure(r.slo, r.slo.budget))}</td>",
            f"<td>{r.samples}</td>",
            f"<td style='color:{colour};font-weight:bold'>{_e(r.verdict)}</td>",
        ]
        if with_test:
            cells.append(f"<td>{_e(r.test or '-')}</td>")
        rows.append(cells)
    headers = ["gate", "endpoint", "statistic", "measured", "budget", "samples", "verdict"]
    return _table([*headers, *(["test"] if with_test else [])], rows, "opsgate-slos")


def _attempts_table(state: GateState) -> str:
    tried = state.readiness_attempted
    if state.readiness is not None or tried is None or not tried.attempts:
        return ""
    rows = [
        [
            f"<td>{a.number}</td>",
            f"<td>+{a.at_s:.1f} s</td>",
            f"<td>GET {_e(a.path)}</td>",
            f"<td>{_e(a.status if a.status is not None else '-')}</td>",
            f"<td>{_e(a.outcome)}</td>",
            f"<td>{_e(a.detail)}</td>",
            f"<td>{_e(a.body_excerpt)}</td>",
        ]
        for a in tried.attempts[-30:]
    ]
    headers = ["#", "at", "request", "status", "outcome", "detail", "body"]
    hint = next(
        (line for line in (state.readiness_error or "").splitlines() if line.startswith("hint:")),
        "",
    )
    shown = f" (the last {len(rows)} of {len(tried.attempts)})" if len(tried.attempts) > 30 else ""
    return (
        f"<h3>Readiness attempts{shown}</h3>"
        + _table(headers, rows, "opsgate-attempts")
        + (f"<p>{_e(hint)}</p>" if hint else "")
    )


def verdict_block(settings: GateSettings, state: GateState, decision: Decision | None) -> str:
    """The verdict, target, readiness, SLO table, reasons and charts, as one HTML section."""
    verdict = decision.verdict.value if decision else "UNDECIDED"
    code = f" (exit code {int(decision.exit_code)})" if decision else ""
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in (decision.reasons if decision else ()))
    notes = "".join(f"<li>{_e(note)}</li>" for note in state.notes)
    charts = "".join(
        f"<h3>{_e(name)}</h3><div class='chart'>{svg}</div>" for name, svg in state.charts
    )
    return (
        f"{_STYLE}<section class='opsgate' id='opsgate-verdict'>"
        f"<h2 style='color:{_COLOURS.get(verdict, '#9a6700')}'>Verdict: {_e(verdict)}{code}</h2>"
        f"<p>Target: {_e(settings.display_url)}<br>{_e(readiness_line(settings, state))}<br>"
        f"Gates: {_e(','.join(settings.ordered_gates))}</p>"
        + (f"<ul class='opsgate-reasons'>{reasons}</ul>" if reasons else "")
        + _attempts_table(state)
        + slo_table(state)
        + charts
        + (f"<details><summary>Notes</summary><ul>{notes}</ul></details>" if notes else "")
        + "</section>"
    )


def insert_after_title(document: str, block: str) -> str:
    """``document`` with ``block`` right after its ``<h1>`` (or at the top of the body)."""
    end = document.find("</h1>")
    if end >= 0:
        at = end + len("</h1>")
    else:
        body = document.find("<body")
        at = document.find(">", body) + 1 if body >= 0 else 0
    return document[:at] + block + document[at:]


def write_standalone_report(path: Path, title: str, block: str) -> None:
    """A self-contained report for a run pytest-html never saw (it stopped before any test)."""
    from .files import write_atomic

    write_atomic(
        path,
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title></head><body style='font-family:sans-serif'>"
        f"<h1 id='title'>{_e(title)}</h1>{block}</body></html>\n",
    )


def report_title(settings: GateSettings) -> str:
    """``opsgate: smoke,e2e gate of https://staging.example.com`` (a restore drill has none)."""
    target = f" of {settings.display_url}" if settings.base_url else ""
    return f"opsgate: {','.join(settings.ordered_gates)} gate{target}"


class HtmlReportHooks:
    """pytest-html's title, and the verdict block at the top of the file it wrote."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.decision: Decision | None = None

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = report_title(get_settings(self.config))

    @pytest.hookimpl
    def pytest_opsgate_write_report(
        self, decision: Decision, record: RunRecord, out_dir: Path
    ) -> None:
        self.decision = decision

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        result = yield
        htmlpath = getattr(self.config.option, "htmlpath", None)
        if htmlpath and self.decision is not None and Path(htmlpath).is_file():
            path = Path(htmlpath)
            block = verdict_block(get_settings(self.config), get_state(self.config), self.decision)
            from .files import write_atomic

            write_atomic(path, insert_after_title(path.read_text(encoding="utf-8"), block))
        return result
