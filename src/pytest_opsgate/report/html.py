"""The gate summary: a terminal section and the head of the pytest-html report."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..run.state import get_settings, get_state

if TYPE_CHECKING:
    import pytest

    from ..run.state import GateState
    from ..settings import GateSettings
    from ..verdict import Decision


def _readiness_line(settings: GateSettings, state: GateState) -> str:
    readiness = state.readiness
    if readiness is None:
        if not settings.ready:
            return "readiness: not polled"
        tried = state.readiness_attempted
        if tried is not None and tried.last_version is not None and settings.expected_version:
            return (
                f"readiness: ready, but serving {tried.last_version}, "
                f"want {settings.expected_version}"
            )
        return "readiness: not reached"
    return (
        f"ready after {readiness.waited_s:.2f} s at {readiness.path} "
        f"({len(readiness.attempts)} attempts); version {readiness.version or 'unknown'}"
    )


def terminal_summary_lines(
    settings: GateSettings, state: GateState, decision: Decision | None, *, verbose: bool
) -> list[str]:
    """Lines of the ``opsgate`` terminal section: target, readiness, SLO table, verdict."""
    from ..slo.evaluate import format_slo_table

    lines = [
        f"target: {settings.display_url}",
        _readiness_line(settings, state),
        f"gates: {','.join(settings.ordered_gates)}",
    ]
    if state.readiness_error:
        # The attempt log and the hint, once (pytest.exit repeats only the first line).
        lines.extend("  " + line for line in state.readiness_error.splitlines())
    lines.extend(f"note: {note}" for note in state.notes)
    if state.slo_results:
        lines.append("SLOs:")
        lines.extend("  " + row for row in format_slo_table(state.slo_results).splitlines())
    if state.deselected:
        lines.append(f"deselected: {len(state.deselected)} test(s) outside the selected gates")
        if verbose:
            lines.extend(
                f"  DESELECTED {nodeid}: {reason}" for nodeid, reason in state.deselected.items()
            )
    if decision is not None:
        for reason in decision.reasons[:20]:
            lines.append(f"  - {reason}")
        exit_text = "" if decision.exit_code is None else f" (exit code {decision.exit_code})"
        lines.append(f"VERDICT: {decision.verdict.value}{exit_text}")
    return lines


def _slo_table_html(state: GateState) -> str:
    from ..slo.evaluate import format_measure

    rows = []
    for result in state.slo_results:
        measured = "—" if result.measured is None else format_measure(result.slo, result.measured)
        colour = {"passed": "#1a7f37", "failed": "#cf222e"}.get(result.verdict, "#9a6700")
        rows.append(
            "<tr>"
            f"<td>{html.escape(result.source or '-')}</td>"
            f"<td>{html.escape(result.scope_label)}</td>"
            f"<td>{html.escape(result.slo.label)}</td>"
            f"<td>{html.escape(measured)}</td>"
            f"<td>{html.escape(result.slo.op)} "
            f"{html.escape(format_measure(result.slo, result.slo.budget))}</td>"
            f"<td>{result.samples}</td>"
            f"<td style='color:{colour};font-weight:bold'>{html.escape(result.verdict)}</td>"
            "</tr>"
        )
    if not rows:
        return "<p>No SLOs were evaluated.</p>"
    head = (
        "<tr><th>gate</th><th>endpoint</th><th>statistic</th><th>measured</th><th>budget</th>"
        "<th>samples</th><th>verdict</th></tr>"
    )
    style = (
        "<style>table.opsgate-slos{border-collapse:collapse;margin:8px 0}"
        "table.opsgate-slos td,table.opsgate-slos th{border:1px solid #d0d7de;"
        "padding:3px 8px;text-align:left}</style>"
    )
    return f"{style}<table class='opsgate-slos'>{head}{''.join(rows)}</table>"


class HtmlReportHooks:
    """pytest-html hooks; registered only when pytest-html is installed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_html_report_title(self, report: Any) -> None:
        settings = get_settings(self.config)
        report.title = f"opsgate: {','.join(settings.ordered_gates)} gate of {settings.display_url}"

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        settings = get_settings(self.config)
        state = get_state(self.config)
        plugin = self.config.pluginmanager.get_plugin("opsgate-session")
        decision: Decision | None = getattr(plugin, "decision", None)
        verdict = decision.verdict.value if decision else "UNDECIDED"
        colour = {"PASS": "#1a7f37", "FAIL": "#cf222e"}.get(verdict, "#9a6700")
        reasons = "".join(
            f"<li>{html.escape(reason)}</li>" for reason in (decision.reasons if decision else [])
        )
        prefix.append(
            f"<h2 class='opsgate-verdict' style='color:{colour}'>Verdict: {verdict}</h2>"
            f"<p>Target: {html.escape(settings.display_url)}<br>"
            f"{html.escape(_readiness_line(settings, state))}<br>"
            f"Gates: {html.escape(','.join(settings.ordered_gates))}</p>"
            f"{_slo_table_html(state)}"
            + (f"<ul class='opsgate-reasons'>{reasons}</ul>" if reasons else "")
        )
