"""Latency histograms with exact nearest-rank percentiles, mergeable across processes.

Every latency the gate measures goes into a :class:`LatencyHistogram`, an HdrHistogram
(``hdrhistogram`` package) that stores whole microseconds from 1 µs to 1 hour with three
significant figures: a value shares its bucket only with values less than 0.1 % away
(exact below 2.048 ms). Larger values are clamped to 1 hour and counted in ``clamped``.

Percentile definition (nearest rank). For N recorded samples and 0 < p <= 100, the
p-th percentile is the rank-th smallest sample, where ``rank = max(1, ceil(p / 100 * N))``,
computed with exact rational arithmetic. With 100 samples, p95 is the 95th smallest
sample and p99.9 is the largest; with 1000 samples, p99.9 is the 999th. No interpolation:
the answer is always a value that was measured. It is reported as the highest value of
that sample's bucket (the HdrHistogram convention), so a reported percentile is never
below the measured one and at most 0.1 % above it. ``max`` is ``p100``; ``min`` is the
lowest value of the lowest bucket; ``mean`` is exact (the sum of the recorded
microseconds divided by N).

Comparing with a budget. Two values in the same bucket cannot be told apart by the
histogram, so SLO comparisons happen at its resolution (:meth:`LatencyHistogram.at_resolution`):
a p95 measured at exactly 800 ms passes ``p95 <= 800ms`` and fails ``p95 < 800ms``.

Merging adds bucket counts, so the percentiles of a merged histogram are exactly those of
one histogram fed every sample; percentiles are never averaged.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from hdrh.histogram import HdrHistogram

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_FIGURES = 3

_ENCODING_PREFIX = "opsgate-hist/1"


class EmptyHistogramError(ValueError):
    """A statistic was asked of a histogram that holds no samples."""


def _new_hdr() -> Any:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)


# Bucket arithmetic depends only on the configuration, so one instance answers for all.
_SHAPE = _new_hdr()
# hdrh's own index-to-value methods cost a Python call chain per bucket; these constants let
# `_bounds` do the same arithmetic inline (checked against hdrh for every index in the tests).
_HALF_MAGNITUDE: int = _SHAPE.sub_bucket_half_count_magnitude
_HALF_COUNT: int = _SHAPE.sub_bucket_half_count
_UNIT_MAGNITUDE: int = _SHAPE.unit_magnitude


def _bounds(index: int) -> tuple[int, int]:
    """The lowest and highest value (µs) of the bucket at counts-array `index`."""
    bucket = (index >> _HALF_MAGNITUDE) - 1
    if bucket < 0:  # the first half-bucket holds the values below the first power of two
        size = 1 << _UNIT_MAGNITUDE
        low = (index & (_HALF_COUNT - 1)) * size
    else:
        size = 1 << (bucket + _UNIT_MAGNITUDE)
        low = ((index & (_HALF_COUNT - 1)) + _HALF_COUNT) * size
    return low, low + size - 1


def _to_us(ms: float) -> int:
    if not math.isfinite(ms):
        raise ValueError(f"latency {ms!r} ms is not a finite number; record a measured duration")
    if ms < 0:
        raise ValueError(f"latency {ms!r} ms is negative; durations come from a monotonic clock")
    return round(ms * 1000)


def bucket_floor_us(ms: float) -> int:
    """The lowest value (µs) of the bucket holding ``ms``; equal results mean indistinguishable."""
    return int(_SHAPE.get_lowest_equivalent_value(min(_to_us(ms), HIGHEST_US)))


class LatencyHistogram:
    """Latencies in milliseconds, stored as integer microseconds at 3 significant figures."""

    __slots__ = ("_clamped", "_hdr", "_sum_us")

    def __init__(self) -> None:
        self._hdr: Any = _new_hdr()
        self._sum_us = 0
        self._clamped = 0

    def record(self, ms: float, count: int = 1) -> None:
        """Record ``count`` samples of ``ms`` milliseconds (rounded to the microsecond)."""
        if count < 0:
            raise ValueError(f"count {count} is negative; record at least zero samples")
        us = _to_us(ms)
        if count == 0:
            return
        if us > HIGHEST_US:
            us = HIGHEST_US
            self._clamped += count
        if not self._hdr.record_value(us, count):
            raise RuntimeError(f"hdrh refused {us} µs, which is inside its configured range")
        self._sum_us += us * count

    def record_counts(self, counts: Mapping[int, int]) -> None:
        """Record many samples at once: whole microseconds -> how many.

        The same as :meth:`record` for each item, at a tenth of the cost: hdrh's
        ``record_value`` is five Python calls per value, and a load generator's second
        of requests holds thousands of distinct microsecond values. The bucket index is
        hdrh's arithmetic inlined (checked against ``record`` in the tests).
        """
        hdr = self._hdr
        buckets = hdr.counts
        mask = hdr.sub_bucket_mask
        first = _UNIT_MAGNITUDE + _HALF_MAGNITUDE + 1
        total = sum_us = clamped = 0
        low, high = hdr.min_value, hdr.max_value
        for us, count in counts.items():
            if count < 0 or us < 0:
                raise ValueError(f"{count} samples of {us} µs: counts and values must be >= 0")
            if count == 0:
                continue
            if us > HIGHEST_US:
                us = HIGHEST_US
                clamped += count
            bucket = max(0, (us | mask).bit_length() - first)
            index = ((bucket + 1) << _HALF_MAGNITUDE) + (us >> (bucket + _UNIT_MAGNITUDE))
            buckets[index - _HALF_COUNT] += count
            total += count
            sum_us += us * count
            low = min(low, us)
            high = max(high, us)
        hdr.total_count += total
        hdr.min_value, hdr.max_value = low, high
        self._sum_us += sum_us
        self._clamped += clamped

    @property
    def count(self) -> int:
        """How many samples were recorded."""
        return int(self._hdr.total_count)

    @property
    def clamped(self) -> int:
        """How many samples exceeded one hour and were recorded as one hour."""
        return self._clamped

    @property
    def sum_ms(self) -> float:
        """The exact sum of all recorded samples, in milliseconds."""
        return self._sum_us / 1000

    def _counts(self) -> list[int]:
        hdr = self._hdr
        if not hdr.total_count:
            return []
        # One C-level slice is far faster than indexing the ctypes array per bucket.
        counts: list[int] = hdr.counts[: hdr.get_counts_array_index(hdr.max_value) + 1]
        return counts

    def buckets(self) -> Iterator[tuple[int, int, int]]:
        """Yield ``(lowest_us, highest_us, count)`` for each non-empty bucket, ascending."""
        counts = self._counts()
        out: list[tuple[int, int, int]] = []
        mask, half, unit = _HALF_COUNT - 1, _HALF_COUNT, _UNIT_MAGNITUDE
        # `_bounds` inlined: this loop runs once per bucket of every series a report shows.
        for index in itertools.compress(range(len(counts)), counts):
            bucket = (index >> _HALF_MAGNITUDE) - 1
            if bucket < 0:
                size = 1 << unit
                low = (index & mask) * size
            else:
                size = 1 << (bucket + unit)
                low = ((index & mask) + half) * size
            out.append((low, low + size - 1, counts[index]))
        return iter(out)

    def _require_samples(self, what: str) -> None:
        if not self._hdr.total_count:
            raise EmptyHistogramError(f"{what} of an empty histogram; record a sample first")

    def percentile(self, p: float) -> float:
        """The nearest-rank p-th percentile in ms (see the module docstring)."""
        if not 0 < p <= 100:
            raise ValueError(f"percentile {p!r} is outside (0, 100]; use e.g. 95 or 99.9")
        self._require_samples(f"p{p:g}")
        # str() gives the decimal the caller wrote, so 99.9 means 999/1000 exactly.
        rank = max(1, math.ceil(Fraction(str(p)) * self.count / 100))
        for index, seen in enumerate(itertools.accumulate(self._counts())):
            if seen >= rank:
                return _bounds(index)[1] / 1000
        raise AssertionError("bucket counts do not add up to the total count")

    def min(self) -> float:
        """The lowest value of the lowest non-empty bucket, in ms."""
        self._require_samples("min")
        counts = self._counts()
        first = next(itertools.compress(range(len(counts)), counts))
        return _bounds(first)[0] / 1000

    def max(self) -> float:
        """The highest value of the highest non-empty bucket, in ms (equals ``percentile(100)``)."""
        self._require_samples("max")
        return self.percentile(100)

    def mean(self) -> float:
        """The exact mean of the recorded samples, in ms."""
        self._require_samples("mean")
        return self._sum_us / self.count / 1000

    def merge(self, other: LatencyHistogram) -> None:
        """Add every sample of ``other`` to this histogram."""
        if other.count:
            self._hdr.add(other._hdr)
        self._sum_us += other._sum_us
        self._clamped += other._clamped

    def copy(self) -> LatencyHistogram:
        """An independent histogram with the same samples."""
        clone = LatencyHistogram()
        clone.merge(self)
        return clone

    def encode(self) -> str:
        """A compact ASCII string that :meth:`decode` turns back into an equal histogram."""
        blob = self._hdr.encode().decode("ascii") if self.count else ""
        return f"{_ENCODING_PREFIX};{self._sum_us};{self._clamped};{blob}"

    @classmethod
    def decode(cls, s: str) -> LatencyHistogram:
        """Rebuild a histogram from :meth:`encode` output."""
        parts = s.split(";", 3) if isinstance(s, str) else []
        if len(parts) != 4 or parts[0] != _ENCODING_PREFIX:
            raise ValueError(
                f"not an encoded LatencyHistogram (expected a string starting with "
                f"{_ENCODING_PREFIX!r}); pass the output of LatencyHistogram.encode()"
            )
        _prefix, sum_text, clamped_text, blob = parts
        histogram = cls()
        try:
            histogram._sum_us = int(sum_text)
            histogram._clamped = int(clamped_text)
            decoded = HdrHistogram.decode(blob) if blob else None
        except Exception as exc:
            raise ValueError(
                f"corrupt encoded LatencyHistogram ({exc!r}); re-encode it with encode()"
            ) from exc
        if decoded is not None:
            shape = (
                decoded.lowest_trackable_value,
                decoded.highest_trackable_value,
                decoded.significant_figures,
            )
            if shape != (LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES):
                raise ValueError(
                    f"encoded histogram has range/precision {shape}, expected "
                    f"{(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)}; encode a LatencyHistogram"
                )
            histogram._hdr.add(decoded)
        return histogram

    @classmethod
    def at_resolution(cls, ms: float) -> int:
        """The bucket identity (lowest value in µs) of ``ms``.

        Values that fall in the same bucket (within 0.1 %) are equal for SLO comparisons:
        ``at_resolution(measured) <= at_resolution(budget)`` is how ``p95 <= 800ms`` is judged.
        """
        return bucket_floor_us(ms)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return (
            self._sum_us == other._sum_us
            and self._clamped == other._clamped
            and list(self.buckets()) == list(other.buckets())
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not self.count:
            return "<LatencyHistogram empty>"
        return (
            f"<LatencyHistogram n={self.count} min={self.min():g}ms "
            f"p50={self.percentile(50):g}ms max={self.max():g}ms>"
        )
