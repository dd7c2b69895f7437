"""Which smoke items a run gets, in which order, under which names.

The plan is a pure function of the configuration, so every xdist worker builds the same
items with the same ids.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .checks import run_check
from .context import CheckFailed, CheckSkipped
from .registry import READINESS, ConfiguredProfile
from .tables import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .context import Context
    from .registry import Mode
    from .spec import SmokeConfig


@dataclass(frozen=True)
class Planned:
    """One future pytest item: its name, what it runs, and how its findings count."""

    label: str
    run: Callable[[Context], list[str]] | None  # None: the readiness report
    mode: Mode = "fail"
    budget_s: float = 60.0
    last: bool = False  # bursts go last: they use up the rate limit other checks share


def builtin_profiles(config: SmokeConfig) -> list[ConfiguredProfile[Any]]:
    """The zero-configuration checks: warn about headers, fail on what proves nothing."""
    return [
        ConfiguredProfile(profile, settings, mode)
        for profile in config.registry
        if profile.zero_config is not None
        for mode, settings in [profile.zero_config]
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
        configured = {p.profile.name for p in chosen} | config.disabled
        zero = [p for p in builtin_profiles(config) if p.profile.name not in configured]
        chosen = zero + chosen
    budget = config.budget_s
    for check in config.checks:
        items.append(
            Planned(check.label, functools.partial(run_check, check=check), budget_s=check.budget_s)
        )
    # Read-only probes first (a lower order); the ones that post forms and webhooks after them.
    for profile in sorted(chosen, key=lambda p: p.profile.order):
        items.extend(
            Planned(
                check.label,
                check.run,
                profile.mode,
                max(budget, check.min_budget_s),
                last=check.last,
            )
            for check in profile.checks()
        )
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
