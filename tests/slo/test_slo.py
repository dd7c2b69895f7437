"""SLO grammar, evaluation (scope resolution, samples, F23/F24 comparators) and the table."""

from __future__ import annotations

import json

import pytest

from pytest_opsgate.measure.metrics import MetricsStore
from pytest_opsgate.slo import (
    SLO,
    SLOResult,
    SLOSyntaxError,
    evaluate_all,
    evaluate_slo,
    format_measure,
    format_slo_table,
    parse_duration,
    parse_slo,
)

# ---------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("text", "scope", "metric", "statistic", "op", "budget", "abort"),
    [
        ("p95 < 300ms", None, "latency", "p95", "<", 300.0, False),
        ("P99.9<=1.5S", None, "latency", "p99.9", "<=", 1500.0, False),
        ("  p50   >   2 s  ", None, "latency", "p50", ">", 2000.0, False),
        ("p75 >= 250us", None, "latency", "p75", ">=", 0.25, False),
        ("p90 < 40 µs", None, "latency", "p90", "<", 0.04, False),
        ("p90 < 40μs", None, "latency", "p90", "<", 0.04, False),
        ("p(95) < 500ms", None, "latency", "p95", "<", 500.0, False),
        ("max < 1s", None, "latency", "max", "<", 1000.0, False),
        ("MIN > 1ms", None, "latency", "min", ">", 1.0, False),
        ("avg < 80ms", None, "latency", "avg", "<", 80.0, False),
        ("mean < 80ms", None, "latency", "avg", "<", 80.0, False),
        ("error_rate < 1%", None, "latency", "error_rate", "<", 0.01, False),
        ("Error_Rate <= 0.5 %", None, "latency", "error_rate", "<=", 0.005, False),
        ("error_rate < 0.01", None, "latency", "error_rate", "<", 0.01, False),
        ("rps >= 50", None, "latency", "rps", ">=", 50.0, False),
        ("rps >= 50/s", None, "latency", "rps", ">=", 50.0, False),
        ("requests >= 100", None, "latency", "requests", ">=", 100.0, False),
        ("GET /api/items: p95 < 300ms", "GET /api/items", "latency", "p95", "<", 300.0, False),
        ("get  /api/items : p95 < 300ms", "GET /api/items", "latency", "p95", "<", 300.0, False),
        ("/api/items: p95 < 300ms", "/api/items", "latency", "p95", "<", 300.0, False),
        ("board: p95 < 800ms", "board", "latency", "p95", "<", 800.0, False),
        ("GET /a:b/c:d: max < 1s", "GET /a:b/c:d", "latency", "max", "<", 1000.0, False),
        ("page /: load < 2s", "page /", "load", "max", "<", 2000.0, False),
        ("page /checkout: ttfb < 300ms", "page /checkout", "ttfb", "max", "<", 300.0, False),
        ("page /: load p95 < 2s", "page /", "load", "p95", "<", 2000.0, False),
        ("PAGE /: DCL avg < 1s", "page /", "dcl", "avg", "<", 1000.0, False),
        ("page /: error_rate < 1%", "page /", "load", "error_rate", "<", 0.01, False),
        ("load < 3s", None, "load", "max", "<", 3000.0, False),
        ("p95 < 300ms [abort]", None, "latency", "p95", "<", 300.0, True),
        ("GET /x: error_rate < 5% [ ABORT ]", "GET /x", "latency", "error_rate", "<", 0.05, True),
    ],
)
def test_grammar_forms(
    text: str, scope: str | None, metric: str, statistic: str, op: str, budget: float, abort: bool
) -> None:
    slo = parse_slo(text)
    assert (slo.scope, slo.metric, slo.statistic, slo.op, slo.abort) == (
        scope,
        metric,
        statistic,
        op,
        abort,
    )
    assert slo.budget == budget
    assert slo.text == text
    # The canonical text parses back to the same SLO.
    assert parse_slo(str(slo)) == slo


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("get /x : P99.9<=1.5S", "GET /x: p99.9 <= 1.5s"),
        ("page /: load < 2000ms", "page /: load < 2s"),
        ("page /: load p95 < 2s", "page /: load p95 < 2s"),
        ("error_rate <= 0.005", "error_rate <= 0.5%"),
        ("rps >= 50", "rps >= 50/s"),
        ("p95 < 250us [abort]", "p95 < 0.25ms [abort]"),
        ("mean < 1.25s", "avg < 1.25s"),
    ],
)
def test_canonical_text(text: str, canonical: str) -> None:
    assert str(parse_slo(text)) == canonical


def test_slos_equal_regardless_of_spelling() -> None:
    assert parse_slo("GET /x: p95<300ms") == parse_slo("get /x :  P95 < 0.3s")
    assert len({parse_slo("p95 < 300ms"), parse_slo("p95<300 ms")}) == 1


@pytest.mark.parametrize(
    ("text", "problem", "example"),
    [
        ("p95 < 300", "has no unit; add ms or s", "p95 < 300ms"),
        ("GET /x: p95 < 300", "add ms or s", "GET /x: p95 < 300ms"),
        ("page /: load < 2", "add ms or s", "page /: load < 2ms"),
        ("p95 < 3 min", "unknown unit 'min'", "p95 < 3ms"),
        ("p95 < fast", "is not a duration", "p95 < 300ms"),
        ("p95 < -3ms", "negative", "p95 < 3ms"),
        ("", "empty", "p95 < 300ms"),
        ("p95 300ms", "no comparison", "p95 < 300ms"),
        ("p95 = 300ms", "exact equality", "p95 <= 300ms"),
        ("p95 != 300ms", "not a comparison", "p95 < 300ms"),
        ("< 300ms", "statistic before the comparison is missing", "p95 < 300ms"),
        ("p96x < 3ms", "unknown statistic 'p96x'", "p95 < 300ms"),
        ("errors < 1%", "did you mean error_rate?", "error_rate < 1%"),
        ("rsp > 5", "did you mean rps?", "rps > 50/s"),
        ("p0 < 3ms", "outside 0 < N <= 100", "p99.9 < 1s"),
        ("p101 < 3ms", "outside 0 < N <= 100", "p99.9 < 1s"),
        ("error_rate < 1", "ambiguous", "error_rate < 1%"),
        ("error_rate < 200%", "above 100%", "error_rate < 1%"),
        ("error_rate < lots", "write a percentage", "error_rate < 1%"),
        ("rps > 5/min", "not a rate per second", "rps > 50/s"),
        ("requests > 1.5", "not a whole number", "requests > 100"),
        ("GET /x: ttfb < 300ms", "needs a page scope", "page /x: ttfb < 2s"),
        ("page /: p95 < 2s", "takes a page timing", "page /: load p95 < 2s"),
        ("page /: load p95 max < 2s", "too many words", "page /: load p95 < 2s"),
        ("page /: load fast < 2s", "not a statistic of load", "page /: load p95 < 2s"),
        (": p95 < 3ms", "scope before ':' is empty", "p95 < 300ms"),
        ("p95 < 3ms [abrt]", "unknown flag 'abrt'", "p95 < 300ms [abort]"),
        ("p95 < 3ms []", "empty brackets", "p95 < 300ms [abort]"),
    ],
)
def test_syntax_errors_quote_the_expression_and_show_a_fix(
    text: str, problem: str, example: str
) -> None:
    with pytest.raises(SLOSyntaxError) as info:
        parse_slo(text)
    message = str(info.value)
    assert message.startswith(f"invalid SLO {text!r}: ")
    assert problem in message
    assert message.endswith(f"e.g. {example!r}")
    assert info.value.example == example
    # Every example offered is itself valid.
    parse_slo(example)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300ms", 0.3),
        ("2s", 2.0),
        ("1.5s", 1.5),
        ("1m", 60.0),
        ("2m30s", 150.0),
        ("1m 30s", 90.0),
        ("90", 90.0),
        ("0.5", 0.5),
        (" 5 S ", 5.0),
        ("1h", 3600.0),
        ("250us", 0.00025),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "  ", "abc", "2m30", "-5s", "5x", "s", "1.2.3s"])
def test_parse_duration_errors_show_valid_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid duration .*e\.g\. 30s, 1m30s or 500ms"):
        parse_duration(text)


def test_slo_and_result_serialise_through_json() -> None:
    store = MetricsStore()
    store.record("GET /x", 10.0, ok=True)
    result = evaluate_slo(parse_slo("GET /x: p95 < 300ms [abort]"), store)
    restored = SLOResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored == result
    assert restored.slo.text == "GET /x: p95 < 300ms [abort]"
    assert SLO.from_dict(result.slo.to_dict()) == result.slo


# ---------------------------------------------------------------- evaluation


def planted(values_ms: list[float], scope: str = "GET /x", metric: str = "latency") -> MetricsStore:
    store = MetricsStore()
    for ms in values_ms:
        store.record(scope, ms, ok=True, metric=metric)
    return store


def verdict(text: str, store: MetricsStore, min_samples: int = 1) -> str:
    return evaluate_slo(parse_slo(text), store, min_samples=min_samples).verdict


# F24: the 95th of 100 samples sits exactly on the budget.
P95_ON_BUDGET = [100.0] * 94 + [800.0] + [2000.0] * 5


@pytest.mark.parametrize(
    ("op", "expected"), [("<=", "passed"), ("<", "failed"), (">=", "passed"), (">", "failed")]
)
def test_f24_p95_exactly_on_budget(op: str, expected: str) -> None:
    store = planted(P95_ON_BUDGET)
    result = evaluate_slo(parse_slo(f"p95 {op} 800ms"), store)
    assert result.verdict == expected
    assert result.samples == 100
    assert "equal to the budget" in result.reason
    assert result.measured is not None
    assert abs(result.measured - 800) <= 0.8


def test_f24_nearest_rank_decides_which_sample_is_p95() -> None:
    # 95 samples at 800 ms: p95 is the 95th = 800 ms. 94: the 95th is 900 ms.
    assert verdict("p95 <= 800ms", planted([800.0] * 95 + [900.0] * 5)) == "passed"
    assert verdict("p95 <= 800ms", planted([800.0] * 94 + [900.0] * 6)) == "failed"


def test_f24_one_bucket_either_side_of_the_budget() -> None:
    assert verdict("p95 <= 800ms", planted([100.0] * 94 + [801.0] * 6)) == "failed"
    assert verdict("p95 < 800ms", planted([100.0] * 94 + [799.0] * 6)) == "passed"
    # Within the bucket (800.2 ms rounds into 800 ms's bucket) is equal at resolution.
    assert verdict("p95 <= 800ms", planted([800.2] * 100)) == "passed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max <= 2s", "passed"),
        ("max < 2s", "failed"),
        ("min >= 100ms", "passed"),
        ("min > 100ms", "failed"),
        ("avg <= 201ms", "failed"),  # (94*100 + 800 + 5*2000) / 100 = 202 ms
        ("avg <= 202ms", "passed"),
        ("avg < 202ms", "failed"),
        ("p50 <= 100ms", "passed"),
        ("p99.9 < 2s", "failed"),
    ],
)
def test_latency_statistics(text: str, expected: str) -> None:
    assert verdict(text, planted(P95_ON_BUDGET)) == expected


def test_f22_error_rate_compares_as_a_plain_fraction() -> None:
    store = MetricsStore()
    for i in range(100):
        store.record("GET /x", 5.0, ok=i != 0)
    assert verdict("error_rate < 1%", store) == "failed"  # exactly 1 %
    assert verdict("error_rate <= 1%", store) == "passed"
    assert verdict("error_rate <= 0.01", store) == "passed"
    for _ in range(4):
        store.record("GET /x", 5.0, ok=False)
    result = evaluate_slo(parse_slo("error_rate < 1%"), store)
    assert result.verdict == "failed"
    assert result.measured == 5 / 104
    assert result.reason == "error_rate 4.81 % is not < 1 %"


def test_rps_uses_the_window() -> None:
    store = MetricsStore()
    for i in range(101):
        store.record("GET /x", 5.0, ok=True, at=i * 0.02)  # 101 requests over 2 s
    result = evaluate_slo(parse_slo("rps >= 50"), store)
    assert result.measured == 50.5
    assert result.verdict == "passed"
    assert verdict("rps >= 51/s", store) == "failed"


def test_rps_with_no_window_is_an_error() -> None:
    result = evaluate_slo(parse_slo("rps >= 1"), planted([5.0]))
    assert result.verdict == "error"
    assert "window is 0 s" in result.reason


def test_requests_counts_every_request() -> None:
    store = planted([5.0] * 99)
    assert verdict("requests >= 100", store) == "failed"
    store.record("GET /x", None, ok=False)
    assert verdict("requests >= 100", store) == "passed"


def scoped_store() -> MetricsStore:
    store = MetricsStore()
    for _ in range(10):
        store.record("GET /api/items", 100.0, ok=True)
        store.record("POST /api/items", 300.0, ok=True)
        store.record("board", 50.0, ok=True)
        store.record("page /", 1500.0, ok=True, metric="load")
        store.record("page /", 200.0, ok=True, metric="ttfb")
    return store


@pytest.mark.parametrize(
    ("text", "samples", "measured"),
    [
        ("p95 < 1s", 30, 300.0),
        ("GET /api/items: p95 < 1s", 10, 100.0),
        ("POST /api/items: p95 < 1s", 10, 300.0),
        ("/api/items: p95 < 1s", 20, 300.0),
        ("/api/items: p50 < 1s", 20, 100.0),
        ("board: p95 < 1s", 10, 50.0),
        ("page /: load < 2s", 10, 1500.0),
        ("page /: ttfb p95 < 2s", 10, 200.0),
        ("load < 2s", 10, 1500.0),
    ],
)
def test_scope_resolution(text: str, samples: int, measured: float) -> None:
    result = evaluate_slo(parse_slo(text), scoped_store())
    assert result.verdict == "passed", result.reason
    assert result.samples == samples
    assert result.measured == pytest.approx(measured, rel=0.001)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("GET /api/itemz: p95 < 1s", "no requests recorded for 'GET /api/itemz'"),
        ("DELETE /api/items: p95 < 1s", "no requests recorded for 'DELETE /api/items'"),
        ("/nothing: error_rate < 1%", "no requests recorded for '/nothing'"),
        ("page /checkout: load < 2s", "no page loads recorded for 'page /checkout'"),
        ("page /: dcl < 2s", "no page loads recorded for 'page /'"),
    ],
)
def test_missing_scope_is_an_error_not_a_pass(text: str, reason: str) -> None:
    result = evaluate_slo(parse_slo(text), scoped_store())
    assert result.verdict == "error"
    assert not result.passed
    assert result.measured is None
    assert result.samples == 0
    assert result.reason.startswith(reason)


def test_missing_scope_suggests_a_recorded_one() -> None:
    reason = evaluate_slo(parse_slo("GET /api/itemz: p95 < 1s"), scoped_store()).reason
    assert "did you mean 'GET /api/items'?" in reason
    reason = evaluate_slo(parse_slo("GET /zzzzzzzz: p95 < 1s"), scoped_store()).reason
    assert "(recorded: 'GET /api/items', 'POST /api/items', 'board')" in reason


@pytest.mark.parametrize("text", ["p95 < 1s", "error_rate < 1%", "rps > 0", "requests >= 0"])
def test_empty_store_is_an_error_for_every_statistic(text: str) -> None:
    result = evaluate_slo(parse_slo(text), MetricsStore(), min_samples=0)
    assert result.verdict == "error"
    assert result.reason == "no requests recorded"


def test_min_samples() -> None:
    store = planted([5.0, 6.0, 7.0])
    result = evaluate_slo(parse_slo("GET /x: p95 < 1s"), store, min_samples=20)
    assert result.verdict == "error"
    assert result.reason == (
        "insufficient samples: 3 of 3 requests for 'GET /x' succeeded, fewer than the 20 "
        "successful samples required (--gate-min-samples)"
    )
    assert result.samples == 3
    assert evaluate_slo(parse_slo("p95 < 1s"), store, min_samples=3).verdict == "passed"
    assert verdict("error_rate < 1%", store, min_samples=4) == "error"


def test_f23_no_successful_request_is_an_error() -> None:
    store = MetricsStore()
    for _ in range(50):
        store.record("GET /x", 2.0, ok=False)  # fast 500s would pass any latency budget
    result = evaluate_slo(parse_slo("p95 < 1s"), store)
    assert result.verdict == "error"
    assert result.reason.startswith("insufficient samples: none of 50 requests succeeded")


def test_f23_zero_latency_samples_is_an_error_even_with_min_samples_zero() -> None:
    store = MetricsStore()
    store.record("GET /x", None, ok=True)
    result = evaluate_slo(parse_slo("GET /x: max < 1s"), store, min_samples=0)
    assert result.verdict == "error"
    assert "insufficient samples (0 < 1)" in result.reason


def test_evaluate_all_keeps_order() -> None:
    slos = [parse_slo(text) for text in ("p95 < 1s", "GET /nope: p95 < 1s", "p50 < 1ms")]
    results = evaluate_all(slos, scoped_store())
    assert [result.slo for result in results] == slos
    assert [result.verdict for result in results] == ["passed", "error", "failed"]


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("statistic", "value", "text"),
    [
        ("p95", 812.345, "812 ms"),
        ("p95", 1234.0, "1.23 s"),
        ("max", 999.4, "999 ms"),
        ("max", 999.7, "1 s"),
        ("avg", 0.0123, "0.0123 ms"),
        ("p50", 0.0, "0 ms"),
        ("load", 12345.0, "12.3 s"),
        ("max", 119_000.0, "119 s"),
        ("max", 600_000.0, "10 min"),  # restore_time < 10m
        ("max", 93_600_000.0, "26 h"),  # backup_age <= 26h, not "93600 s"
        ("error_rate", 0.0052, "0.52 %"),
        ("error_rate", 0.0, "0 %"),
        ("rps", 48.123, "48.1/s"),
        ("requests", 120.0, "120"),
        ("p95", None, "-"),
    ],
)
def test_format_measure(statistic: str, value: float | None, text: str) -> None:
    assert format_measure(statistic, value) == text


def test_format_measure_accepts_an_slo() -> None:
    assert format_measure(parse_slo("error_rate < 1%"), 0.01) == "1 %"


def test_format_slo_table() -> None:
    store = scoped_store()
    results = evaluate_all(
        [
            parse_slo("GET /api/items: p95 < 300ms"),
            parse_slo("POST /api/items: p95 < 250ms"),
            parse_slo("page /: load < 2s"),
            parse_slo("error_rate < 1%"),
            parse_slo("GET /missing: p99 < 1s"),
        ],
        store,
    )
    table = format_slo_table(results)
    lines = table.splitlines()
    assert lines[0].split() == ["endpoint", "statistic", "measured", "budget", "samples", "verdict"]
    assert set(lines[1]) == {"-", " "}
    rows = lines[2:7]
    # Columns line up: each header starts where its column starts in every row.
    for header in ("statistic", "budget", "verdict"):
        column = lines[0].index(header)
        assert all(row[column - 2 : column] == "  " and row[column] != " " for row in rows)
    assert rows[0].split("  ")[0] == "GET /api/items"
    assert "100 ms" in rows[0]
    assert "< 300 ms" in rows[0]
    assert rows[0].endswith("PASSED")
    assert rows[1].endswith("FAILED")
    assert "load" in rows[2]
    assert "1.5 s" in rows[2]
    assert "< 2 s" in rows[2]
    assert rows[3].startswith("all ")
    assert "0 %" in rows[3]
    assert "< 1 %" in rows[3]
    assert "30" in rows[3]
    assert rows[4].endswith("ERROR")
    assert " - " in rows[4]
    # Reasons for what did not pass follow the table.
    assert lines[7] == ""
    assert lines[8] == "FAILED POST /api/items p95: p95 300 ms is not < 250 ms"
    assert lines[9].startswith("ERROR GET /missing p99: no requests recorded for 'GET /missing'")
    assert len(lines) == 10


def test_format_slo_table_all_passed_has_no_notes() -> None:
    results = evaluate_all([parse_slo("p95 < 1s")], scoped_store())
    assert len(format_slo_table(results).splitlines()) == 3


def test_a_failed_guard_says_whose_guard_it_is_and_how_to_opt_out() -> None:
    from pytest_opsgate.slo.evaluate import judge, with_guards

    scoped, run_wide = with_guards([parse_slo("GET /a: p95 < 300ms")], run_wide=True)[1:]
    assert judge(scoped, 0.5, 10).reason.endswith(
        "(the default guard of a latency SLO: fast failures must not pass it; set your own "
        "error_rate SLO for this scope, or opt out with 'GET /a: error_rate <= 100%')"
    )
    assert "(the default run-wide guard: failed requests are never a quiet pass;" in (
        judge(run_wide, 0.5, 10).reason
    )
