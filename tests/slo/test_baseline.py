"""Baseline regression: tolerance, absolute floors, new/missing endpoints, baseline files."""

from __future__ import annotations

import json
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


def _row(comparison: Any, statistic: str, scope: str = ITEMS) -> Any:
    return next(r for r in comparison.rows if r.statistic == statistic and r.scope == scope)


def test_latency_regression_beyond_tolerance_and_floor_fails(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    result = compare(baseline, {"load": _store([130.0] * 100)})
    p95 = _row(result, "p95")
    assert p95.regressed
    assert p95.baseline == pytest.approx(100.0, rel=0.001)
    assert p95.now == pytest.approx(130.0, rel=0.001)
    assert p95.change_pct == pytest.approx(30.0, abs=0.2)
    assert not result.passed
    assert result.regressions
    assert any("GET /api/items (load) p95" in reason for reason in result.reasons)


def test_change_within_tolerance_is_not_a_regression(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    result = compare(baseline, {"load": _store([108.0] * 100)})
    assert result.passed
    assert not _row(result, "p95").regressed


def test_two_ms_to_three_ms_is_below_the_absolute_floor(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([2.0] * 100)}, tmp_path)
    result = compare(baseline, {"load": _store([3.0] * 100)})
    p95 = _row(result, "p95")
    assert p95.change_pct == pytest.approx(50.0, abs=0.2)  # at the histogram resolution
    assert not p95.regressed
    assert result.passed
    # Without the floor the same change is a regression: the floor is what saved it.
    assert not compare(baseline, {"load": _store([3.0] * 100)}, floor_ms=0.5).passed


def test_tolerance_is_configurable(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    current = {"load": _store([130.0] * 100)}
    assert not compare(baseline, current, tolerance=0.10).passed
    assert compare(baseline, current, tolerance=0.50).passed


def test_p99_regression_is_detected_when_p95_is_unchanged(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([50.0] * 100)}, tmp_path)
    current = {"load": _store([50.0] * 97 + [400.0] * 3)}
    result = compare(baseline, current)
    assert not _row(result, "p95").regressed
    assert _row(result, "p99").regressed


def test_error_rate_regression_uses_its_own_floor(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([10.0] * 1000, failures=1)}, tmp_path)  # 0.1 %
    worse = compare(baseline, {"load": _store([10.0] * 1000, failures=20)})  # 2 %
    assert _row(worse, "error_rate").regressed
    slightly = compare(baseline, {"load": _store([10.0] * 1000, failures=2)})  # +0.1 point
    assert not _row(slightly, "error_rate").regressed


def test_errors_from_a_clean_baseline_regress_when_above_the_floor(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([10.0] * 1000)}, tmp_path)
    result = compare(baseline, {"load": _store([10.0] * 1000, failures=50)})
    row = _row(result, "error_rate")
    assert row.baseline == 0.0
    assert row.change_pct is None
    assert row.regressed


def test_new_and_missing_endpoints_are_listed_without_failing(tmp_path: Path) -> None:
    baseline_store = _store([10.0] * 50)
    _store([20.0] * 50, scope="GET /old", store=baseline_store)
    current_store = _store([10.0] * 50)
    _store([20.0] * 50, scope="GET /new", store=current_store)
    result = compare(_doc({"load": baseline_store}, tmp_path), {"load": current_store})
    statuses = {row.scope: row.status for row in result.rows if row.status != "compared"}
    assert statuses == {"GET /old": "missing", "GET /new": "new"}
    assert result.passed
    table = result.format_table()
    assert "missing now" in table
    assert "new endpoint" in table


def test_same_scope_in_another_gate_is_another_endpoint(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    result = compare(baseline, {"smoke": _store([500.0] * 100)})
    assert result.passed
    assert {row.status for row in result.rows} == {"new", "missing"}


def test_current_may_be_a_gate_json_document(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    current = _doc({"load": _store([200.0] * 100)}, tmp_path)
    assert not compare(baseline, current).passed


def test_percentiles_come_from_the_stored_histograms(tmp_path: Path) -> None:
    latencies = [float(ms) for ms in range(1, 101)]
    baseline = _doc({"load": _store(latencies)}, tmp_path)
    histogram = LatencyHistogram()
    for ms in latencies:
        histogram.record(ms)
    result = compare(baseline, {"load": _store(latencies)})
    assert _row(result, "p95").baseline == histogram.percentile(95)
    assert _row(result, "p99").now == histogram.percentile(99)
    assert all(not row.regressed for row in result.rows)


def test_too_few_samples_are_shown_but_never_regress(tmp_path: Path) -> None:
    baseline = _doc({"smoke": _store([10.0])}, tmp_path)
    result = compare(baseline, {"smoke": _store([90.0])}, min_samples=20)
    row = _row(result, "p95")
    assert row.status == "few_samples"
    assert not row.regressed
    assert result.passed
    assert not compare(baseline, {"smoke": _store([90.0])}).passed


def test_format_table_has_the_documented_columns(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    table = compare(baseline, {"load": _store([130.0] * 100)}).format_table()
    header = table.splitlines()[0]
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "endpoint",
        "statistic",
        "baseline",
        "now",
        "change",
    ]
    assert "REGRESSION" in table
    assert "100 ms" in table
    assert "130 ms" in table


def test_to_dict_is_json_serialisable(tmp_path: Path) -> None:
    baseline = _doc({"load": _store([100.0] * 100)}, tmp_path)
    data = compare(baseline, {"load": _store([130.0] * 100)}).to_dict()
    assert json.loads(json.dumps(data))["regressions"] == 2
    assert data["passed"] is False
    assert data["baseline_version"] == "1.4.2"


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
