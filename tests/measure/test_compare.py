"""compare() gathers the evidence; decide() applies the decision table and explains itself."""

from __future__ import annotations

import dataclasses
import json
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_opsgate.measure.compare import (
    Comparison,
    Decision,
    Latency,
    RegressionFloor,
    Side,
    compare,
    decide,
)
from pytest_opsgate.measure.histogram import LatencyHistogram

TEN_PERCENT = RegressionFloor(relative=0.10)


def histogram(samples: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for ms in samples:
        h.record(ms)
    return h


def lognormal(seed: int, n: int, median_ms: float, sigma: float = 0.3) -> LatencyHistogram:
    rng = random.Random(seed)
    return histogram([median_ms * rng.lognormvariate(0, sigma) for _ in range(n)])


def test_compare_reports_both_sides_as_the_histograms_do() -> None:
    base, cur = lognormal(1, 400, 100), lognormal(2, 300, 130)
    c = compare(base, cur, name="GET /x", current_failures=3, current_requests=310)
    assert (c.baseline.n, c.current.n) == (400, 300)
    assert (c.current.failures, c.current.requests, c.baseline.requests) == (3, 310, 400)
    for side, h in ((c.baseline, base), (c.current, cur)):
        assert (side.p50_ms, side.p95_ms, side.p99_ms) == tuple(
            h.percentile(p) for p in (50, 95, 99)
        )
    assert c.latency is not None
    lat = c.latency
    assert lat.shift_low_ms < lat.shift_ms < lat.shift_high_ms
    assert 20 < lat.shift_ms < 40  # a 30 % slowdown of a 100 ms median
    assert lat.relative_shift == pytest.approx(lat.shift_ms / base.percentile(50))
    assert lat.tail_diff_ms == pytest.approx(cur.percentile(99) - base.percentile(99))
    assert lat.tail_low_ms <= lat.tail_diff_ms <= lat.tail_high_ms
    assert lat.p_slower < 1e-6


def test_compare_without_samples_has_no_latency_evidence_and_serialises() -> None:
    c = compare(LatencyHistogram(), lognormal(1, 10, 100), current_failures=2)
    assert c.latency is None
    assert c.baseline.p50_ms is None
    tiny = compare(lognormal(1, 2, 100), lognormal(2, 2, 100))
    assert tiny.latency is not None
    assert math.isinf(tiny.latency.shift_low_ms)
    for comparison in (c, tiny):
        text = json.dumps(comparison.to_dict(), allow_nan=False)
        assert json.loads(text)["alpha"] == 0.02
    assert tiny.to_dict()["latency"]["shift_low_ms"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0}, "alpha 0 is outside"),
        ({"tail_percentile": 100}, "tail percentile 100 is outside"),
        ({"current_failures": 11}, "11 failures of 10 requests"),
    ],
)
def test_compare_rejects_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare(lognormal(1, 10, 100), lognormal(2, 10, 100), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "relative", "absolute"),
    [
        ("10%", 0.10, 0.0),
        (" 12.5 % ", 0.125, 0.0),
        ("+5ms", 0.0, 5.0),
        ("5 MS", 0.0, 5.0),
        ("10%,+5ms", 0.10, 5.0),
        ("+5ms 10%", 0.10, 5.0),
    ],
)
def test_floor_parses(text: str, relative: float, absolute: float) -> None:
    assert RegressionFloor.parse(text) == RegressionFloor(relative, absolute)


@pytest.mark.parametrize("text", ["", "10", "ten %", "5ms,6ms", "-5ms", "10%%", "5s"])
def test_floor_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match="like 10%, an absolute shift like \\+5ms"):
        RegressionFloor.parse(text)


def test_floor_of_zero_is_refused_because_it_could_never_pass() -> None:
    with pytest.raises(ValueError, match="never lets an unchanged service PASS"):
        RegressionFloor.parse("0%")


def test_floor_takes_the_larger_part() -> None:
    both = RegressionFloor(0.10, 5.0)
    assert (both.ms(20), both.ms(200)) == (5.0, 20.0)
    assert both.describe(200) == "10 % / 5 ms floor (20 ms)"
    assert RegressionFloor(absolute_ms=5).describe(200) == "5 ms floor"


# End to end on histograms: the cases the issue names.


def test_unchanged_service_passes() -> None:
    c = compare(lognormal(1, 150, 100, 0.1), lognormal(2, 150, 100, 0.1), name="GET /api/items")
    judgement = decide(c, TEN_PERCENT)
    assert (judgement.decision, judgement.row) == (Decision.PASS, 5), judgement.reason
    assert judgement.reason.startswith("GET /api/items got ")
    assert judgement.reason.endswith(
        "within the 10 % floor (" + f"{c.baseline.p50_ms / 10:.3g}" + " ms): PASS"
    )


def test_twice_as_slow_fails_with_the_figures() -> None:
    c = compare(lognormal(1, 150, 100), lognormal(2, 150, 200), name="GET /api/items")
    judgement = decide(c, TEN_PERCENT)
    assert (judgement.decision, judgement.row) == (Decision.FAIL, 3)
    assert c.latency is not None
    assert judgement.reason.startswith(
        f"GET /api/items got slower by {c.latency.shift_ms:.0f} ms (+"
    )
    assert "98 % CI" in judgement.reason
    assert "p < 0.001" in judgement.reason
    assert judgement.reason.endswith(
        "above the 10 % floor (" + f"{c.baseline.p50_ms / 10:.3g} ms): FAIL"
    )


def test_three_samples_are_inconclusive_even_when_twice_as_slow() -> None:
    c = compare(lognormal(1, 3, 100), lognormal(2, 3, 200))
    judgement = decide(c, TEN_PERCENT)
    assert (judgement.decision, judgement.row) == (Decision.INCONCLUSIVE, 2)
    assert "too few samples to compare: baseline 3, current 3, at least 30" in judgement.reason


def test_more_failures_fail_before_the_sample_count_is_checked() -> None:
    c = compare(
        lognormal(1, 200, 100),
        lognormal(2, 5, 100),
        current_failures=12,
        current_requests=20,
        baseline_failures=1,
        baseline_requests=200,
    )
    judgement = decide(c, TEN_PERCENT)
    assert (judgement.decision, judgement.row) == (Decision.FAIL, 1)
    assert judgement.reason == (
        "the endpoint failed more often: 12 of 20 (60 %) requests against 1 of 200 (0.5 %) "
        "in the baseline (one-sided Fisher p < 0.001, below α/2 = 0.01): FAIL"
    )


def test_a_tail_regression_fails_even_when_the_median_holds() -> None:
    rng = random.Random(4)
    base = [rng.gauss(100, 3) for _ in range(3000)]
    cur = [rng.gauss(100, 3) if rng.random() > 0.03 else rng.gauss(300, 10) for _ in range(3000)]
    c = compare(histogram(base), histogram(cur), name="GET /x")
    judgement = decide(c, TEN_PERCENT)
    assert (judgement.decision, judgement.row) == (Decision.FAIL, 4), judgement.reason
    assert judgement.reason.startswith("GET /x p99 got slower by ")


def test_the_tail_alone_cannot_fail_with_too_few_samples_beyond_it() -> None:
    rng = random.Random(4)
    base = [rng.gauss(100, 3) for _ in range(900)]  # 9 samples above the p99 rank
    cur = [rng.gauss(100, 3) if i % 30 else 300.0 for i in range(900)]
    c = compare(histogram(base), histogram(cur))
    assert c.latency is not None
    assert not c.latency.tail_estimable
    assert c.latency.tail_low_ms > 20
    assert decide(c, TEN_PERCENT).row != 4


def test_a_wide_interval_is_inconclusive_not_a_pass() -> None:
    c = compare(lognormal(1, 40, 100, 1.0), lognormal(2, 40, 100, 1.0))
    assert c.latency is not None
    assert c.latency.p_slower > 0.05
    judgement = decide(c, TEN_PERCENT)
    assert (judgement.decision, judgement.row) == (Decision.INCONCLUSIVE, 6)  # ...yet no PASS
    assert "the interval straddles the 10 % floor" in judgement.reason


# The decision table as properties, over arbitrary evidence.


def evidence(draw: st.DrawFn) -> tuple[Comparison, RegressionFloor, int]:
    ms = st.floats(-500, 500, allow_nan=False)
    low, high = sorted((draw(ms), draw(ms)))
    tail_low, tail_high = sorted((draw(ms), draw(ms)))
    sides = [
        Side(draw(st.integers(0, 200)), 100.0, 150.0, 200.0, 0, 200),
        Side(draw(st.integers(0, 200)), 100.0, 150.0, 200.0, 0, 200),
    ]
    latency = Latency(
        u=0.0,
        p_slower=draw(st.floats(0, 1)),
        p_two_sided=1.0,
        shift_ms=(low + high) / 2,
        shift_low_ms=low,
        shift_high_ms=high,
        relative_shift=(low + high) / 200,
        tail_percentile=99.0,
        tail_baseline_ms=200.0,
        tail_diff_ms=(tail_low + tail_high) / 2,
        tail_low_ms=tail_low,
        tail_high_ms=tail_high,
        tail_estimable=draw(st.booleans()),
    )
    c = Comparison("GET /x", 0.02, *sides, latency, draw(st.floats(0, 1)))
    floor = RegressionFloor(draw(st.floats(0.01, 0.5)), draw(st.floats(0, 20)))
    return c, floor, draw(st.integers(1, 100))


@given(st.composite(evidence)())
def test_decide_follows_the_table(case: tuple[Comparison, RegressionFloor, int]) -> None:
    c, floor, min_samples = case
    lat = c.latency
    assert lat is not None
    judgement = decide(c, floor, min_samples=min_samples)
    errors = c.p_errors < c.alpha / 2
    enough = min(c.baseline.n, c.current.n) >= min_samples
    shift_floor, tail_floor = floor.ms(100.0), floor.ms(200.0)
    fails = errors or (
        enough
        and (
            lat.shift_low_ms > shift_floor or (lat.tail_estimable and lat.tail_low_ms > tail_floor)
        )
    )
    if fails:
        assert judgement.decision is Decision.FAIL
    elif enough and lat.shift_high_ms <= shift_floor:
        assert judgement.decision is Decision.PASS
    else:
        assert judgement.decision is Decision.INCONCLUSIVE
    assert judgement.reason.startswith("GET /x ")
    assert judgement.reason.endswith(f": {judgement.decision.value}")


@given(st.composite(evidence)())
def test_decide_never_passes_without_latency_evidence(
    case: tuple[Comparison, RegressionFloor, int],
) -> None:
    c, floor, _min_samples = case
    bare = dataclasses.replace(c, latency=None)
    assert decide(bare, floor).decision is not Decision.PASS


def test_decide_writes_the_sentence_of_the_issue() -> None:
    latency = Latency(
        u=0.0,
        p_slower=0.0001,
        p_two_sided=0.0002,
        shift_ms=21.0,
        shift_low_ms=18.0,
        shift_high_ms=24.0,
        relative_shift=0.21,
        tail_percentile=99.0,
        tail_baseline_ms=200.0,
        tail_diff_ms=20.0,
        tail_low_ms=-5.0,
        tail_high_ms=50.0,
        tail_estimable=True,
    )
    side = Side(150, 100.0, 150.0, 200.0, 0, 150)
    c = Comparison("GET /api/items", 0.02, side, side, latency, 1.0)
    assert decide(c, TEN_PERCENT).reason == (
        "GET /api/items got slower by 21 ms (+21 %; 98 % CI 18 to 24 ms, p < 0.001), "
        "above the 10 % floor (10 ms): FAIL"
    )


def test_decide_refuses_a_minimum_below_one() -> None:
    c = compare(lognormal(1, 10, 100), lognormal(2, 10, 100))
    with pytest.raises(ValueError, match="min_samples 0 is below 1"):
        decide(c, TEN_PERCENT, min_samples=0)
