"""Command-line options of the E2E gate (light: stdlib and pytest only)."""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

CONSOLE_POLICIES = ("fail", "warn", "ignore")
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


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Register the E2E gate's options in the opsgate group."""
    group.addoption(
        "--gate-browser-executable",
        metavar="PATH",
        help="Chromium/Chrome binary for the e2e gate (default: system chromium, "
        "then Playwright's installed browsers)",
    )
    group.addoption(
        "--gate-e2e-console-errors",
        type=console_policy,
        metavar="fail|warn|ignore",
        help="what a browser console error does to an e2e test (default warn)",
    )
    group.addoption(
        "--gate-e2e-login-pattern",
        type=login_pattern,
        metavar="REGEX",
        help="gate_page.visit fails when redirected to a path matching this "
        f"(default {DEFAULT_LOGIN_PATTERN!r})",
    )
    parser.addini("opsgate_browser_executable", "Chromium binary for the e2e gate")
    parser.addini("opsgate_e2e_console_errors", "console error policy: fail, warn or ignore")
    parser.addini("opsgate_e2e_login_pattern", "regex of login page paths for gate_page.visit")
