"""A finished drill as evidence: the ``restore`` object of gate.json, and the same in words.

Pure of pytest. The words are what the terminal shows for a failed drill, what the HTML
report attaches to the drill's test, and ``restore-drill.txt``; their last line is the
verdict and its reason (a failed test's one-line reason in gate.json is its last line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checks import human_duration

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .result import DrillResult

__all__ = ["NO_EXPECTATION_NOTE", "drill_evidence", "drill_text", "human_size", "scrubbed"]

NO_EXPECTATION_NOTE = (
    "restore: no expectation was given: this drill only proves the backup restores (add "
    "--gate-restore-expect, --gate-restore-manifest or --gate-restore-max-age to check its data)"
)
_WORDS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}


def human_size(size: int) -> str:
    """``812 B``, ``12.3 KiB``, ``4.0 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def drill_evidence(result: DrillResult, *, test: str, source: Path) -> dict[str, Any]:
    """The ``restore`` object of gate.json (docs/gate-json.md): the drill's evidence."""
    return {"test": test, "source": str(source), **result.to_dict()}


def scrubbed(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with every string in it passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: scrubbed(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [scrubbed(item, redact) for item in value]
    return value


def _table_lines(evidence: dict[str, Any]) -> list[str]:
    rows = [("table", "manifest", "minimum", "found")]
    for table in evidence["tables"]:
        rows.append(
            tuple(
                "-" if value is None else str(value)
                for value in (table["table"], table["expected"], table["minimum"], table["found"])
            )  # type: ignore[arg-type]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                  enumerate(zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]  # fmt: skip


def drill_text(evidence: dict[str, Any]) -> str:
    """The evidence in words, the verdict and its reason on the last line."""
    backup = evidence["backup"]
    lines = [f"restore drill of {evidence['source']}"]
    if backup is not None:
        shown = f"{backup['format']}{' (gzip)' if backup['compressed'] else ''}"
        lines.append(f"  backup        {backup['path']}")
        lines.append(
            f"  content       {shown}, {human_size(backup['size'])}, sha256 {backup['sha256']}"
        )
        if backup["time"] is not None:
            age = backup["age_s"]
            old = f", {human_duration(age * 1000)} old" if age is not None else ""
            where = f"from its {backup['time_source']}"
            lines.append(f"  backup time   {backup['time']} ({where}){old}")
    if evidence["target"]:
        database = f", database {evidence['database']}" if evidence["database"] else ""
        lines.append(f"  restored into {evidence['target']}{database}")
    if evidence["restore_time_s"] is not None:
        lines.append(
            f"  restore time  {evidence['restore_time_s']:.2f} s with {evidence['restore_tool']} "
            f"(the whole drill {evidence['total_time_s']:.2f} s, server start and database "
            "creation included)"
        )
    if evidence["tables"]:
        lines.append("  tables")
        lines.extend("    " + line for line in _table_lines(evidence))
    if evidence["checks"]:
        lines.append("  checks")
        lines.extend(
            f"    {_WORDS[check['verdict']]:<5}  {check['name']}: {check['reason']}"
            for check in evidence["checks"]
        )
    if evidence["cleanup"]:
        lines.append(f"  cleanup       {'; '.join(evidence['cleanup'])}")
    if evidence["tool_output"].strip() and evidence["verdict"] != "PASS":
        tail = evidence["tool_output"].strip().splitlines()[-10:]
        lines.append(f"  {evidence['restore_tool'] or 'restore tool'} said (last lines)")
        lines.extend(f"    {line}" for line in tail)
    if evidence["then_output"].strip() and evidence["verdict"] != "PASS":
        lines.append("  then said (last lines)")
        lines.extend(f"    {line}" for line in evidence["then_output"].strip().splitlines()[-10:])
    lines.append(f"{evidence['verdict']}: {' '.join(str(evidence['reason']).split())}")
    return "\n".join(lines)
