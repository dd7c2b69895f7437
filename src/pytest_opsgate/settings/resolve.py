"""From the options table to pytest options, ini keys, environment lookups and frozen settings.

Precedence, for every option: the command line, then ``OPSGATE_<NAME>``, then the ini key
``opsgate_<name>``, then (for a few load options) ``[tool.opsgate.load]``, then the table's
default. A value that does not parse is a :class:`~pytest_opsgate.errors.GateUsageError`
naming where it came from and how to fix it.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GateUsageError
from .parse import GATE_ORDER, TARGET_GATES, find_base_url, strip_credentials, validate_base_url
from .table import BY_NAME, OPTIONS

if TYPE_CHECKING:
    import pytest

    from ..slo.grammar import SLO

__all__ = ["GateSettings", "add_options", "build_settings", "option_value"]

_UNSET = object()


def add_options(parser: pytest.Parser) -> None:
    """Register every option of the table: one ``opsgate`` group, and an ini key each."""
    group = parser.getgroup("opsgate", "deployment gate (pytest-opsgate)")
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"help": option.help.replace("%", "%%"), "dest": option.dest}
        if option.kind == "flag":
            kwargs["action"] = "store_false" if option.cli_flag else "store_true"
            kwargs["default"] = None
        else:
            kwargs["metavar"] = option.metavar
            kwargs["type"] = option.parse
            if option.kind == "list":
                kwargs["action"] = "append"
                kwargs["default"] = []
        group.addoption(option.flag, **kwargs)
        if not option.cli_only:
            kind = "linelist" if option.kind == "list" else "string"
            parser.addini(option.ini, option.help, type=kind)  # type: ignore[arg-type]


def _parse(option: Any, raw: str, origin: str) -> Any:
    try:
        return option.parse(raw)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise GateUsageError(f"{origin}: {exc}") from None


def option_value(config: pytest.Config, name: str, fallback: Any = _UNSET) -> Any:
    """One option's value: command line, environment, ini, ``fallback``, the default."""
    option = BY_NAME[name]
    given = config.getoption(option.dest, default=None)
    if option.kind == "list":
        if given:
            return list(given)
    elif given is not None:
        return given
    if option.cli_only:
        return option.default if fallback is _UNSET else fallback
    raw = os.environ.get(option.env)
    if raw is not None:
        origin = f"environment variable {option.env}"
        if option.kind == "list":
            parts = [part.strip() for part in re.split(r"[\n;]", raw) if part.strip()]
            return [_parse(option, part, origin) for part in parts]
        return _parse(option, raw, origin) if raw.strip() else option.default
    ini = config.getini(option.ini)
    origin = f"ini option {option.ini}"
    if option.kind == "list":
        if ini:
            return [_parse(option, str(value), origin) for value in ini]
    elif ini not in (None, ""):
        return _parse(option, str(ini), origin)
    if fallback is not _UNSET:
        return fallback
    return list(option.default or []) if option.kind == "list" else option.default


def option_given(config: pytest.Config, name: str) -> bool:
    """True when the command line or the environment sets the option (they outrank files)."""
    option = BY_NAME[name]
    given = config.getoption(option.dest, default=None)
    if given not in (None, []):
        return True
    return not option.cli_only and os.environ.get(option.env) is not None


@dataclass(frozen=True)
class GateSettings:
    """Everything a gate run was told, resolved once at configure and frozen."""

    gates: frozenset[str]  # every selected gate, ``all`` expanded
    named_gates: frozenset[str]  # gates named in --gate, not implied by ``all``
    base_url: str | None
    artifacts_dir: Path
    slos: tuple[SLO, ...]
    min_samples: int
    ready: bool
    ready_paths: tuple[str, ...]
    ready_timeout_s: float
    ready_attempt_timeout_s: float
    ready_expects: tuple[str, ...]
    ready_successes: int
    expected_version: str | None
    request_timeout_s: float
    max_body_bytes: int
    verify: bool | str
    secret_envs: tuple[str, ...]
    is_worker: bool
    keep_going: bool
    test_timeout_s: float
    start_cmd: str | None
    serve_cmd: str | None
    serve_reuse: bool
    seed_cmd: str | None
    logs_cmd: str | None
    stop_cmd: str | None
    cmd_timeout_s: float
    on_fail: str | None
    on_pass: str | None
    baseline_path: Path | None
    save_baseline_path: Path | None
    baseline_url: str | None
    regression_floor: str
    baseline_confidence: float
    baseline_min_samples: int
    baseline_partial: bool

    @property
    def active(self) -> bool:
        """True when at least one gate was selected with ``--gate``."""
        return bool(self.gates)

    @property
    def needs_target(self) -> bool:
        """True when a selected gate sends traffic to the target (all but restore)."""
        return bool(self.gates & frozenset(TARGET_GATES))

    @property
    def ordered_gates(self) -> list[str]:
        """Selected gates in the order they run: smoke, e2e, load, restore."""
        return sorted(self.gates, key=GATE_ORDER.__getitem__)

    @property
    def display_url(self) -> str:
        """Base URL without credentials."""
        return strip_credentials(self.base_url) if self.base_url else "(none)"


def _addresses(host: str) -> set[str]:
    """The addresses ``host`` resolves to; empty when it does not resolve within 2 s."""
    import concurrent.futures
    import socket

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(socket.getaddrinfo, host, None).result(timeout=2.0)
    except (OSError, concurrent.futures.TimeoutError):
        return set()
    finally:
        pool.shutdown(wait=False)
    return {str(entry[4][0]) for entry in found}


def _same_service(a: str, b: str) -> bool:
    """Whether two URLs reach the same server: same scheme, port and path, same host or an
    address in common (``localhost`` and ``127.0.0.1``)."""
    from urllib.parse import urlsplit

    pa, pb = urlsplit(a), urlsplit(b)
    defaults = {"http": 80, "https": 443}

    def where(parts: Any) -> tuple[str, int | None, str]:
        return parts.scheme, parts.port or defaults.get(parts.scheme), parts.path.rstrip("/")

    if where(pa) != where(pb) or not pa.hostname or not pb.hostname:
        return False
    if pa.hostname.lower() == pb.hostname.lower():
        return True
    return bool(_addresses(pa.hostname) & _addresses(pb.hostname))


def _optional(value: str | None) -> str | None:
    return value or None


def build_settings(config: pytest.Config) -> GateSettings:
    """Resolve and validate every core setting; raises GateUsageError naming the fix."""

    def value(name: str) -> Any:
        return option_value(config, name)

    written: frozenset[str] = value("gate") or frozenset()
    named = written - {"all"}
    gates = named
    if "all" in written:
        gates = named | frozenset(TARGET_GATES)
        if "restore" not in named:
            # --gate=all drills a backup only when one is configured: most runs have none.
            from ..gates.restore.config import restore_configured

            if restore_configured(config):
                gates |= {"restore"}
    needs_target = bool(gates & frozenset(TARGET_GATES))
    base_url = find_base_url(config)
    if base_url:
        try:
            base_url = validate_base_url(base_url)
        except ValueError as exc:
            raise GateUsageError(str(exc)) from None
    if needs_target and not base_url:
        raise GateUsageError(
            f"--gate={','.join(sorted(written))} needs a target; pass --base-url URL "
            "(or set base_url in the ini file, or PYTEST_BASE_URL / BASE_URL)"
        )
    if gates and value("serve-cmd") and not base_url:
        raise GateUsageError(
            "--gate-serve-cmd needs --base-url URL, the address the served service answers at "
            "(a --gate=restore run alone has no target; drop --gate-serve-cmd)"
        )
    ca_bundle = value("ca-bundle")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise GateUsageError(f"--gate-ca-bundle {ca_bundle!r} does not exist; pass a PEM file")
    baseline = value("baseline")
    if gates and baseline and not Path(baseline).is_file():
        raise GateUsageError(
            f"--gate-baseline {baseline!r} does not exist; pass the gate.json of an earlier "
            "green run (written by --gate-save-baseline) or drop the option"
        )
    if gates and baseline and value("baseline-url"):
        raise GateUsageError(
            "--gate-baseline and --gate-baseline-url exclude each other: compare with a saved "
            "gate.json or with a live target measured side by side, not both"
        )
    if (
        gates
        and base_url
        and value("baseline-url")
        and _same_service(base_url, value("baseline-url"))
    ):
        raise GateUsageError(
            f"--gate-baseline-url {strip_credentials(value('baseline-url'))} is the target "
            "itself, so the deploy would be compared with itself; pass the URL of the stable "
            "version (the one serving before this deploy)"
        )
    save_baseline = value("save-baseline")
    return GateSettings(
        gates=gates,
        named_gates=named,
        base_url=base_url,
        artifacts_dir=Path(value("artifacts")).absolute(),
        slos=tuple(value("slo")),
        min_samples=value("min-samples"),
        ready=bool(value("ready")) and needs_target,  # the restore gate has no target
        ready_paths=tuple(value("ready-path")),
        ready_timeout_s=value("ready-timeout"),
        ready_attempt_timeout_s=value("ready-attempt-timeout"),
        ready_expects=tuple(value("ready-expect")),
        ready_successes=value("ready-successes"),
        expected_version=_optional(value("expect-version")),
        request_timeout_s=value("request-timeout"),
        max_body_bytes=value("max-body"),
        verify=False if value("insecure") else (ca_bundle or True),
        secret_envs=tuple(value("secret-env")),
        is_worker=hasattr(config, "workerinput"),
        keep_going=bool(value("keep-going")),
        test_timeout_s=value("test-timeout"),
        start_cmd=_optional(value("start-cmd")),
        serve_cmd=_optional(value("serve-cmd")),
        serve_reuse=bool(value("serve-reuse")),
        seed_cmd=_optional(value("seed-cmd")),
        logs_cmd=_optional(value("logs-cmd")),
        stop_cmd=_optional(value("stop-cmd")),
        cmd_timeout_s=value("cmd-timeout"),
        on_fail=_optional(value("on-fail")),
        on_pass=_optional(value("on-pass")),
        baseline_path=Path(baseline) if baseline else None,
        save_baseline_path=Path(save_baseline) if save_baseline else None,
        baseline_url=_optional(value("baseline-url")),
        regression_floor=value("regression-floor"),
        baseline_confidence=value("baseline-confidence"),
        baseline_min_samples=value("baseline-min-samples"),
        baseline_partial=bool(value("baseline-partial")),
    )
