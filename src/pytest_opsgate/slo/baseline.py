"""Baseline regression: compare this run's per-endpoint p95, p99 and error rate with a gate.json.

Both sides read percentiles from histograms (the encoded ones stored in gate.json, or the
live :class:`~pytest_opsgate.measure.metrics.MetricsStore`), so both use the same nearest-rank math.

A statistic regressed when it got worse by more than ``tolerance`` (relative) AND by more
than an absolute floor: ``floor_ms`` for latencies, ``error_rate_floor`` (a fraction) for
the error rate. The floor keeps noise out: 2 ms -> 3 ms is +50 % but only 1 ms, so it is
not a regression. From a baseline of zero only the floor applies.

Coverage is part of the verdict (see :meth:`BaselineComparison.coverage_errors`): with no
endpoint in common nothing was compared, which is an ERROR; an endpoint of the baseline that
this run never requested is ``missing`` and makes the comparison an ERROR unless a partial
comparison was allowed (``--gate-baseline-partial``). Endpoints new in this run are listed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..measure.histogram import LatencyHistogram
from ..measure.metrics import LATENCY, METRICS, MetricsStore
from .evaluate import format_measure

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "SUPPORTED_SCHEMA_VERSION",
    "BaselineComparison",
    "BaselineError",
    "BaselineRow",
    "compare",
    "format_baseline_table",
    "load_baseline",
    "save_baseline",
]

SUPPORTED_SCHEMA_VERSION = 1  # the gate.json schema_version this module reads
RowStatus = Literal["compared", "new", "missing", "few_samples"]
_Key = tuple[str, str, str]  # (gate, scope, metric)


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the file and the fix."""


@dataclass
class BaselineRow:
    """One statistic of one endpoint, before and after; values in ms or as a fraction."""

    gate: str
    scope: str
    metric: str
    statistic: str  # p95, p99, error_rate; "-" for a new or missing endpoint
    baseline: float | None
    now: float | None
    change_pct: float | None  # relative change in %, None when the baseline is 0 or absent
    regressed: bool = False
    status: RowStatus = "compared"

    @property
    def endpoint(self) -> str:
        """``GET /api/items (load)``; page timings add the metric: ``page / load (e2e)``."""
        metric = "" if self.metric == LATENCY else f" {self.metric}"
        return f"{self.scope}{metric} ({self.gate})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields, plus ``endpoint``."""
        return {
            "endpoint": self.endpoint,
            "gate": self.gate,
            "scope": self.scope,
            "metric": self.metric,
            "statistic": self.statistic,
            "baseline": self.baseline,
            "now": self.now,
            "change_pct": self.change_pct,
            "regressed": self.regressed,
            "status": self.status,
        }


@dataclass
class BaselineComparison:
    """Every compared statistic; ``passed`` is False when any of them regressed."""

    rows: list[BaselineRow]
    tolerance: float
    floor_ms: float
    error_rate_floor: float
    baseline_from: str | None = None  # finished_at of the baseline run
    baseline_version: str | None = None  # target version the baseline measured
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[BaselineRow]:
        """The rows that regressed."""
        return [row for row in self.rows if row.regressed]

    @property
    def passed(self) -> bool:
        """True when nothing regressed (coverage is judged by :meth:`coverage_errors`)."""
        return not self.regressions

    @property
    def missing(self) -> list[BaselineRow]:
        """Endpoints of the baseline that this run never requested."""
        return [row for row in self.rows if row.status == "missing"]

    @property
    def compared(self) -> int:
        """How many endpoints were measured on both sides."""
        return len({(r.gate, r.scope, r.metric) for r in self.rows if r.status != "new"}) - len(
            self.missing
        )

    def coverage_errors(self, *, partial: bool) -> list[str]:
        """Why the comparison cannot be trusted: nothing in common, or endpoints left out."""
        if self.compared == 0:
            return [
                "baseline: no endpoint in common with this run, so nothing was compared; "
                "save a baseline from a run of the same gates (--gate-save-baseline)"
            ]
        if self.missing and not partial:
            names = ", ".join(row.endpoint for row in self.missing[:10])
            more = f" and {len(self.missing) - 10} more" if len(self.missing) > 10 else ""
            return [
                f"baseline: {len(self.missing)} endpoint(s) of the baseline were not requested "
                f"in this run ({names}{more}); run the same gates, or pass "
                "--gate-baseline-partial to compare only what both runs measured"
            ]
        return []

    @property
    def rule(self) -> str:
        """The regression rule in one sentence, for reports."""
        return (
            f"A regression is worse by more than {self.tolerance * 100:g} % and by more than "
            f"{self.floor_ms:g} ms (latency) or {self.error_rate_floor * 100:g} points "
            "(error rate)."
        )

    @property
    def reasons(self) -> list[str]:
        """One line per regression, for the verdict's reasons."""
        return [
            f"regression: {row.endpoint} {row.statistic} {_value(row, row.baseline)} -> "
            f"{_value(row, row.now)} ({_change(row.to_dict())}); {self.rule}"
            for row in self.regressions
        ]

    def format_table(self) -> str:
        """A markdown table ``endpoint | statistic | baseline | now | change``."""
        return format_baseline_table([row.to_dict() for row in self.rows])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, as stored under ``baseline`` in gate.json."""
        return {
            "passed": self.passed,
            "tolerance": self.tolerance,
            "floor_ms": self.floor_ms,
            "error_rate_floor": self.error_rate_floor,
            "baseline_from": self.baseline_from,
            "baseline_version": self.baseline_version,
            "rule": self.rule,
            "regressions": len(self.regressions),
            "rows": [row.to_dict() for row in self.rows],
            "compared": self.compared,
            "missing": [row.endpoint for row in self.missing],
            "notes": list(self.notes),
        }


def _value(row: BaselineRow, value: float | None) -> str:
    return format_measure(row.statistic if row.statistic != "-" else "p95", value)


def _change(row: Mapping[str, Any]) -> str:
    status = row["status"]
    if status == "new":
        return "new endpoint"
    if status == "missing":
        return "missing now"
    if status == "few_samples":
        return "too few samples to compare"
    base, now = row["baseline"], row["now"]
    if base is None or now is None:
        return "-"
    if row["statistic"] == "error_rate":
        text = f"{(now - base) * 100:+.2f} points"
        if row["change_pct"] is not None:
            text += f" ({row['change_pct']:+.1f} %)"
    elif row["change_pct"] is None:
        text = f"{now - base:+.3g} ms"
    else:
        text = f"{row['change_pct']:+.1f} %"
    return text + (" REGRESSION" if row["regressed"] else "")


def format_baseline_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """``endpoint | statistic | baseline | now | change`` as an aligned markdown table."""
    headers = ("endpoint", "statistic", "baseline", "now", "change")
    body = []
    for row in rows:
        kind = row["statistic"] if row["statistic"] != "-" else "p95"
        body.append(
            (
                str(row["endpoint"]).replace("|", "\\|"),
                str(row["statistic"]),
                format_measure(kind, row["baseline"]),
                format_measure(kind, row["now"]),
                _change(row),
            )
        )
    if not body:
        return "No endpoint was measured in both runs."
    widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines.extend(
        "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
        for cells in body
    )
    return "\n".join(lines)


@dataclass
class _Side:
    histogram: LatencyHistogram
    requests: int
    failures: int

    def percentile(self, p: float) -> float | None:
        return self.histogram.percentile(p) if self.histogram.count else None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None


def _sides_from_doc(doc: Mapping[str, Any], what: str) -> dict[_Key, _Side]:
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, list):
        raise BaselineError(
            f"{what} has no 'endpoints' list; pass a gate.json written by pytest-opsgate"
        )
    sides: dict[_Key, _Side] = {}
    for entry in endpoints:
        try:
            key = (str(entry["gate"]), str(entry["scope"]), str(entry.get("metric", LATENCY)))
            side = _Side(
                LatencyHistogram.decode(entry["histogram"]),
                int(entry["requests"]),
                int(entry["failures"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(
                f"{what} has an unreadable endpoint entry ({exc}); "
                "save a new baseline with --gate-save-baseline"
            ) from exc
        sides[key] = side
    return sides


def _sides_from_stores(stores: Mapping[str, MetricsStore]) -> dict[_Key, _Side]:
    sides: dict[_Key, _Side] = {}
    for gate, store in stores.items():
        for metric in METRICS:
            for scope in store.scopes(metric):
                stats = store.get(scope, metric)
                if stats is not None:
                    sides[(gate, scope, metric)] = _Side(
                        stats.histogram, stats.requests, stats.failures
                    )
    return sides


def _compare_value(
    key: _Key,
    statistic: str,
    base: float | None,
    now: float | None,
    tolerance: float,
    floor: float,
) -> BaselineRow | None:
    if base is None or now is None:
        return None
    delta = now - base
    change = delta / base * 100 if base > 0 else None
    relative_ok = base == 0 or delta / base > tolerance
    return BaselineRow(*key, statistic, base, now, change, delta > floor and relative_ok)


def compare(
    baseline_doc: Mapping[str, Any],
    current: Mapping[str, Any],
    *,
    tolerance: float = 0.10,
    floor_ms: float = 5.0,
    error_rate_floor: float = 0.001,
    min_samples: int = 1,
) -> BaselineComparison:
    """Compare a baseline gate.json with this run (a gate.json dict or ``{gate: MetricsStore}``).

    Latency rows need ``min_samples`` samples on both sides (else ``few_samples``, never a
    regression); error-rate rows need as many requests.
    """
    if tolerance < 0 or floor_ms < 0 or error_rate_floor < 0:
        raise ValueError("tolerance and floors must be >= 0; pass e.g. tolerance=0.10")
    base_sides = _sides_from_doc(baseline_doc, "the baseline")
    if current and all(isinstance(value, MetricsStore) for value in current.values()):
        now_sides = _sides_from_stores(current)
    elif "schema_version" in current or "endpoints" in current:
        now_sides = _sides_from_doc(current, "the current gate.json")
    elif not current:
        now_sides = {}
    else:
        raise TypeError(
            "current is neither a gate.json dict nor a dict of gate name to MetricsStore; "
            "pass one of those"
        )

    rows: list[BaselineRow] = []
    for key in sorted(base_sides.keys() | now_sides.keys()):
        base, now = base_sides.get(key), now_sides.get(key)
        if base is None or now is None:
            status: RowStatus = "new" if base is None else "missing"
            rows.append(BaselineRow(*key, "-", None, None, None, False, status))
            continue
        enough = min(base.histogram.count, now.histogram.count) >= max(1, min_samples)
        for statistic, p in (("p95", 95.0), ("p99", 99.0)):
            if not enough and base.histogram.count and now.histogram.count:
                b, n = base.percentile(p), now.percentile(p)
                rows.append(BaselineRow(*key, statistic, b, n, None, False, "few_samples"))
                continue
            row = _compare_value(
                key, statistic, base.percentile(p), now.percentile(p), tolerance, floor_ms
            )
            if row is not None:
                rows.append(row)
        if min(base.requests, now.requests) >= max(1, min_samples):
            row = _compare_value(
                key, "error_rate", base.error_rate, now.error_rate, tolerance, error_rate_floor
            )
            if row is not None:
                rows.append(row)
    target = baseline_doc.get("target")
    version = target.get("version") if isinstance(target, dict) else None
    finished = baseline_doc.get("finished_at")
    return BaselineComparison(
        rows=rows,
        tolerance=tolerance,
        floor_ms=floor_ms,
        error_rate_floor=error_rate_floor,
        baseline_from=None if finished is None else str(finished),
        baseline_version=None if version is None else str(version),
    )


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline gate.json; raise BaselineError naming the problem and the fix."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(
            f"baseline {path} does not exist; save one from a passing run with "
            f"--gate-save-baseline={path}, or drop --gate-baseline"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(
            f"baseline {path} cannot be read ({exc}); pass a readable gate.json"
        ) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"baseline {path} is not valid JSON ({exc.msg} at line {exc.lineno}); pass a "
            "gate.json written by pytest-opsgate or save a new one with --gate-save-baseline"
        ) from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise BaselineError(
            f"baseline {path} has no schema_version, so it is not a gate.json; pass a file "
            "written by --gate-save-baseline or <artifacts>/gate.json"
        )
    version = doc["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BaselineError(
            f"baseline {path} has schema_version {version!r}, which is not a version number; "
            "save a new baseline with --gate-save-baseline"
        )
    if version > SUPPORTED_SCHEMA_VERSION:
        raise BaselineError(
            f"baseline {path} has schema_version {version}, newer than the "
            f"{SUPPORTED_SCHEMA_VERSION} this pytest-opsgate reads; upgrade pytest-opsgate "
            "or save a new baseline with --gate-save-baseline"
        )
    _sides_from_doc(doc, f"baseline {path}")  # fail now, with the file's name, not mid-run
    return doc


def save_baseline(doc: Mapping[str, Any], path: Path) -> None:
    """Write a gate.json document as a baseline, atomically (a killed run leaves no half file)."""
    from ..report.files import write_atomic

    write_atomic(Path(path), json.dumps(doc, indent=2, allow_nan=False) + "\n")
