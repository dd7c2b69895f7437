"""Judging a restored database: each expectation, manifest row and SQL check gives one verdict.

A check that names a missing table or column FAILs (the backup lacks what was expected). A
check that could not be measured (a query error, a timeout) is an ERROR, never a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from ...slo.evaluate import OPS, SLOResult
from .databases import as_instant
from .expect import budget_text

if TYPE_CHECKING:
    from datetime import datetime

    from ...slo.grammar import SLO
    from .databases import RestoredDatabase

__all__ = [
    "CheckResult",
    "SqlCheck",
    "TableEvidence",
    "Tables",
    "human_duration",
    "judge_slo",
    "judge_sql",
    "unchecked",
]

CheckVerdict = Literal["passed", "failed", "error"]
_SQL_EXPECT = re.compile(r"\s*(==|!=|<=|>=|<|>|=)?\s*(.*?)\s*", re.S)
_MISSING = re.compile(r"does not exist|no such column|no such table", re.I)


@dataclass
class CheckResult:
    """One check's verdict in words; ``slo_result`` for those in the SLO grammar."""

    name: str
    verdict: CheckVerdict
    reason: str
    slo_result: SLOResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {
            "name": self.name,
            "verdict": self.verdict,
            "reason": self.reason,
            "expression": None if self.slo_result is None else self.slo_result.slo.text,
        }


@dataclass
class SqlCheck:
    """A read-only query and the value it must return: ``"0"``, ``">= 1"``, ``"!= 0"``."""

    query: str
    expect: str
    name: str = ""


@dataclass
class TableEvidence:
    """One table: rows found after the restore, rows the manifest expected, the minimum asked."""

    name: str
    found: int | None
    expected: int | None = None
    minimum: int | None = None
    checks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {"table": self.name, "found": self.found, "expected": self.expected,
                "minimum": self.minimum}  # fmt: skip


class Tables:
    """The restored tables, counted once each, with names resolved as the user wrote them."""

    def __init__(self, database: RestoredDatabase) -> None:
        self.database = database
        self.names = database.tables()
        self.counts: dict[str, int] = {}

    def resolve(self, name: str) -> str | None:
        """The restored table a user's name means: exact, without ``public.``, or any case."""
        for candidate in (name, name.removeprefix("public.")):
            if candidate in self.names:
                return candidate
        folded = [t for t in self.names if t.lower() == name.removeprefix("public.").lower()]
        return folded[0] if len(folded) == 1 else None

    def count(self, table: str) -> int:
        """Rows in a resolved table."""
        if table not in self.counts:
            self.counts[table] = self.database.count_rows(table)
        return self.counts[table]

    def missing(self, name: str) -> str:
        """Words for a table that is not there."""
        shown = ", ".join(self.names[:20]) + (" ..." if len(self.names) > 20 else "")
        found = shown or "none"
        return f"table {name!r} is missing from the restored database (tables found: {found})"


def human_duration(ms: float) -> str:
    """``3d 2h``, ``5h 07m``, ``4m 05s`` or ``1.3s``: an age or a wall time for people."""
    seconds = max(0.0, ms / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {sec:02d}s"


def _result(slo: SLO, measured: float | None, verdict: CheckVerdict, reason: str) -> CheckResult:
    slo_result = SLOResult(
        slo, measured, 1 if measured is not None else 0, verdict, reason, "restore"
    )
    return CheckResult(slo.text.strip(), verdict, reason, slo_result)


def _compare(slo: SLO, measured: float, what: str, shown: str) -> CheckResult:
    ok = bool(OPS[slo.op](measured, slo.budget))
    relation = slo.op if ok else f"is not {slo.op}"
    reason = f"{what} {shown} {relation} {budget_text(slo)}"
    return _result(slo, measured, "passed" if ok else "failed", reason)


def unchecked(slo: SLO, why: str) -> CheckResult:
    """An expectation the drill never got to judge: an error, never a pass."""
    return _result(slo, None, "error", f"not checked: {why}")


def judge_slo(
    slo: SLO, tables: Tables, *, backup_time: datetime, restore_s: float, now: datetime
) -> CheckResult:
    """The verdict on one restore SLO against the restored tables and the drill's clock."""
    if slo.statistic == "backup_age":
        age_ms = (now - backup_time).total_seconds() * 1000
        if age_ms < -3_600_000:
            when = backup_time.isoformat()
            why = f"the backup's time {when} is over 1h in the future; check the clock or its name"
            return _result(slo, None, "error", why)
        age_ms = max(0.0, age_ms)
        return _compare(slo, age_ms, "backup age", human_duration(age_ms))
    if slo.statistic == "restore_time":
        return _compare(slo, restore_s * 1000, "restore time", human_duration(restore_s * 1000))
    if slo.statistic == "tables":
        return _compare(slo, float(len(tables.names)), "tables restored:", str(len(tables.names)))
    assert slo.scope is not None
    if slo.statistic == "rows":
        table = tables.resolve(slo.scope)
        if table is None:
            return _result(slo, None, "failed", tables.missing(slo.scope))
        try:
            rows = tables.count(table)
        except Exception as error:  # a statement timeout, a permission: not measured
            return _result(slo, None, "error", f"counting {table} failed: {str(error).strip()}")
        return _compare(slo, float(rows), f"{table}: rows", str(rows))
    table_name, _, column = slo.scope.rpartition(".")
    table = tables.resolve(table_name)
    if table is None:
        return _result(slo, None, "failed", tables.missing(table_name))
    try:
        value = tables.database.newest(table, column)
    except Exception as error:
        verdict: CheckVerdict = "failed" if _MISSING.search(str(error)) else "error"
        return _result(slo, None, verdict, f"newest {table}.{column} not read: {error}".strip())
    instant, note = as_instant(value)
    if instant is None:
        verdict = "failed" if value is None else "error"
        return _result(slo, None, verdict, f"newest {table}.{column}: {note}")
    age_ms = (now - instant).total_seconds() * 1000
    ok = bool(OPS[slo.op](age_ms, slo.budget))  # the SLO bounds the age (see expect.py)
    where = f" ({note})" if note else ""
    reason = (f"newest {table}.{column} is {instant.isoformat()}{where}, "
              f"{human_duration(age_ms)} old; "
              f"{'within' if ok else 'older than'} {human_duration(slo.budget)}")  # fmt: skip
    return _result(slo, age_ms, "passed" if ok else "failed", reason)


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def judge_sql(check: SqlCheck, database: RestoredDatabase) -> CheckResult:
    """Run one read-only SQL check and compare its first value with the expectation."""
    name = check.name or f"sql: {' '.join(check.query.split())[:80]}"
    match = _SQL_EXPECT.fullmatch(check.expect)
    assert match is not None  # the pattern matches any text
    op, expected = (match.group(1) or "=="), match.group(2)
    op = "==" if op == "=" else op
    try:
        value = database.scalar(check.query)
    except Exception as error:
        return CheckResult(name, "error", f"the query failed: {str(error).strip()}")
    if value is None:
        return CheckResult(
            name, "failed", f"returned no value (no row, or NULL); expected {op} {expected}"
        )
    got, want = _number(value), _number(expected)
    if got is not None and want is not None:
        ok = {"==": got == want, "!=": got != want, "<": got < want, "<=": got <= want,
              ">": got > want, ">=": got >= want}[op]  # fmt: skip
    elif op in ("==", "!="):
        ok = (str(value) == expected) == (op == "==")
    else:
        return CheckResult(name, "error", f"returned {value!r}, which is not a number to compare")
    shown = value if isinstance(value, (int, float, Decimal)) else repr(value)
    reason = f"returned {shown}; expected {op} {expected}"
    return CheckResult(name, "passed" if ok else "failed", reason)
