"""gate.md: the evidence report a human reads, rendered from a gate.json document.

Rendering only from the document keeps gate.md and gate.json in agreement, keeps gate.md
as redacted as gate.json, and lets a saved gate.json be rendered again later.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..slo.baseline import format_baseline_table
from ..slo.evaluate import format_measure

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["STEP_SUMMARY_LIMIT", "append_step_summary", "render_markdown"]

STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub rejects a step summary above 1 MiB
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_BAD_TEST_VERDICTS = {"FAIL", "ERROR", "ABORTED"}
_MAX_LISTED = 50


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    # Keep "p95 < 300ms" readable but stop "<tag" from being taken as HTML.
    return _TAG_START.sub("&lt;", text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return lines


def _fence(text: str) -> list[str]:
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return [ticks + "text", text.rstrip("\n"), ticks]


def _code(text: str) -> str:
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    ticks = "`" * (longest + 1)
    return f"{ticks} {text} {ticks}" if longest else f"`{text}`"


def _ms(value: float | None) -> str:
    return format_measure("p95", value)


def _link(target: str | None, doc: Mapping[str, Any], md_dir: Path) -> str | None:
    if target is None:
        return None
    absolute = Path(doc["artifacts_dir"]) / target
    relative = Path(os.path.relpath(absolute, md_dir)).as_posix()
    return f"[{_cell(target)}]({relative.replace(' ', '%20')})"


def _readiness_text(readiness: Mapping[str, Any] | None) -> str:
    if readiness is None:
        return "not polled"
    if not readiness.get("ready"):
        return f"not ready: {readiness.get('error') or 'unknown'}"
    return (
        f"ready after {readiness.get('waited_s')} s at {readiness.get('path')} "
        f"({readiness.get('attempts')} attempt{'' if readiness.get('attempts') == 1 else 's'})"
    )


def _command_status(entry: Mapping[str, Any]) -> str:
    if entry["timed_out"]:
        return "timed out"
    if entry["exit_code"] is None:
        return str(entry["error"] or "did not start")
    return f"exit {entry['exit_code']}"


def _output_tail(text: str, lines: int = 40, chars: int = 4000) -> str:
    tail = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return tail[-chars:]


def _head(doc: Mapping[str, Any]) -> list[str]:
    verdict = doc["verdict"]
    gates = ", ".join(doc["gates"]) or "-"
    out = [
        f"# Gate verdict: {verdict}",
        "",
        f"**{verdict}** · exit code {doc['exit_code']} · gates: {gates} · "
        f"{doc['duration_s']:.1f} s · finished {doc['finished_at']}",
        "",
    ]
    reasons = doc["reasons"]
    out.extend(f"- {_cell(reason)}" for reason in reasons[:20])
    if len(reasons) > 20:
        out.append(f"- ... and {len(reasons) - 20} more (see gate.json)")
    target = doc["target"]
    out += ["", "## Target", ""]
    out += _table(
        ("", ""),
        [
            ("url", target["url"]),
            ("version", target["version"]),
            ("readiness", _readiness_text(doc["readiness"])),
            ("started", doc["started_at"]),
        ],
    )
    if doc["phases"]:
        out += ["", "## Phases", ""]
        out += _table(
            ("phase", "verdict", "passed", "failed", "errors", "skipped", "duration", "note"),
            [
                (p["gate"], p["verdict"], p["passed"], p["failed"], p["errors"], p["skipped"],
                 f"{p['duration_s']:.1f} s", p["skipped_reason"])
                for p in doc["phases"]
            ],
        )  # fmt: skip
    return out


def _rate(entry: Mapping[str, Any]) -> str:
    """A request rate only where it means something: load, or samples over a second or more."""
    if entry["gate"] != "load" and (entry["window_s"] or 0) < 1.0:
        return "-"
    return format_measure("rps", entry["rps"])


def _charts(doc: Mapping[str, Any], md_dir: Path) -> list[str]:
    charts = [path for path in doc["artifacts"] if path.endswith(".svg")]
    if not charts:
        return []
    return ["", "## Charts", "", *(f"- {_link(path, doc, md_dir)}" for path in charts)]


def _measurements(doc: Mapping[str, Any]) -> list[str]:
    out = ["", "## SLOs", ""]
    if doc["slos"]:
        with_test = any(s.get("test") for s in doc["slos"])
        headers = ("gate", "endpoint", "statistic", "measured", "budget", "samples", "verdict")
        out += _table(
            (*headers, *(("test",) if with_test else ())),
            [
                (s["gate"], s["scope"] or "all",
                 s["label"] + (" (guard)" if s.get("guard") else ""),
                 format_measure(s["statistic"], s["measured"]),
                 f"{s['op']} {format_measure(s['statistic'], s['budget'])}", s["samples"],
                 s["verdict"].upper(), *((s.get("test") or "-",) if with_test else ()))
                for s in doc["slos"]
            ],
        )  # fmt: skip
    else:
        out.append("No SLOs were evaluated.")
    if doc["endpoints"]:
        out += ["", "## Endpoints", ""]
        out += _table(
            ("gate", "endpoint", "metric", "requests", "rate", "error rate", "p50", "p95", "p99"),
            [
                (e["gate"], e["scope"], e["metric"], e["requests"], _rate(e),
                 format_measure("error_rate", e["error_rate"]),
                 _ms(e["p50"]), _ms(e["p95"]), _ms(e["p99"]))
                for e in doc["endpoints"]
            ],
        )  # fmt: skip
    if doc["error_budget"]:
        out += ["", "## Error budget", ""]
        out += _table(
            ("gate", "SLO", "consumed", "band"),
            [
                (b["gate"], _code(b["expression"]), f"{b['consumed'] * 100:.0f} %",
                 b["band"].upper())
                for b in doc["error_budget"]
            ],
        )  # fmt: skip
        out += [
            "",
            "Consumed: the error rate over its budget, or for `pXX < B` the share of samples "
            "above B over the (100 - XX) % the SLO allows. GREEN below 50 %, YELLOW 50-80 %, "
            "RED above 80 %; above 100 % the SLO is broken.",
        ]
    return out


def _failed_checks(doc: Mapping[str, Any]) -> list[str]:
    failed = [
        (t["nodeid"], t["gate"], t["reason"])
        for t in doc["tests"]
        if t["verdict"] in _BAD_TEST_VERDICTS
    ]
    failed += [
        (f"SLO {s['expression']}", s["gate"], s["reason"])
        for s in doc["slos"]
        if s["verdict"] != "passed"
    ]
    if not failed:
        return []
    out = ["", "## Failed checks", ""]
    for what, gate, reason in failed[:_MAX_LISTED]:
        line = reason.strip().splitlines()[0] if reason.strip() else "no reason given"
        out.append(f"- {_cell(what)} ({gate or '-'}): {_cell(line)}")
    if len(failed) > _MAX_LISTED:
        out.append(f"- ... and {len(failed) - _MAX_LISTED} more (see gate.json)")
    return out


def _baseline(doc: Mapping[str, Any]) -> list[str]:
    baseline = doc["baseline"]
    if baseline is None:
        return []
    counts = [f"{baseline['compared']} endpoint(s) compared"]
    counts += [f"{baseline['regressions']} regression(s)"] * bool(baseline["regressions"])
    counts += [f"{baseline['inconclusive']} inconclusive"] * bool(baseline["inconclusive"])
    counts += [f"{len(baseline['missing'])} not requested now"] * bool(baseline["missing"])
    version = f", version {baseline['baseline_version']}" if baseline["baseline_version"] else ""
    sentences = [
        f"- {row['decision']}: {_cell(row['reason'])}"
        for row in baseline["rows"]
        if row["status"] == "compared"
    ]
    return [
        "",
        "## Baseline",
        "",
        f"Compared with {_cell(baseline['source'])}{version}: {', '.join(counts)}.",
        "",
        format_baseline_table(baseline["rows"]),
        "",
        *sentences,
        "",
        str(baseline["rule"]),
    ]


def _restore(doc: Mapping[str, Any]) -> list[str]:
    drill = doc.get("restore")  # absent from gate.json files written before the restore gate
    if drill is None:
        return []
    from ..gates.restore.checks import human_duration
    from ..gates.restore.evidence import human_size

    out = ["", "## Restore drill", "", f"**{drill['verdict']}**: {_cell(drill['reason'])}", ""]
    rows: list[tuple[str, object]] = [("test", drill["test"]), ("from", drill["source"])]
    backup = drill["backup"]
    if backup is not None:
        kind = backup["format"] + (" (gzip)" if backup["compressed"] else "")
        rows += [
            ("backup", f"{backup['path']} ({kind}, {human_size(backup['size'])})"),
            ("sha256", _code(backup["sha256"])),
        ]
        if backup["time"] is not None:
            age = (
                "" if backup["age_s"] is None else f", {human_duration(backup['age_s'] * 1000)} old"
            )
            rows.append(
                ("backup time", f"{backup['time']} (from its {backup['time_source']}){age}")
            )
    if drill["target"]:
        database = f", database {drill['database']}" if drill["database"] else ""
        rows.append(("restored into", f"{drill['target']}{database}"))
    if drill["restore_time_s"] is not None:
        rows.append(
            ("restore time", f"{drill['restore_time_s']:.2f} s with {drill['restore_tool']}")
        )
    rows.append(
        (
            "whole drill",
            f"{drill['total_time_s']:.2f} s (server start and database creation included)",
        )
    )
    out += _table(("", ""), rows)
    if drill["tables"]:
        out += [
            "",
            "Tables: rows found after the restore, against the manifest and the minimum asked.",
            "",
        ]
        out += _table(
            ("table", "manifest", "minimum", "found"),
            [(t["table"], t["expected"], t["minimum"], t["found"]) for t in drill["tables"]],
        )
    if drill["checks"]:
        out += [""]
        out += _table(
            ("check", "verdict", "in words"),
            [(c["name"], c["verdict"].upper(), c["reason"]) for c in drill["checks"]],
        )
    if drill["cleanup"]:
        out += ["", f"Cleanup: {_cell('; '.join(drill['cleanup']))}."]
    for key, label in (
        ("tool_output", drill["restore_tool"] or "restore tool"),
        ("then_output", "then"),
    ):
        if drill[key].strip() and drill["verdict"] != "PASS":
            out += ["", f"<details><summary>{_cell(label)} output (tail)</summary>", ""]
            out += _fence(_output_tail(drill[key]))
            out += ["", "</details>"]
    return out


def _commands(doc: Mapping[str, Any]) -> list[str]:
    runs = [("command", c) for c in doc["commands"]] + [("hook", h) for h in doc["hooks"]]
    if not runs:
        return []
    out = ["", "## Commands and hooks", ""]
    out += _table(
        ("name", "kind", "command", "result", "duration"),
        [
            (c["name"], kind, _code(c["command"]), _command_status(c), f"{c['duration_s']:.1f} s")
            for kind, c in runs
        ],
    )
    for _kind, c in runs:
        if c["output"].strip():
            out += ["", f"<details><summary>{_cell(c['name'])} output (tail)</summary>", ""]
            out += _fence(_output_tail(c["output"]))
            out += ["", "</details>"]
    return out


def _links(doc: Mapping[str, Any], md_dir: Path) -> list[str]:
    out = ["", "## Reports and artifacts", ""]
    for label, key in (("HTML report", "html"), ("JUnit XML", "junit_xml")):
        link = _link(doc["reports"][key], doc, md_dir)
        if link is not None:
            out.append(f"- {label}: {link}")
    out.append(f"- gate.json and artifacts folder: {_code(doc['artifacts_dir'])}")
    out += [f"- {_link(path, doc, md_dir)}" for path in doc["artifacts"][:_MAX_LISTED]]
    if len(doc["artifacts"]) > _MAX_LISTED:
        out.append(f"- ... and {len(doc['artifacts']) - _MAX_LISTED} more (see gate.json)")
    out += [f"- note: {_cell(note)}" for note in doc["notes"]]
    return out


def render_markdown(doc: Mapping[str, Any], md_dir: Path | None = None) -> str:
    """gate.md from a gate.json document; links are relative to ``md_dir`` (default: artifacts)."""
    where = Path(os.path.abspath(md_dir if md_dir is not None else doc["artifacts_dir"]))
    out = _head(doc) + _measurements(doc) + _charts(doc, where) + _failed_checks(doc)
    out += _baseline(doc) + _restore(doc)
    out += _commands(doc) + _links(doc, where)
    return "\n".join(out) + "\n"


def append_step_summary(markdown: str, env: Mapping[str, str] | None = None) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when set (capped at GitHub's 1 MiB); return its path."""
    target = (os.environ if env is None else env).get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    data = markdown.encode("utf-8")
    limit = STEP_SUMMARY_LIMIT - 1024
    if len(data) > limit:
        kept = data[:limit].decode("utf-8", errors="ignore")
        data = (kept + "\n\n(cut to fit GitHub's step summary limit; see gate.md)\n").encode()
    path = Path(target)
    with path.open("ab") as handle:
        handle.write(data if data.endswith(b"\n") else data + b"\n")
    return path
