"""The registry of smoke profiles: what a profile is, and how its TOML table becomes checks.

A profile is one :class:`Profile` value: its name (the TOML key, the ``--gate-profile`` value
and the start of its item names), how its table is read and validated, and the checks it plans.
The eight built-in profiles live in :mod:`.profiles`, one module each; a plugin or a
``conftest.py`` adds one by returning it from the ``pytest_opsgate_smoke_profiles`` hook.
Nothing outside a profile's module knows its settings: the gate reads, plans and runs every
profile through these fields alone.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from ...errors import GateUsageError
from .spec import Credential
from .tables import ConfigError, Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import pytest

    from .context import Context

__all__ = [
    "ConfiguredProfile",
    "Mode",
    "Profile",
    "ProfileCheck",
    "available_profiles",
    "credential_envs",
    "read_profile",
    "validated_registry",
]

S = TypeVar("S")
Mode = Literal["fail", "warn"]
MODES = ("fail", "warn", "off")
# Top-level keys of opsgate.toml that are not profiles (read by the smoke gate or by others).
RESERVED_NAMES = frozenset(
    {"checks", "builtin_checks", "budget", "openapi", "e2e", "load", "restore", "prometheus"}
)
READINESS = "readiness"  # the built-in readiness item's name
BUILTIN_PLUGIN = "opsgate-smoke-profiles"  # the plugin offering the built-in profiles
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def credential_envs(settings: object) -> list[str]:
    """The environment variables of a settings dataclass's ``Credential`` fields."""
    if not dataclasses.is_dataclass(settings):
        return []
    values = [getattr(settings, f.name) for f in dataclasses.fields(settings)]
    return [value.env for value in values if isinstance(value, Credential)]


@dataclass(frozen=True)
class ProfileCheck:
    """One item a configured profile runs: ``<profile> <label>``, and what it does."""

    label: str  # "GET /api/items" gives the item "auth GET /api/items"; "" gives "auth"
    # Returns findings (failures in "fail" mode, warnings in "warn" mode); raises
    # context.CheckFailed (via ctx.fail) or CheckSkipped to stop the check.
    run: Callable[[Context], list[str]]
    last: bool = False  # run after every other item (a burst spends a rate limit others share)
    min_budget_s: float = 0.0  # the check's time budget is at least this many seconds


@dataclass(frozen=True)
class Profile(Generic[S]):
    """A smoke profile: a table name, how the table is read, and the checks it plans.

    ``read`` gets one table (``[name]``, each ``[[name]]``, or ``name = true`` as an empty
    table) and returns the profile's settings, using :class:`Table`'s getters so every error
    names file, table and key; a key nobody read is rejected after it. ``checks`` turns the
    settings into items. ``mode = "fail" | "warn" | "off"`` is read for every profile.
    """

    name: str  # the TOML key, the --gate-profile value, the first word of its item names
    read: Callable[[Table], S]
    checks: Callable[[S], Sequence[ProfileCheck]]
    keys: tuple[str, ...] = ()  # the table's keys, for "valid keys are ..." (besides mode)
    requires: tuple[str, ...] = ()  # keys without which `name = true` cannot run
    example: str = ""  # valid TOML that configures it, shown when a required key is missing
    order: int = 100  # where its items run; built-ins use 10-80, read-only probes first
    zero_config: tuple[Mode, S] | None = None  # run so when nothing is configured (no tests)
    secret_envs: Callable[[S], Iterable[str]] = credential_envs  # redacted from the start


@dataclass(frozen=True)
class ConfiguredProfile(Generic[S]):
    """One use of a profile in a run: its validated settings and what its findings do."""

    profile: Profile[S]
    settings: S
    mode: Mode = "fail"

    def checks(self) -> list[ProfileCheck]:
        """The items of this use, named ``<profile> <label>``."""
        return [
            dataclasses.replace(check, label=f"{self.profile.name} {check.label}".rstrip())
            for check in self.profile.checks(self.settings)
        ]

    def secret_envs(self) -> list[str]:
        """Environment variables holding this use's secrets."""
        return list(self.profile.secret_envs(self.settings))


def read_profile(top: Table, profile: Profile[Any], *, cli: bool) -> list[ConfiguredProfile[Any]]:
    """The uses of one profile: a mode word, true, a table, or an array of tables."""
    name = profile.name
    raw = top.raw(name, True)
    if cli and raw in (False, "off"):
        raw = True  # the command line asked for it by name
    if raw is False or raw == "off":
        return []
    if raw is True or isinstance(raw, str):
        if isinstance(raw, str) and raw not in MODES:
            top.fail(f'is {raw!r}; use "fail", "warn", "off", true, false or a table', name)
        raw = {"mode": raw} if isinstance(raw, str) else {}
    tables = raw if isinstance(raw, list) else [raw]
    found: list[ConfiguredProfile[Any]] = []
    for number, item in enumerate(tables, 1):
        where = f"[{top.prefix}{name}]" if len(tables) == 1 else f"[[{top.prefix}{name}]] #{number}"
        t = Table(item, top.file, where)
        mode = t.choice("mode", MODES, "fail")
        missing = [key for key in profile.requires if not t.has(key)]
        if missing:
            problem = (
                f"needs {' and '.join(missing)}; configure the profile in opsgate.toml (a "
                f"[{name}] table, or [tool.opsgate.{name}] in pyproject.toml), e.g. "
                f"{profile.example}"
            )
            if cli and not top.has(name):
                raise ConfigError(f"--gate-profile {name} {problem}")
            t.fail(problem, key=None)
        settings = profile.read(t)
        t.finish({*profile.keys, *t.seen, "mode"})
        if mode != "off":
            found.append(ConfiguredProfile(profile, settings, "warn" if mode == "warn" else "fail"))
    return found


def available_profiles(config: pytest.Config) -> tuple[Profile[Any], ...]:
    """Every profile offered through ``pytest_opsgate_smoke_profiles``, the built-ins first."""
    from .profiles import BuiltinProfiles

    manager = config.pluginmanager
    if manager.get_plugin(BUILTIN_PLUGIN) is None:
        manager.register(BuiltinProfiles(), BUILTIN_PLUGIN)
    offered = [p for group in config.hook.pytest_opsgate_smoke_profiles() for p in group or ()]
    return validated_registry(offered)


def validated_registry(offered: Iterable[object]) -> tuple[Profile[Any], ...]:
    """The offered profiles, or a usage error naming the one that cannot be used and why."""
    hook = "pytest_opsgate_smoke_profiles"
    seen: dict[str, Profile[Any]] = {}
    for item in offered:
        if not isinstance(item, Profile):
            raise GateUsageError(
                f"{hook} returned {item!r}, which is not a smoke profile; return a list of "
                "pytest_opsgate.gates.smoke.registry.Profile"
            )
        name = item.name
        if not isinstance(name, str) or not _NAME.match(name):
            raise GateUsageError(
                f"{hook}: profile name {name!r} is not a lower-case TOML key; use letters, "
                'digits and "_", starting with a letter'
            )
        if name in RESERVED_NAMES:
            raise GateUsageError(
                f"{hook}: profile name {name!r} is a key opsgate.toml uses for something else; "
                "choose another name"
            )
        if name in seen:
            raise GateUsageError(
                f"{hook}: two smoke profiles are named {name!r}; rename one (a plugin cannot "
                "replace a built-in profile)"
            )
        if item.requires and not item.example:
            raise GateUsageError(
                f"{hook}: profile {name!r} requires {', '.join(item.requires)} but gives no "
                "example; set example to TOML that configures it"
            )
        if item.example:
            _check_example(item)
        seen[name] = item
    return tuple(seen.values())


def _check_example(profile: Profile[Any]) -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    problem = ""
    try:
        parsed = tomllib.loads(profile.example)
    except tomllib.TOMLDecodeError as exc:
        problem = f"is not valid TOML ({exc})"
    else:
        if profile.name not in parsed:
            problem = f"does not set {profile.name!r}"
    if problem:
        raise GateUsageError(
            f"pytest_opsgate_smoke_profiles: the example of profile {profile.name!r} "
            f"({profile.example!r}) {problem}; users copy it, so write it as a line of "
            f'opsgate.toml, e.g. {profile.name} = {{ path = "/" }}'
        )
