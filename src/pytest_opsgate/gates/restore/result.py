"""The outcome of one drill: its verdict, and all the evidence behind it, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...verdict import Verdict

if TYPE_CHECKING:
    from datetime import datetime

    from ...slo.evaluate import SLOResult
    from .checks import CheckResult, TableEvidence
    from .inspect import BackupInfo

__all__ = ["DrillResult"]


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class DrillResult:
    """What the drill found; :meth:`to_dict` is the evidence for gate.json (no secrets)."""

    verdict: Verdict = Verdict.ERROR
    reason: str = "the drill did not run"
    backup: BackupInfo | None = None
    backup_time: datetime | None = None
    backup_time_source: str | None = None  # "name" or "mtime"
    backup_age_s: float | None = None
    target: str = ""  # "throwaway local server ..." or "ephemeral database X on host:port"
    database: str | None = None
    restore_tool: str | None = None
    restore_time_s: float | None = None
    total_time_s: float = 0.0
    tables: list[TableEvidence] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    tool_output: str = ""  # redacted tail of the restore tool's stderr
    then_output: str = ""  # redacted tail of the --gate-restore-then command's output
    cleanup: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list, repr=False)  # never serialised

    @property
    def slo_results(self) -> list[SLOResult]:
        """The checks written in the SLO grammar, for the gate's SLO table."""
        return [check.slo_result for check in self.checks if check.slo_result is not None]

    def decide(self, *, failure: str | None, error: str | None, aborted: bool) -> None:
        """Set the verdict: ABORTED, else FAIL (outranks ERROR), else ERROR, else PASS."""
        failed = [c for c in self.checks if c.verdict == "failed"]
        errored = [c for c in self.checks if c.verdict == "error"]
        leaks = [note for note in self.cleanup if note.startswith("could not")]
        if aborted:
            self.verdict, self.reason = (
                Verdict.ABORTED,
                "the drill was interrupted (SIGTERM or Ctrl-C)",
            )
        elif failure is not None or failed:
            self.verdict = Verdict.FAIL
            self.reason = failure or f"{failed[0].name}: {failed[0].reason}"
        elif error is not None or errored or leaks:
            self.verdict = Verdict.ERROR
            self.reason = error or (
                f"{errored[0].name}: {errored[0].reason}" if errored else leaks[0]
            )
        elif not self.checks:
            self.verdict, self.reason = Verdict.ERROR, "no check ran, so nothing was proven"
        else:
            assert self.backup is not None
            assert self.restore_time_s is not None
            self.verdict = Verdict.PASS
            self.reason = (
                f"{self.backup.path.name} ({self.backup.format_label}) restored in "
                f"{self.restore_time_s:.1f} s; {len(self.checks)} checks passed"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable evidence (already redacted; ``secrets`` is left out)."""
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "backup": None if self.backup is None else {
                **self.backup.to_dict(),
                "time": None if self.backup_time is None else self.backup_time.isoformat(),
                "time_source": self.backup_time_source,
                "age_s": _rounded(self.backup_age_s, 1),
            },
            "target": self.target,
            "database": self.database,
            "restore_tool": self.restore_tool,
            "restore_time_s": _rounded(self.restore_time_s, 3),
            "total_time_s": round(self.total_time_s, 3),
            "tables": [table.to_dict() for table in self.tables],
            "checks": [check.to_dict() for check in self.checks],
            "tool_output": self.tool_output,
            "then_output": self.then_output,
            "cleanup": self.cleanup,
        }  # fmt: skip
