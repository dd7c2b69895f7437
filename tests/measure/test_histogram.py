"""LatencyHistogram: nearest-rank percentiles, resolution, encoding and merging."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given
from hypothesis import strategies as st

from pytest_opsgate.measure.histogram import EmptyHistogramError, LatencyHistogram

PERCENTILES = (0.1, 1, 25, 50, 75, 90, 95, 99, 99.9, 100)


def nearest_rank(values: list[float], p: float) -> float:
    """The brute-force reference: sort, then take the ceil(p/100*N)-th smallest value."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(str(p)) * len(ordered) / 100))
    return ordered[rank - 1]


def same_bucket(a: float, b: float) -> bool:
    return LatencyHistogram.at_resolution(a) == LatencyHistogram.at_resolution(b)


def histogram_of(values: list[float]) -> LatencyHistogram:
    histogram = LatencyHistogram()
    for value in values:
        histogram.record(value)
    return histogram


def random_latencies(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    # A long-tailed mix: mostly fast, some slow, a few very slow, microsecond precision.
    return [
        round(rng.choice((rng.expovariate(1 / 40), rng.lognormvariate(5, 1), rng.uniform(0, 3))), 3)
        for _ in range(n)
    ]


@pytest.mark.parametrize(("seed", "n"), [(1, 1), (2, 7), (3, 100), (4, 1000), (5, 4321)])
def test_percentiles_match_brute_force_nearest_rank(seed: int, n: int) -> None:
    values = random_latencies(seed, n)
    histogram = histogram_of(values)
    for p in PERCENTILES:
        expected = nearest_rank(values, p)
        measured = histogram.percentile(p)
        # Same bucket as the true sample, reported at its top: never below, at most 0.1 % above.
        assert same_bucket(measured, expected)
        assert expected <= measured <= expected * 1.001 + 0.001


def test_rank_is_ceil_not_hdrh_rounding() -> None:
    histogram = histogram_of([float(ms) for ms in range(1, 11)])
    # Nearest rank for p91 of 10 samples is ceil(9.1) = 10; hdrh rounds 9.1 to rank 9.
    assert same_bucket(histogram.percentile(91), 10)
    hdr = HdrHistogram(1, 3_600_000_000, 3)
    for ms in range(1, 11):
        hdr.record_value(ms * 1000)
    assert same_bucket(hdr.get_value_at_percentile(91) / 1000, 9)


def test_exact_ranks_on_round_counts() -> None:
    hundred = histogram_of([float(ms) for ms in range(1, 101)])
    assert same_bucket(hundred.percentile(95), 95)
    assert same_bucket(hundred.percentile(99.9), 100)
    assert same_bucket(hundred.percentile(1), 1)
    thousand = histogram_of([float(ms) for ms in range(1, 1001)])
    # 99.9 % of 1000 is rank 999 exactly, not 1000 through float error.
    assert same_bucket(thousand.percentile(99.9), 999)


def test_values_below_2ms_are_exact_to_the_microsecond() -> None:
    histogram = histogram_of([0.001, 0.5, 1.234, 2.047])
    assert [histogram.percentile(p) for p in (25, 50, 75, 100)] == [0.001, 0.5, 1.234, 2.047]


@pytest.mark.parametrize("p", [0, -1, 100.1, math.nan])
def test_percentile_outside_range_is_rejected(p: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        histogram_of([1.0]).percentile(p)


@pytest.mark.parametrize("statistic", ["min", "max", "mean"])
def test_empty_histogram_raises(statistic: str) -> None:
    with pytest.raises(EmptyHistogramError, match="empty histogram"):
        getattr(LatencyHistogram(), statistic)()


def test_empty_percentile_raises_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty histogram") as info:
        LatencyHistogram().percentile(95)
    assert isinstance(info.value, EmptyHistogramError)


@pytest.mark.parametrize("bad", [-0.001, math.nan, math.inf])
def test_negative_or_non_finite_latency_is_rejected(bad: float) -> None:
    histogram = LatencyHistogram()
    with pytest.raises(ValueError, match="ms"):
        histogram.record(bad)
    assert histogram.count == 0


def test_negative_count_is_rejected_and_zero_is_a_no_op() -> None:
    histogram = LatencyHistogram()
    with pytest.raises(ValueError, match="negative"):
        histogram.record(5, count=-1)
    histogram.record(5, count=0)
    assert histogram.count == 0


def test_count_records_many_samples_at_once() -> None:
    histogram = LatencyHistogram()
    histogram.record(10, count=99)
    histogram.record(500)
    assert histogram.count == 100
    assert same_bucket(histogram.percentile(99), 10)
    assert histogram.percentile(100) == pytest.approx(500, rel=0.001)


def test_zero_is_recorded_as_zero() -> None:
    histogram = histogram_of([0.0, 0.0, 3.0])
    assert histogram.min() == 0
    assert histogram.percentile(50) == 0
    assert histogram.count == 3


def test_values_above_one_hour_are_clamped_and_counted() -> None:
    histogram = histogram_of([5.0, 2 * 3_600_000.0])
    assert histogram.clamped == 1
    assert histogram.count == 2
    assert histogram.max() == pytest.approx(3_600_000, rel=0.001)


def test_min_max_mean() -> None:
    histogram = histogram_of([1.5, 2.5, 800.0])
    assert histogram.min() == 1.5
    assert histogram.max() == histogram.percentile(100)
    assert same_bucket(histogram.max(), 800)
    # The mean is exact, not computed from bucket midpoints.
    assert histogram.mean() == pytest.approx((1.5 + 2.5 + 800.0) / 3, abs=1e-9)
    assert histogram.sum_ms == pytest.approx(804.0, abs=1e-9)


@pytest.mark.parametrize(
    "values",
    [[], [0.0], [1.0, 1.0, 2.5], random_latencies(7, 500), [3.0, 5 * 3_600_000.0]],
    ids=["empty", "zero", "small", "random", "clamped"],
)
def test_encode_decode_round_trips_exactly(values: list[float]) -> None:
    original = histogram_of(values)
    encoded = original.encode()
    assert isinstance(encoded, str)
    decoded = LatencyHistogram.decode(encoded)
    assert decoded == original
    assert decoded.count == original.count
    assert decoded.clamped == original.clamped
    assert decoded.encode() == encoded
    if values:
        assert [decoded.percentile(p) for p in PERCENTILES] == [
            original.percentile(p) for p in PERCENTILES
        ]
        assert decoded.mean() == original.mean()
        assert decoded.min() == original.min()


@pytest.mark.parametrize(
    "garbage", ["", "HISTFAAAA", "opsgate-hist/1;x;0;", "opsgate-hist/1;0;0;@@"]
)
def test_decode_rejects_garbage(garbage: str) -> None:
    with pytest.raises(ValueError, match="LatencyHistogram"):
        LatencyHistogram.decode(garbage)


def test_decode_rejects_a_histogram_with_another_precision() -> None:
    foreign = HdrHistogram(1, 1_000_000, 2)
    foreign.record_value(5)
    blob = foreign.encode().decode("ascii")
    with pytest.raises(ValueError, match="range/precision"):
        LatencyHistogram.decode(f"opsgate-hist/1;5;0;{blob}")


def test_merge_of_split_data_equals_one_histogram() -> None:
    values = random_latencies(11, 3000)
    whole = histogram_of(values)
    merged = LatencyHistogram()
    for start in range(0, len(values), 1000):
        part = histogram_of(values[start : start + 1000])
        merged.merge(LatencyHistogram.decode(part.encode()))
    assert merged == whole
    assert [merged.percentile(p) for p in PERCENTILES] == [whole.percentile(p) for p in PERCENTILES]
    assert merged.min() == whole.min()
    assert merged.mean() == pytest.approx(whole.mean(), abs=1e-9)


def test_merge_into_empty_keeps_min() -> None:
    # hdrh's add() sets min to 0 when the target is empty; our min must not follow it.
    merged = LatencyHistogram()
    merged.merge(histogram_of([40.0, 50.0]))
    merged.merge(LatencyHistogram())
    assert merged.min() == 40
    assert merged.count == 2


def test_copy_is_independent() -> None:
    original = histogram_of([1.0, 2.0])
    clone = original.copy()
    clone.record(3.0)
    assert original.count == 2
    assert clone.count == 3
    assert clone != original


def test_at_resolution_groups_values_within_a_tenth_of_a_percent() -> None:
    bucket = LatencyHistogram.at_resolution
    assert bucket(800) == bucket(800.2)
    assert bucket(800) != bucket(801)
    rng = random.Random(3)
    for _ in range(2000):
        value = rng.uniform(0.001, 3_000_000)
        assert bucket(value) <= round(value * 1000)
        assert bucket(value) != bucket(value * 1.001 + 0.002)
        assert bucket(value) >= round(value * 1000) * (1 - 0.001) - 1


def test_bucket_bounds_are_hdrh_s_for_every_bucket() -> None:
    # buckets() computes bounds arithmetically instead of through hdrh's methods: fill every
    # bucket of the whole 1 µs .. 1 h range once and compare each one with hdrh's answer.
    hdr = HdrHistogram(1, 3_600_000_000, 3)
    histogram = LatencyHistogram()
    lows = sorted({hdr.get_value_from_index(i) for i in range(hdr.counts_len)})
    lows = [low for low in lows if 1 <= low <= 3_600_000_000]
    for low in lows:
        histogram.record(low / 1000)
    expected = [(low, hdr.get_highest_equivalent_value(low), 1) for low in lows]
    assert list(histogram.buckets()) == expected
    assert histogram.min() == lows[0] / 1000
    assert histogram.max() == hdr.get_highest_equivalent_value(lows[-1]) / 1000


@given(
    st.dictionaries(
        st.one_of(
            st.integers(0, 5_000),
            st.integers(0, 4_000_000_000),  # beyond one hour: clamped like record()
        ),
        st.integers(0, 1_000),
        max_size=200,
    )
)
def test_record_counts_is_record_for_each_value(counts: dict[int, int]) -> None:
    one_by_one, at_once = LatencyHistogram(), LatencyHistogram()
    for us, count in counts.items():
        one_by_one.record(us / 1000, count)
    at_once.record_counts(counts)
    assert at_once == one_by_one
    assert (at_once.count, at_once.sum_ms, at_once.clamped) == (
        one_by_one.count,
        one_by_one.sum_ms,
        one_by_one.clamped,
    )
    if at_once.count:
        assert (at_once.min(), at_once.max()) == (one_by_one.min(), one_by_one.max())
        hdr_a, hdr_b = at_once._hdr, one_by_one._hdr
        assert (hdr_a.min_value, hdr_a.max_value) == (hdr_b.min_value, hdr_b.max_value)


def test_record_counts_rejects_negative_values_and_counts() -> None:
    histogram = LatencyHistogram()
    for bad in ({-1: 1}, {5: -1}):
        with pytest.raises(ValueError, match="must be >= 0"):
            histogram.record_counts(bad)
