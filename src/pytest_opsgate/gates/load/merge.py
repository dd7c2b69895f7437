"""The latest snapshot of every generator process, merged on demand (local runner or master).

Snapshots are cumulative (see :mod:`.recorder`), so keeping the latest of each worker and
adding their histograms gives exactly what one process fed every sample would hold.
Nothing here imports Locust.
"""

from __future__ import annotations

from typing import Any

from ...measure.histogram import LatencyHistogram
from ...measure.metrics import MetricsStore
from .recorder import DOWN_AFTER_S, DOWN_MIN_FAILURES

__all__ = ["SnapshotMerger"]


def _added(stores: list[MetricsStore]) -> MetricsStore:
    """Workers' stores added up: histograms and counts add, windows overlap (the largest).

    ``MetricsStore.merge`` would encode and decode every histogram once more; these stores
    are already fresh copies, so their series are added as they are.
    """
    merged = MetricsStore()
    windows: dict[str, float] = {}
    total_window = 0.0
    for store in stores:
        total_window = max(total_window, store.total().window_s)
        for scope in store.scopes():
            stats = store.get(scope)
            if stats is not None:
                merged.add(scope, stats)
                windows[scope] = max(windows.get(scope, 0.0), stats.window_s)
    for scope, window in windows.items():
        merged.set_window(scope, window)
    merged.set_window(None, total_window)
    return merged


# Decoded bin histograms kept: the progress line's three seconds of up to a few workers.
DECODED_KEPT = 32


class SnapshotMerger:
    """The latest snapshot of each worker, merged on demand."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.bins: dict[int, dict[str, list[Any]]] = {}
        self.without_extension: set[str] = set()
        # Progress lines read the last seconds' histograms every second; decoding one costs
        # about as much as the rest of the line, so the recent ones are kept decoded.
        self._decoded: dict[str, LatencyHistogram] = {}

    def _decode(self, text: str) -> LatencyHistogram:
        """``LatencyHistogram.decode(text)``, remembered for the few latest bins."""
        hist = self._decoded.get(text)
        if hist is None:
            if len(self._decoded) >= DECODED_KEPT:
                self._decoded.pop(next(iter(self._decoded)))  # the oldest
            hist = self._decoded[text] = LatencyHistogram.decode(text)
        return hist

    def add(self, worker: str, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` as ``worker``'s current state and file its timeline bins."""
        self.latest[worker] = snapshot
        for entry in snapshot.get("bins", []):
            self.bins.setdefault(int(entry[0]), {})[worker] = entry

    def store(self, *, corrected: bool = False) -> MetricsStore:
        """Every worker's measured requests in one store (histograms added).

        ``corrected`` picks the open model's latencies from the intended start; a worker
        that sent none (a closed-model worker) makes that a ValueError, never a quiet mix.
        """
        stores = []
        for worker, snapshot in self.latest.items():
            data = snapshot.get("corrected" if corrected else "store")
            if data is None and corrected:
                raise ValueError(f"worker {worker} sent no corrected latencies")
            stores.append(
                data if isinstance(data, MetricsStore) else MetricsStore.from_dict(data or {})
            )
        if len(stores) == 1:
            return stores[0]  # built afresh for each snapshot: nobody else holds it
        return _added(stores)

    def open_figures(self) -> dict[str, Any] | None:
        """The open model's arrival counts of every worker added up (None: closed model)."""
        parts = [s["open"] for s in self.latest.values() if s.get("open")]
        if not parts:
            return None
        total: dict[str, Any] = {}
        for part in parts:
            for key, value in part.items():
                if key.startswith("peak") or key == "inflight":
                    total[key] = total.get(key, 0) + int(value)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
        return total

    def inflight(self) -> int:
        """Requests sent and not yet answered, over all workers, as of their last reports."""
        return sum(int(s.get("inflight", 0) or 0) for s in self.latest.values())

    def target_hung(self, after_s: float) -> dict[str, Any] | None:
        """When every process that sent requests has had some waiting ``after_s`` or longer
        with none answered meanwhile (a target that accepts and never answers)."""
        states = [s for s in self.latest.values() if s.get("requests_total") or s.get("inflight")]
        if not states or any(float(s.get("silent_s", 0.0)) < after_s for s in states):
            return None
        waiting = sum(int(s.get("inflight", 0)) for s in states)
        silent = min(float(s["silent_s"]) for s in states)
        since = max(0.0, min(float(s.get("elapsed_s", 0.0)) for s in states) - silent)
        last_ok = [
            float(s["transport"]["last_ok_s"])
            for s in states
            if s.get("transport", {}).get("last_ok_s") is not None
        ]
        return {
            "at_s": round(since, 3),
            "failures": waiting,
            "error": (
                f"no answer for {silent:.0f} s while {waiting} request(s) waited "
                "(it accepts requests and never answers)"
            ),
            "last_success_s": round(max(last_ok), 3) if last_ok else None,
        }

    def worker_requests(self) -> dict[str, int]:
        """Requests each worker sent, warmup included."""
        return {worker: int(s.get("requests_total", 0)) for worker, s in self.latest.items()}

    def requests_total(self) -> int:
        """Requests sent by all workers, warmup included."""
        return sum(self.worker_requests().values())

    def saturated(self) -> list[str]:
        """Workers whose own CPU monitor reported saturation."""
        return sorted(w for w, s in self.latest.items() if s.get("cpu", {}).get("saturated"))

    def max_cpu(self) -> float:
        """The highest CPU percentage any worker reported."""
        return max(
            (float(s.get("cpu", {}).get("max", 0.0)) for s in self.latest.values()), default=0.0
        )

    def not_final(self) -> list[str]:
        """Workers whose last report came before they stopped."""
        return sorted(w for w, s in self.latest.items() if not s.get("final"))

    def target_down(self, *, at_end: bool) -> dict[str, Any] | None:
        """When every worker sees only transport errors: since when, and the first error."""
        if not self.latest:
            return None
        states = [s.get("transport", {}) for s in self.latest.values() if s.get("requests_total")]
        if not states or any(st.get("down_since_s") is None for st in states):
            return None
        count = sum(int(st.get("down_count", 0)) for st in states)
        if count < DOWN_MIN_FAILURES:
            return None
        since = min(float(st["down_since_s"]) for st in states)
        if not at_end:
            elapsed = min(float(s.get("elapsed_s", 0.0)) for s in self.latest.values())
            if elapsed - since < DOWN_AFTER_S:
                return None
        first = min(states, key=lambda st: float(st["down_since_s"]))
        last_ok = [float(st["last_ok_s"]) for st in states if st.get("last_ok_s") is not None]
        return {
            "at_s": round(since, 3),
            "failures": count,
            "error": str(first.get("down_error", "")),
            "last_success_s": round(max(last_ok), 3) if last_ok else None,
        }

    def task_errors(self) -> dict[str, int]:
        """Exceptions the locustfile's tasks raised, over all workers: text -> count."""
        return self._summed("task_errors")

    def record_errors(self) -> dict[str, int]:
        """Request events the gate failed to count, over all workers: text -> count."""
        return self._summed("record_errors")

    def _summed(self, key: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for snapshot in self.latest.values():
            for text, count in snapshot.get(key, []):
                counts[str(text)] = counts.get(str(text), 0) + int(count)
        return counts

    def events_recorded(self) -> int:
        """Request events the workers' gate recorded through its fire, over all workers."""
        return sum(int(snapshot.get("events", 0) or 0) for snapshot in self.latest.values())

    def errors(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most frequent failure messages over all workers."""
        counts: dict[tuple[str, str], int] = {}
        for snapshot in self.latest.values():
            for scope, error, count in snapshot.get("errors", []):
                counts[(scope, error)] = counts.get((scope, error), 0) + int(count)
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:limit]
        return [{"scope": s, "error": e, "count": c} for (s, e), c in ranked]

    def timeline(self) -> list[dict[str, Any]]:
        """Per-second requests, failures and latency percentiles, all workers merged.

        ``p50``/``p95``/``p99`` are service times; ``corrected_*`` the open model's latencies
        from the intended start (None in the closed model).
        """
        points = []
        for index in sorted(self.bins):
            hist = LatencyHistogram()
            corrected: LatencyHistogram | None = None
            requests = failures = 0
            for entry in self.bins[index].values():
                requests += int(entry[1])
                failures += int(entry[2])
                hist.merge(LatencyHistogram.decode(entry[3]))
                if len(entry) > 4 and entry[4] is not None:
                    corrected = corrected or LatencyHistogram()
                    corrected.merge(LatencyHistogram.decode(entry[4]))
            point: dict[str, Any] = {"t": index, "requests": requests, "failures": failures}
            for p in (50.0, 95.0, 99.0):
                point[f"p{p:g}"] = hist.percentile(p) if hist.count else None
                if corrected is not None:
                    point[f"corrected_p{p:g}"] = (
                        corrected.percentile(p) if corrected.count else None
                    )
            points.append(point)
        return points

    def recent_rps(self, seconds: int = 3) -> float | None:
        """Requests per second over the last few complete seconds, for progress lines."""
        if not self.bins:
            return None
        recent = sorted(self.bins)[-seconds:]
        total = sum(int(entry[1]) for index in recent for entry in self.bins[index].values())
        return total / len(recent)

    def recent_percentile(
        self, p: float, seconds: int = 3, *, corrected: bool = False
    ) -> float | None:
        """The p-th percentile over the last few complete seconds, for progress lines."""
        if not self.bins:
            return None
        hist = LatencyHistogram()
        column = 4 if corrected else 3
        for index in sorted(self.bins)[-seconds:]:
            for entry in self.bins[index].values():
                if len(entry) > column and entry[column] is not None:
                    hist.merge(self._decode(entry[column]))
        return hist.percentile(p) if hist.count else None
