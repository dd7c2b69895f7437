"""What a finished run says about itself: the record every report (gate.json, gate.md, JUnit,
the HTML summary, gate.prom) is written from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from pathlib import Path

    from ..measure.metrics import MetricsStore
    from ..slo.baseline import BaselineComparison
    from ..slo.evaluate import SLOResult
    from ..target.readiness import ReadinessResult
    from ..target.stack import CommandResult
    from ..verdict import Verdict

__all__ = ["OutcomeLike", "PhaseRecord", "RunRecord", "readiness_dict"]


class OutcomeLike(Protocol):
    """What gate.json reads from a test outcome (``state.TestOutcome`` has these fields)."""

    nodeid: str
    gate: str
    reason: str
    duration_s: float

    @property
    def verdict(self) -> str:
        """PASS, FAIL, ERROR or SKIPPED."""


@dataclass
class PhaseRecord:
    """One gate phase of the run; ``verdict`` None means it did not run (see skipped_reason)."""

    gate: str
    verdict: Verdict | None
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    skipped_reason: str | None = None


@dataclass
class RunRecord:
    """Plain data about one gate run, filled by the plugin, from which gate.json is built.

    ``endpoints`` maps a gate name to the store its traffic was recorded in; an SLO reads
    the store of its ``source`` gate, or the only store when there is just one.
    """

    verdict: Verdict
    exit_code: int
    artifacts_dir: Path
    started_at: datetime
    finished_at: datetime
    duration_s: float  # measured on the monotonic clock
    reasons: list[str] = field(default_factory=list)
    target_url: str | None = None
    target_version: str | None = None
    gates: list[str] = field(default_factory=list)
    readiness: dict[str, Any] | None = None
    phases: list[PhaseRecord] = field(default_factory=list)
    slo_results: list[SLOResult] = field(default_factory=list)
    endpoints: dict[str, MetricsStore] = field(default_factory=dict)
    tests: Sequence[Mapping[str, Any] | OutcomeLike] = field(default_factory=list)
    commands: list[CommandResult] = field(default_factory=list)
    hooks: list[CommandResult] = field(default_factory=list)
    baseline: BaselineComparison | None = None
    artifacts: list[Path] = field(default_factory=list)
    html_report: Path | None = None
    junit_xml: Path | None = None
    markdown_report: Path | None = None
    notes: list[str] = field(default_factory=list)
    gate_evidence: dict[str, Any] = field(default_factory=dict)  # "restore": the drill
    redact: Callable[[str], str] | None = None


def readiness_dict(result: ReadinessResult | None, error: str | None = None) -> dict[str, Any]:
    """The ``readiness`` entry of a RunRecord from a ReadinessResult and/or an error message."""
    if result is None:
        return {
            "ready": False,
            "path": None,
            "waited_s": None,
            "attempts": 0,
            "version": None,
            "error": error,
        }
    return {
        "ready": error is None,
        "path": result.path,
        "waited_s": round(result.waited_s, 3),
        "attempts": len(result.attempts),
        "version": result.version or result.last_version,
        "error": error,
    }
