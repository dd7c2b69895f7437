"""The end of a gate run: SLOs over the run's traffic, baseline, evidence, verdict, reports.

Order, whatever way the run ended: judge the run-wide SLOs, then the Prometheus SLOs
(:mod:`.monitoring`); compare with the baseline;
build the :class:`~pytest_opsgate.verdict.Evidence` and :func:`~pytest_opsgate.verdict.decide`;
save stack logs when it is not a PASS; run the stop command; call every report writer
(``pytest_opsgate_write_report``: gate.json, gate.md, JUnit, HTML summary and plugins'); run
the on-pass or on-fail hook; save the baseline on PASS; tell ``pytest_opsgate_verdict``.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..verdict import Evidence, PhaseEvidence, SLOEvidence, Verdict, decide
from .selection import phase_order

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..report.gate_json import PhaseRecord, RunRecord
    from ..settings import GateSettings
    from ..slo.baseline import BaselineComparison
    from ..slo.evaluate import SLOResult
    from ..target.stack import CommandResult
    from ..verdict import Decision
    from .state import GateState


def run_stack_command(
    settings: GateSettings, state: GateState, name: str, command: str, **extra: Any
) -> CommandResult:
    """Run one lifecycle command with the run's timeout and redaction; remember its result."""
    from ..target.stack import run_command

    redactor = state.redactor
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


def evaluate_run_slos(settings: GateSettings, state: GateState) -> None:
    """Judge ``--gate-slo`` over in-process traffic: smoke requests and E2E page loads.

    Every latency SLO brings its error-rate guard. The load gate judges API SLOs over its
    own traffic, inside Locust.
    """
    from ..slo.evaluate import evaluate_slo, with_guards

    for slo in with_guards(settings.slos):
        source = "e2e" if slo.is_page else "smoke"
        if source not in settings.gates:
            continue
        result = evaluate_slo(slo, state.store(source), min_samples=settings.min_samples)
        state.slo_results.append(dataclasses.replace(result, source=source))


def _outcome_counts(state: GateState, gate: str) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for outcome in state.outcomes.values():
        if outcome.gate == gate:
            counts[outcome.status] += 1
    return counts


def _not_run(state: GateState, gate: str, counts: dict[str, int]) -> str | None:
    if state.stopped_early:
        return "target not ready" if state.readiness_error else "the run stopped before it"
    if state.signal and not any(counts.values()):
        return f"stopped by {state.signal}"
    prefix = "not run: "
    skipped = [o.reason for o in state.outcomes.values() if o.gate == gate]
    if skipped and not counts["passed"] + counts["failed"] + counts["error"]:
        reasons = {reason.removeprefix(prefix) for reason in skipped if reason.startswith(prefix)}
        if len(reasons) == 1 and len(skipped) == counts["skipped"]:
            return reasons.pop()
    return None


def phase_evidence(settings: GateSettings, state: GateState) -> tuple[PhaseEvidence, ...]:
    """One PhaseEvidence per selected gate, from the recorded test outcomes."""
    phases = []
    for gate in settings.ordered_gates:
        counts = _outcome_counts(state, gate)
        not_run = _not_run(state, gate, counts)
        phases.append(
            PhaseEvidence(
                gate=gate,
                explicit=gate in settings.named_gates,
                passed=counts["passed"],
                failed=counts["failed"],
                errors=counts["error"],
                skipped=counts["skipped"] if not_run is None else 0,
                not_run=not_run,
            )
        )
    return tuple(phases)


def slo_evidence(results: list[SLOResult], min_samples: int) -> tuple[SLOEvidence, ...]:
    """The verdict core's view of every SLO row of the run."""
    return tuple(
        SLOEvidence(
            name=result.slo.text if not result.test else f"{result.slo.text} in {result.test}",
            state=result.verdict,
            reason=result.reason,
            gate=result.source,
            successes=result.successes if result.slo.kind == "duration" else None,
            min_samples=min_samples if result.slo.kind == "duration" else 1,
        )
        for result in results
    )


def compare_baseline(
    settings: GateSettings, state: GateState
) -> tuple[BaselineComparison | None, list[str], list[str], list[str]]:
    """The baseline comparison: its regressions, what made it untrustworthy, what was thin."""
    from ..slo.baseline import BaselineError, compare, live_baseline_errors, load_baseline

    if state.stopped_early or state.signal:
        return None, [], [], []  # nothing was measured to compare: the stop is the verdict
    baseline: Any
    live_errors: list[str] = []
    if settings.baseline_url is not None:
        from ..settings import strip_credentials

        shown = strip_credentials(settings.baseline_url)
        baseline = {gate: store for gate, store in state.baseline_stores.items() if len(store)}
        source = f"live target {shown}, measured side by side"
        live_errors = live_baseline_errors(state.baseline_stores, shown)
        if not baseline:
            return None, [], live_errors, []
    elif settings.baseline_path is not None:
        try:
            baseline = load_baseline(settings.baseline_path)
        except BaselineError as exc:
            return None, [], [f"baseline: {exc}"], []
        source = f"{settings.baseline_path} (finished {baseline.get('finished_at', '?')})"
    else:
        return None, [], [], []
    comparison = compare(
        baseline,
        {gate: store for gate, store in state.stores.items() if len(store)},
        floor=settings.regression_floor,
        confidence=settings.baseline_confidence,
        min_samples=settings.baseline_min_samples,
        source=source,
    )
    if live_errors:
        # A failing baseline's latencies (fast refusals, slow errors) judge nothing: the
        # comparison is shown for the record but neither its FAILs nor its PASSes count.
        return comparison, [], live_errors, []
    errors = comparison.coverage_errors(partial=settings.baseline_partial)
    return comparison, comparison.reasons, errors, comparison.inconclusive_reasons


def build_evidence(
    settings: GateSettings,
    state: GateState,
    exitstatus: int,
    baseline_failures: list[str],
    baseline_errors: list[str],
    baseline_thin: Sequence[str] = (),
) -> Evidence:
    """Everything the run saw that bears on the verdict."""
    errors = list(state.errors)
    if exitstatus == pytest.ExitCode.INTERNAL_ERROR:
        errors.append("pytest hit an internal error (see the traceback above)")
    elif exitstatus == pytest.ExitCode.USAGE_ERROR:
        errors.append("pytest reported a usage error")
    elif exitstatus == pytest.ExitCode.INTERRUPTED and not (
        state.signal or state.collection_errors
    ):
        errors.append("pytest stopped the run before every test ran (session.shouldstop)")
    never_ran = [nodeid for nodeid in state.selected if nodeid not in state.outcomes]
    if never_ran and not (state.signal or state.stopped_early or state.collection_errors):
        # pytest.exit(returncode=0) in a test, fixture or plugin ends the session quietly.
        errors.append(
            f"{len(never_ran)} selected test(s) never ran to a verdict ({never_ran[0]} first); "
            "something ended the session early (pytest.exit, -x, --maxfail, a crash)"
        )
    return Evidence(
        phases=phase_evidence(settings, state),
        slos=slo_evidence(state.slo_results, settings.min_samples),
        collection_errors=tuple(state.collection_errors),
        no_tests_collected=exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED,
        signal=state.signal,
        not_ready=_first_line(state.readiness_error) if state.readiness_error else None,
        failures=tuple(baseline_failures),
        errors=tuple([*errors, *baseline_errors]),
        inconclusive=tuple(baseline_thin),
    )


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def phase_records(evidence: Evidence, state: GateState) -> list[PhaseRecord]:
    """One record per selected gate for gate.json: counts, duration, verdict, why not run."""
    from ..report.gate_json import PhaseRecord
    from ..verdict import worst

    records = []
    for phase in evidence.phases:
        duration = sum(o.duration_s for o in state.outcomes.values() if o.gate == phase.gate)
        slo_verdicts = [
            Verdict.FAIL if r.verdict == "failed" else Verdict.ERROR
            for r in state.slo_results
            if r.source == phase.gate and r.verdict in ("failed", "error")
        ]
        ran = [Verdict.FAIL] * phase.failed + [Verdict.ERROR] * phase.errors
        verdict = worst(ran + slo_verdicts) if phase.ran or slo_verdicts else None
        reason = None
        if phase.not_run is not None:
            reason = f"not run: {phase.not_run}"
        elif not phase.present:
            reason = "no test in this gate"
        elif not phase.ran:
            reason = f"all {phase.skipped} skipped"
        records.append(
            PhaseRecord(
                gate=phase.gate,
                verdict=verdict,
                passed=phase.passed,
                failed=phase.failed,
                errors=phase.errors,
                skipped=phase.skipped,
                duration_s=duration,
                skipped_reason=reason,
            )
        )
    records.sort(key=lambda record: phase_order(record.gate))
    return records


def build_record(
    config: pytest.Config,
    state: GateState,
    decision: Decision,
    evidence: Evidence,
    baseline: BaselineComparison | None,
) -> RunRecord:
    """Everything gate.json and gate.md say about the run."""
    from ..report.gate_json import RunRecord, readiness_dict
    from .state import get_settings

    settings = get_settings(config)
    html = getattr(config.option, "htmlpath", None)
    junit = getattr(config.option, "xmlpath", None)
    redactor = state.redactor
    readiness = state.readiness or state.readiness_attempted
    return RunRecord(
        verdict=decision.verdict,
        exit_code=int(decision.exit_code),
        artifacts_dir=settings.artifacts_dir,
        started_at=state.started_at,
        finished_at=datetime.now(timezone.utc),
        duration_s=time.monotonic() - state.started_monotonic,
        reasons=list(decision.reasons),
        target_url=settings.display_url if settings.base_url else None,
        target_version=(readiness.version or readiness.last_version) if readiness else None,
        gates=settings.ordered_gates,
        # A restore-only run has no target: nothing was polled (null in gate.json).
        readiness=readiness_dict(readiness, state.readiness_error)
        if settings.needs_target or readiness or state.readiness_error
        else None,
        phases=phase_records(evidence, state),
        slo_results=list(state.slo_results),
        endpoints={gate: store for gate, store in state.stores.items() if len(store)},
        tests=list(state.outcomes.values()),
        commands=list(state.commands),
        hooks=list(state.hooks),
        baseline=baseline,
        artifacts=list(state.artifacts),
        html_report=Path(html).absolute() if html else None,
        junit_xml=Path(junit).absolute() if junit else None,
        markdown_report=settings.artifacts_dir / "gate.md",
        notes=[*state.notes, *decision.notes],
        gate_evidence=dict(state.gate_evidence),
        redact=redactor.redact_text if redactor else None,
    )


def finish_run(config: pytest.Config, exitstatus: int) -> Decision:
    """Judge the run on the controller, write its evidence and run its hooks; once."""
    from ..report.gate_json import append_step_summary
    from .monitoring import evaluate_prometheus_slos
    from .state import get_settings, get_state

    settings = get_settings(config)
    state = get_state(config)
    if not state.stopped_early and not state.signal:
        evaluate_run_slos(settings, state)
    evaluate_prometheus_slos(config, state)
    comparison, failures, errors, thin = compare_baseline(settings, state)
    state.baseline_comparison = comparison
    evidence = build_evidence(settings, state, exitstatus, failures, errors, list(thin))
    decision = decide(evidence)
    if state.served is not None:
        stopped = state.served.stop()
        if stopped:
            state.add_note(stopped)
    if not decision.passed and settings.logs_cmd:
        name = "logs-cmd.txt" if settings.serve_cmd else "stack-logs.txt"
        run_stack_command(
            settings, state, "logs", settings.logs_cmd, output_path=settings.artifacts_dir / name
        )
    if settings.stop_cmd:
        run_stack_command(settings, state, "stop", settings.stop_cmd)
    record = build_record(config, state, decision, evidence, comparison)
    out_dir = settings.artifacts_dir
    config.hook.pytest_opsgate_write_report(decision=decision, record=record, out_dir=out_dir)
    gate_json = out_dir / "gate.json"
    _run_verdict_hook(settings, state, decision, gate_json)
    if state.hooks:
        from ..report.gate_json import write_gate_files

        # The hook read gate.json; its own result goes into gate.json and gate.md after it.
        record.hooks = list(state.hooks)
        write_gate_files(record, out_dir)
    state.add_artifact(gate_json)
    state.add_artifact(out_dir / "gate.md")
    if decision.passed and settings.save_baseline_path is not None:
        import json

        from ..slo.baseline import save_baseline

        save_baseline(json.loads(gate_json.read_text()), settings.save_baseline_path)
        state.add_note(f"baseline saved to {settings.save_baseline_path}")
    summary = append_step_summary((out_dir / "gate.md").read_text())
    if summary is not None:
        state.add_note(f"gate.md appended to $GITHUB_STEP_SUMMARY ({summary})")
    for note in decision.notes:
        state.add_note(note)
    config.hook.pytest_opsgate_verdict(decision=decision)
    return decision


def _run_verdict_hook(
    settings: GateSettings, state: GateState, decision: Decision, gate_json: Path
) -> None:
    """The on-pass hook on PASS; the on-fail hook (rollback) on FAIL and ERROR."""
    if decision.verdict is Verdict.PASS:
        name, hook = "on-pass", settings.on_pass
    elif decision.verdict in (Verdict.FAIL, Verdict.ERROR):
        name, hook = "on-fail", settings.on_fail
    else:
        return  # ABORTED: the job was cancelled; INCONCLUSIVE: a person decides
    if not hook:
        return
    from ..target.stack import run_command

    redactor = state.redactor
    result = run_command(
        name,
        hook,
        timeout_s=settings.cmd_timeout_s,
        env={
            "OPSGATE_VERDICT": decision.verdict.value,
            "OPSGATE_EXIT_CODE": str(int(decision.exit_code)),
            "OPSGATE_REPORT": str(gate_json),
        },
        redact=redactor.redact_text if redactor else None,
    )
    state.hooks.append(result)
