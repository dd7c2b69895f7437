"""Command-line options of the smoke gate (light: no HTTP or TOML work at import)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .spec import PROFILE_NAMES as PROFILES

if TYPE_CHECKING:
    import pytest


def profile_name(text: str) -> str:
    """``--gate-profile`` type: one of the built-in smoke profiles."""
    name = text.strip().lower().replace("-", "_")
    if name not in PROFILES:
        raise argparse.ArgumentTypeError(
            f"unknown smoke profile {text!r}; use one of {', '.join(PROFILES)}"
        )
    return name


def openapi_option(text: str) -> str:
    """``--gate-openapi`` type: a non-empty URL, path on the target, or file."""
    value = text.strip()
    if not value:
        raise argparse.ArgumentTypeError(
            "is empty; pass an absolute URL, a path on the target (/openapi.json) or a file"
        )
    return value


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Register the smoke gate's options in the opsgate group."""
    group.addoption(
        "--gate-config",
        metavar="PATH",
        help="smoke checks and profiles to run: an opsgate.toml, or a pyproject.toml with "
        "[tool.opsgate] (default: opsgate.toml or pyproject.toml in the rootdir)",
    )
    group.addoption(
        "--gate-profile",
        action="append",
        default=[],
        type=profile_name,
        metavar="NAME",
        help=f"run a built-in smoke profile ({', '.join(PROFILES)}); settings come from the "
        "config file's table of that name (repeatable)",
    )
    group.addoption(
        "--gate-openapi",
        type=openapi_option,
        metavar="URL|PATH",
        help="check the target against its OpenAPI document, one smoke item per operation: "
        "an absolute URL, a path on the target (/openapi.json) or a file; settings come from "
        "the config file's [openapi] table (needs pytest-opsgate[openapi])",
    )
    parser.addini("opsgate_config", "smoke gate configuration file (opsgate.toml)")
    parser.addini("opsgate_openapi", "OpenAPI document to check the target against")
    parser.addini("opsgate_profile", "built-in smoke profiles to run", type="linelist")
