"""The one verdict of a gate: ``Verdict``, ``ExitCode``, the evidence a run hands over, ``decide``.

Pure logic: no pytest, no I/O. Every way a run can end (the pytest gate, plain
``locust --headless`` with the extension) describes what it saw as :class:`Evidence` and
asks :func:`decide`; nothing else turns evidence into a verdict. The decision table
(docs/verdicts.md, and the README's verdict section) in words:

- **FAIL** (exit 1) when anything definitely failed: a test or check failed, an SLO was
  broken, a comparison with the baseline found a regression. FAIL outranks everything,
  because a deploy that broke an expectation is bad whatever else could not be measured.
- **ABORTED** (exit 2) when a signal (Ctrl-C, SIGTERM of a cancelled job) stopped the run
  and nothing had definitely failed before it.
- **ERROR** (exit 11; 10 when the only problem is a target that never became ready) when
  something could not be measured: a test errored in setup or teardown, a collection error,
  no test collected, a selected gate with nothing that ran, an SLO without enough
  successful samples, a lost load worker, a stack command that failed.
- **INCONCLUSIVE** (exit 12) when the evidence is too thin to tell (a comparison whose
  confidence interval straddles its floor, too few samples to compare); a person decides.
- **PASS** (exit 0) only with complete evidence: every explicitly selected gate ran at
  least one test, check or locustfile, nothing failed or errored (collection included),
  every SLO passed with at least its minimum of successful samples where it judges
  latency, and nothing was interrupted or lost.

Severity, worst first: FAIL > ABORTED > ERROR > INCONCLUSIVE > PASS. Argo Rollouts ranks
Failed above Error for the same reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "SEVERITY",
    "Decision",
    "Evidence",
    "ExitCode",
    "PhaseEvidence",
    "SLOEvidence",
    "Verdict",
    "decide",
    "worst",
]


class Verdict(str, enum.Enum):
    """One word a pipeline can act on; only PASS lets a deploy go on."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    INCONCLUSIVE = "INCONCLUSIVE"


class ExitCode(enum.IntEnum):
    """Process exit codes of a gate run (pytest's own codes are kept where they overlap)."""

    PASS = 0
    FAIL = 1
    ABORTED = 2  # pytest's INTERRUPTED: Ctrl-C, SIGTERM
    USAGE_ERROR = 4  # pytest's USAGE_ERROR: bad option, bad config; nothing was sent
    NOT_READY = 10  # the target never became ready before the deadline (an ERROR)
    ERROR = 11  # the gate could not measure
    INCONCLUSIVE = 12  # the evidence is too thin to tell; pause for a person


SEVERITY: dict[Verdict, int] = {
    Verdict.PASS: 0,
    Verdict.INCONCLUSIVE: 1,
    Verdict.ERROR: 2,
    Verdict.ABORTED: 3,
    Verdict.FAIL: 4,
}

_EXIT_CODES = {
    Verdict.PASS: ExitCode.PASS,
    Verdict.FAIL: ExitCode.FAIL,
    Verdict.ABORTED: ExitCode.ABORTED,
    Verdict.ERROR: ExitCode.ERROR,
    Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
}


def worst(verdicts: list[Verdict]) -> Verdict:
    """The most severe of several verdicts (PASS for none)."""
    return max(verdicts, key=SEVERITY.__getitem__, default=Verdict.PASS)


SLOState = Literal["passed", "failed", "error", "inconclusive"]


@dataclass(frozen=True)
class PhaseEvidence:
    """What one gate (smoke, e2e, load, restore...) ran: units are tests, checks or locustfiles.

    ``explicit`` is True when the gate was named in ``--gate`` (not only implied by ``all``).
    ``not_run`` says why nothing ran when the run knows (target not ready, an earlier phase
    failed); ``interrupted`` counts units a signal stopped before they could be judged.
    """

    gate: str
    explicit: bool = True
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    interrupted: int = 0
    not_run: str | None = None

    @property
    def ran(self) -> int:
        """Units that ran to a verdict of their own."""
        return self.passed + self.failed + self.errors

    @property
    def present(self) -> bool:
        """True when the gate had anything at all to run."""
        return self.ran + self.skipped + self.interrupted > 0 or self.not_run is not None


@dataclass(frozen=True)
class SLOEvidence:
    """One SLO row. ``successes`` counts the successful samples behind a latency statistic
    (None for error rates, counts and rates); below ``min_samples`` a pass is not trusted."""

    name: str
    state: SLOState
    reason: str = ""
    gate: str = ""
    successes: int | None = None
    min_samples: int = 1


@dataclass(frozen=True)
class Evidence:
    """Everything a run saw that bears on its verdict; built by the runner, judged by decide."""

    phases: tuple[PhaseEvidence, ...] = ()
    slos: tuple[SLOEvidence, ...] = ()
    collection_errors: tuple[str, ...] = ()
    no_tests_collected: bool = False
    signal: str | None = None  # a signal stopped the run
    not_ready: str | None = None  # the target never became ready
    failures: tuple[str, ...] = ()  # definite failures outside tests and SLOs
    errors: tuple[str, ...] = ()  # could not measure, outside tests and SLOs
    inconclusive: tuple[str, ...] = ()  # too thin to tell, outside SLOs


@dataclass(frozen=True)
class Decision:
    """The verdict, the exit code that carries it, and why (most severe reasons first)."""

    verdict: Verdict
    exit_code: ExitCode
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """True only for PASS."""
        return self.verdict is Verdict.PASS


def _slo_reasons(slos: tuple[SLOEvidence, ...]) -> tuple[list[str], list[str], list[str]]:
    failed, errors, thin = [], [], []
    for slo in slos:
        where = f" ({slo.gate})" if slo.gate else ""
        reason = f": {slo.reason}" if slo.reason else ""
        if slo.state == "failed":
            failed.append(f"SLO {slo.name}{where} broken{reason}")
        elif slo.state == "error":
            errors.append(f"SLO {slo.name}{where} could not be measured{reason}")
        elif slo.state == "inconclusive":
            thin.append(f"SLO {slo.name}{where} inconclusive{reason}")
        elif slo.successes is not None and slo.successes < max(1, slo.min_samples):
            errors.append(
                f"SLO {slo.name}{where} passed on {slo.successes} successful sample(s), fewer "
                f"than the {max(1, slo.min_samples)} required (--gate-min-samples)"
            )
    return failed, errors, thin


def _phase_reasons(
    phases: tuple[PhaseEvidence, ...],
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Definite failures, errors, phases that ran nothing, and notes (absent gates)."""
    failed: list[str] = []
    errors: list[str] = []
    idle: list[str] = []
    notes: list[str] = []
    for phase in phases:
        if phase.failed:
            failed.append(f"{phase.gate}: {phase.failed} failed")
        if phase.errors:
            errors.append(f"{phase.gate}: {phase.errors} could not be measured (errored)")
        if phase.interrupted:
            errors.append(f"{phase.gate}: {phase.interrupted} stopped before a verdict")
        if phase.ran or phase.interrupted:
            # A unit a signal stopped did run: "no test in this gate" would send the user
            # after the wrong fix. "stopped before a verdict" above still keeps it from a PASS.
            continue
        if phase.not_run is not None:
            idle.append(f"{phase.gate}: not run ({phase.not_run})")
        elif phase.skipped:
            idle.append(f"{phase.gate}: all {phase.skipped} skipped, so nothing was measured")
        elif phase.explicit:
            idle.append(
                f"{phase.gate}: no test, check or locustfile in this gate; a selected gate "
                f"with nothing measured is never a pass (add tests under suites/{phase.gate}/ "
                "or mark them @pytest.mark.gate)"
            )
        else:
            notes.append(f"{phase.gate}: absent (no test in this gate; --gate=all skips it)")
    if phases and not any(phase.ran or phase.interrupted for phase in phases):
        names = ",".join(phase.gate for phase in phases)
        idle.append(f"nothing ran in --gate={names}; a gate with nothing measured never passes")
    return failed, errors, idle, notes


def decide(evidence: Evidence) -> Decision:
    """The verdict of a run from its evidence (the decision table in the module docstring)."""
    phase_failed, phase_errors, idle, notes = _phase_reasons(evidence.phases)
    slo_failed, slo_errors, slo_thin = _slo_reasons(evidence.slos)
    failed = [*phase_failed, *slo_failed, *evidence.failures]
    # Root causes (a lost worker, nothing sent, a failed stack command) read first.
    errors = [*evidence.errors, *phase_errors, *slo_errors]
    errors += [f"collection error: {text}" for text in evidence.collection_errors]
    if evidence.no_tests_collected:
        errors.append("no test was collected; a gate with nothing measured never passes")
    if not evidence.phases and not evidence.not_ready:
        errors.append("no gate ran; a gate with nothing measured never passes")
    thin = [*slo_thin, *evidence.inconclusive]
    not_ready = [f"target not ready: {evidence.not_ready}"] if evidence.not_ready else []
    aborted = [f"aborted: {evidence.signal}"] if evidence.signal else []
    if not not_ready:
        # A target that never became ready explains every phase that ran nothing.
        errors = [*errors, *idle]

    if failed:
        verdict, code = Verdict.FAIL, ExitCode.FAIL
    elif aborted:
        verdict, code = Verdict.ABORTED, ExitCode.ABORTED
    elif not_ready or errors:
        verdict = Verdict.ERROR
        code = ExitCode.NOT_READY if not_ready and not errors else ExitCode.ERROR
    elif thin:
        verdict, code = Verdict.INCONCLUSIVE, ExitCode.INCONCLUSIVE
    else:
        verdict, code = Verdict.PASS, ExitCode.PASS
    reasons = (*failed, *aborted, *not_ready, *errors, *thin)
    return Decision(verdict, code, reasons, tuple(notes))
