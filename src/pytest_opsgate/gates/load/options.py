"""Value parsers of the load gate's options (light: stdlib only); the options themselves are
declared in :mod:`pytest_opsgate.settings.table`."""

from __future__ import annotations

import argparse
import math
import os

from .arrivals import rate_option, stages_option

__all__ = [
    "bind_address",
    "latency_basis",
    "positive_float",
    "rate_option",
    "stages_option",
    "worker_count",
]

LATENCY_BASES = ("corrected", "service")


def positive_float(text: str) -> float:
    """Option type for rates such as ``--gate-spawn-rate 2.5``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0, e.g. 10")
    return value


def worker_count(text: str) -> int:
    """``--gate-load-workers`` type: a count of local worker processes, or ``auto`` (cores)."""
    value = str(text).strip().lower()
    if value == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a worker count; pass a number such as 2, or auto (one per core)"
        ) from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative; pass 0 (no workers), N or auto")
    return count


def bind_address(text: str) -> tuple[str, int]:
    """``--gate-load-bind`` type: ``HOST:PORT`` where external Locust workers connect."""
    host, sep, port_text = str(text).strip().rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not sep or not host or not 0 < port < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT; pass the address workers connect to, e.g. 0.0.0.0:5557"
        )
    return host, port


def latency_basis(text: str) -> str:
    """``--gate-load-latency`` type: what the open model's SLOs judge, corrected or service."""
    value = str(text).strip().lower()
    if value not in LATENCY_BASES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a latency; pass corrected (from the intended start, the default) "
            "or service (from the actual send)"
        )
    return value
