"""Settings of a gate run: every option declared once (``table``), parsed (``parse``), resolved
into frozen settings (``resolve``), and rendered into the README (``readme``)."""

from __future__ import annotations

from .parse import (
    BASE_URL_ENV_VARS,
    GATE_NAMES,
    GATE_ORDER,
    TARGET_GATES,
    byte_size,
    duration,
    find_base_url,
    fraction,
    gate_names,
    parse_duration,
    positive_int,
    ready_expect,
    slo_expression,
    strip_credentials,
    truthy,
    validate_base_url,
)
from .resolve import GateSettings, add_options, build_settings, option_given, option_value

__all__ = [
    "BASE_URL_ENV_VARS",
    "GATE_NAMES",
    "GATE_ORDER",
    "TARGET_GATES",
    "GateSettings",
    "add_options",
    "build_settings",
    "byte_size",
    "duration",
    "find_base_url",
    "fraction",
    "gate_names",
    "option_given",
    "option_value",
    "parse_duration",
    "positive_int",
    "ready_expect",
    "slo_expression",
    "strip_credentials",
    "truthy",
    "validate_base_url",
]
