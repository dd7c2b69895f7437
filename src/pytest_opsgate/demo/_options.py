"""Switches of the demo service: faults, limits, credentials."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

DEFAULT_DEV_KEY = "demo-dev-key"
DEFAULT_ADMIN_KEY = "demo-admin-key"
DEFAULT_READONLY_KEY = "demo-readonly-key"
DEFAULT_LOAD_KEY = "demo-load-key"
DEFAULT_WEBHOOK_SECRET = "demo-webhook-secret"

DEMO_PASSWORD = "demo-password"
DEFAULT_CORS_ORIGINS = ("http://localhost:3000",)

_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|m|h)?\s*$")


def key_from_env(variable: str, default: str) -> str:
    """Return the credential in `variable`, or `default` when it is unset or empty."""
    return os.environ.get(variable) or default


# Read once at import so a client in this process and the server agree on the keys.
DEV_KEY = key_from_env("DEMO_DEV_KEY", DEFAULT_DEV_KEY)
ADMIN_KEY = key_from_env("DEMO_ADMIN_KEY", DEFAULT_ADMIN_KEY)
READONLY_KEY = key_from_env("DEMO_READONLY_KEY", DEFAULT_READONLY_KEY)
LOAD_KEY = key_from_env("DEMO_LOAD_KEY", DEFAULT_LOAD_KEY)
WEBHOOK_SECRET = key_from_env("DEMO_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET)


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` per `window_s` seconds for one (credential or client, path)."""

    requests: int
    window_s: float

    def __post_init__(self) -> None:
        if self.requests < 1 or not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(
                f"rate limit {self.requests}/{self.window_s}s is empty; "
                "use at least 1 request per a positive window, e.g. 60/60s"
            )

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """Parse `N/WINDOW` such as `60/60s`, `100/1m` or `10/s`; `off` disables limiting."""
        if text.strip().lower() in {"off", "none", "0"}:
            return None
        match = _RATE_RE.match(text)
        if match is None:
            raise ValueError(
                f"rate limit {text!r} is not N/WINDOW; write it like 60/60s, 100/1m or off"
            )
        count, amount, unit = match.groups()
        return cls(int(count), float(amount or 1) * _UNIT_SECONDS[unit or "s"])

    def __str__(self) -> str:
        return f"{self.requests}/{self.window_s:g}s"


def _credential(variable: str, default: str) -> str:
    # A Field typed as its value, the way dataclasses.field itself is typed.
    return field(default_factory=lambda: key_from_env(variable, default), repr=False)


@dataclass(slots=True)
class DemoOptions:
    """Behaviour of the demo service.

    Faults (startup_delay, degraded, latency_ms, error_rate), rate_limit, cors_origins,
    version and the keys are read on every request, so assigning them on a running
    server's `options` takes effect for the next request. `db=None` means an in-memory
    database and `rate_limit=None` no limit. Keys default to the DEMO_*_KEY variables.
    """

    startup_delay: float = 0.0
    degraded: bool = False
    latency_ms: float = 0.0
    error_rate: float = 0.0
    seed: int | None = None
    db: str | None = None
    log_file: str | None = None
    port_file: str | None = None
    rate_limit: RateLimit | None = field(default_factory=lambda: RateLimit(60, 60.0))
    cors_origins: tuple[str, ...] = DEFAULT_CORS_ORIGINS
    version: str | None = None
    # repr=False keeps the credentials out of reprs, tracebacks and reports.
    dev_key: str = _credential("DEMO_DEV_KEY", DEFAULT_DEV_KEY)
    admin_key: str = _credential("DEMO_ADMIN_KEY", DEFAULT_ADMIN_KEY)
    readonly_key: str = _credential("DEMO_READONLY_KEY", DEFAULT_READONLY_KEY)
    load_key: str = _credential("DEMO_LOAD_KEY", DEFAULT_LOAD_KEY)
    webhook_secret: str = _credential("DEMO_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.startup_delay) and self.startup_delay >= 0):
            raise ValueError(f"startup_delay={self.startup_delay} must be a number >= 0 seconds")
        if not (math.isfinite(self.latency_ms) and self.latency_ms >= 0):
            raise ValueError(f"latency_ms={self.latency_ms} must be a number >= 0 milliseconds")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate={self.error_rate} must be a fraction between 0 and 1")
        keys = [self.dev_key, self.admin_key, self.readonly_key, self.load_key]
        if len(set(keys)) != len(keys) or not all(keys):
            raise ValueError(
                "the dev, admin, readonly and load keys must be distinct and non-empty; "
                "check the DEMO_*_KEY environment variables"
            )
