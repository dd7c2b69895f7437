"""Gate settings: option value types and one resolved, validated settings object."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

    from .http.redact import Redactor
    from .slo.evaluate import SLO

GATE_NAMES = ("smoke", "e2e", "load")
GATE_ORDER = {name: index for index, name in enumerate(GATE_NAMES)}
BASE_URL_ENV_VARS = ("PYTEST_BASE_URL", "BASE_URL", "PLAYWRIGHT_BASE_URL")

T = TypeVar("T")


def gate_names(text: str) -> frozenset[str]:
    """``--gate`` type: a comma-separated list of gate names, ``all`` kept as written."""
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    if not names:
        raise argparse.ArgumentTypeError(
            f"--gate needs a gate name; use one or more of {', '.join(GATE_NAMES)} or all"
        )
    unknown = sorted(names - set(GATE_NAMES) - {"all"})
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown gate {', '.join(map(repr, unknown))}; "
            f"valid gates are {', '.join(GATE_NAMES)} and all (e.g. --gate=smoke,e2e)"
        )
    return frozenset(names)


def duration(text: str) -> float:
    """Option type for durations such as ``120``, ``30s``, ``500ms``, ``2m``."""
    from .slo.evaluate import parse_duration

    try:
        seconds = parse_duration(str(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; durations are >= 0")
    return seconds


def positive_int(text: str) -> int:
    """Option type for counts that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_FACTORS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def byte_size(text: str) -> int:
    """Option type for sizes such as ``4MiB``, ``512kb``, ``1048576``."""
    match = _SIZE.match(str(text))
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size; use bytes or a unit, e.g. 4MiB or 512KB"
        )
    factor = _SIZE_FACTORS[(match.group(2) or "b").lower()]
    value = int(float(match.group(1)) * factor)
    if value < 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is too small; use at least 1KiB")
    return value


def slo_expression(text: str) -> SLO:
    """Option type for ``--gate-slo``: parsed at start so a typo is a usage error."""
    from .slo.evaluate import SLOSyntaxError, parse_slo

    try:
        return parse_slo(text)
    except SLOSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ready_expect(text: str) -> str:
    """Option type for ``--gate-ready-expect``: validated now, compiled by readiness."""
    from .target.readiness import parse_expect

    try:
        parse_expect(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def strip_credentials(url: str) -> str:
    """The URL without user:password, for reports and gate.json."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def validate_base_url(url: str) -> str:
    """Reject base URLs that cannot be requested, naming the fix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--base-url {strip_credentials(url)!r} is not an http(s) URL; "
            "pass one like --base-url https://staging.example.com"
        )
    return url.rstrip("/") if parts.path in ("", "/") else url


@dataclass
class GateSettings:
    """Everything a gate run was told, resolved from options, environment and ini."""

    gates: frozenset[str]  # every selected gate, ``all`` expanded
    base_url: str | None
    artifacts_dir: Path
    slos: list[SLO] = field(default_factory=list)
    min_samples: int = 1
    ready: bool = True
    ready_paths: list[str] = field(default_factory=list)
    ready_timeout_s: float = 120.0
    ready_attempt_timeout_s: float = 5.0
    ready_expects: list[str] = field(default_factory=list)
    ready_successes: int = 1
    expected_version: str | None = None
    request_timeout_s: float = 30.0
    max_body_bytes: int = 4 * 1024 * 1024
    verify: bool | str = True
    secret_envs: list[str] = field(default_factory=list)
    redactor: Redactor | None = None
    is_worker: bool = False
    keep_going: bool = False
    test_timeout_s: float = 0.0  # 0: no limit
    start_cmd: str | None = None
    seed_cmd: str | None = None
    logs_cmd: str | None = None
    stop_cmd: str | None = None
    cmd_timeout_s: float = 300.0
    on_fail: str | None = None
    on_pass: str | None = None
    baseline_path: Path | None = None
    save_baseline_path: Path | None = None
    regression_tolerance: float = 0.10
    regression_floor_ms: float = 5.0
    baseline_partial: bool = False
    named_gates: frozenset[str] = frozenset()  # gates named in --gate, not implied by all

    @property
    def active(self) -> bool:
        """True when at least one gate was selected with ``--gate``."""
        return bool(self.gates)

    @property
    def ordered_gates(self) -> list[str]:
        """Selected gates in the order they run: smoke, e2e, load."""
        return sorted(self.gates, key=GATE_ORDER.__getitem__)

    @property
    def display_url(self) -> str:
        """Base URL without credentials."""
        return strip_credentials(self.base_url) if self.base_url else "(none)"


def fraction(text: str) -> float:
    """Option type for tolerances: ``10%`` or ``0.1``."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a fraction; use e.g. 10% or 0.1"
        ) from None
    if not 0 <= value <= 10:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; use e.g. 10%")
    return value


def resolve(
    config: pytest.Config,
    name: str,
    convert: Callable[[str], T],
    default: T,
) -> T:
    """One setting from ``--gate-<name>``, else ``OPSGATE_<NAME>``, else ini ``opsgate_<name>``."""
    dest = "gate_" + name.replace("-", "_")
    value = config.getoption(dest, default=None)
    if value is not None and value != []:
        return value  # type: ignore[no-any-return]
    env_name = "OPSGATE_" + name.upper().replace("-", "_")
    raw: object = os.environ.get(env_name)
    origin = f"environment variable {env_name}"
    if raw is None:
        raw = config.getini("opsgate_" + name.replace("-", "_"))
        origin = f"ini option opsgate_{name.replace('-', '_')}"
        if raw in (None, "", []):
            return default
    try:
        return convert(raw)  # type: ignore[arg-type]
    except (argparse.ArgumentTypeError, ValueError) as exc:
        from .errors import GateUsageError

        raise GateUsageError(f"{origin}: {exc}") from None


def resolve_list(
    config: pytest.Config, name: str, convert: Callable[[str], T] | None = None
) -> list[T]:
    """A repeatable setting: command line values, else env (comma/newline separated), else ini."""
    dest = "gate_" + name.replace("-", "_")
    values = config.getoption(dest, default=None)
    if values:
        return list(values)
    env_name = "OPSGATE_" + name.upper().replace("-", "_")
    env = os.environ.get(env_name)
    if env is not None:
        raw = [part.strip() for part in re.split(r"[\n;]", env) if part.strip()]
        origin = f"environment variable {env_name}"
    else:
        raw = [str(v) for v in (config.getini("opsgate_" + name.replace("-", "_")) or [])]
        origin = f"ini option opsgate_{name.replace('-', '_')}"
    if convert is None:
        return raw  # type: ignore[return-value]
    try:
        return [convert(value) for value in raw]
    except (argparse.ArgumentTypeError, ValueError) as exc:
        from .errors import GateUsageError

        raise GateUsageError(f"{origin}: {exc}") from None


def find_base_url(config: pytest.Config) -> str | None:
    """Base URL from pytest-base-url (option, ini, env) or BASE_URL / PLAYWRIGHT_BASE_URL."""
    value = config.getoption("base_url", default=None) or config.getini("base_url")
    if value:
        return str(value)
    for env_name in BASE_URL_ENV_VARS:
        if os.environ.get(env_name):
            return os.environ[env_name]
    return None


def truthy(text: str) -> bool:
    """Ini/env booleans: 1/true/yes/on versus 0/false/no/off."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean; use true or false")


def load_settings(config: pytest.Config) -> GateSettings:
    """Resolve and validate every core setting; raises GateUsageError naming the fix."""
    from .errors import GateUsageError

    # --gate is deliberately command-line only: an ini or env default would turn every
    # ordinary pytest run of the project into a gate run.
    written: frozenset[str] = config.getoption("gate", default=None) or frozenset()
    named = written - {"all"}
    gates = frozenset(GATE_NAMES) if "all" in written else named
    base_url = find_base_url(config)
    if base_url:
        try:
            base_url = validate_base_url(base_url)
        except ValueError as exc:
            raise GateUsageError(str(exc)) from None
    if gates and not base_url:
        raise GateUsageError(
            f"--gate={','.join(sorted(gates))} needs a target; pass --base-url URL "
            "(or set base_url in the ini file, or PYTEST_BASE_URL / BASE_URL)"
        )
    no_ready = config.getoption("no_gate_ready", default=False)
    ready = not no_ready and resolve(config, "ready", truthy, True)
    ca_bundle = resolve(config, "ca-bundle", str, "")
    insecure = config.getoption("gate_insecure", default=False)
    if ca_bundle and not Path(ca_bundle).is_file():
        raise GateUsageError(f"--gate-ca-bundle {ca_bundle!r} does not exist; pass a PEM file")
    verify: bool | str = False if insecure else (ca_bundle or True)
    baseline = resolve(config, "baseline", str, "")
    if gates and baseline and not Path(baseline).is_file():
        raise GateUsageError(
            f"--gate-baseline {baseline!r} does not exist; pass the gate.json of an earlier "
            "green run (written by --gate-save-baseline) or drop the option"
        )
    save_baseline = resolve(config, "save-baseline", str, "")
    return GateSettings(
        gates=gates,
        base_url=base_url,
        artifacts_dir=Path(resolve(config, "artifacts", str, "gate-artifacts")).absolute(),
        slos=resolve_list(config, "slo", slo_expression),
        min_samples=resolve(config, "min-samples", positive_int, 1),
        ready=ready,
        ready_paths=resolve_list(config, "ready-path"),
        ready_timeout_s=resolve(config, "ready-timeout", duration, 120.0),
        ready_attempt_timeout_s=resolve(config, "ready-attempt-timeout", duration, 5.0),
        ready_expects=resolve_list(config, "ready-expect", ready_expect),
        ready_successes=resolve(config, "ready-successes", positive_int, 1),
        expected_version=resolve(config, "expect-version", str, "") or None,
        request_timeout_s=resolve(config, "request-timeout", duration, 30.0),
        max_body_bytes=resolve(config, "max-body", byte_size, 4 * 1024 * 1024),
        verify=verify,
        secret_envs=resolve_list(config, "secret-env"),
        is_worker=hasattr(config, "workerinput"),
        keep_going=bool(config.getoption("gate_keep_going", default=False)),
        test_timeout_s=resolve(config, "test-timeout", duration, 600.0),
        start_cmd=resolve(config, "start-cmd", str, "") or None,
        seed_cmd=resolve(config, "seed-cmd", str, "") or None,
        logs_cmd=resolve(config, "logs-cmd", str, "") or None,
        stop_cmd=resolve(config, "stop-cmd", str, "") or None,
        cmd_timeout_s=resolve(config, "cmd-timeout", duration, 300.0),
        on_fail=resolve(config, "on-fail", str, "") or None,
        on_pass=resolve(config, "on-pass", str, "") or None,
        baseline_path=Path(baseline) if baseline else None,
        save_baseline_path=Path(save_baseline) if save_baseline else None,
        regression_tolerance=resolve(config, "regression-tolerance", fraction, 0.10),
        regression_floor_ms=resolve(config, "regression-floor", duration, 0.005) * 1000.0,
        baseline_partial=bool(config.getoption("gate_baseline_partial", default=False))
        or resolve(config, "baseline-partial", truthy, False),
        named_gates=named,
    )
