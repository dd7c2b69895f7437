"""What a drill is asked to do: the backup, where to restore it, what to expect, the bounds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ...slo.grammar import SLO
from .endpoint import dsn_secrets
from .expect import RESTORE_METRIC, expect_text

if TYPE_CHECKING:
    from pathlib import Path

    from .checks import SqlCheck

__all__ = ["DrillSpec", "age_slo", "spec_secrets"]


@dataclass
class DrillSpec:
    """What to drill and what to expect; durations in seconds."""

    source: Path
    dsn: str | None = None
    expectations: list[SLO] = field(default_factory=list)
    manifest: Path | None = None
    manifest_tolerance: float = 0.05
    max_age_s: float | None = None  # the RPO, as "backup_age <= max_age"
    sql_checks: list[SqlCheck] = field(default_factory=list)
    then: str | None = None
    then_timeout_s: float = 600.0
    timeout_s: float = 600.0  # the restore tool's bound
    check_timeout_s: float = 60.0  # each check query's statement_timeout
    start_timeout_s: float = 60.0  # initdb and pg_ctl start of a throwaway server
    bindir: Path | None = None


def spec_secrets(spec: DrillSpec) -> list[str]:
    """Secrets to register with the redactor before the drill prints anything."""
    return dsn_secrets(spec.dsn)


def age_slo(max_age_s: float) -> SLO:
    """``backup_age <= 26h``: the RPO as an expectation."""
    slo = SLO("", None, RESTORE_METRIC, "backup_age", "<=", max_age_s * 1000)
    return replace(slo, text=expect_text(slo))
