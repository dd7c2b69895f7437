"""The end of a gate run: baseline, stack logs and stop, gate.json/gate.md, hooks, JUnit SLOs."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..verdict import VERDICT_EXIT_CODES, Verdict, combine

if TYPE_CHECKING:
    from ..gate_verdict import Decision
    from ..measure.metrics import MetricsStore
    from ..report.gate_json import PhaseRecord, RunRecord
    from ..settings import GateSettings
    from ..target.stack import CommandResult
    from .state import GateState


def run_stack_command(
    settings: GateSettings, state: GateState, name: str, command: str, **extra: Any
) -> CommandResult:
    """Run one lifecycle command with the run's timeout and redaction; remember its result."""
    from ..target.stack import run_command

    redactor = settings.redactor
    result = run_command(
        name,
        command,
        timeout_s=settings.cmd_timeout_s,
        redact=redactor.redact_text if redactor else None,
        **extra,
    )
    state.commands.append(result)
    if result.output_path is not None:
        state.add_artifact(result.output_path)
    return result


def endpoint_stores(settings: GateSettings, state: GateState) -> dict[str, MetricsStore]:
    """Measured traffic per gate: in-process requests and page loads, and the load gate's."""
    stores: dict[str, MetricsStore] = {}
    if len(state.metrics):
        stores["smoke" if "smoke" in settings.gates else "e2e"] = state.metrics
    if len(state.load_metrics):
        stores["load"] = state.load_metrics
    return stores


def phase_records(settings: GateSettings, state: GateState) -> list[PhaseRecord]:
    """One record per selected gate: counts, duration, verdict, why it was skipped."""
    from ..report.gate_json import PhaseRecord

    records = []
    for gate in settings.ordered_gates:
        outcomes = [o for o in state.outcomes.values() if o.gate == gate]
        record = PhaseRecord(gate=gate, verdict=None)
        ran: list[Verdict] = []
        for outcome in outcomes:
            record.duration_s += outcome.duration_s
            if outcome.verdict is Verdict.PASS and outcome.reason:
                record.skipped += 1
                record.skipped_reason = record.skipped_reason or outcome.reason
                continue
            ran.append(outcome.verdict)
            if outcome.verdict is Verdict.PASS:
                record.passed += 1
            elif outcome.verdict is Verdict.FAIL:
                record.failed += 1
            else:
                record.errors += 1
        slo_verdicts = [
            Verdict.FAIL if r.verdict == "failed" else Verdict.ERROR
            for r in state.slo_results
            if r.source == gate and not r.passed
        ]
        if ran or slo_verdicts:
            record.verdict = combine(ran + slo_verdicts)
        if not outcomes:
            record.skipped_reason = "no test in this gate"
        records.append(record)
    return records


def _apply_baseline(
    settings: GateSettings, state: GateState, decision: Decision
) -> tuple[Decision, Any]:
    from ..slo.baseline import BaselineError, compare, load_baseline

    if settings.baseline_path is None:
        return decision, None
    try:
        doc = load_baseline(settings.baseline_path)
    except BaselineError as exc:
        reasons = [*decision.reasons, f"baseline: {exc}"]
        verdict = combine([decision.verdict, Verdict.ERROR])
        return dataclasses.replace(
            decision, verdict=verdict, exit_code=VERDICT_EXIT_CODES[verdict], reasons=reasons
        ), None
    comparison = compare(
        doc,
        endpoint_stores(settings, state),
        tolerance=settings.regression_tolerance,
        floor_ms=settings.regression_floor_ms,
        min_samples=settings.min_samples,
    )
    if comparison.passed or decision.verdict is not Verdict.PASS:
        if not comparison.passed:
            decision.reasons.extend(comparison.reasons)
        return decision, comparison
    return dataclasses.replace(
        decision,
        verdict=Verdict.FAIL,
        exit_code=VERDICT_EXIT_CODES[Verdict.FAIL],
        reasons=[*decision.reasons, *comparison.reasons],
    ), comparison


def build_record(
    config: pytest.Config,
    settings: GateSettings,
    state: GateState,
    decision: Decision,
    baseline: Any,
) -> RunRecord:
    """Everything gate.json and gate.md say about the run."""
    from ..report.gate_json import RunRecord, readiness_dict

    html = getattr(config.option, "htmlpath", None)
    junit = getattr(config.option, "xmlpath", None)
    redactor = settings.redactor
    readiness = state.readiness or state.readiness_attempted
    return RunRecord(
        verdict=decision.verdict,
        exit_code=decision.exit_code if decision.exit_code is not None else 11,
        artifacts_dir=settings.artifacts_dir,
        started_at=state.started_at,
        finished_at=datetime.now(timezone.utc),
        duration_s=time.monotonic() - state.started_monotonic,
        reasons=list(decision.reasons),
        target_url=settings.display_url,
        target_version=readiness.version if readiness else None,
        gates=settings.ordered_gates,
        readiness=readiness_dict(readiness, state.readiness_error),
        phases=phase_records(settings, state),
        slo_results=list(state.slo_results),
        endpoints=endpoint_stores(settings, state),
        tests=list(state.outcomes.values()),
        commands=list(state.commands),
        hooks=list(state.hooks),
        baseline=baseline,
        artifacts=list(state.artifacts),
        html_report=Path(html).absolute() if html else None,
        junit_xml=Path(junit).absolute() if junit else None,
        markdown_report=settings.artifacts_dir / "gate.md",
        notes=list(state.notes),
        redact=redactor.redact_text if redactor else None,
    )


def write_evidence(record: RunRecord, settings: GateSettings) -> Path:
    """Write gate.json and gate.md; returns the gate.json path."""
    from ..report.gate_json import write_gate_json, write_gate_md

    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    path = settings.artifacts_dir / "gate.json"
    write_gate_json(record, path)
    write_gate_md(record, settings.artifacts_dir / "gate.md")
    return path


def close_run(config: pytest.Config, decision: Decision) -> Decision:
    """Finish a gate run on the controller; returns the final decision. Runs once."""
    from ..report.gate_json import append_step_summary
    from .state import get_settings, get_state

    settings = get_settings(config)
    state = get_state(config)
    decision, baseline = _apply_baseline(settings, state, decision)
    if decision.verdict is not Verdict.PASS and settings.logs_cmd:
        run_stack_command(
            settings,
            state,
            "logs",
            settings.logs_cmd,
            output_path=settings.artifacts_dir / "stack-logs.txt",
        )
    if settings.stop_cmd:
        run_stack_command(settings, state, "stop", settings.stop_cmd)
    record = build_record(config, settings, state, decision, baseline)
    gate_json = write_evidence(record, settings)
    hook = settings.on_pass if decision.verdict is Verdict.PASS else None
    if decision.verdict in (Verdict.FAIL, Verdict.ERROR):
        hook = settings.on_fail
    if hook:
        from ..target.stack import run_command

        redactor = settings.redactor
        name = "on-pass" if decision.verdict is Verdict.PASS else "on-fail"
        result = run_command(
            name,
            hook,
            timeout_s=settings.cmd_timeout_s,
            env={"OPSGATE_VERDICT": decision.verdict.value, "OPSGATE_REPORT": str(gate_json)},
            redact=redactor.redact_text if redactor else None,
        )
        state.hooks.append(result)
        record.hooks = list(state.hooks)
        write_evidence(record, settings)
    state.add_artifact(gate_json)
    state.add_artifact(settings.artifacts_dir / "gate.md")
    if decision.verdict is Verdict.PASS and settings.save_baseline_path is not None:
        import json

        from ..slo.baseline import save_baseline

        save_baseline(json.loads(gate_json.read_text()), settings.save_baseline_path)
        state.notes.append(f"baseline saved to {settings.save_baseline_path}")
    markdown = (settings.artifacts_dir / "gate.md").read_text()
    summary = append_step_summary(markdown)
    if summary is not None:
        state.notes.append(f"gate.md appended to $GITHUB_STEP_SUMMARY ({summary})")
    add_slo_testcases(config, state)
    return decision


def add_slo_testcases(config: pytest.Config, state: GateState) -> None:
    """One JUnit testcase per SLO, so CI test panels name each breach."""
    # LogXML writes its file in its own pytest_sessionfinish, after ours (tryfirst).
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for result in state.slo_results:
        name = f"SLO {result.slo}"
        nodeid = f"opsgate::{result.source or 'gate'}::{name}"
        longrepr = None if result.passed else f"{result.verdict}: {result.reason}"
        when = "setup" if result.verdict == "error" else "call"
        outcome = "passed" if result.passed else "failed"
        report = pytest.TestReport(
            nodeid=nodeid,
            location=("opsgate", None, name),
            keywords={},
            outcome=outcome,  # type: ignore[arg-type]
            longrepr=longrepr,
            when=when,  # type: ignore[arg-type]
            sections=[],
            duration=0.0,
            user_properties=[
                ("measured", str(result.measured)),
                ("samples", str(result.samples)),
            ],
        )
        xml.pytest_runtest_logreport(report)
        teardown = pytest.TestReport(
            nodeid=nodeid,
            location=("opsgate", None, name),
            keywords={},
            outcome="passed",
            longrepr=None,
            when="teardown",
            sections=[],
            duration=0.0,
        )
        xml.pytest_runtest_logreport(teardown)
