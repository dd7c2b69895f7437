"""Value parsers of the restore gate's options (light: nothing is imported until a value is
parsed); the options themselves are declared in :mod:`pytest_opsgate.settings.table`."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...slo.grammar import SLO


def restore_expect(text: str) -> SLO:
    """``--gate-restore-expect`` type: one expectation, parsed now so a typo is a usage error."""
    from ...slo.grammar import SLOSyntaxError
    from .expect import parse_restore_expect

    try:
        return parse_restore_expect(str(text))
    except SLOSyntaxError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tolerance(text: str) -> float:
    """``--gate-restore-tolerance`` type: ``5%`` or ``0.05``, at least 0 and below 100 %."""
    raw = str(text).strip()
    try:
        value = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a tolerance; write a percentage such as 5% (or 0.05)"
        ) from None
    if not value.is_finite() or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is out of range; a tolerance is at least 0% and below 100%, e.g. 5%"
        )
    return float(value)


def positive_duration(text: str) -> float:
    """A duration above zero in seconds: ``26h``, ``10m``, ``90s`` or a bare ``90``."""
    from ...settings.parse import duration

    seconds = duration(str(text))
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is zero; give a duration above 0, e.g. 26h")
    return seconds


def dsn_text(text: str) -> str:
    """``--gate-restore-dsn`` type: kept as given (checked at configure, never echoed)."""
    value = str(text).strip()
    if not value:
        raise argparse.ArgumentTypeError(
            "is empty; pass postgresql://USER@HOST:PORT/postgres (with the password in "
            "OPSGATE_RESTORE_DSN, not on the command line), or leave it out"
        )
    return value
