"""Per-endpoint request counts and latency histograms, mergeable across xdist workers.

A series is keyed by ``(scope, metric)``. ``scope`` names what was measured:
``"GET /api/items"`` for an HTTP request, a Locust request name, or ``"page /checkout"``
for a browser page. ``metric`` is ``"latency"`` for requests, or one of the page timings
``"ttfb"``, ``"dcl"`` (DOMContentLoaded) and ``"load"``.

Conventions:

- Every request counts in ``requests``; a request with ``ok=False`` also counts in
  ``failures``. A failed request that still has a duration (a 500, a timeout) adds that
  duration to the histogram, as Locust and k6 do, so our numbers match their reports;
  a request that failed before any timing (``ms=None``) adds no sample.
- ``window_s`` is the time from the first to the last record of a series, read from the
  monotonic clock, unless :meth:`MetricsStore.set_window` sets it (a load run knows its
  duration). Stores merged from workers take the largest window: workers run side by side,
  so their windows overlap instead of adding up.
- Scopes are normalised by :func:`normalize_scope` on the way in, so ``"get  /x"`` and
  ``"GET /x"`` are one series.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .histogram import LatencyHistogram
from .scopes import (
    HTTP_METHODS,
    LATENCY,
    METRICS,
    PAGE_METRICS,
    PAGE_PREFIX,
    normalize_scope,
    split_method,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "HTTP_METHODS",
    "LATENCY",
    "METRICS",
    "PAGE_METRICS",
    "PAGE_PREFIX",
    "EndpointStats",
    "MetricsStore",
    "normalize_scope",
    "split_method",
]

_FORMAT_VERSION = 1


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")


@dataclass
class EndpointStats:
    """What was measured for one series (or several merged): samples, counts, window."""

    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    requests: int = 0
    failures: int = 0
    window_s: float = 0.0

    @property
    def samples(self) -> int:
        """How many latency samples the histogram holds (requests that got a duration)."""
        return self.histogram.count

    @property
    def successes(self) -> int:
        """Requests that did not fail."""
        return self.requests - self.failures

    @property
    def error_rate(self) -> float | None:
        """``failures / requests`` as a fraction in 0..1; None when there were no requests."""
        if self.requests == 0:
            return None
        return self.failures / self.requests

    @property
    def rps(self) -> float | None:
        """``requests / window_s``; None when the window is zero (fewer than two records)."""
        if self.window_s <= 0:
            return None
        return self.requests / self.window_s

    @classmethod
    def combine(cls, parts: Iterable[EndpointStats]) -> EndpointStats:
        """Merge several series into one: histograms and counts add, the window is the max."""
        combined = cls()
        for part in parts:
            combined.histogram.merge(part.histogram)
            combined.requests += part.requests
            combined.failures += part.failures
            combined.window_s = max(combined.window_s, part.window_s)
        return combined


class _Series:
    """One (scope, metric) accumulator; the store's lock guards it."""

    __slots__ = ("failures", "first", "histogram", "last", "requests", "window_floor", "window_set")

    def __init__(self) -> None:
        self.histogram = LatencyHistogram()
        self.requests = 0
        self.failures = 0
        self.first: float | None = None
        self.last: float | None = None
        # Durations that arrived without timestamps: merged stores and from_dict.
        self.window_floor = 0.0
        self.window_set: float | None = None

    @property
    def window_s(self) -> float:
        if self.window_set is not None:
            return self.window_set
        span = 0.0
        if self.first is not None and self.last is not None:
            span = self.last - self.first
        return max(span, self.window_floor)

    def stats(self) -> EndpointStats:
        return EndpointStats(
            histogram=self.histogram.copy(),
            requests=self.requests,
            failures=self.failures,
            window_s=self.window_s,
        )


class MetricsStore:
    """Thread-safe collection of series keyed by ``(scope, metric)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        self._window_set: float | None = None

    def _series_for(self, scope: str, metric: str) -> _Series:
        key = (scope, metric)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        return series

    def record(
        self,
        scope: str,
        ms: float | None,
        ok: bool,
        metric: str = LATENCY,
        *,
        at: float | None = None,
    ) -> None:
        """Count one request; add ``ms`` to the histogram unless None (failed before timing).

        ``at`` is the monotonic time of the request (default: now); it only feeds the window.
        """
        _check_metric(metric)
        scope = normalize_scope(scope)
        now = time.monotonic() if at is None else at
        with self._lock:
            series = self._series_for(scope, metric)
            if ms is not None:
                series.histogram.record(ms)
            series.requests += 1
            if not ok:
                series.failures += 1
            series.first = now if series.first is None else min(series.first, now)
            series.last = now if series.last is None else max(series.last, now)

    def add(self, scope: str, stats: EndpointStats, metric: str = LATENCY) -> None:
        """Merge pre-aggregated stats (e.g. from a load generator) into one series."""
        _check_metric(metric)
        scope = normalize_scope(scope)
        with self._lock:
            series = self._series_for(scope, metric)
            series.histogram.merge(stats.histogram)
            series.requests += stats.requests
            series.failures += stats.failures
            series.window_floor = max(series.window_floor, stats.window_s)

    def set_window(self, scope: str | None, seconds: float, metric: str = LATENCY) -> None:
        """Fix the window (for rps) of one series, or with ``scope=None`` of :meth:`total`."""
        if not seconds >= 0:
            raise ValueError(f"window {seconds!r} s is not a duration; pass seconds >= 0")
        _check_metric(metric)
        with self._lock:
            if scope is None:
                self._window_set = seconds
            else:
                self._series_for(normalize_scope(scope), metric).window_set = seconds

    def get(self, scope: str, metric: str = LATENCY) -> EndpointStats | None:
        """A snapshot of one series, or None if nothing was ever recorded for it."""
        with self._lock:
            series = self._series.get((normalize_scope(scope), metric))
            return None if series is None else series.stats()

    def scopes(self, metric: str = LATENCY) -> list[str]:
        """The scopes that have a series for ``metric``, sorted."""
        with self._lock:
            return sorted(scope for scope, key_metric in self._series if key_metric == metric)

    def matching(self, name: str, metric: str = LATENCY) -> list[str]:
        """The scopes ``name`` covers: ``"GET /x"`` itself, ``"/x"`` every ``"<METHOD> /x"`` too."""
        name = normalize_scope(name)
        if split_method(name)[0] is not None:
            return [name] if name in self.scopes(metric) else []
        return [scope for scope in self.scopes(metric) if split_method(scope)[1] == name]

    def total(self, metric: str = LATENCY) -> EndpointStats:
        """All scopes of ``metric`` merged; the window is the largest window of any of them."""
        with self._lock:
            parts = [s for (_, m), s in self._series.items() if m == metric]
            total = EndpointStats.combine(series.stats() for series in parts)
            starts = [s.first for s in parts if s.first is not None]
            ends = [s.last for s in parts if s.last is not None]
            if starts and ends:
                # One process's monotonic clock: the span across scopes is meaningful here.
                total.window_s = max(total.window_s, max(ends) - min(starts))
            if self._window_set is not None:
                total.window_s = self._window_set
            return total

    def __len__(self) -> int:
        with self._lock:
            return len(self._series)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable snapshot; :meth:`from_dict` rebuilds an equal store."""
        with self._lock:
            return {
                "version": _FORMAT_VERSION,
                "window_s": self._window_set,
                "series": [
                    {
                        "scope": scope,
                        "metric": metric,
                        "requests": series.requests,
                        "failures": series.failures,
                        "window_s": series.window_s,
                        "window_set": series.window_set is not None,
                        "histogram": series.histogram.encode(),
                    }
                    for (scope, metric), series in sorted(self._series.items())
                ],
            }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricsStore:
        """Rebuild a store from :meth:`to_dict` output (an empty dict gives an empty store)."""
        store = cls()
        if not d:
            return store
        version = d.get("version")
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"metrics format version {version!r} is not {_FORMAT_VERSION}; "
                "worker and controller must run the same pytest-opsgate"
            )
        window = d.get("window_s")
        store._window_set = None if window is None else float(window)
        for item in d.get("series", []):
            metric = str(item["metric"])
            _check_metric(metric)
            series = store._series_for(normalize_scope(str(item["scope"])), metric)
            series.histogram = LatencyHistogram.decode(str(item["histogram"]))
            series.requests = int(item["requests"])
            series.failures = int(item["failures"])
            if item.get("window_set"):
                series.window_set = float(item["window_s"])
            else:
                series.window_floor = float(item["window_s"])
        return store

    def merge(self, other: MetricsStore) -> None:
        """Add ``other``'s series into this store; windows take the max (concurrent workers)."""
        if other is self:
            raise ValueError("cannot merge a MetricsStore into itself; merge a copy")
        snapshot = MetricsStore.from_dict(other.to_dict())
        with self._lock:
            for key, theirs in snapshot._series.items():
                ours = self._series_for(*key)
                ours.histogram.merge(theirs.histogram)
                ours.requests += theirs.requests
                ours.failures += theirs.failures
                if theirs.window_set is not None or ours.window_set is not None:
                    ours.window_set = max(ours.window_s, theirs.window_s)
                else:
                    ours.window_floor = max(ours.window_floor, theirs.window_s)
            if snapshot._window_set is not None:
                self._window_set = max(self._window_set or 0.0, snapshot._window_set)
