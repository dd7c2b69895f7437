"""Baseline and canary comparisons that explain themselves: each endpoint, judged statistically.

The baseline is a saved gate.json (``--gate-baseline``: its encoded histograms) or a live
target measured side by side with this run (``--gate-baseline-url``: the same samples sent
to both, interleaved). For every endpoint (gate, scope, metric) measured on both sides, the
judge of :mod:`pytest_opsgate.measure.compare` decides from the exact histograms: a
Mann-Whitney U test, a Hodges-Lehmann shift with its confidence interval, a bootstrap
interval for the p99 difference, Fisher's exact test on the failures, and a regression
floor (``10%`` of the baseline, ``+5ms``, or the larger of both) so that a significant but
tiny shift is not a regression. Each endpoint is PASS, FAIL (with the figures in a
sentence: "GET /api/items got slower by 21 ms (+21 %; 98 % CI 18 to 24 ms, p < 0.001),
above the 10 % floor (10.2 ms): FAIL") or INCONCLUSIVE (too few samples, or an interval
that straddles the floor: a person decides, exit 12).

Coverage is part of the verdict (:meth:`BaselineComparison.coverage_errors`): no endpoint
in common is an ERROR; an endpoint of the baseline that this run never requested is
``missing`` and makes the comparison an ERROR unless ``--gate-baseline-partial``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..measure.histogram import LatencyHistogram
from ..measure.metrics import LATENCY, METRICS, MetricsStore

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..measure.compare import RegressionFloor

__all__ = [
    "SUPPORTED_SCHEMA_VERSION",
    "BaselineComparison",
    "BaselineError",
    "EndpointJudgement",
    "compare",
    "format_baseline_table",
    "live_baseline_errors",
    "load_baseline",
    "save_baseline",
]

SUPPORTED_SCHEMA_VERSION = 1  # the gate.json schema_version this module reads
THIN_ROW = 2  # the decision table's row "fewer than min_samples on either side"
Status = Literal["compared", "thin", "new", "missing"]
_Key = tuple[str, str, str]  # (gate, scope, metric)


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names the file and the fix."""


@dataclass
class _Side:
    histogram: LatencyHistogram
    requests: int
    failures: int


@dataclass
class EndpointJudgement:
    """One endpoint, before and after: the judge's decision, its sentence and its figures."""

    gate: str
    scope: str
    metric: str
    status: Status
    decision: str | None = None  # PASS, FAIL or INCONCLUSIVE when compared
    reason: str = ""
    figures: dict[str, Any] | None = None  # the comparison's statistics (JSON-ready)

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
            "status": self.status,
            "decision": self.decision,
            "reason": self.reason,
            "figures": self.figures,
        }


@dataclass
class BaselineComparison:
    """Every endpoint's judgement against the baseline, and what the comparison covered."""

    rows: list[EndpointJudgement]
    floor: str  # as written: "10%,+5ms"
    confidence: float  # 0.98
    min_samples: int
    source: str  # "gate.json finished 2026-05-01T12:00:42Z" or "live target http://..."
    baseline_version: str | None = None
    notes: list[str] = field(default_factory=list)

    def _with(self, decision: str) -> list[EndpointJudgement]:
        return [row for row in self.rows if row.decision == decision]

    @property
    def regressions(self) -> list[EndpointJudgement]:
        """Endpoints the judge found slower or failing more often, beyond the floor."""
        return self._with("FAIL")

    @property
    def inconclusive(self) -> list[EndpointJudgement]:
        """Endpoints with too little evidence to tell."""
        return self._with("INCONCLUSIVE")

    @property
    def passed(self) -> bool:
        """True when no endpoint regressed (coverage is judged by :meth:`coverage_errors`)."""
        return not self.regressions

    @property
    def missing(self) -> list[EndpointJudgement]:
        """Endpoints of the baseline that this run never requested."""
        return [row for row in self.rows if row.status == "missing"]

    @property
    def compared(self) -> int:
        """How many endpoints were measured on both sides."""
        return sum(row.status == "compared" for row in self.rows)

    @property
    def rule(self) -> str:
        """How an endpoint is judged, in one sentence, for reports."""
        return (
            f"Each endpoint is compared by Mann-Whitney U and a Hodges-Lehmann shift at "
            f"{self.confidence * 100:g} % confidence, its p99 by a bootstrap interval and its "
            f"failures by Fisher's exact test; a slowdown counts only above the {self.floor} "
            f"floor, and fewer than {self.min_samples} samples a side is INCONCLUSIVE."
        )

    @property
    def thin(self) -> list[EndpointJudgement]:
        """Endpoints measured on both sides, too thinly on both to judge."""
        return [row for row in self.rows if row.status == "thin"]

    def coverage_errors(self, *, partial: bool) -> list[str]:
        """Why the comparison cannot be trusted: nothing in common, or endpoints left out."""
        if self.compared == 0 and not self.thin:
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
    def reasons(self) -> list[str]:
        """One sentence per regression, for the verdict's reasons."""
        return [f"regression: {row.reason}" for row in self.regressions]

    @property
    def inconclusive_reasons(self) -> list[str]:
        """One sentence per endpoint the judge could not decide; and when every endpoint in
        common was thin, that nothing could be judged at all."""
        reasons = [f"baseline: {row.reason}" for row in self.inconclusive]
        if self.compared == 0 and self.thin:
            reasons.append(
                f"baseline: no endpoint had {self.min_samples} samples on both sides, so nothing "
                f"was judged ({len(self.thin)} thin); sample more (gate_slo.sample(path, "
                f"n={self.min_samples}), a load run) or lower --gate-baseline-min-samples"
            )
        return reasons

    def format_table(self) -> str:
        """A markdown table of the judgements."""
        return format_baseline_table([row.to_dict() for row in self.rows])

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, as stored under ``baseline`` in gate.json."""
        return {
            "passed": self.passed,
            "floor": self.floor,
            "confidence": self.confidence,
            "min_samples": self.min_samples,
            "source": self.source,
            "baseline_version": self.baseline_version,
            "rule": self.rule,
            "regressions": len(self.regressions),
            "inconclusive": len(self.inconclusive),
            "compared": self.compared,
            "thin": len(self.thin),
            "missing": [row.endpoint for row in self.missing],
            "rows": [row.to_dict() for row in self.rows],
            "notes": list(self.notes),
        }


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _percentiles(side: Mapping[str, Any]) -> str:
    return f"{_ms(side['p50_ms'])} / {_ms(side['p95_ms'])} / {_ms(side['p99_ms'])} ms ({side['n']})"


def format_baseline_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """``endpoint | baseline p50/p95/p99 (n) | now p50/p95/p99 (n) | decision`` in markdown."""
    if not rows:
        return "No endpoint was measured in either run."
    lines = [
        "| endpoint | baseline p50 / p95 / p99 (n) | now p50 / p95 / p99 (n) | decision |",
        "|---|---|---|---|",
    ]
    for row in rows:
        endpoint = str(row["endpoint"]).replace("|", "\\|")
        figures = row.get("figures")
        if row["status"] in ("new", "missing") or not figures:
            shown = "new in this run" if row["status"] == "new" else "not requested now"
            lines.append(f"| {endpoint} | - | - | {shown} |")
            continue
        if row["status"] == "thin":
            lines.append(
                f"| {endpoint} | {_percentiles(figures['baseline'])} | "
                f"{_percentiles(figures['current'])} | too few samples |"
            )
            continue
        lines.append(
            f"| {endpoint} | {_percentiles(figures['baseline'])} | "
            f"{_percentiles(figures['current'])} | {row['decision']} |"
        )
    return "\n".join(lines)


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
            _check_counts(side)
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(
                f"{what} has an unreadable endpoint entry ({exc}); "
                "save a new baseline with --gate-save-baseline"
            ) from exc
        sides[key] = side
    return sides


def _check_counts(side: _Side) -> None:
    """Counts a real run can have: every success has a latency sample, every sample a request.

    A hand-edited or corrupt file (negative failures, requests that do not fit the histogram)
    would otherwise be judged as evidence, or crash the judge mid-run.
    """
    samples = side.histogram.count
    if not 0 <= side.failures <= side.requests or not side.requests - side.failures <= samples:
        raise ValueError(
            f"{side.requests} requests with {side.failures} failures do not fit a histogram "
            f"of {samples} samples"
        )
    if samples > side.requests:
        raise ValueError(f"{samples} latency samples from {side.requests} requests")


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


def _judge(
    key: _Key, base: _Side, now: _Side, floor: RegressionFloor, alpha: float, min_samples: int
) -> EndpointJudgement:
    from ..measure.compare import compare as compare_sides
    from ..measure.compare import decide

    name = EndpointJudgement(*key, "compared").endpoint
    comparison = compare_sides(
        base.histogram,
        now.histogram,
        name=name,
        alpha=alpha,
        baseline_failures=base.failures,
        baseline_requests=base.requests,
        current_failures=now.failures,
        current_requests=now.requests,
    )
    judgement = decide(comparison, floor, min_samples=min_samples)
    if judgement.row == THIN_ROW and max(base.histogram.count, now.histogram.count) < min_samples:
        # Thin on both sides (a smoke check's single request): no judge could ever tell, so
        # the endpoint is shown but not judged; errors were judged already (Fisher, row 1).
        return EndpointJudgement(
            *key,
            "thin",
            reason=(
                f"{name} has too few samples on both sides to judge (baseline "
                f"{base.histogram.count}, current {now.histogram.count}, {min_samples} needed): "
                "not judged"
            ),
            figures=comparison.to_dict(),
        )
    return EndpointJudgement(
        *key,
        "compared",
        decision=judgement.decision.value,
        reason=judgement.reason,
        figures=comparison.to_dict(),
    )


# More failures than this on an endpoint and a baseline judges nothing there: live, it is an
# ERROR of the run; saved, a comparison that would PASS is INCONCLUSIVE instead.
LIVE_BASELINE_MAX_FAILURE_RATE = 0.01


def compare(
    baseline: Mapping[str, Any] | Mapping[str, MetricsStore],
    current: Mapping[str, MetricsStore],
    *,
    floor: str = "10%,+5ms",
    confidence: float = 0.98,
    min_samples: int = 30,
    source: str = "",
) -> BaselineComparison:
    """Judge every endpoint of ``current`` (``{gate: MetricsStore}``) against ``baseline``:
    a gate.json document, or ``{gate: MetricsStore}`` measured against a live baseline."""
    from ..measure.compare import RegressionFloor

    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence!r} is not between 0 and 1; use e.g. 0.98")
    parsed_floor = RegressionFloor.parse(floor)
    live = bool(baseline) and all(isinstance(v, MetricsStore) for v in baseline.values())
    base_sides = _sides_from_stores(baseline) if live else _sides_from_doc(baseline, "the baseline")
    now_sides = _sides_from_stores(current)
    rows: list[EndpointJudgement] = []
    for key in sorted(base_sides.keys() | now_sides.keys()):
        base, now = base_sides.get(key), now_sides.get(key)
        if base is None or now is None:
            rows.append(EndpointJudgement(*key, "new" if base is None else "missing"))
            continue
        row = _judge(key, base, now, parsed_floor, 1 - confidence, min_samples)
        failing_baseline = base.failures > LIVE_BASELINE_MAX_FAILURE_RATE * base.requests
        if row.decision == "PASS" and failing_baseline:
            # "No worse than a baseline that failed" proves nothing: its failures are in the
            # histogram it was compared with, and Fisher cannot see a rise from 100 %.
            row.decision = "INCONCLUSIVE"
            row.reason = (
                f"{row.endpoint}: the baseline failed {base.failures} of {base.requests} "
                "requests, so it cannot vouch for this run; compare with a baseline that "
                "served this endpoint: INCONCLUSIVE"
            )
        rows.append(row)
    version = None
    if not live:
        target = baseline.get("target")
        found = target.get("version") if isinstance(target, dict) else None
        version = None if found is None else str(found)
    return BaselineComparison(
        rows=rows,
        floor=floor,
        confidence=confidence,
        min_samples=min_samples,
        source=source,
        baseline_version=version,
    )


def live_baseline_errors(stores: Mapping[str, MetricsStore], shown_url: str) -> list[str]:
    """Why a live baseline cannot judge this deploy: it failed, or it was never measured.

    A baseline that answers with errors (down, wrong URL, broken itself) makes its latency
    meaningless (a refused connection is fast), so more than 1 % failures on any endpoint is
    an ERROR of the run, not a comparison.
    """
    measured = {gate: store for gate, store in stores.items() if len(store)}
    if not measured:
        return [
            f"baseline: the live baseline {shown_url} received no requests; only gate_slo "
            "samples and the load gate are mirrored to --gate-baseline-url"
        ]
    errors = []
    for gate, store in sorted(measured.items()):
        for metric in METRICS:
            for scope in store.scopes(metric):
                stats = store.get(scope, metric)
                if stats is None or not stats.requests:
                    continue
                if stats.failures / stats.requests > LIVE_BASELINE_MAX_FAILURE_RATE:
                    errors.append(
                        f"baseline: the live baseline {shown_url} failed {stats.failures} of "
                        f"{stats.requests} requests to {scope} ({gate}); a failing baseline "
                        "cannot judge this deploy: check --gate-baseline-url and that the "
                        "baseline is healthy"
                    )
    return errors


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
    verdict = doc.get("verdict")
    if verdict != "PASS":
        raise BaselineError(
            f"baseline {path} is the gate.json of a run whose verdict was {verdict!r}, not "
            "PASS, so its figures may be the regression itself; pass a file written by "
            "--gate-save-baseline (saved on PASS only) or the gate.json of a passing run"
        )
    _sides_from_doc(doc, f"baseline {path}")  # fail now, with the file's name, not mid-run
    return doc


def save_baseline(doc: Mapping[str, Any], path: Path) -> None:
    """Write a gate.json document as a baseline, atomically (a killed run leaves no half file)."""
    from ..report.files import write_atomic

    write_atomic(Path(path), json.dumps(doc, indent=2, allow_nan=False) + "\n")
