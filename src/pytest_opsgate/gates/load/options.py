"""Command-line options of the load gate (light: stdlib and pytest only)."""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


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


def add_options(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    """Register the load gate's options in the opsgate group."""
    from ...settings import duration, positive_int, slo_expression

    group.addoption(
        "--gate-locustfile",
        action="append",
        default=[],
        metavar="PATH",
        help="locustfile (or folder of them) to run as one load test each (repeatable; "
        "default: locustfiles/ in the rootdir)",
    )
    group.addoption(
        "--gate-users", type=positive_int, metavar="N", help="peak Locust users (default 10)"
    )
    group.addoption(
        "--gate-spawn-rate",
        type=positive_float,
        metavar="R",
        help="users started per second (default: all within the first second)",
    )
    group.addoption(
        "--gate-run-time",
        type=duration,
        metavar="DURATION",
        help="length of each load test, warmup included; a hard cap (default 30s)",
    )
    group.addoption(
        "--gate-load-warmup",
        type=duration,
        metavar="DURATION",
        help="leading part of the run left out of SLO evaluation, rounded up to whole "
        "seconds (default 0)",
    )
    group.addoption(
        "--gate-load-slo",
        action="append",
        default=[],
        type=slo_expression,
        metavar="EXPR",
        help='SLO for load tests only, e.g. "GET /api/items: p95 < 300ms" (repeatable; '
        "--gate-slo applies too)",
    )
    group.addoption(
        "--gate-load-abort-grace",
        type=duration,
        metavar="DURATION",
        help="how long an SLO marked [abort] may stay broken before the load stops (default 5s)",
    )
    group.addoption(
        "--gate-load-workers",
        type=worker_count,
        metavar="N|auto",
        help="run Locust distributed: one master and N local worker processes (auto = cores)",
    )
    group.addoption(
        "--gate-load-expect-workers",
        type=positive_int,
        metavar="N",
        help="wait for N external workers (locust --worker --master-host ...) to connect",
    )
    group.addoption(
        "--gate-load-bind",
        type=bind_address,
        metavar="HOST:PORT",
        help="address the Locust master listens on for external workers (default 127.0.0.1:5557)",
    )
    group.addoption(
        "--gate-load-workers-wait",
        type=duration,
        metavar="DURATION",
        help="how long to wait for expected workers before the verdict is ERROR (default 60s)",
    )
    group.addoption(
        "--gate-allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="send load to this non-loopback host (repeatable; loopback is always allowed)",
    )
    group.addoption(
        "--gate-locust-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument passed to Locust as is, e.g. --gate-locust-arg=--tags=api",
    )
    for name, kind, help_text in (
        ("opsgate_locustfile", "linelist", "locustfiles or folders for the load gate"),
        ("opsgate_users", "string", "peak Locust users"),
        ("opsgate_spawn_rate", "string", "users started per second"),
        ("opsgate_run_time", "string", "length of each load test"),
        ("opsgate_load_warmup", "string", "warmup left out of SLO evaluation"),
        ("opsgate_load_slo", "linelist", "SLOs for load tests, one per line"),
        ("opsgate_load_abort_grace", "string", "grace period of [abort] SLOs"),
        ("opsgate_load_workers", "string", "local Locust worker processes (N or auto)"),
        ("opsgate_load_expect_workers", "string", "external Locust workers to wait for"),
        ("opsgate_load_bind", "string", "HOST:PORT of the Locust master"),
        ("opsgate_load_workers_wait", "string", "how long to wait for workers"),
        ("opsgate_allow_host", "linelist", "non-loopback hosts the load gate may target"),
        ("opsgate_locust_arg", "linelist", "extra Locust arguments"),
    ):
        parser.addini(name, help_text, type=kind)  # type: ignore[arg-type]
