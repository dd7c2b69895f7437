"""The one verdict of a gate run, decided from test outcomes and SLO results."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from .verdict import VERDICT_EXIT_CODES, Verdict, combine

if TYPE_CHECKING:
    from .run.state import GateState
    from .settings import GateSettings


@dataclass
class Decision:
    """The verdict, the exit code that carries it, and why."""

    verdict: Verdict
    exit_code: int | None
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def evaluate_global_slos(settings: GateSettings, state: GateState) -> None:
    """Evaluate ``--gate-slo`` over in-process traffic: gate_client requests and page loads."""
    from .slo.evaluate import evaluate_slo

    for slo in settings.slos:
        is_page = slo.is_page
        source = "e2e" if is_page else "smoke"
        if source not in settings.gates:
            continue  # the load gate evaluates API SLOs over its own traffic
        result = evaluate_slo(slo, state.metrics, min_samples=settings.min_samples)
        state.slo_results.append(dataclasses.replace(result, source=source))


def decide(settings: GateSettings, state: GateState, exitstatus: int) -> Decision:
    """Combine pytest's exit status, per-test verdicts and SLO results into one verdict."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return Decision(Verdict.ABORTED, VERDICT_EXIT_CODES[Verdict.ABORTED], ["interrupted"])
    if exitstatus in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return Decision(Verdict.ERROR, None, [f"pytest exited with {exitstatus}"])
    if state.early_stop is not None:
        verdict, code, message = state.early_stop
        return Decision(verdict, code, [message.splitlines()[0]])

    evaluate_global_slos(settings, state)
    verdicts: list[Verdict] = []
    reasons: list[str] = []
    ran = 0
    for outcome in state.outcomes.values():
        if outcome.verdict is Verdict.PASS and outcome.reason:
            continue  # skipped
        ran += 1
        verdicts.append(outcome.verdict)
        if outcome.verdict is not Verdict.PASS:
            reasons.append(f"{outcome.nodeid}: {outcome.reason}")
    for result in state.slo_results:
        if result.verdict == "failed":
            verdicts.append(Verdict.FAIL)
            reasons.append(f"SLO {result.slo.text}: {result.reason}")
        elif result.verdict == "error":
            verdicts.append(Verdict.ERROR)
            reasons.append(f"SLO {result.slo.text}: {result.reason}")
    if ran == 0:
        verdicts.append(Verdict.ERROR)
        reasons.append(
            f"no test ran in --gate={','.join(settings.ordered_gates)}; a gate with nothing "
            "measured is never a pass (add tests under suites/<gate>/, mark them with "
            "@pytest.mark.gate, or declare smoke checks in opsgate.toml)"
        )
    verdict = combine(verdicts)
    return Decision(verdict, VERDICT_EXIT_CODES[verdict], reasons)
