"""Every statistic an SLO can judge, and the kinds its budget and measurement come in.

To add a statistic, add one :class:`Statistic` to :data:`STATISTICS`: the grammar then
parses it (its budget by its kind), evaluation computes it over measured traffic (when it
has a ``compute``), and every report formats it and names its unit (gate.json ``unit``).
Statistics measured elsewhere (a restore drill's row counts, a Prometheus query's value)
have no ``compute``: their gate judges them with :func:`pytest_opsgate.slo.evaluate.judge`.

Latency statistics are a pattern rather than names: ``pN`` (0 < N <= 100), ``min``,
``max``, ``avg``, all of kind ``duration``, read from a latency histogram.

Kinds (the number an SLO's budget and measurement are in):

======== ============ ====================================== ===================
kind     unit         budget text                            shown as
======== ============ ====================================== ===================
duration ``ms``       ``300ms``, ``1.5s``, ``250us``          ``812 ms``, ``1.2 s``
ratio    ``ratio``    ``1%`` or a fraction below 1 (``0.01``) ``0.52 %``
rate     ``per_second`` ``50`` or ``50/s``                    ``48.1/s``
count    ``count``    a whole number                          ``120``
value    ``value``    any number (a query's own units)        ``0.0423``
======== ============ ====================================== ===================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable  # noqa: TC003 (dataclass fields need it at runtime)
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..measure.metrics import EndpointStats

__all__ = [
    "KINDS",
    "LATENCY_NAMES",
    "STATISTICS",
    "BudgetError",
    "Kind",
    "Statistic",
    "kind_of",
    "plain",
]

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
LATENCY_NAMES = {"min": "min", "max": "max", "avg": "avg", "mean": "avg", "median": "p50"}


class BudgetError(ValueError):
    """A budget that does not read as its kind; ``example`` is a valid budget to suggest."""

    def __init__(self, problem: str, example: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.example = example


def plain(number: Decimal | float) -> str:
    """Shortest decimal text for a number, never in exponent notation."""
    d = number if isinstance(number, Decimal) else Decimal(repr(number))
    return format(d.normalize(), "f")


def _sig3(value: float) -> str:
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# ---- the budget text of each kind


_DURATION_BUDGET = re.compile(rf"({_NUMBER})\s*([a-zµμ]*)", re.IGNORECASE)
_MICRO = Decimal("0.001")
_DURATION_UNITS_MS = {
    "ms": Decimal(1),
    "s": Decimal(1000),
    "us": _MICRO,
    "µs": _MICRO,
    "μs": _MICRO,
}
_RATIO_BUDGET = re.compile(rf"({_NUMBER})\s*(%?)")
_RATE_BUDGET = re.compile(rf"({_NUMBER})\s*(?:/\s*s(?:ec)?|rps)?", re.IGNORECASE)


def _duration_budget(text: str) -> float:
    match = _DURATION_BUDGET.fullmatch(text)
    if not match:
        raise BudgetError(f"{text!r} is not a duration", "300ms")
    number, unit = match.group(1), match.group(2).lower()
    if not unit:
        raise BudgetError(f"the budget {text} has no unit; add ms or s", f"{number}ms")
    if unit not in _DURATION_UNITS_MS:
        raise BudgetError(f"unknown unit {match.group(2)!r}; use ms, s or us", f"{number}ms")
    return float(Decimal(number) * _DURATION_UNITS_MS[unit])


def _ratio_budget(text: str) -> float:
    match = _RATIO_BUDGET.fullmatch(text)
    if not match:
        raise BudgetError(f"{text!r} is not a rate; write a percentage", "1%")
    number = Decimal(match.group(1))
    if match.group(2):
        if number > 100:
            raise BudgetError(f"{text} is above 100%", "1%")
        return float(number / 100)
    if number >= 1:
        raise BudgetError(
            f"a bare error_rate is a fraction below 1, so {text} is ambiguous", f"{text}%"
        )
    return float(number)


def _rate_budget(text: str) -> float:
    match = _RATE_BUDGET.fullmatch(text)
    if not match:
        raise BudgetError(f"{text!r} is not a rate per second", "50/s")
    return float(Decimal(match.group(1)))


def _count_budget(text: str) -> float:
    if not re.fullmatch(r"\d+", text):
        raise BudgetError(f"{text!r} is not a whole number", "100")
    return float(int(text))


def _value_budget(text: str) -> float:
    try:
        value = float(Decimal(text))
    except ArithmeticError:
        raise BudgetError(f"{text!r} is not a number", "0.05") from None
    if not math.isfinite(value):
        raise BudgetError(f"{text!r} is not a finite number", "0.05")
    return value


def _duration_text(budget: float) -> str:
    ms = Decimal(repr(budget))
    return f"{plain(ms / 1000)}s" if ms >= 1000 else f"{plain(ms)}ms"


def _duration_shown(value: float) -> str:
    # A restore drill's budgets run to hours: "26 h" reads at a glance, "93600 s" does not.
    size = abs(value)
    if size < 999.5:
        return f"{_sig3(value)} ms"
    if size < 120_000:
        return f"{_sig3(value / 1000)} s"
    if size < 7_200_000:
        return f"{_sig3(value / 60_000)} min"
    return f"{_sig3(value / 3_600_000)} h"


@dataclass(frozen=True)
class Kind:
    """How a kind of number is written in a budget, shown in a table and named in gate.json."""

    name: str
    unit: str
    example: str
    parse: Callable[[str], float]
    budget_text: Callable[[float], str]
    shown: Callable[[float], str]


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("duration", "ms", "300ms", _duration_budget, _duration_text, _duration_shown),
        Kind("ratio", "ratio", "1%", _ratio_budget,
             lambda b: f"{plain(Decimal(repr(b)) * 100)}%", lambda v: f"{_sig3(v * 100)} %"),
        Kind("rate", "per_second", "50/s", _rate_budget,
             lambda b: f"{plain(b)}/s", lambda v: f"{_sig3(v)}/s"),
        Kind("count", "count", "100", _count_budget, lambda b: str(int(b)), lambda v: str(int(v))),
        Kind("value", "value", "0.05", _value_budget, plain, _sig3),
    )
}  # fmt: skip


# ---- the statistics


def _error_rate(stats: EndpointStats) -> float | None:
    return stats.failures / stats.requests if stats.requests else None


@dataclass(frozen=True)
class Statistic:
    """One named statistic: its kind, what counts as its samples, and how it is computed."""

    name: str
    kind: str
    help: str
    # Over measured traffic; None: measured by a gate of its own (restore, Prometheus).
    compute: Callable[[EndpointStats], float | None] | None = None
    samples: str = "requests"  # requests | latency | none
    metrics: tuple[str, ...] = ("latency", "load")  # the series it may read
    why_unmeasured: str = ""  # said when compute returns None


STATISTICS: dict[str, Statistic] = {
    stat.name: stat
    for stat in (
        Statistic("error_rate", "ratio", "failed requests / requests", _error_rate),
        Statistic(
            "rps", "rate", "requests / measured window", lambda s: s.rps,
            why_unmeasured="the measured window is 0 s (one request, or all at one instant)",
        ),
        Statistic("requests", "count", "requests sent", lambda s: float(s.requests),
                  samples="none"),
        Statistic("value", "value", "a number a Prometheus query returned",
                  metrics=("prometheus",)),
        Statistic("rows", "count", "rows of a restored table", metrics=("restore",)),
        Statistic("tables", "count", "tables in the restored database", metrics=("restore",)),
        Statistic("newest", "duration", "age of a column's newest value in the restored data",
                  metrics=("restore",)),
        Statistic("backup_age", "duration", "age of the backup (the RPO)", metrics=("restore",)),
        Statistic("restore_time", "duration", "time the restore took (the RTO)",
                  metrics=("restore",)),
    )
}  # fmt: skip


def kind_of(statistic: str) -> str:
    """The kind of a statistic: a registered one's, else ``duration`` (pN, min, max, avg)."""
    known = STATISTICS.get(statistic)
    return known.kind if known is not None else "duration"
