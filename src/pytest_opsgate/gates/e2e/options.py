"""Value parsers of the E2E gate's options (light: stdlib only); the options themselves are
declared in :mod:`pytest_opsgate.settings.table`."""

from __future__ import annotations

import argparse
import re

CONSOLE_POLICIES = ("fail", "warn", "ignore")
# Chromium asks every site for /favicon.ico and logs a 404 as a console error.
DEFAULT_CONSOLE_IGNORE = (r"/favicon\.ico\b",)
DEFAULT_LOGIN_PATTERN = r"/(login|log-in|signin|sign-in|auth)(/|$)"


def console_policy(text: str) -> str:
    """``--gate-e2e-console-errors`` type: fail, warn or ignore."""
    value = str(text).strip().lower()
    if value not in CONSOLE_POLICIES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a console error policy; use fail, warn or ignore"
        )
    return value


def login_pattern(text: str) -> str:
    """``--gate-e2e-login-pattern`` type: a regular expression over the final URL's path."""
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a regular expression ({exc}); pass one like '/(login|sso)(/|$)'"
        ) from None
    return str(text)
