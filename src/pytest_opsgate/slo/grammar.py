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
from .statistics import KINDS, LATENCY_NAMES, STATISTICS, BudgetError, kind_of, plain

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
# Statistics of traffic a request-scoped SLO may name (the registry holds every statistic).
COUNTER_STATS = tuple(
    name for name, stat in STATISTICS.items() if "latency" in stat.metrics and stat.compute
)
FLAGS = ("abort",)
_LATENCY_NAMES = LATENCY_NAMES
_KNOWN_NAMES = (*_LATENCY_NAMES, "p95", "p99", "p99.9", *PAGE_METRICS, *COUNTER_STATS)

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PERCENTILE = re.compile(rf"p\(?({_NUMBER})\)?", re.IGNORECASE)
_OPERATOR = re.compile(r"[<>=!≤≥]+")
_FLAGS_SUFFIX = re.compile(r"\[([^\[\]]*)\]\s*$")


class SLOSyntaxError(ValueError):
    """An SLO expression that does not parse; the message quotes it and shows a valid one."""

    def __init__(self, expression: str, problem: str, example: str) -> None:
        super().__init__(f"invalid SLO {expression!r}: {problem}; e.g. {example!r}")
        self.expression = expression
        self.problem = problem
        self.example = example


_plain = plain  # the name other modules import

# A value read from a monitoring system (a PromQL result): a plain number in the query's units.
VALUE_STAT = "value"


def _kind(statistic: str) -> str:
    return kind_of(statistic)


def _label(metric: str, statistic: str) -> str:
    # Only page timings name their series ("load p95"); a restore drill's ages do not.
    if metric not in PAGE_METRICS or _kind(statistic) != "duration":
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
        return KINDS[self.kind].budget_text(self.budget)

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
                f"{name} {op} {KINDS[_kind(name)].example}",
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
        if rhs.startswith("-"):
            raise self.error("the budget is negative", f"{lhs} {op} {rhs[1:]}")
        try:
            return KINDS[_kind(statistic)].parse(rhs)
        except BudgetError as exc:
            raise self.error(exc.problem, f"{lhs} {op} {exc.example}") from None


def parse_slo(text: str) -> SLO:
    """Parse one SLO expression (see the module docstring); raise SLOSyntaxError if invalid."""
    return _Parser(text).parse()
