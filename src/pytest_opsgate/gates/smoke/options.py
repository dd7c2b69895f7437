"""Value parsers of the smoke gate's options (light: no HTTP or TOML work at import); the
options themselves are declared in :mod:`pytest_opsgate.settings.table`."""

from __future__ import annotations

import argparse
import re

# The names of the built-in profiles (gates/smoke/profiles/), for --help; a test keeps the two
# equal. Plugins add profiles through pytest_opsgate_smoke_profiles, so --gate-profile takes
# any name here and the smoke gate checks it against every profile on offer.
BUILTIN_PROFILES = (
    "security_headers",
    "rate_limit",
    "auth",
    "csrf",
    "webhook_hmac",
    "cors",
    "negative_control",
    "health_schema",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def profile_name(text: str) -> str:
    """``--gate-profile`` type: a profile name (``security-headers`` is ``security_headers``)."""
    name = text.strip().lower().replace("-", "_")
    if not _NAME.match(name):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a smoke profile name; use one of {', '.join(BUILTIN_PROFILES)} "
            "or a profile a plugin adds"
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
