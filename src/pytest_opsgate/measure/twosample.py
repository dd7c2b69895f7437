"""Two-sample statistics computed from histogram bucket counts, exactly, with no sample expanded.

A side is a :class:`Buckets`: the highest value of each non-empty bucket in whole µs (the
convention of :meth:`LatencyHistogram.percentile`) and its count. Two samples tie exactly when
they share a bucket. Below, ``n`` and ``m`` are the current and baseline sample counts.

- :func:`mann_whitney`: ``u`` counts the (current, baseline) pairs where current is slower,
  ties half; p-values from the tie-corrected normal approximation with continuity correction,
  as ``scipy.stats.mannwhitneyu(current, baseline, method="asymptotic")`` computes them.
- :func:`hodges_lehmann`: the median of the ``n*m`` differences current - baseline and the
  Moses interval ``[D(k), D(nm+1-k)]``, ``k = floor(nm/2 - z(1-α/2) sqrt(nm(n+m+1)/12))``
  (U's quantile by the normal approximation without tie correction, which only widens it).
  The k-th smallest difference D(k) is found without forming pairs: *a search on the shift
  with a counting function*. How many pairs differ by at most d is one merge pass over the
  two bucket lists, and D(k) is the smallest d where that count reaches k (see
  :meth:`_Differences.kth`). A weighted selection over the pairs of buckets would touch up to
  buckets² pairs (20 million for two 100k-sample histograms); each pass touches each bucket once.
- :func:`quantile_bootstrap`: the bootstrap distribution of a nearest-rank quantile at rank r
  is exact: P(Q* <= v_b) = P(Binomial(N, F_b) >= r) = P(Beta(r, N-r+1) <= F_b), where F_b is
  the share of samples in buckets up to b. A bucket's probability is the Beta mass between its
  edges, by 4-point Gauss-Legendre quadrature on pieces at most a quarter of a standard
  deviation wide, normalised by the total (which cancels the Beta function: no lgamma
  rounding). :func:`tail_interval` takes the two independent sides' distributions and returns
  the α/2 and 1-α/2 quantiles of their difference: the percentile-bootstrap interval that
  infinitely many resamples would give.
- :func:`fisher_greater`: Fisher's exact test, one-sided (current fails more often); the
  hypergeometric terms are summed outward from the mode by their ratio and normalised.
"""

from __future__ import annotations

import itertools
import math
import operator
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_opsgate.measure.histogram import LatencyHistogram

__all__ = [
    "Buckets",
    "fisher_greater",
    "hodges_lehmann",
    "mann_whitney",
    "quantile_bootstrap",
    "tail_interval",
]

_CUTOFF = 36.0  # nats below the Beta density's peak where quadrature stops (density < 3e-16)
_GAUSS_LEGENDRE = (  # 4-point rule on [-1, 1]: (node, weight)
    (-0.8611363115940526, 0.3478548451374538),
    (-0.3399810435848563, 0.6521451548625461),
    (0.3399810435848563, 0.6521451548625461),
    (0.8611363115940526, 0.3478548451374538),
)


@dataclass(frozen=True)
class Buckets:
    """One side: ascending bucket values (µs) and their counts."""

    values: list[int]
    counts: list[int]
    cumulative: list[int]  # samples in this bucket and below

    @classmethod
    def of(cls, histogram: LatencyHistogram) -> Buckets:
        """Read a histogram's non-empty buckets."""
        values: list[int] = []
        counts: list[int] = []
        for _low, high, count in histogram.buckets():
            values.append(high)
            counts.append(count)
        return cls(values, counts, [*itertools.accumulate(counts)])

    @property
    def n(self) -> int:
        """How many samples."""
        return self.cumulative[-1] if self.cumulative else 0

    def rank(self, percentile: float) -> int:
        """The nearest rank of ``percentile``, as :meth:`LatencyHistogram.percentile` takes it."""
        return max(1, math.ceil(Fraction(str(percentile)) * self.n / 100))

    def at_rank(self, rank: int) -> int:
        """The value (µs) of the ``rank``-th smallest sample."""
        return self.values[bisect_left(self.cumulative, rank)]


def mann_whitney(baseline: Buckets, current: Buckets) -> tuple[float, float, float]:
    """``(u, p_slower, p_two_sided)`` of the current sample against the baseline."""
    n, m = current.n, baseline.n
    values = [*baseline.values, math.inf]  # the sentinel spares a bounds check
    u2 = 0  # twice U, an exact integer
    shared = 0  # what buckets present on both sides add to the tie term
    below = j = 0
    for value, c in zip(current.values, current.counts, strict=True):
        while values[j] < value:
            below += baseline.counts[j]
            j += 1
        b = baseline.counts[j] if values[j] == value else 0
        u2 += c * (2 * below + b)
        shared += 3 * b * c * (b + c)  # (b+c)^3-(b+c) minus the two sides' own terms
    ties = shared + sum(t * t * t - t for t in itertools.chain(current.counts, baseline.counts))
    total = n + m
    sd = math.sqrt(n * m / 12 * ((total + 1) - ties / (total * (total - 1))))

    def sf(u: float) -> float:
        numerator = u - n * m / 2 - 0.5
        if sd == 0:  # every sample in one bucket: no evidence either way
            return 1.0 if numerator < 0 else 0.0
        return 0.5 * math.erfc(numerator / sd / math.sqrt(2))

    u = u2 / 2
    return u, min(1.0, sf(u)), min(1.0, 2 * sf(max(u, n * m - u)))


class _Differences:
    """Order statistics of the pairwise differences current - baseline, without the pairs."""

    def __init__(self, baseline: Buckets, current: Buckets) -> None:
        # at_or_above[j]: baseline samples in buckets j and up; sentinels spare bounds checks.
        self._at_or_above = [0, *itertools.accumulate(reversed(baseline.counts))][::-1]
        self._base_values = [-math.inf, *baseline.values, math.inf]
        self._rows = list(zip(current.values, current.counts, strict=True))
        pairs = current.n * baseline.n
        lowest = current.values[0] - baseline.values[-1]
        highest = current.values[-1] - baseline.values[0]
        # Known (d, pairs differing by <= d), ascending in both; every search adds to it.
        self._known = [(lowest - 1, 0), (highest, pairs)]
        # Pairs per µs near the median, from a normal model of the two spreads.
        iqrs = (s.at_rank(s.rank(75)) - s.at_rank(s.rank(25)) for s in (baseline, current))
        spread = math.hypot(*iqrs)
        self._slope = pairs * 0.4 * 1.349 / spread if spread else pairs / (highest - lowest + 1)
        self.passes = 0

    def count_at_most(self, d: int) -> tuple[int, float, float]:
        """Pairs differing by at most ``d`` µs, the largest difference <= d, the smallest > d."""
        self.passes += 1
        values, at_or_above = self._base_values, self._at_or_above
        total, j = 0, 1
        largest, smallest = -math.inf, math.inf
        for value, c in self._rows:
            floor = value - d  # the pairs with baseline >= value - d
            while values[j] < floor:
                j += 1
            total += c * at_or_above[j - 1]
            # Bucket values are coarse, so differences cluster; the nearest ones on both
            # sides of d let the search skip the empty stretches in between.
            if value - values[j] > largest:
                largest = value - values[j]
            if value - values[j - 1] < smallest:
                smallest = value - values[j - 1]
        return total, largest, smallest

    def kth(self, k: int, guess: int | None = None) -> int:
        """The k-th smallest difference (1-based), in µs.

        A Newton step on the pair count (model slope) while one end of the bracket is an
        extreme of the range, then the Illinois variant of regula falsi, and a bisection
        whenever three steps have not halved the bracket (so at most ~3x bisection's passes).
        Brackets snap to actual differences and the search ends when none is left between
        them. Measured for the four order statistics of :func:`hodges_lehmann` together
        (lognormal, log-sd 0.1 to 1): 7-13 passes up to 1000 samples a side, 12-29 at 100k.
        """
        known = self._known
        pull = {True: 1.0, False: 1.0}  # Illinois: the far end's pull halves while it stays
        last_moved: bool | None = None
        widths = [math.inf] * 3
        while True:
            i = bisect_left(known, k, key=lambda point: point[1])
            (lo, lo_count), (hi, hi_count) = known[i - 1], known[i]
            if hi - lo <= 1:
                return hi
            if guess is not None:
                probe, guess = guess, None
            elif (hi - lo) * 2 > widths[-3]:
                probe = (lo + hi) // 2
            elif i == 1 or i == len(known) - 1:  # one end is still an extreme of the range
                near, near_count = (lo, lo_count) if i > 1 else (hi, hi_count)
                probe = round(near + (k - 0.5 - near_count) / self._slope)
            else:
                below, above = (k - 0.5 - lo_count) * pull[True], (hi_count - k) * pull[False]
                probe = lo + round((hi - lo) * below / (below + above))
            probe = probe if lo < probe < hi else (lo + hi) // 2
            count, largest, smallest = self.count_at_most(probe)
            moved_hi = count >= k
            # The count is flat from the largest difference <= probe to just below the next.
            point = (int(largest), count) if moved_hi else (int(smallest) - 1, count)
            known.insert(bisect_left(known, point), point)
            pull[moved_hi] = 1.0
            if last_moved is moved_hi:
                pull[not moved_hi] /= 2
            last_moved = moved_hi
            widths.append(hi - lo)


def hodges_lehmann(baseline: Buckets, current: Buckets, alpha: float) -> tuple[float, float, float]:
    """``(estimate, low, high)`` in µs; the bounds are infinite when the samples are too few."""
    differences = _Differences(baseline, current)
    pairs = current.n * baseline.n
    guess = current.at_rank(current.rank(50)) - baseline.at_rank(baseline.rank(50))
    lower_median = differences.kth((pairs + 1) // 2, guess)
    estimate = (lower_median + differences.kth(pairs // 2 + 1)) / 2
    z = NormalDist().inv_cdf(1 - alpha / 2)
    k = math.floor(pairs / 2 - z * math.sqrt(pairs * (current.n + baseline.n + 1) / 12))
    if k < 1:
        return estimate, -math.inf, math.inf
    return estimate, differences.kth(k), differences.kth(pairs + 1 - k)


def quantile_bootstrap(side: Buckets, rank: int) -> list[float]:
    """P(the resampled ``rank``-th smallest sample falls in each bucket), exactly."""
    if not 1 <= rank <= side.n:
        raise ValueError(f"rank {rank} is outside 1..{side.n}; pass Buckets.rank(percentile)")
    a, b = rank, side.n - rank + 1

    def log_density(t: float) -> float:  # of Beta(a, b), unnormalised
        left = (a - 1) * math.log(t) if a > 1 else 0.0
        return left + ((b - 1) * math.log1p(-t) if b > 1 else 0.0)

    mode = 0.5 if a == b == 1 else (a - 1) / (a + b - 2)
    peak = 0.0 if mode in (0.0, 1.0) else log_density(mode)
    step = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))) / 4
    lo = hi = mode
    while lo > 0 and (lo == mode or log_density(lo) > peak - _CUTOFF):
        lo = max(0.0, lo - step)
    while hi < 1 and (hi == mode or log_density(hi) > peak - _CUTOFF):
        hi = min(1.0, hi + step)
    edges = [c / side.n for c in side.cumulative]
    grid = (lo + i * step for i in range(1, math.ceil((hi - lo) / step)))
    cuts = sorted({lo, hi, *grid, *(e for e in edges if lo < e < hi)})
    masses = [0.0] * len(edges)
    bucket = bisect_right(edges, lo)
    for left, right in itertools.pairwise(cuts):
        while edges[bucket] < right:
            bucket += 1
        half, middle = (right - left) / 2, (right + left) / 2
        masses[bucket] += half * sum(
            w * math.exp(log_density(middle + half * x) - peak) for x, w in _GAUSS_LEGENDRE
        )
    total = sum(masses)
    return [mass / total for mass in masses]


def _support(side: Buckets, percentile: float) -> tuple[list[int], list[float]]:
    masses = quantile_bootstrap(side, side.rank(percentile))
    kept = [(v, p) for v, p in zip(side.values, masses, strict=True) if p > 1e-15]
    return [v for v, _p in kept], [p for _v, p in kept]  # dropped: < 1e-12 of the mass


def tail_interval(
    baseline: Buckets, current: Buckets, percentile: float, alpha: float
) -> tuple[int, int]:
    """The 1-α percentile-bootstrap interval (µs) of the ``percentile`` difference."""
    base_values, base_p = _support(baseline, percentile)
    cur_values, cur_p = _support(current, percentile)
    cur_cdf = [0.0, *itertools.accumulate(cur_p)]

    def cdf(d: int) -> float:  # P(current* - baseline* <= d) = sum P(b*=v) P(current* <= v + d)
        shifted = map(operator.add, base_values, itertools.repeat(d))
        ranks = map(bisect_right, itertools.repeat(cur_values), shifted)
        return math.fsum(map(operator.mul, base_p, map(cur_cdf.__getitem__, ranks)))

    def quantile(q: float) -> int:  # the smallest d with cdf(d) >= q, forgiving rounding
        lo, hi = cur_values[0] - base_values[-1] - 1, cur_values[-1] - base_values[0]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if cdf(mid) >= q - 1e-12 else (mid, hi)
        return hi

    return quantile(alpha / 2), quantile(1 - alpha / 2)


def fisher_greater(
    current_failures: int, current_requests: int, baseline_failures: int, baseline_requests: int
) -> float:
    """One-sided Fisher exact p-value for "the current failure rate is higher"."""
    for failures, requests in (
        (current_failures, current_requests),
        (baseline_failures, baseline_requests),
    ):
        if not 0 <= failures <= requests:
            raise ValueError(
                f"{failures} failures of {requests} requests is impossible; "
                "pass counts with 0 <= failures <= requests"
            )
    total = current_requests + baseline_requests
    failed = current_failures + baseline_failures
    draws = current_requests
    rest = total - failed - draws
    low, high = max(0, -rest), min(draws, failed)
    x0 = current_failures
    if x0 <= low:
        return 1.0
    mode = min(high, max(low, (draws + 1) * (failed + 1) // (total + 2)))
    # Terms relative to the mode's, by the hypergeometric term ratio, then normalised.
    tail = mass = 0.0
    term, x = 1.0, mode
    while True:
        mass += term
        if x >= x0:
            tail += term
        if x == high or term == 0.0 or (x >= x0 and term < 1e-17 * tail):
            break
        term *= (failed - x) * (draws - x) / ((x + 1) * (rest + x + 1))
        x += 1
    term, x = 1.0, mode
    while x > low:
        term *= x * (rest + x) / ((failed - x + 1) * (draws - x + 1))
        x -= 1
        mass += term
        if x >= x0:
            tail += term
        elif term < 1e-17 * mass:
            break
    return min(1.0, tail / mass)
