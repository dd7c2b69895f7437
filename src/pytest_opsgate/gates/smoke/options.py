"""Value parsers of the smoke gate's options (light: no HTTP or TOML work at import); the
options themselves are declared in :mod:`pytest_opsgate.settings.table`."""

from __future__ import annotations

import argparse

from .spec import PROFILE_NAMES as PROFILES


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
