"""One JUnit testcase per SLO row, added to pytest's own JUnit XML after pytest wrote it.

pytest's junitxml plugin writes its file in ``pytest_sessionfinish``; a hook wrapper runs
after it and appends the rows (``classname`` ``opsgate.slo.<gate>``) with public APIs
only: the ``--junitxml`` path and :mod:`xml.etree`. CI test panels then name each breach.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

    from ..slo.evaluate import SLOResult
    from ..verdict import Decision
    from .record import RunRecord

__all__ = ["JUnitSLOs", "add_slo_testcases"]


def add_slo_testcases(path: Path, results: list[SLOResult]) -> None:
    """Append one testcase per SLO to the first testsuite of the JUnit XML at ``path``."""
    tree = ET.parse(path)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    counts = {"tests": 0, "failures": 0, "errors": 0}
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"opsgate.slo.{result.source or 'gate'}",
            name=f"SLO {result.slo}" + (f" ({result.test})" if result.test else ""),
            time="0.000",
        )
        props = ET.SubElement(case, "properties")
        for name, value in (("measured", result.measured), ("samples", result.samples)):
            ET.SubElement(props, "property", name=name, value=str(value))
        counts["tests"] += 1
        if result.verdict == "failed":
            ET.SubElement(case, "failure", message=result.reason).text = result.reason
            counts["failures"] += 1
        elif result.verdict in ("error", "inconclusive"):
            ET.SubElement(case, "error", message=result.reason).text = result.reason
            counts["errors"] += 1
    for key, added in counts.items():
        suite.set(key, str(int(suite.get(key, "0")) + added))
    tree.write(path, encoding="utf-8", xml_declaration=True)


class JUnitSLOs:
    """Built-in report writer: remembers the run's SLO rows, adds them once the XML exists."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: list[SLOResult] = []

    @pytest.hookimpl
    def pytest_opsgate_write_report(
        self, decision: Decision, record: RunRecord, out_dir: Path
    ) -> None:
        self.results = list(record.slo_results)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        result = yield
        if self.results and self.path.is_file():
            add_slo_testcases(self.path, self.results)
        return result
