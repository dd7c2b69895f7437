"""Is a Locust process saturated? Its CPU use and event-loop lag, every two seconds.

Imported only inside Locust processes (gevent, psutil).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
import psutil
from locust.runners import CPU_WARNING_THRESHOLD

logger = logging.getLogger("opsgate")

CPU_SAMPLE_S = 2.0
# Two consecutive busy samples: one busy sample is often start-up or a GC pause.
CPU_BUSY_SAMPLES = 2
LAG_PROBE_S = 0.1
# A greenlet woken this late means measured response times include queueing in Locust.
LAG_LIMIT_MS = 100.0


class CpuMonitor:
    """Is this generator saturated? CPU use and event-loop lag, judged every two seconds.

    Locust samples CPU every ten seconds; a short gate run needs faster answers. Lag
    (how late a sleeping greenlet wakes up) also catches a generator starved by other
    processes, whose CPU share never reaches the threshold but whose timings still
    include the wait to be scheduled.
    """

    def __init__(self) -> None:
        self.max_percent = 0.0
        self.max_lag_ms = 0.0
        self.samples = 0
        self.busy_streak = 0
        self.saturated = False
        self.reason = ""
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self._lags: list[float] = []

    def run(self) -> None:
        """Sample forever (a greenlet)."""
        gevent.spawn(self._measure_lag)
        while True:
            gevent.sleep(CPU_SAMPLE_S)
            lags, self._lags = self._lags, []
            lag = sum(lags) / len(lags) if lags else 0.0
            self.sample(self._process.cpu_percent(None), lag)

    def _measure_lag(self) -> None:
        while True:
            before = time.perf_counter()
            gevent.sleep(LAG_PROBE_S)
            self._lags.append(max(0.0, (time.perf_counter() - before - LAG_PROBE_S) * 1000))

    def sample(self, percent: float, lag_ms: float = 0.0) -> None:
        """Take one reading: CPU percent and mean loop lag over the last interval."""
        self.samples += 1
        self.max_percent = max(self.max_percent, percent)
        self.max_lag_ms = max(self.max_lag_ms, lag_ms)
        busy = percent > CPU_WARNING_THRESHOLD or lag_ms > LAG_LIMIT_MS
        self.busy_streak = self.busy_streak + 1 if busy else 0
        if self.busy_streak >= CPU_BUSY_SAMPLES and not self.saturated:
            self.saturated = True
            self.reason = (
                f"CPU {percent:.0f}% (limit {CPU_WARNING_THRESHOLD}%), event-loop lag "
                f"{lag_ms:.0f} ms (limit {LAG_LIMIT_MS:g} ms) for "
                f"{CPU_SAMPLE_S * self.busy_streak:.0f} s"
            )
            logger.warning(
                "opsgate: load generator saturated: %s; its latencies are not trustworthy",
                self.reason,
            )

    def to_dict(self) -> dict[str, Any]:
        """Report fields."""
        return {
            "max": round(self.max_percent, 1),
            "max_lag_ms": round(self.max_lag_ms, 1),
            "saturated": self.saturated,
            "reason": self.reason,
            "samples": self.samples,
            "busy_streak": self.busy_streak,
        }

    @property
    def vouched(self) -> bool:
        """True once enough samples say this process is not saturated, and none is busy now."""
        return self.samples >= CPU_BUSY_SAMPLES and self.busy_streak == 0 and not self.saturated
