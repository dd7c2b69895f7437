"""The run's evidence: gate.json (versioned, schema in ``schema/gate.schema.json``) and gate.md.

:func:`build_gate_json` turns a :class:`RunRecord` (plain data the plugin collects) into the
document; :func:`render_gate_md` renders the human report from that same document, so the
two never disagree. Every string in both passes through ``RunRecord.redact`` before it is
written, and the target URL loses its credentials.

Error budget (``error_budget`` in gate.json, "Error budget" in gate.md), for SLOs with an
upper bound (``<`` or ``<=``) that were measured:

- ``error_rate < B``: the budget is B; consumed = measured error rate / B.
- ``pXX < B`` (a latency percentile below 100): the SLO allows (100 - XX) % of samples above
  B; consumed = (fraction of samples above B) / ((100 - XX) / 100). "Above" is judged at the
  histogram's resolution, as the SLO itself is (for ``<``, a sample in B's bucket counts as
  above; for ``<=`` it does not), so consumed > 100 % exactly when the percentile breaks B.

Bands: green below 50 %, yellow from 50 % to 80 %, red above 80 %. Other SLOs (``min``,
``max``, ``avg``, ``rps``, ``requests``, ``>`` bounds, a zero budget) have no error budget.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..measure.histogram import LatencyHistogram
from ..measure.metrics import METRICS
from ..settings import strip_credentials
from ..slo.evaluate import resolve_stats
from ..slo.statistics import KINDS
from ..verdict import Verdict
from .files import write_atomic
from .markdown import append_step_summary, render_markdown
from .record import PhaseRecord, RunRecord, readiness_dict

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..measure.metrics import EndpointStats, MetricsStore
    from ..slo.evaluate import SLOResult
    from ..target.stack import CommandResult
    from .record import OutcomeLike

__all__ = [
    "SCHEMA_VERSION",
    "PhaseRecord",
    "RunRecord",
    "append_step_summary",
    "build_gate_json",
    "error_budget",
    "load_schema",
    "readiness_dict",
    "render_gate_md",
    "render_markdown",
    "write_gate_files",
    "write_gate_json",
    "write_gate_md",
]

SCHEMA_VERSION = 1
TOOL_NAME = "pytest-opsgate"


def _iso(moment: datetime) -> str:
    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment
    text = aware.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _path_text(path: Path | None, base: Path) -> str | None:
    """A path relative to the artifacts folder when inside it, else absolute."""
    if path is None:
        return None
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(base))).as_posix()
    except ValueError:
        return str(absolute)


def _band(consumed: Fraction) -> str:
    if consumed < Fraction(1, 2):
        return "green"
    return "yellow" if consumed <= Fraction(4, 5) else "red"


def error_budget(result: SLOResult, stats: EndpointStats | None) -> dict[str, Any] | None:
    """The error-budget entry of one SLO (module docstring), or None when it has none."""
    slo = result.slo
    if result.verdict == "error" or result.measured is None or slo.op not in ("<", "<="):
        return None
    if slo.budget <= 0:
        return None
    if slo.statistic == "error_rate":
        allowed = Fraction(str(slo.budget))
        observed = Fraction(str(result.measured))
        basis = "error_rate"
    elif slo.kind == "duration" and slo.statistic.startswith("p"):
        percentile = Fraction(slo.statistic[1:])
        if percentile >= 100 or stats is None or stats.histogram.count == 0:
            return None
        limit = LatencyHistogram.at_resolution(slo.budget)
        histogram = stats.histogram
        above = sum(
            count
            for low, _high, count in histogram.buckets()
            if (low >= limit if slo.op == "<" else low > limit)
        )
        allowed = (100 - percentile) / 100
        observed = Fraction(above, histogram.count)
        basis = "latency_tail"
    else:
        return None
    consumed = observed / allowed
    return {
        "gate": result.source or None,
        "expression": slo.text,
        "basis": basis,
        "allowed": float(allowed),
        "observed": float(observed),
        "consumed": float(consumed),
        "band": _band(consumed),
    }


def _slo_entry(result: SLOResult) -> dict[str, Any]:
    slo = result.slo
    return {
        "gate": result.source or None,
        "expression": slo.text,
        "scope": slo.scope,
        "metric": slo.metric,
        "statistic": slo.statistic,
        "label": slo.label,
        "op": slo.op,
        "budget": slo.budget,
        "budget_text": slo.budget_text(),
        "measured": _finite(result.measured),
        "unit": KINDS[slo.kind].unit,
        "samples": result.samples,
        "verdict": result.verdict,
        "reason": result.reason,
        "abort": slo.abort,
        "successes": result.successes,
        "test": result.test,
        "guard": slo.guard,
    }


def _endpoint_entries(stores: Mapping[str, MetricsStore]) -> list[dict[str, Any]]:
    entries = []
    for gate, store in stores.items():
        for metric in METRICS:
            for scope in store.scopes(metric):
                stats = store.get(scope, metric)
                if stats is None:
                    continue
                histogram = stats.histogram

                def pct(p: float, h: LatencyHistogram = histogram) -> float | None:
                    return h.percentile(p) if h.count else None

                entries.append(
                    {
                        "gate": gate,
                        "scope": scope,
                        "metric": metric,
                        "requests": stats.requests,
                        "failures": stats.failures,
                        "samples": histogram.count,
                        "error_rate": stats.error_rate,
                        "rps": _finite(stats.rps),
                        "window_s": round(stats.window_s, 3),
                        "p50": pct(50),
                        "p95": pct(95),
                        "p99": pct(99),
                        "max": pct(100),
                        "histogram": histogram.encode(),
                    }
                )
    return entries


def _store_for(record: RunRecord, gate: str) -> MetricsStore | None:
    store = record.endpoints.get(gate)
    if store is None and len(record.endpoints) == 1:
        store = next(iter(record.endpoints.values()))
    return store


def _test_entry(test: Mapping[str, Any] | OutcomeLike) -> dict[str, Any]:
    def get(key: str, default: Any = None) -> Any:
        if isinstance(test, Mapping):
            return test.get(key, default)
        return getattr(test, key, default)

    verdict = get("verdict")
    return {
        "nodeid": str(get("nodeid")),
        "gate": get("gate"),
        "verdict": verdict.value if isinstance(verdict, Verdict) else str(verdict),
        "reason": str(get("reason", "") or ""),
        "duration_s": round(float(get("duration_s", 0.0) or 0.0), 3),
    }


def _command_entry(command: CommandResult, base: Path) -> dict[str, Any]:
    entry = command.to_dict()
    entry["output_path"] = _path_text(command.output_path, base)
    return entry


def _scrub(value: Any, redact: Callable[[str], str], key: str = "") -> Any:
    if isinstance(value, str):
        return value if key == "histogram" else redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v, redact, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, redact, key) for item in value]
    return value


def build_gate_json(record: RunRecord) -> dict[str, Any]:
    """The gate.json document of a run (see docs/gate-json.md and the shipped JSON Schema)."""
    base = record.artifacts_dir
    budgets = []
    for result in record.slo_results:
        store = _store_for(record, result.source)
        stats = resolve_stats(result.slo, store) if store is not None else None
        entry = error_budget(result, stats)
        if entry is not None:
            budgets.append(entry)
    artifacts: list[str] = []
    for path in record.artifacts:
        text = _path_text(path, base)
        if text is not None and text not in artifacts:
            artifacts.append(text)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": _tool_version()},
        "verdict": record.verdict.value,
        "exit_code": record.exit_code,
        "reasons": list(record.reasons),
        "gates": list(record.gates),
        "target": {
            "url": None if record.target_url is None else strip_credentials(record.target_url),
            "version": record.target_version,
        },
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
        "duration_s": round(record.duration_s, 3),
        "readiness": None if record.readiness is None else dict(record.readiness),
        "phases": [
            {
                "gate": phase.gate,
                "verdict": "SKIPPED" if phase.verdict is None else phase.verdict.value,
                "passed": phase.passed,
                "failed": phase.failed,
                "errors": phase.errors,
                "skipped": phase.skipped,
                "duration_s": round(phase.duration_s, 3),
                "skipped_reason": phase.skipped_reason,
            }
            for phase in record.phases
        ],
        "slos": [_slo_entry(result) for result in record.slo_results],
        "endpoints": _endpoint_entries(record.endpoints),
        "error_budget": budgets,
        "tests": [_test_entry(test) for test in record.tests],
        "commands": [_command_entry(command, base) for command in record.commands],
        "hooks": [_command_entry(hook, base) for hook in record.hooks],
        "baseline": None if record.baseline is None else record.baseline.to_dict(),
        "restore": record.gate_evidence.get("restore"),
        "artifacts_dir": str(Path(os.path.abspath(base))),
        "artifacts": artifacts,
        "reports": {
            "html": _path_text(record.html_report, base),
            "junit_xml": _path_text(record.junit_xml, base),
            "markdown": _path_text(record.markdown_report, base),
        },
        "notes": list(record.notes),
    }
    if record.redact is not None:
        doc = _scrub(doc, record.redact)
    return doc


def _tool_version() -> str:
    from .. import __version__

    return __version__


def write_gate_json(record: RunRecord, path: Path) -> dict[str, Any]:
    """Write gate.json atomically and return the document."""
    doc = build_gate_json(record)
    write_atomic(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return doc


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of gate.json shipped with the package."""
    text = resources.files("pytest_opsgate").joinpath("schema/gate.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def render_gate_md(record: RunRecord) -> str:
    """The human evidence report (:mod:`pytest_opsgate.report.markdown`) from gate.json data."""
    md_dir = (record.markdown_report or record.artifacts_dir / "gate.md").parent
    return render_markdown(build_gate_json(record), md_dir)


def write_gate_md(record: RunRecord, path: Path) -> str:
    """Write gate.md atomically and return its text."""
    if record.markdown_report is None:
        record.markdown_report = path
    text = render_gate_md(record)
    write_atomic(path, text)
    return text


def write_gate_files(record: RunRecord, out_dir: Path) -> Path:
    """Write gate.json and gate.md into ``out_dir``; returns the gate.json path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "gate.json"
    write_gate_json(record, path)
    write_gate_md(record, out_dir / "gate.md")
    return path
