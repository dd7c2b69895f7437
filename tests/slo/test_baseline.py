"""Baseline comparison: the judge per endpoint, floors, coverage, live baselines, files."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from pytest_opsgate.measure.histogram import LatencyHistogram
from pytest_opsgate.measure.metrics import MetricsStore
from pytest_opsgate.report.gate_json import SCHEMA_VERSION, RunRecord, build_gate_json
from pytest_opsgate.slo.baseline import (
    SUPPORTED_SCHEMA_VERSION,
    BaselineError,
    compare,
    load_baseline,
    save_baseline,
)
from pytest_opsgate.verdict import Verdict

if TYPE_CHECKING:
    from pathlib import Path

ITEMS = "GET /api/items"


def _store(
    latencies_ms: list[float],
    failures: int = 0,
    scope: str = ITEMS,
    store: MetricsStore | None = None,
) -> MetricsStore:
    store = store if store is not None else MetricsStore()
    for index, ms in enumerate(latencies_ms):
        store.record(scope, ms, ok=index >= failures, at=float(index))
    return store


def _doc(stores: dict[str, MetricsStore], tmp_path: Path) -> dict[str, Any]:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    record = RunRecord(
        verdict=Verdict.PASS,
        exit_code=0,
        artifacts_dir=tmp_path,
        started_at=now,
        finished_at=now,
        duration_s=1.0,
        target_version="1.4.2",
        endpoints=stores,
    )
    return build_gate_json(record)


def _noisy(median_ms: float, n: int, seed: int) -> list[float]:
    """Log-normal latencies around ``median_ms`` (sigma 0.25): what a real endpoint looks like."""
    rng = random.Random(seed)
    return [median_ms * math.exp(rng.gauss(0.0, 0.25)) for _ in range(n)]


def _row(comparison: Any, scope: str = ITEMS) -> Any:
    return next(r for r in comparison.rows if r.scope == scope)


def test_a_clear_slowdown_fails_with_its_figures_in_a_sentence(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 200, seed=1))}, tmp_path)
    result = compare(baseline, {"load": _store(_noisy(150.0, 200, seed=2))})
    row = _row(result)
    assert row.decision == "FAIL"
    assert not result.passed
    assert result.regressions == [row]
    assert "GET /api/items (load)" in row.reason
    assert "slower" in row.reason
    assert "floor" in row.reason
    assert result.reasons == [f"regression: {row.reason}"]
    figures = row.figures
    assert figures["baseline"]["n"] == 200
    assert figures["current"]["n"] == 200
    assert figures["baseline"]["p50_ms"] == pytest.approx(100.0, rel=0.1)
    assert figures["current"]["p50_ms"] == pytest.approx(150.0, rel=0.1)


def test_an_unchanged_endpoint_passes(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 500, seed=3))}, tmp_path)
    result = compare(baseline, {"load": _store(_noisy(100.0, 500, seed=4))})
    assert _row(result).decision == "PASS"
    assert result.passed
    assert not result.inconclusive


def test_a_small_significant_shift_under_the_floor_is_not_a_regression(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 2000, seed=5))}, tmp_path)
    current = {"load": _store(_noisy(103.0, 2000, seed=6))}  # +3 %, well measured
    assert _row(compare(baseline, current)).decision == "PASS"
    # The floor is what saved it: with a 1 % floor the same +3 % is a regression.
    assert _row(compare(baseline, current, floor="1%")).decision == "FAIL"


def test_two_ms_to_three_ms_is_judged_against_the_absolute_floor(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(2.0, 300, seed=7))}, tmp_path)
    current = {"load": _store(_noisy(3.0, 300, seed=8))}
    assert _row(compare(baseline, current, floor="10%,+5ms")).decision == "PASS"
    assert _row(compare(baseline, current, floor="10%")).decision == "FAIL"


def test_too_few_samples_on_one_side_are_inconclusive_not_pass(tmp_path: Path) -> None:
    baseline = _doc({"smoke": _store(_noisy(10.0, 100, seed=30))}, tmp_path)
    result = compare(baseline, {"smoke": _store([10.0, 11.0, 12.0])})
    row = _row(result)
    assert row.decision == "INCONCLUSIVE"
    assert result.inconclusive == [row]
    assert result.passed  # not a regression; the run's verdict turns it into INCONCLUSIVE
    assert result.inconclusive_reasons == [f"baseline: {row.reason}"]
    assert "30" in row.reason  # names the minimum it wanted


def test_thin_on_both_sides_is_shown_not_judged_unless_nothing_else_was(tmp_path: Path) -> None:
    """A smoke check's single request is no sample: shown, not judged, never alone a PASS."""
    thin_then = _store([10.0], scope="GET /api/health/")
    thin_now = _store([90.0], scope="GET /api/health/")
    only_thin = compare(_doc({"smoke": thin_then}, tmp_path), {"smoke": thin_now})
    row = _row(only_thin, "GET /api/health/")
    assert row.status == "thin"
    assert row.decision is None
    assert "not judged" in row.reason
    assert only_thin.compared == 0
    assert only_thin.coverage_errors(partial=False) == []  # in common, just thin
    assert len(only_thin.inconclusive_reasons) == 1
    assert "no endpoint had 30 samples on both sides" in only_thin.inconclusive_reasons[0]
    # Beside an endpoint that was judged, the thin one does not make the run INCONCLUSIVE.
    then = _store(_noisy(100.0, 500, seed=31), store=_store([10.0], scope="GET /api/health/"))
    now = _store(_noisy(100.0, 500, seed=32), store=_store([90.0], scope="GET /api/health/"))
    mixed = compare(_doc({"smoke": then}, tmp_path), {"smoke": now})
    assert _row(mixed).decision == "PASS"
    assert _row(mixed, "GET /api/health/").status == "thin"
    assert mixed.inconclusive_reasons == []
    assert "too few samples" in mixed.format_table()


def test_failures_on_a_thin_endpoint_still_fail(tmp_path: Path) -> None:
    baseline = _doc({"smoke": _store([10.0] * 20)}, tmp_path)
    result = compare(baseline, {"smoke": _store([10.0] * 20, failures=20)})
    assert _row(result).decision == "FAIL"  # Fisher's exact test needs no minimum


def test_min_samples_is_configurable(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 40, seed=9))}, tmp_path)
    current = {"load": _store(_noisy(100.0, 40, seed=10))}
    assert _row(compare(baseline, current, min_samples=100)).status == "thin"
    assert _row(compare(baseline, current, min_samples=20)).decision != "INCONCLUSIVE"


def test_a_rise_in_failures_fails_even_with_unchanged_latency(tmp_path: Path) -> None:
    latencies = _noisy(10.0, 1000, seed=11)
    baseline = _doc({"load": _store(latencies, failures=1)}, tmp_path)  # 0.1 %
    worse = compare(baseline, {"load": _store(latencies, failures=40)})  # 4 %
    assert _row(worse).decision == "FAIL"
    assert "fail" in _row(worse).reason.lower()
    same = compare(baseline, {"load": _store(latencies, failures=2)})
    assert _row(same).decision == "PASS"


def test_new_and_missing_endpoints_are_listed_and_missing_ones_are_a_coverage_error(
    tmp_path: Path,
) -> None:
    baseline_store = _store(_noisy(10.0, 50, seed=12))
    _store(_noisy(20.0, 50, seed=13), scope="GET /old", store=baseline_store)
    current_store = _store(_noisy(10.0, 50, seed=14))
    _store(_noisy(20.0, 50, seed=15), scope="GET /new", store=current_store)
    result = compare(_doc({"load": baseline_store}, tmp_path), {"load": current_store})
    statuses = {row.scope: row.status for row in result.rows if row.status != "compared"}
    assert statuses == {"GET /old": "missing", "GET /new": "new"}
    assert result.passed
    errors = result.coverage_errors(partial=False)
    assert len(errors) == 1
    assert "GET /old (load)" in errors[0]
    assert "--gate-baseline-partial" in errors[0]
    assert result.coverage_errors(partial=True) == []
    table = result.format_table()
    assert "not requested now" in table
    assert "new in this run" in table


def test_nothing_in_common_is_a_coverage_error_even_when_partial(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 100, seed=16))}, tmp_path)
    result = compare(baseline, {"smoke": _store(_noisy(500.0, 100, seed=17))})
    assert {row.status for row in result.rows} == {"new", "missing"}
    assert result.compared == 0
    assert result.coverage_errors(partial=True)
    assert "no endpoint in common" in result.coverage_errors(partial=True)[0]


def test_a_live_baseline_is_judged_like_a_saved_one(tmp_path: Path) -> None:
    slow = {"load": _store(_noisy(150.0, 200, seed=18))}
    live = compare({"load": _store(_noisy(100.0, 200, seed=19))}, slow, source="live")
    saved = compare(_doc({"load": _store(_noisy(100.0, 200, seed=19))}, tmp_path), slow)
    assert _row(live).decision == _row(saved).decision == "FAIL"
    assert live.baseline_version is None
    assert saved.baseline_version == "1.4.2"
    assert live.source == "live"


def test_percentiles_come_from_the_stored_histograms(tmp_path: Path) -> None:
    latencies = [float(ms) for ms in range(1, 101)]
    baseline = _doc({"load": _store(latencies)}, tmp_path)
    histogram = LatencyHistogram()
    for ms in latencies:
        histogram.record(ms)
    row = _row(compare(baseline, {"load": _store(latencies)}))
    assert row.figures["baseline"]["p95_ms"] == histogram.percentile(95)
    assert row.figures["current"]["p99_ms"] == histogram.percentile(99)
    assert row.decision != "FAIL"  # identical samples; 100 of them are too wide to PASS


def test_bad_confidence_and_floor_are_refused_with_the_fix(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([1.0] * 10)}, tmp_path)
    with pytest.raises(ValueError, match="between 0 and 1"):
        compare(baseline, {}, confidence=98)
    with pytest.raises(ValueError, match="floor"):
        compare(baseline, {}, floor="ten percent")
    with pytest.raises(ValueError, match="never lets an unchanged service PASS"):
        compare(baseline, {}, floor="0%")


def test_format_table_has_the_documented_columns(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 100, seed=20))}, tmp_path)
    table = compare(baseline, {"load": _store(_noisy(200.0, 100, seed=21))}).format_table()
    header = table.splitlines()[0]
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "endpoint",
        "baseline p50 / p95 / p99 (n)",
        "now p50 / p95 / p99 (n)",
        "decision",
    ]
    assert "| FAIL |" in table
    assert "(100)" in table


def test_to_dict_is_json_serialisable(tmp_path: Path) -> None:
    baseline = _doc({"load": _store(_noisy(100.0, 100, seed=22))}, tmp_path)
    data = compare(baseline, {"load": _store(_noisy(200.0, 100, seed=23))}).to_dict()
    data = json.loads(json.dumps(data, allow_nan=False))
    assert data["regressions"] == 1
    assert data["passed"] is False
    assert data["baseline_version"] == "1.4.2"
    assert data["floor"] == "10%,+5ms"
    assert data["confidence"] == 0.98
    assert "Mann-Whitney" in data["rule"]


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    doc = _doc({"load": _store([100.0] * 10)}, tmp_path)
    path = tmp_path / "baselines" / "main.json"
    save_baseline(doc, path)
    assert load_baseline(path) == doc
    assert [p.name for p in path.parent.iterdir()] == ["main.json"]  # no temp file left


def test_missing_baseline_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(BaselineError, match=r"does not exist; save one .*--gate-save-baseline"):
        load_baseline(path)


def test_invalid_json_baseline_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema_version": 1,')
    with pytest.raises(BaselineError, match=r"is not valid JSON .*line 1"):
        load_baseline(path)


def test_baseline_without_schema_version_is_not_a_gate_json(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"stats": []}')
    with pytest.raises(BaselineError, match="has no schema_version"):
        load_baseline(path)


def test_newer_schema_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"schema_version": SUPPORTED_SCHEMA_VERSION + 1, "endpoints": []}))
    with pytest.raises(BaselineError, match=r"newer than .*upgrade pytest-opsgate"):
        load_baseline(path)


def test_corrupt_histogram_is_reported_with_the_file_name(tmp_path: Path) -> None:
    doc = _doc({"load": _store([100.0] * 10)}, tmp_path)
    doc["endpoints"][0]["histogram"] = "garbage"
    path = tmp_path / "corrupt.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BaselineError, match=f"baseline {path} has an unreadable endpoint"):
        load_baseline(path)


def test_reader_and_writer_agree_on_the_schema_version() -> None:
    assert SUPPORTED_SCHEMA_VERSION == SCHEMA_VERSION
