"""Which smoke items a run gets, in which order, under which names.

The plan is a pure function of the configuration, so every xdist worker builds the same
items with the same ids.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import run_check
from .context import CheckFailed, CheckSkipped
from .guards import auth, cors, csrf, webhook_hmac
from .profiles import (
    health_schema,
    negative_control,
    rate_limit_burst,
    rate_limit_headers,
    security_headers,
)
from .spec import (
    Auth,
    Cors,
    Csrf,
    HealthSchema,
    NegativeControl,
    RateLimit,
    SecurityHeaders,
    WebhookHmac,
)
from .tables import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .context import Context
    from .spec import Mode, Profile, SmokeConfig

PROFILE_KIND: dict[type, str] = {
    SecurityHeaders: "security_headers",
    RateLimit: "rate_limit",
    Auth: "auth",
    Csrf: "csrf",
    WebhookHmac: "webhook_hmac",
    Cors: "cors",
    NegativeControl: "negative_control",
    HealthSchema: "health_schema",
}
READINESS = "readiness"


@dataclass(frozen=True)
class Planned:
    """One future pytest item: its name, what it runs, and how its findings count."""

    label: str
    run: Callable[[Context], list[str]] | None  # None: the readiness report
    mode: Mode = "fail"
    budget_s: float = 60.0
    last: bool = False  # bursts go last: they use up the rate limit other checks share


def builtin_profiles() -> list[Profile]:
    """The zero-configuration checks: warn about headers, fail on what proves nothing."""
    return [
        HealthSchema(mode="fail", require=("status",), json_only=True),
        NegativeControl(mode="fail"),
        SecurityHeaders(mode="warn"),
        RateLimit(mode="warn"),
    ]


def use_builtin(config: SmokeConfig, *, collected_tests: bool) -> bool:
    """``builtin_checks = true/false`` decides; ``auto``: no configuration and no tests."""
    if config.builtin is not None:
        return config.builtin
    return not config.configured and not collected_tests


def plan(config: SmokeConfig, *, builtin: bool) -> list[Planned]:
    """Items for every check and profile (and built-in check), in run order, with unique names."""
    items: list[Planned] = []
    chosen = list(config.profiles)
    if builtin:
        items.append(Planned(READINESS, None))
        configured = {PROFILE_KIND[type(p)] for p in chosen} | config.disabled
        chosen = [p for p in builtin_profiles() if PROFILE_KIND[type(p)] not in configured] + chosen
    budget = config.budget_s
    for check in config.checks:
        items.append(
            Planned(check.label, functools.partial(run_check, check=check), budget_s=check.budget_s)
        )
    for profile in sorted(chosen, key=lambda p: _ORDER.index(PROFILE_KIND[type(p)])):
        items.extend(_profile_items(profile, budget))
    items.sort(key=lambda item: item.last)
    seen: set[str] = set()
    for item in items:
        if item.label in seen:
            where = f"{config.source}: " if config.source else ""
            raise ConfigError(
                f"{where}two smoke items would both be named {item.label!r}; give the checks "
                "different names or profiles different paths"
            )
        seen.add(item.label)
    return items


# Read-only probes first; the ones that post forms and webhooks after them.
_ORDER = (
    "health_schema",
    "negative_control",
    "security_headers",
    "rate_limit",
    "auth",
    "csrf",
    "webhook_hmac",
    "cors",
)


def _path(path: str) -> str:
    return path.split("?", 1)[0]


def _profile_items(profile: Profile, budget: float) -> list[Planned]:
    p = functools.partial
    if isinstance(profile, SecurityHeaders):
        return [
            Planned(
                f"security_headers GET {_path(path)}",
                p(security_headers, profile=profile, path=path),
                profile.mode,
                budget,
            )
            for path in profile.paths
        ]
    if isinstance(profile, RateLimit):
        items = [
            Planned(
                f"rate_limit {profile.endpoint}",
                p(rate_limit_headers, profile=profile),
                profile.mode,
                budget,
            )
        ]
        if profile.burst:
            burst_budget = max(budget, profile.burst_budget_s + 30.0)
            items.append(
                Planned(
                    f"rate_limit burst {profile.endpoint}",
                    p(rate_limit_burst, profile=profile),
                    profile.mode,
                    burst_budget,
                    last=True,
                )
            )
        return items
    if isinstance(profile, Auth):
        return [
            Planned(
                f"auth {endpoint}",
                p(auth, profile=profile, endpoint=endpoint),
                profile.mode,
                budget,
            )
            for endpoint in profile.endpoints
        ]
    if isinstance(profile, Csrf):
        return [Planned(f"csrf {profile.endpoint}", p(csrf, profile=profile), profile.mode, budget)]
    if isinstance(profile, WebhookHmac):
        return [
            Planned(
                f"webhook_hmac {profile.endpoint}",
                p(webhook_hmac, profile=profile),
                profile.mode,
                budget,
            )
        ]
    if isinstance(profile, Cors):
        return [
            Planned(
                f"cors OPTIONS {_path(path)}",
                p(cors, profile=profile, path=path),
                profile.mode,
                budget,
            )
            for path in profile.paths
        ]
    if isinstance(profile, NegativeControl):
        single = len(profile.paths) == 1
        return [
            Planned(
                "negative_control" if single else f"negative_control {profile.method} {path}",
                p(negative_control, profile=profile, path=path),
                profile.mode,
                budget,
            )
            for path in profile.paths
        ]
    label = "health_schema" if profile.path is None else f"health_schema GET {_path(profile.path)}"
    return [Planned(label, p(health_schema, profile=profile), profile.mode, budget)]


def readiness_report(target: Mapping[str, object], *, polled: bool) -> str:
    """What readiness found, for the built-in ``readiness`` item; skip or fail otherwise."""
    waited = target.get("ready_after_s")
    if isinstance(waited, (int, float)):
        version = target.get("version") or "unknown"
        where = f" at {target['path']}" if target.get("path") else ""
        return f"ready after {waited:.2f} s{where}; version {version}"
    if not polled:
        raise CheckSkipped("readiness polling skipped (--no-gate-ready)")
    raise CheckFailed("readiness was not reached before the smoke checks ran")
