"""The head of the pytest-html report: the verdict, the target and the SLO table, first."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..run.state import get_settings, get_state
from .terminal import readiness_line

if TYPE_CHECKING:
    import pytest

    from ..run.state import GateState
    from ..verdict import Decision


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
        target = f" of {settings.display_url}" if settings.base_url else ""  # restore: none
        report.title = f"opsgate: {','.join(settings.ordered_gates)} gate{target}"

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
            f"{html.escape(readiness_line(settings, state))}<br>"
            f"Gates: {html.escape(','.join(settings.ordered_gates))}</p>"
            f"{_slo_table_html(state)}"
            + (f"<ul class='opsgate-reasons'>{reasons}</ul>" if reasons else "")
        )
