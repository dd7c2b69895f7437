"""The SLO grammar shared by smoke, E2E and load gates: expression text to a frozen SLO.

Grammar (case-insensitive names, free whitespace)::

    [SCOPE ":"] STATISTIC OP BUDGET ["[abort]"]

    SCOPE      "GET /api/items" (one method) | "/api/items" (every method) |
               "board" (a Locust request name) | "page /checkout" (a browser page)
               -- everything before the last ":"; omitted means all requests
    STATISTIC  p50 p75 p90 p95 p99 p99.9 (any pN, 0 < N <= 100) | min | max | avg (mean)
               ttfb | dcl | load [pN|min|max|avg]  (page timings; alone they mean max)
               error_rate | rps | requests
    OP         <  <=  >  >=
    BUDGET     300ms 1.5s 250us for times (a bare number is an error) |
               1% 0.5% or a fraction 0.01 for error_rate | 50 or 50/s for rps |
               a whole number for requests

``[abort]`` asks a load gate to stop early once the SLO has been broken for its grace
period. Examples: ``"GET /api/items: p95 < 300ms"``, ``"error_rate < 1%"``,
``"page /: load < 2s"``, ``"page /checkout: ttfb p95 < 300ms [abort]"``.
"""

from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..measure.scopes import LATENCY, PAGE_METRICS, PAGE_PREFIX, normalize_scope, split_method
from ..settings.parse import parse_duration

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "COUNTER_STATS",
    "FLAGS",
    "OPS",
    "SLO",
    "VALUE_STAT",
    "SLOSyntaxError",
    "parse_duration",
    "parse_slo",
]

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
COUNTER_STATS = ("error_rate", "rps", "requests")
FLAGS = ("abort",)
_LATENCY_NAMES = {"min": "min", "max": "max", "avg": "avg", "mean": "avg", "median": "p50"}
_KNOWN_NAMES = (*_LATENCY_NAMES, "p95", "p99", "p99.9", *PAGE_METRICS, *COUNTER_STATS)

_EXAMPLE_BUDGETS = {"ratio": "1%", "rate": "50/s", "count": "100"}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PERCENTILE = re.compile(rf"p\(?({_NUMBER})\)?", re.IGNORECASE)
_OPERATOR = re.compile(r"[<>=!≤≥]+")
_FLAGS_SUFFIX = re.compile(r"\[([^\[\]]*)\]\s*$")
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
_COUNT_BUDGET = re.compile(r"\d+")


class SLOSyntaxError(ValueError):
    """An SLO expression that does not parse; the message quotes it and shows a valid one."""

    def __init__(self, expression: str, problem: str, example: str) -> None:
        super().__init__(f"invalid SLO {expression!r}: {problem}; e.g. {example!r}")
        self.expression = expression
        self.problem = problem
        self.example = example


def _plain(number: Decimal | float) -> str:
    """Shortest decimal text for a number, never in exponent notation."""
    d = number if isinstance(number, Decimal) else Decimal(repr(number))
    return format(d.normalize(), "f")


# A value read from a monitoring system (a PromQL result): a plain number in the query's units.
VALUE_STAT = "value"


def _kind(statistic: str) -> str:
    kinds = {"error_rate": "ratio", "rps": "rate", "requests": "count", VALUE_STAT: "value"}
    return kinds.get(statistic, "duration")


def _label(metric: str, statistic: str) -> str:
    if metric == LATENCY or _kind(statistic) != "duration":
        return statistic
    return metric if statistic == "max" else f"{metric} {statistic}"


@dataclass(frozen=True)
class SLO:
    """A parsed SLO; ``budget`` is in ms (times), a fraction (error_rate) or per second (rps).

    Statistic ``value`` (kind ``value``) is a number read from Prometheus in the query's own
    units; the grammar does not parse it, :mod:`pytest_opsgate.slo.prometheus` builds it.
    """

    text: str = field(compare=False)
    scope: str | None
    metric: str  # the series it reads: "latency" or a page timing "ttfb", "dcl", "load"
    statistic: str  # "p95", "min", "max", "avg", "error_rate", "rps" or "requests"
    op: str
    budget: float
    abort: bool = False
    # Added by the gate, not written by the user: the error-rate guard of a latency SLO.
    guard: bool = field(default=False, compare=False)

    @property
    def kind(self) -> str:
        """``duration``, ``ratio``, ``rate``, ``count`` or ``value``: how the budget reads."""
        return _kind(self.statistic)

    @property
    def label(self) -> str:
        """The statistic as written canonically, e.g. ``p95``, ``load``, ``ttfb p95``."""
        return _label(self.metric, self.statistic)

    @property
    def scope_label(self) -> str:
        """The scope for tables: ``all`` when the SLO covers every request."""
        return self.scope if self.scope is not None else "all"

    @property
    def is_page(self) -> bool:
        """True when the SLO reads browser page timings (the E2E gate measures them)."""
        return self.metric in PAGE_METRICS

    def budget_text(self) -> str:
        """The budget as canonical SLO text: ``300ms``, ``2s``, ``1%``, ``50/s``, ``100``."""
        if self.kind == "ratio":
            return f"{_plain(Decimal(repr(self.budget)) * 100)}%"
        if self.kind == "rate":
            return f"{_plain(self.budget)}/s"
        if self.kind == "count":
            return str(int(self.budget))
        if self.kind == "value":
            return _plain(self.budget)
        ms = Decimal(repr(self.budget))
        return f"{_plain(ms / 1000)}s" if ms >= 1000 else f"{_plain(ms)}ms"

    def __str__(self) -> str:
        prefix = f"{self.scope}: " if self.scope is not None else ""
        suffix = " [abort]" if self.abort else ""
        return f"{prefix}{self.label} {self.op} {self.budget_text()}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields; :meth:`from_dict` restores an equal SLO."""
        return {
            "text": self.text,
            "scope": self.scope,
            "metric": self.metric,
            "statistic": self.statistic,
            "op": self.op,
            "budget": self.budget,
            "abort": self.abort,
            "guard": self.guard,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SLO:
        """Rebuild an SLO from :meth:`to_dict` output."""
        return cls(
            text=str(d["text"]),
            scope=None if d.get("scope") is None else str(d["scope"]),
            metric=str(d["metric"]),
            statistic=str(d["statistic"]),
            op=str(d["op"]),
            budget=float(d["budget"]),
            abort=bool(d.get("abort", False)),
            guard=bool(d.get("guard", False)),
        )


class _Parser:
    """Parses one expression; keeps the pieces so error examples reuse what the user wrote."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.scope: str | None = None

    def error(self, problem: str, expression: str) -> SLOSyntaxError:
        prefix = f"{self.scope}: " if self.scope is not None else ""
        return SLOSyntaxError(self.text, problem, prefix + expression)

    def parse(self) -> SLO:
        body = self.text.strip()
        if not body:
            raise self.error("the expression is empty", "p95 < 300ms")
        abort = False
        flags = _FLAGS_SUFFIX.search(body)
        if flags:
            body = body[: flags.start()].rstrip()
            abort = self.parse_flags(flags.group(1))
        scope_text, colon, body = body.rpartition(":")
        if colon:
            if not scope_text.strip():
                raise SLOSyntaxError(self.text, "the scope before ':' is empty", "p95 < 300ms")
            self.scope = normalize_scope(scope_text)
        match = _OPERATOR.search(body)
        if not match:
            raise self.error("there is no comparison (<, <=, > or >=)", "p95 < 300ms")
        op = self.parse_op(match.group())
        metric, statistic = self.parse_statistic(body[: match.start()].strip().lower(), op)
        label = _label(metric, statistic)
        budget = self.parse_budget(label, statistic, body[match.end() :].strip(), op)
        return SLO(self.text, self.scope, metric, statistic, op, budget, abort)

    def parse_flags(self, inner: str) -> bool:
        names = [name.strip().lower() for name in inner.split(",") if name.strip()]
        unknown = [name for name in names if name not in FLAGS]
        if unknown or not names:
            what = f"unknown flag {', '.join(unknown)!r}" if unknown else "empty brackets"
            raise SLOSyntaxError(
                self.text,
                f"{what}; the only flag is [abort]",
                "p95 < 300ms [abort]",
            )
        return True

    def parse_op(self, text: str) -> str:
        op = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}.get(text, text)
        if op in OPS:
            return op
        if op in {"=", "=="}:
            raise self.error("exact equality is not a budget; use <= or >=", "p95 <= 300ms")
        raise self.error(f"{text!r} is not a comparison; use <, <=, > or >=", "p95 < 300ms")

    def parse_statistic(self, lhs: str, op: str) -> tuple[str, str]:
        words = lhs.split()
        page = self.scope is not None and self.scope.startswith(PAGE_PREFIX)
        if not words:
            raise self.error("the statistic before the comparison is missing", "p95 < 300ms")
        if words[0] in PAGE_METRICS:
            if self.scope is not None and not page:
                raise SLOSyntaxError(
                    self.text,
                    f"{words[0]} is a page timing and needs a page scope",
                    f"page {split_method(self.scope)[1]}: {words[0]} {op} 2s",
                )
            if len(words) > 2:
                raise self.error(f"{lhs!r} has too many words", f"{words[0]} p95 {op} 2s")
            statistic = self.latency_statistic(words[1]) if len(words) == 2 else "max"
            if statistic is None:
                raise self.error(
                    f"{words[1]!r} is not a statistic of {words[0]}; use pN, min, max or avg",
                    f"{words[0]} p95 {op} 2s",
                )
            return words[0], statistic
        if len(words) == 1 and words[0] in COUNTER_STATS:
            return ("load" if page else LATENCY), words[0]
        statistic = self.latency_statistic(words[0]) if len(words) == 1 else None
        if statistic is None:
            close = difflib.get_close_matches(lhs.replace(" ", ""), _KNOWN_NAMES, n=1)
            name = close[0] if close else "p95"
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise self.error(
                f"unknown statistic {lhs!r}{hint}; use pN, min, max, avg, error_rate, rps, "
                "requests, or ttfb/dcl/load on a page",
                f"{name} {op} {_EXAMPLE_BUDGETS.get(_kind(name), '300ms')}",
            )
        if page:
            raise self.error(
                "a page scope takes a page timing (ttfb, dcl or load) before the statistic",
                f"load {statistic} {op} 2s",
            )
        return LATENCY, statistic

    def latency_statistic(self, word: str) -> str | None:
        if word in _LATENCY_NAMES:
            return _LATENCY_NAMES[word]
        match = _PERCENTILE.fullmatch(word)
        if not match:
            return None
        value = Decimal(match.group(1))
        if not 0 < value <= 100:
            raise self.error(f"percentile {word!r} is outside 0 < N <= 100", "p99.9 < 1s")
        return f"p{_plain(value)}"

    def parse_budget(self, lhs: str, statistic: str, rhs: str, op: str) -> float:
        kind = _kind(statistic)
        if rhs.startswith("-"):
            raise self.error("the budget is negative", f"{lhs} {op} {rhs[1:]}")
        if kind == "ratio":
            match = _RATIO_BUDGET.fullmatch(rhs)
            if not match:
                raise self.error(f"{rhs!r} is not a rate; write a percentage", f"{lhs} {op} 1%")
            number = Decimal(match.group(1))
            if match.group(2):
                if number > 100:
                    raise self.error(f"{rhs} is above 100%", f"{lhs} {op} 1%")
                return float(number / 100)
            if number >= 1:
                raise self.error(
                    f"a bare error_rate is a fraction below 1, so {rhs} is ambiguous",
                    f"{lhs} {op} {rhs}%",
                )
            return float(number)
        if kind == "rate":
            match = _RATE_BUDGET.fullmatch(rhs)
            if not match:
                raise self.error(f"{rhs!r} is not a rate per second", f"{lhs} {op} 50/s")
            return float(Decimal(match.group(1)))
        if kind == "count":
            if not _COUNT_BUDGET.fullmatch(rhs):
                raise self.error(f"{rhs!r} is not a whole number", f"{lhs} {op} 100")
            return float(int(rhs))
        return self.duration_budget(lhs, rhs, op)

    def duration_budget(self, example_lhs: str, rhs: str, op: str) -> float:
        match = _DURATION_BUDGET.fullmatch(rhs)
        if not match:
            raise self.error(f"{rhs!r} is not a duration", f"{example_lhs} {op} 300ms")
        number, unit = match.group(1), match.group(2).lower()
        if not unit:
            raise self.error(
                f"the budget {rhs} has no unit; add ms or s", f"{example_lhs} {op} {number}ms"
            )
        if unit not in _DURATION_UNITS_MS:
            raise self.error(
                f"unknown unit {match.group(2)!r}; use ms, s or us",
                f"{example_lhs} {op} {number}ms",
            )
        return float(Decimal(number) * _DURATION_UNITS_MS[unit])


def parse_slo(text: str) -> SLO:
    """Parse one SLO expression (see the module docstring); raise SLOSyntaxError if invalid."""
    return _Parser(text).parse()
