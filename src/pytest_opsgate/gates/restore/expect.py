"""Restore expectations in the SLO grammar: text to a frozen :class:`~pytest_opsgate.slo.SLO`.

Grammar (names case-insensitive, free whitespace; ``metric`` is always ``"restore"``)::

    TABLE ":" "rows" OP COUNT                      orders: rows >= 1000
    TABLE "." COLUMN ":" "newest" (">="|">") "now" "-" DURATION
                                                   orders.created_at: newest >= now - 26h
    "backup_age" OP DURATION                       backup_age <= 26h     (the RPO)
    "restore_time" OP DURATION                     restore_time < 10m    (the RTO)
    "tables" OP COUNT                              tables >= 12

    OP        <  <=  >  >=
    DURATION  a number with a unit: 90s, 10m, 26h, 1h30m (a bare number is an error)
    TABLE     ``orders`` (public schema, or SQLite) or ``schema.orders``

The statistics, their kinds and units come from the one registry
(:data:`pytest_opsgate.slo.statistics.STATISTICS`, those whose metrics hold ``"restore"``),
so every report formats them and names their unit alike. Budgets: COUNT as a number;
DURATION in milliseconds, as every time budget of the grammar. ``newest`` is measured as the
age of the newest value, so ``newest >= now - 26h`` is kept as the bound ``age <= 26h``
(op ``<=``; ``>`` becomes ``<``) and the SLO tables read "measured 2 h, budget <= 26 h".
"""

from __future__ import annotations

import re
from decimal import Decimal

from ...slo.grammar import OPS, SLO, SLOSyntaxError, parse_duration
from ...slo.statistics import KINDS, STATISTICS, BudgetError

__all__ = ["RESTORE_METRIC", "RESTORE_STATISTICS", "budget_text", "parse_restore_expect"]

RESTORE_METRIC = "restore"
RESTORE_STATISTICS = tuple(
    name for name, statistic in STATISTICS.items() if RESTORE_METRIC in statistic.metrics
)
# "newest >= now - W" reads as a bound on the newest value's age: age <= W.
_AGE_OP = {">=": "<=", ">": "<"}
_WINDOW_OP = {age: window for window, age in _AGE_OP.items()}
_SCOPED = {"rows": "orders", "newest": "orders.created_at"}
_EXAMPLES = {
    "rows": "orders: rows >= 1000",
    "newest": "orders.created_at: newest >= now - 26h",
    "backup_age": "backup_age <= 26h",
    "restore_time": "restore_time < 10m",
    "tables": "tables >= 12",
}
_OPERATOR = re.compile(r"[<>=!≤≥]+")
_NOW_MINUS = re.compile(r"now\s*-\s*(.+)", re.IGNORECASE)
_HAS_UNIT = re.compile(r"[a-z]", re.IGNORECASE)


def _op(text: str, expression: str, example: str) -> str:
    op = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}.get(text, text)
    if op in OPS:
        return op
    if op in {"=", "=="}:
        raise SLOSyntaxError(expression, "exact equality is not a budget; use >= or <=", example)
    raise SLOSyntaxError(expression, f"{text!r} is not a comparison; use <, <=, > or >=", example)


def _duration_ms(text: str, expression: str, example: str) -> float:
    if not _HAS_UNIT.search(text):
        raise SLOSyntaxError(
            expression, f"the duration {text!r} has no unit; add s, m or h", example
        )
    try:
        return float(Decimal(repr(parse_duration(text))) * 1000)
    except ValueError:
        raise SLOSyntaxError(expression, f"{text!r} is not a duration", example) from None


def parse_restore_expect(text: str) -> SLO:
    """Parse one restore expectation (see the module docstring); raise SLOSyntaxError."""
    body = text.strip()
    if not body:
        raise SLOSyntaxError(text, "the expression is empty", _EXAMPLES["rows"])
    scope_text, colon, rest = body.rpartition(":")
    scope = scope_text.strip() if colon else None
    if colon and not scope:
        raise SLOSyntaxError(text, "the table before ':' is empty", _EXAMPLES["rows"])
    match = _OPERATOR.search(rest)
    if not match:
        raise SLOSyntaxError(text, "there is no comparison (<, <=, > or >=)", _EXAMPLES["rows"])
    statistic = rest[: match.start()].strip().lower()
    if statistic not in RESTORE_STATISTICS:
        known = ", ".join(RESTORE_STATISTICS)
        raise SLOSyntaxError(
            text, f"unknown statistic {statistic!r}; use {known}", _EXAMPLES["rows"]
        )
    example = _EXAMPLES[statistic]
    op = _op(match.group(), text, example)
    rhs = rest[match.end() :].strip()
    if statistic in _SCOPED and scope is None:
        raise SLOSyntaxError(text, f"{statistic} needs a table before ':'", example)
    if statistic not in _SCOPED and scope is not None:
        raise SLOSyntaxError(
            text, f"{statistic} is about the whole backup; drop {scope!r}:", example
        )
    kind = STATISTICS[statistic].kind
    if statistic == "newest":
        assert scope is not None
        if "." not in scope.strip("."):
            raise SLOSyntaxError(text, "newest needs TABLE.COLUMN before ':'", example)
        if op not in _AGE_OP:
            raise SLOSyntaxError(text, "freshness reads newest >= now - WINDOW", example)
        window = _NOW_MINUS.fullmatch(rhs)
        if not window:
            raise SLOSyntaxError(text, f"{rhs!r} is not 'now - DURATION'", example)
        budget = _duration_ms(window[1], text, example)
        return SLO(text, scope, RESTORE_METRIC, statistic, _AGE_OP[op], budget)
    if kind == "duration":
        return SLO(text, scope, RESTORE_METRIC, statistic, op, _duration_ms(rhs, text, example))
    try:
        budget = KINDS[kind].parse(rhs)
    except BudgetError as error:
        raise SLOSyntaxError(text, error.problem, example) from None
    return SLO(text, scope, RESTORE_METRIC, statistic, op, budget)


def _duration_text(ms: float) -> str:
    seconds = ms / 1000
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s" if seconds >= 1 else f"{ms:g}ms"


def budget_text(slo: SLO) -> str:
    """The budget as written: ``1000``, ``now - 26h``, ``10m``."""
    if slo.statistic in ("rows", "tables"):
        return str(int(slo.budget))
    if slo.statistic == "newest":
        return f"now - {_duration_text(slo.budget)}"
    return _duration_text(slo.budget)


def expect_text(slo: SLO) -> str:
    """The canonical expression, e.g. ``orders: rows >= 1000``; parses back to an equal SLO."""
    prefix = f"{slo.scope}: " if slo.scope is not None else ""
    op = _WINDOW_OP[slo.op] if slo.statistic == "newest" else slo.op
    return f"{prefix}{slo.statistic} {op} {budget_text(slo)}"
