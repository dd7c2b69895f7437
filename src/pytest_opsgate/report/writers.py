"""The built-in report writers, each an implementation of ``pytest_opsgate_write_report``.

gate.json, gate.md and gate.prom always; the push to a Pushgateway with
``--gate-pushgateway``; the JUnit SLO testcases with ``--junitxml``; the head of the
pytest-html report with ``--html``. A plugin adds its own format by implementing the same
hook (see :mod:`pytest_opsgate.hookspecs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..verdict import Decision
    from .record import RunRecord

__all__ = ["GateFiles", "register_writers"]


class GateFiles:
    """gate.json and gate.md in the artifacts folder."""

    @pytest.hookimpl
    def pytest_opsgate_write_report(
        self, decision: Decision, record: RunRecord, out_dir: Path
    ) -> None:
        from .gate_json import write_gate_files

        write_gate_files(record, out_dir)


def register_writers(config: pytest.Config) -> None:
    """Register the built-in writers that apply to this run."""
    from .export import GateProm, MetricsPush

    manager = config.pluginmanager
    manager.register(GateFiles(), "opsgate-gate-files")
    manager.register(GateProm(config), "opsgate-gate-prom")
    push = MetricsPush.from_config(config)
    if push is not None:
        manager.register(push, "opsgate-push")
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath and not hasattr(config, "workerinput"):
        from .junit import JUnitSLOs

        manager.register(JUnitSLOs(Path(xmlpath)), "opsgate-junit")
    if manager.hasplugin("html"):
        from .html import HtmlReportHooks

        manager.register(HtmlReportHooks(config), "opsgate-html")
