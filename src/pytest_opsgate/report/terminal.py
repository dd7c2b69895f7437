"""The ``opsgate`` section of the terminal summary: target, readiness, SLO table, verdict;
and the live lines gates write while a test runs."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from ..run.state import GateState
    from ..settings import GateSettings
    from ..verdict import Decision

__all__ = ["LiveLines", "readiness_line", "terminal_summary_lines"]


class LiveLines:
    """Lines on the terminal while a test runs, written around pytest's output capturing."""

    def __init__(self, config: pytest.Config) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capman = config.pluginmanager.get_plugin("capturemanager")

    def line(self, text: str) -> None:
        """Write ``text`` as it is (nothing without a terminal reporter)."""
        if self.reporter is None:
            return
        context = self.capman.global_and_fixture_disabled() if self.capman else nullcontext()
        with context:
            self.reporter.write_line(text)


def readiness_line(settings: GateSettings, state: GateState) -> str:
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
        f"({_attempts(len(readiness.attempts))}); version {readiness.version or 'unknown'}"
    )


def _attempts(n: int) -> str:
    return f"{n} attempt{'' if n == 1 else 's'}"


def terminal_summary_lines(
    settings: GateSettings, state: GateState, decision: Decision | None, *, verbose: bool
) -> list[str]:
    """Lines of the ``opsgate`` terminal section: target, readiness, SLO table, verdict."""
    from ..slo.evaluate import format_slo_table

    baseline = state.baseline_comparison

    lines = [
        f"target: {settings.display_url}",
        readiness_line(settings, state),
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
    shown: set[str] = set()  # baseline sentences already on screen, not repeated as reasons
    if baseline is not None:
        lines.append(f"baseline: {baseline.source}")
        for row in baseline.rows:
            if row.status == "compared":
                lines.append(f"  {row.reason}")  # the sentence ends with its decision
                shown.update({f"regression: {row.reason}", f"baseline: {row.reason}"})
        lines.extend(f"  not requested now: {row.endpoint}" for row in baseline.missing)
    for hook in state.hooks:
        # The rollback or promote hook's own words belong on the pipeline's screen too.
        lines.append(f"hook {hook.name}: {hook.status} ({hook.duration_s:.1f} s): {hook.command}")
        lines.extend("  | " + line for line in hook.output.rstrip().splitlines()[-10:])
    if decision is not None:
        reasons = [reason for reason in decision.reasons if reason not in shown]
        for reason in reasons[:20]:
            lines.append(f"  - {reason}")
        exit_text = "" if decision.exit_code is None else f" (exit code {decision.exit_code})"
        lines.append(f"VERDICT: {decision.verdict.value}{exit_text}")
    return lines
