"""MetricsStore: counting, windows, scopes, serialisation and merging across workers."""

from __future__ import annotations

import json
import random
import sys
import threading

import pytest

from pytest_opsgate.measure.metrics import EndpointStats, MetricsStore, normalize_scope

PERCENTILES = (50, 90, 95, 99, 99.9, 100)


def test_record_counts_requests_failures_and_samples() -> None:
    store = MetricsStore()
    store.record("GET /api/items", 12.0, ok=True)
    store.record("GET /api/items", 30.0, ok=False)  # a 500 with a duration: a sample
    store.record("GET /api/items", None, ok=False)  # refused before any timing: no sample
    stats = store.get("GET /api/items")
    assert stats is not None
    assert (stats.requests, stats.failures, stats.samples, stats.successes) == (3, 2, 2, 1)
    assert stats.error_rate == pytest.approx(2 / 3)


def test_get_unknown_scope_is_none() -> None:
    store = MetricsStore()
    store.record("GET /a", 1.0, ok=True)
    assert store.get("GET /b") is None
    assert store.get("GET /a", metric="load") is None


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("get  /api/items", "GET /api/items"),
        (" POST /x ", "POST /x"),
        ("PAGE /checkout", "page /checkout"),
        ("board", "board"),
        ("Get board", "GET board"),
    ],
)
def test_scopes_are_normalised(raw: str, normal: str) -> None:
    assert normalize_scope(raw) == normal
    store = MetricsStore()
    store.record(raw, 1.0, ok=True)
    assert store.scopes() == [normal]
    assert store.get(normal) is not None


def test_empty_scope_and_unknown_metric_are_rejected() -> None:
    store = MetricsStore()
    with pytest.raises(ValueError, match="scope is empty"):
        store.record("  ", 1.0, ok=True)
    with pytest.raises(ValueError, match="unknown metric 'lcp'"):
        store.record("page /", 1.0, ok=True, metric="lcp")


def test_window_runs_from_first_to_last_record() -> None:
    store = MetricsStore()
    store.record("GET /a", 1.0, ok=True, at=100.0)
    single = store.get("GET /a")
    assert single is not None
    assert single.window_s == 0
    assert single.rps is None
    store.record("GET /a", 1.0, ok=True, at=104.0)
    store.record("GET /a", 1.0, ok=True, at=102.0)
    stats = store.get("GET /a")
    assert stats is not None
    assert stats.window_s == 4.0
    assert stats.rps == 3 / 4.0


def test_set_window_overrides_a_series_and_the_total() -> None:
    store = MetricsStore()
    for at in (0.0, 1.0):
        store.record("GET /a", 1.0, ok=True, at=at)
        store.record("GET /b", 1.0, ok=True, at=at + 5)
    store.set_window("GET /a", 10.0)
    a_stats = store.get("GET /a")
    assert a_stats is not None
    assert a_stats.rps == 0.2
    # Across scopes of one process the span counts: first record at 0, last at 6.
    assert store.total().window_s == 10.0
    store.set_window(None, 20.0)
    assert store.total().rps == 4 / 20.0
    with pytest.raises(ValueError, match="seconds >= 0"):
        store.set_window("GET /a", -1)


def test_total_span_covers_all_scopes() -> None:
    store = MetricsStore()
    store.record("GET /a", 1.0, ok=True, at=0.0)
    store.record("GET /b", 2.0, ok=False, at=6.0)
    total = store.total()
    assert (total.requests, total.failures, total.samples, total.window_s) == (2, 1, 2, 6.0)
    assert store.total("load").requests == 0


def test_empty_stats_have_no_rates() -> None:
    empty = EndpointStats()
    assert empty.error_rate is None
    assert empty.rps is None


def test_scopes_are_per_metric_and_sorted() -> None:
    store = MetricsStore()
    store.record("GET /b", 1.0, ok=True)
    store.record("GET /a", 1.0, ok=True)
    store.record("page /", 900.0, ok=True, metric="load")
    assert store.scopes() == ["GET /a", "GET /b"]
    assert store.scopes("load") == ["page /"]
    assert len(store) == 3


def test_matching_without_method_covers_every_method() -> None:
    store = MetricsStore()
    for scope in ("GET /x", "POST /x", "GET /x/y", "board", "GET board"):
        store.record(scope, 1.0, ok=True)
    assert store.matching("/x") == ["GET /x", "POST /x"]
    assert store.matching("get /x") == ["GET /x"]
    assert store.matching("board") == ["GET board", "board"]
    assert store.matching("DELETE /x") == []


def test_get_returns_a_snapshot() -> None:
    store = MetricsStore()
    store.record("GET /a", 1.0, ok=True)
    stats = store.get("GET /a")
    assert stats is not None
    stats.histogram.record(5.0)
    again = store.get("GET /a")
    assert again is not None
    assert again.samples == 1


def test_add_merges_preaggregated_stats() -> None:
    store = MetricsStore()
    part = EndpointStats(requests=3, failures=1, window_s=30.0)
    for ms in (1.0, 2.0, 3.0):
        part.histogram.record(ms)
    store.add("board", part)
    stats = store.get("board")
    assert stats is not None
    assert (stats.requests, stats.failures, stats.samples, stats.window_s) == (3, 1, 3, 30.0)


def fill(store: MetricsStore, records: list[tuple[str, float | None, bool, str]]) -> None:
    for scope, ms, ok, metric in records:
        store.record(scope, ms, ok, metric)


def random_records(seed: int, n: int) -> list[tuple[str, float | None, bool, str]]:
    rng = random.Random(seed)
    scopes = [("GET /api/items", "latency"), ("POST /api/items", "latency"), ("page /", "load")]
    records: list[tuple[str, float | None, bool, str]] = []
    for _ in range(n):
        scope, metric = rng.choice(scopes)
        ms = None if rng.random() < 0.02 else round(rng.lognormvariate(4, 1), 3)
        records.append((scope, ms, rng.random() > 0.05, metric))
    return records


def test_to_dict_is_json_and_round_trips() -> None:
    store = MetricsStore()
    fill(store, random_records(1, 300))
    store.set_window("GET /api/items", 12.5)
    data = json.loads(json.dumps(store.to_dict()))
    rebuilt = MetricsStore.from_dict(data)
    assert rebuilt.to_dict() == store.to_dict()
    for metric in ("latency", "load"):
        for scope in store.scopes(metric):
            assert rebuilt.get(scope, metric) == store.get(scope, metric)


def test_from_empty_dict_is_an_empty_store() -> None:
    store = MetricsStore.from_dict({})
    assert len(store) == 0
    assert store.total().requests == 0


def test_from_dict_rejects_another_format_version() -> None:
    with pytest.raises(ValueError, match="version 99"):
        MetricsStore.from_dict({"version": 99, "series": []})


def test_merge_of_worker_stores_equals_one_store() -> None:
    records = random_records(2, 1500)
    single = MetricsStore()
    fill(single, records)
    controller = MetricsStore()
    for worker in range(3):
        store = MetricsStore()
        fill(store, records[worker * 500 : (worker + 1) * 500])
        # What xdist ships: plain JSON data.
        controller.merge(MetricsStore.from_dict(json.loads(json.dumps(store.to_dict()))))
    for metric in ("latency", "load"):
        assert controller.scopes(metric) == single.scopes(metric)
        for scope in single.scopes(metric):
            merged, whole = controller.get(scope, metric), single.get(scope, metric)
            assert merged is not None
            assert whole is not None
            assert (merged.requests, merged.failures) == (whole.requests, whole.failures)
            assert merged.histogram == whole.histogram
            assert [merged.histogram.percentile(p) for p in PERCENTILES] == [
                whole.histogram.percentile(p) for p in PERCENTILES
            ]
        assert controller.total(metric).histogram == single.total(metric).histogram


def test_merge_takes_the_largest_window() -> None:
    first, second = MetricsStore(), MetricsStore()
    first.record("GET /a", 1.0, ok=True, at=0.0)
    first.record("GET /a", 1.0, ok=True, at=10.0)
    second.record("GET /a", 1.0, ok=True, at=500.0)
    second.record("GET /a", 1.0, ok=True, at=504.0)
    second.set_window(None, 7.0)
    first.merge(second)
    stats = first.get("GET /a")
    assert stats is not None
    # Workers run side by side: 4 requests over 10 s, not over 14 s.
    assert stats.window_s == 10.0
    assert stats.rps == 0.4
    assert first.total().window_s == 7.0


def test_merge_into_itself_is_refused() -> None:
    store = MetricsStore()
    with pytest.raises(ValueError, match="itself"):
        store.merge(store)


def test_record_is_thread_safe() -> None:
    store = MetricsStore()
    per_thread = 1500

    def work() -> None:
        for i in range(per_thread):
            store.record("GET /a", float(i % 50), ok=(i % 10 != 0))

    # Switch threads as often as possible so an unlocked read-modify-write would lose counts.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)
    stats = store.get("GET /a")
    assert stats is not None
    assert (stats.requests, stats.samples, stats.failures) == (9000, 9000, 900)
