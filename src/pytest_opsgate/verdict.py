"""The gate's verdicts and the exit code each one maps to."""

from __future__ import annotations

import enum


class Verdict(str, enum.Enum):
    """One word a pipeline can act on; only PASS lets a deploy go on."""

    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    ABORTED = "ABORTED"


class ExitCode(enum.IntEnum):
    """Process exit codes of a gate run (pytest's own codes are kept where they overlap)."""

    PASS = 0
    FAIL = 1
    ABORTED = 2  # pytest's INTERRUPTED: Ctrl-C, SIGTERM
    USAGE_ERROR = 4  # pytest's USAGE_ERROR: bad option, bad config
    NOT_READY = 10  # the target never became ready before the deadline
    ERROR = 11  # the gate could not measure: no samples, generator saturated, worker lost


VERDICT_EXIT_CODES: dict[Verdict, ExitCode] = {
    Verdict.PASS: ExitCode.PASS,
    Verdict.FAIL: ExitCode.FAIL,
    Verdict.ERROR: ExitCode.ERROR,
    Verdict.ABORTED: ExitCode.ABORTED,
}


def combine(verdicts: list[Verdict]) -> Verdict:
    """The worst of several verdicts: ABORTED > ERROR > FAIL > PASS."""
    order = [Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.ABORTED]
    return max(verdicts, key=order.index, default=Verdict.PASS)
