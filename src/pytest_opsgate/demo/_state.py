"""Everything one running demo service shares between its handler threads."""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections import OrderedDict
from importlib import metadata
from typing import TYPE_CHECKING

from pytest_opsgate.demo._metrics import DemoMetrics
from pytest_opsgate.demo._pages import load_static
from pytest_opsgate.demo._ratelimit import FixedWindowLimiter
from pytest_opsgate.demo._store import Store

if TYPE_CHECKING:
    from pytest_opsgate.demo._options import DemoOptions

_MAX_SESSIONS = 10_000


def package_version() -> str:
    """Return DEMO_VERSION if set, else the installed pytest-opsgate version."""
    if os.environ.get("DEMO_VERSION"):
        return os.environ["DEMO_VERSION"]
    try:
        return metadata.version("pytest-opsgate")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class Sessions:
    """Login sessions by random token, oldest dropped first past a cap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: OrderedDict[str, str] = OrderedDict()

    def create(self, username: str) -> str:
        """Start a session for `username` and return its token."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._users[token] = username
            while len(self._users) > _MAX_SESSIONS:
                self._users.popitem(last=False)
        return token

    def user(self, token: str | None) -> str | None:
        """Return the user of a session token, or None."""
        if not token:
            return None
        with self._lock:
            return self._users.get(token)

    def end(self, token: str | None) -> None:
        """Forget a session token."""
        if token:
            with self._lock:
                self._users.pop(token, None)


class DemoState:
    """Options, storage, limits and sessions of one demo service."""

    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.store = Store(options.db)
        self.limiter = FixedWindowLimiter()
        self.sessions = Sessions()
        self.static = load_static()
        self.metrics = DemoMetrics()
        self.stopping = threading.Event()
        self.started_at = time.monotonic()
        self.default_version = package_version()
        self._rng = random.Random(options.seed)
        self._rng_lock = threading.Lock()

    @property
    def version(self) -> str:
        """Return the version the health endpoint reports."""
        return self.options.version or self.default_version

    def starting_for(self) -> float:
        """Return the seconds left of the simulated startup, 0 once started."""
        return max(0.0, self.options.startup_delay - (time.monotonic() - self.started_at))

    def inject_error(self) -> bool:
        """Decide, from the seeded generator, whether this request gets an injected 500."""
        rate = self.options.error_rate
        if rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def delay(self) -> None:
        """Sleep for the configured latency, waking early when the service stops."""
        latency_ms = self.options.latency_ms
        if latency_ms > 0:
            self.stopping.wait(latency_ms / 1000)
