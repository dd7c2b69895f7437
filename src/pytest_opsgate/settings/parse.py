"""Value parsers of the options: each turns text (command line, environment, ini) into a value
or raises ``argparse.ArgumentTypeError`` naming the problem and a valid example."""

from __future__ import annotations

import argparse
import os
import re
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from urllib.parse import SplitResult

    import pytest

    from ..slo.grammar import SLO

TARGET_GATES = ("smoke", "e2e", "load")  # the gates that send traffic to --base-url
GATE_NAMES = (*TARGET_GATES, "restore")
GATE_ORDER = {name: index for index, name in enumerate(GATE_NAMES)}
BASE_URL_ENV_VARS = ("PYTEST_BASE_URL", "BASE_URL", "PLAYWRIGHT_BASE_URL")


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


_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|us|µs|μs|h|m|s)\s*", re.IGNORECASE)
_DURATION_SECONDS = {
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
    "us": Decimal("0.000001"),
    "µs": Decimal("0.000001"),
    "μs": Decimal("0.000001"),
}


def parse_duration(text: str) -> float:
    """Seconds in ``"300ms"``, ``"2s"``, ``"1.5s"``, ``"1m"``, ``"2m30s"``, ``"1h"`` or ``"90"``."""
    stripped = text.strip()
    if re.fullmatch(_NUMBER, stripped):
        return float(Decimal(stripped))
    parts = _DURATION_PART.findall(stripped)
    if not parts or _DURATION_PART.sub("", stripped):
        raise ValueError(
            f"invalid duration {text!r}; write a number with a unit (h, m, s, ms), "
            "e.g. 30s, 1m30s or 500ms, or a bare number of seconds such as 90"
        )
    return float(sum(Decimal(number) * _DURATION_SECONDS[unit.lower()] for number, unit in parts))


def duration(text: str) -> float:
    """Option type for durations such as ``120``, ``30s``, ``500ms``, ``2m``."""
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
    from ..slo.grammar import SLOSyntaxError, parse_slo

    try:
        return parse_slo(text)
    except SLOSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ready_expect(text: str) -> str:
    """Option type for ``--gate-ready-expect``: validated now, compiled by readiness."""
    from ..target.expect import parse_expect

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
    if not _port_is_valid(parts):
        raise ValueError(
            f"--base-url {parts.scheme}://{parts.hostname}... has an invalid port; "
            "pass one like --base-url http://127.0.0.1:8000"
        )
    return url.rstrip("/") if parts.path in ("", "/") else url


def _port_is_valid(parts: SplitResult) -> bool:
    """False for a port urllib cannot read (``host:8000:8000``, ``host:http``, ``host:99999``)."""
    # urlsplit accepts these; the first request would raise ValueError deep in the gate.
    try:
        parts.port  # noqa: B018  (the property validates)
    except ValueError:
        return False
    return True


def regression_floor(text: str) -> str:
    """``--gate-regression-floor`` type: ``10%``, ``+5ms`` or ``10%,+5ms`` (checked now)."""
    from ..measure.compare import RegressionFloor

    try:
        RegressionFloor.parse(str(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return str(text).strip()


def confidence(text: str) -> float:
    """``--gate-baseline-confidence`` type: ``98%`` or ``0.98``, strictly between 0 and 1."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a confidence; use e.g. 98%") from None
    if not 0.5 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; use 50% to 99.9%, e.g. 98%")
    return value


def http_url(text: str) -> str:
    """An http(s) URL option such as ``--gate-baseline-url``."""
    try:
        return validate_base_url(str(text).strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--base-url ", "")) from None


def check_base_url(text: str, *, example: str, credentials_fix: str) -> str:
    """An http(s) base URL without a trailing slash; ValueError names the problem.

    Credentials in the URL are refused (they would be printed and saved); so are a query
    or a fragment, which the API paths appended to the base would break.
    """
    value = text.strip()
    parts = urlsplit(value)
    # Never echo what may hold a secret: user:password, or a token in the query string.
    shown = f"{parts.scheme}://{parts.hostname}..." if parts.hostname else "the URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        quoted = repr(text) if "@" not in text else "the URL"
        raise ValueError(f"{quoted} is not an http(s) URL such as {example}")
    if not _port_is_valid(parts):
        raise ValueError(f"{shown} has an invalid port; give one like {example}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{shown} carries credentials in the URL; remove them and {credentials_fix}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{shown} has a query or fragment; give the base URL only")
    return value.rstrip("/")


def check_prometheus_url(text: str) -> str:
    """The base URL of Prometheus's HTTP API without a trailing slash; ValueError says why not."""
    return check_base_url(
        text,
        example="http://prometheus:9090",
        credentials_fix="set [prometheus.auth] user_env/password_env or bearer_env instead",
    )


def check_pushgateway_url(text: str) -> str:
    """The base URL of a Pushgateway without a trailing slash; ValueError says why not."""
    return check_base_url(
        text,
        example="http://pushgateway:9091",
        credentials_fix="set OPSGATE_PUSHGATEWAY_USER and OPSGATE_PUSHGATEWAY_PASSWORD "
        "(or OPSGATE_PUSHGATEWAY_TOKEN) instead",
    )


def prom_url(text: str) -> str:
    """Option type for ``--gate-prom-url``."""
    try:
        return check_prometheus_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pushgateway_url(text: str) -> str:
    """Option type for ``--gate-pushgateway``."""
    try:
        return check_pushgateway_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def push_label(text: str) -> str:
    """Option type for the push's ``job`` and ``instance``: a non-empty one-line label value."""
    value = str(text).strip()
    if not value or any(ord(char) < 32 for char in value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a label value; use a non-empty single line such as my-service"
        )
    return value


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
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false")


def text(value: str) -> str:
    """Plain text, stripped; empty text means unset."""
    return str(value).strip()
