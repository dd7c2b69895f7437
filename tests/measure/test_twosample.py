"""The two-sample statistics against scipy and brute force on samples expanded from the buckets."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from statistics import NormalDist

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pytest_opsgate.measure.histogram import LatencyHistogram
from pytest_opsgate.measure.twosample import (
    Buckets,
    _Differences,
    fisher_greater,
    hodges_lehmann,
    mann_whitney,
    quantile_bootstrap,
    tail_interval,
)

# Latencies in ms: a few repeated values force ties; the floats spread over many buckets.
latency = st.one_of(
    st.sampled_from([0.5, 1.0, 2.0, 2.5, 120.0, 121.0]),
    st.floats(0.2, 400, allow_nan=False),
)
sample = st.lists(latency, min_size=1, max_size=60)


def histogram(samples: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for ms in samples:
        h.record(ms)
    return h


def expand(side: Buckets) -> list[int]:
    """The samples as the statistics see them: each bucket's value, count times."""
    return [v for v, c in zip(side.values, side.counts, strict=True) for _ in range(c)]


def lognormal(rng: random.Random, n: int, median_ms: float, sigma: float) -> Buckets:
    return Buckets.of(histogram([median_ms * rng.lognormvariate(0, sigma) for _ in range(n)]))


def close(a: float, b: float, rel: float = 1e-9) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def moses_k(n: int, m: int, alpha: float) -> int:
    z = NormalDist().inv_cdf(1 - alpha / 2)
    return math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))


def test_buckets_agree_with_the_histogram() -> None:
    h = histogram([1.0, 2.0, 2.0, 150.0, 151.0, 400.0])
    side = Buckets.of(h)
    assert side.n == h.count == 6
    for p in (10, 50, 83.4, 99, 100):
        assert side.at_rank(side.rank(p)) / 1000 == h.percentile(p)


@settings(max_examples=150, deadline=None)
@given(sample, sample)
def test_mann_whitney_equals_scipy(base: list[float], cur: list[float]) -> None:
    b, c = Buckets.of(histogram(base)), Buckets.of(histogram(cur))
    u, p_slower, p_two = mann_whitney(b, c)
    x, y = expand(c), expand(b)
    greater = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    two = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    assert u == greater.statistic
    assert close(p_slower, greater.pvalue)
    assert close(p_two, two.pvalue)


def test_mann_whitney_equals_scipy_on_large_samples() -> None:
    rng = random.Random(7)
    b, c = lognormal(rng, 20_000, 100, 0.5), lognormal(rng, 20_000, 101, 0.5)
    u, p_slower, p_two = mann_whitney(b, c)
    x, y = expand(c), expand(b)
    greater = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic")
    assert u == greater.statistic
    assert 1e-6 < p_slower < 0.5  # a real test of the tail, not of 0 against 0
    assert close(p_slower, greater.pvalue)
    assert close(p_two, stats.mannwhitneyu(x, y, method="asymptotic").pvalue)


def test_mann_whitney_with_every_sample_tied_is_no_evidence() -> None:
    same = Buckets.of(histogram([5.0] * 40))
    assert mann_whitney(same, same) == (800.0, 1.0, 1.0)


@settings(max_examples=150, deadline=None)
@given(sample, sample, st.sampled_from([0.02, 0.05, 0.2]))
def test_hodges_lehmann_and_moses_interval_equal_brute_force(
    base: list[float], cur: list[float], alpha: float
) -> None:
    b, c = Buckets.of(histogram(base)), Buckets.of(histogram(cur))
    diffs = sorted(x - y for x in expand(c) for y in expand(b))
    pairs = len(diffs)
    estimate, low, high = hodges_lehmann(b, c, alpha)
    assert estimate == (diffs[(pairs + 1) // 2 - 1] + diffs[pairs // 2]) / 2
    k = moses_k(c.n, b.n, alpha)
    if k >= 1:
        assert (low, high) == (diffs[k - 1], diffs[pairs - k])
    else:
        assert (low, high) == (-math.inf, math.inf)


@pytest.mark.parametrize("sigma", [0.05, 0.5, 1.5])
def test_kth_difference_equals_brute_force_on_hundreds_of_samples(sigma: float) -> None:
    rng = random.Random(11)
    b, c = lognormal(rng, 300, 100, sigma), lognormal(rng, 250, 110, sigma)
    diffs = sorted(x - y for x in expand(c) for y in expand(b))
    search = _Differences(b, c)
    for k in (1, 2, 777, len(diffs) // 3, len(diffs) // 2, len(diffs) - 5, len(diffs)):
        assert search.kth(k) == diffs[k - 1]
    # The safeguard bounds each search by about three times bisection's passes.
    assert search.passes <= 7 * 3 * math.log2(diffs[-1] - diffs[0] + 2)


def test_moses_interval_covers_the_true_shift_as_often_as_promised() -> None:
    rng = random.Random(3)
    alpha, runs, shift = 0.1, 400, 7.0
    covered = 0
    for _ in range(runs):
        b = Buckets.of(histogram([rng.gauss(50, 5) for _ in range(40)]))
        c = Buckets.of(histogram([rng.gauss(50 + shift, 5) for _ in range(40)]))
        _estimate, low, high = hodges_lehmann(b, c, alpha)
        covered += low <= shift * 1000 <= high
    se = math.sqrt(alpha * (1 - alpha) / runs)
    assert covered / runs >= 1 - alpha - 3 * se


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.2, 300, allow_nan=False), min_size=1, max_size=3000),
    st.sampled_from([50, 90, 99, 99.9, 100]),
)
def test_quantile_bootstrap_equals_binomial_tails(samples: list[float], percentile: float) -> None:
    side = Buckets.of(histogram(samples))
    rank = side.rank(percentile)
    cdf = 0.0
    for mass, below in zip(quantile_bootstrap(side, rank), side.cumulative, strict=True):
        cdf += mass
        # P(Q* <= bucket) = P(Binomial(N, F) >= rank), F the share of samples up to the bucket
        assert cdf == pytest.approx(stats.binom.sf(rank - 1, side.n, below / side.n), abs=1e-10)


def test_quantile_bootstrap_equals_resampling() -> None:
    rng = random.Random(5)
    side = lognormal(rng, 500, 100, 0.6)
    rank, resamples = side.rank(99), 4000
    data = expand(side)
    seen = [sorted(rng.choices(data, k=len(data)))[rank - 1] for _ in range(resamples)]
    cdf = 0.0
    for value, mass in zip(side.values, quantile_bootstrap(side, rank), strict=True):
        cdf += mass
        observed = sum(s <= value for s in seen) / resamples
        se = math.sqrt(max(cdf * (1 - cdf), 1 / resamples) / resamples)
        assert abs(observed - cdf) <= 4.5 * se


def test_quantile_bootstrap_refuses_a_rank_outside_the_sample() -> None:
    side = Buckets.of(histogram([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"rank 3 is outside 1\.\.2"):
        quantile_bootstrap(side, 3)


def test_tail_interval_equals_resampling() -> None:
    rng = random.Random(9)
    b, c = lognormal(rng, 1500, 100, 0.5), lognormal(rng, 1200, 115, 0.5)
    alpha, resamples = 0.1, 3000
    low, high = tail_interval(b, c, 99, alpha)
    xb, xc = expand(b), expand(c)
    rb, rc = b.rank(99), c.rank(99)
    diffs = sorted(
        sorted(rng.choices(xc, k=len(xc)))[rc - 1] - sorted(rng.choices(xb, k=len(xb)))[rb - 1]
        for _ in range(resamples)
    )

    def cdf(d: int) -> float:
        return bisect_right(diffs, d) / resamples

    slack = 4.5 * math.sqrt(alpha / 2 * (1 - alpha / 2) / resamples)
    # Each bound is the smallest difference whose bootstrap CDF reaches its level.
    for bound, level in ((low, alpha / 2), (high, 1 - alpha / 2)):
        assert cdf(bound) >= level - slack
        assert cdf(bound - 1) <= level + slack
    assert low < (c.at_rank(rc) - b.at_rank(rb)) < high


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 3000),
    st.integers(0, 3000),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_fisher_equals_scipy(cur_n: int, base_n: int, cur_share: float, base_share: float) -> None:
    cur_f, base_f = round(cur_n * cur_share), round(base_n * base_share)
    p = fisher_greater(cur_f, cur_n, base_f, base_n)
    table = [[cur_f, cur_n - cur_f], [base_f, base_n - base_f]]
    expected = stats.fisher_exact(table, alternative="greater").pvalue
    assert close(p, expected, rel=1e-9) or (expected < 1e-250 and p < 1e-250)


@pytest.mark.parametrize(
    ("cur", "base"),
    [((80, 100_000), (40, 100_000)), ((5_600, 100_000), (5_000, 100_000)), ((9, 150), (0, 150))],
)
def test_fisher_equals_scipy_on_large_counts(cur: tuple[int, int], base: tuple[int, int]) -> None:
    expected = stats.fisher_exact(
        [[cur[0], cur[1] - cur[0]], [base[0], base[1] - base[0]]], alternative="greater"
    ).pvalue
    assert 1e-12 < expected < 0.05
    assert close(fisher_greater(*cur, *base), expected)


def test_fisher_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="0 <= failures <= requests"):
        fisher_greater(5, 3, 0, 10)
