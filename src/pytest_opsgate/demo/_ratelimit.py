"""Fixed-window request counting per (client, route)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_opsgate.demo._options import RateLimit

_PRUNE_ABOVE = 4096


@dataclass(frozen=True)
class Decision:
    """Outcome of counting one request against its window."""

    allowed: bool
    limit: RateLimit
    remaining: int
    reset_s: int

    def headers(self) -> list[tuple[str, str]]:
        """Return the legacy X-RateLimit-* and the IETF draft RateLimit-* headers."""
        values = (str(self.limit.requests), str(self.remaining), str(self.reset_s))
        headers = [
            (f"{prefix}RateLimit-{name}", value)
            for prefix in ("X-", "")
            for name, value in zip(("Limit", "Remaining", "Reset"), values, strict=True)
        ]
        headers.append(("RateLimit-Policy", f"{self.limit.requests};w={self.limit.window_s:g}"))
        if not self.allowed:
            headers.append(("Retry-After", str(self.reset_s)))
        return headers


class FixedWindowLimiter:
    """Counts requests per key in windows that start at the key's first request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, client: str, route: str, limit: RateLimit, now: float) -> Decision:
        """Count one request from `client` on `route` at monotonic time `now`."""
        key = (client, route)
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= limit.window_s:
                start, count = now, 0
            count += 1
            self._windows[key] = (start, count)
            if len(self._windows) > _PRUNE_ABOVE:
                self._prune(now, limit.window_s)
        # Never advertise a zero wait: a client would retry in a tight loop.
        reset_s = max(1, math.ceil(start + limit.window_s - now))
        return Decision(count <= limit.requests, limit, max(0, limit.requests - count), reset_s)

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()

    def _prune(self, now: float, window_s: float) -> None:
        expired = [key for key, (start, _) in self._windows.items() if now - start >= window_s]
        for key in expired:
            del self._windows[key]
