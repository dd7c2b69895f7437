"""Command line: `python -m pytest_opsgate.demo` (also installed as `opsgate-demo`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_opsgate.demo._options import (
    DEFAULT_CORS_ORIGINS,
    DEMO_PASSWORD,
    DemoOptions,
    RateLimit,
)
from pytest_opsgate.demo._server import start_demo

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType


def _number(flag: str, low: float, high: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value >= low and (high is None or value <= high)):
            bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"{flag} must be a number {bound}; got {text!r}")
        return value

    return parse


def _rate_limit(text: str) -> RateLimit | None:
    try:
        return RateLimit.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--rate-limit: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    """Return the demo's argument parser."""
    parser = argparse.ArgumentParser(
        prog="opsgate-demo", description="Run the pytest-opsgate demo service."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--port-file", metavar="PATH", help="write the bound port to this file (removed on exit)"
    )
    parser.add_argument(
        "--startup-delay",
        type=_number("--startup-delay", 0),
        default=0.0,
        metavar="S",
        help="report 'starting' (503) for S seconds after binding",
    )
    parser.add_argument("--degraded", action="store_true", help="report degraded (redis fail)")
    parser.add_argument(
        "--latency-ms",
        type=_number("--latency-ms", 0),
        default=0.0,
        metavar="N",
        help="add N ms to every response except health checks",
    )
    parser.add_argument(
        "--error-rate",
        type=_number("--error-rate", 0, 1),
        default=0.0,
        metavar="F",
        help="answer this fraction of /api/* requests with 500",
    )
    parser.add_argument("--seed", type=int, help="seed for --error-rate, for repeatable runs")
    parser.add_argument("--db", metavar="PATH", help="SQLite file (default: in memory)")
    parser.add_argument("--log-file", metavar="PATH", help="access log file (default: stderr)")
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=RateLimit(60, 60.0),
        metavar="N/WINDOW",
        help="per client and path, e.g. 60/60s (default), 100/1m or off",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help=f"allowed CORS origin, repeatable (default {DEFAULT_CORS_ORIGINS[0]})",
    )
    return parser


def options_from(args: argparse.Namespace) -> DemoOptions:
    """Return the DemoOptions an argument namespace describes."""
    return DemoOptions(
        startup_delay=args.startup_delay,
        degraded=args.degraded,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        seed=args.seed,
        db=args.db,
        log_file=args.log_file,
        port_file=args.port_file,
        rate_limit=args.rate_limit,
        cors_origins=tuple(args.cors_origin or DEFAULT_CORS_ORIGINS),
    )


def how_to_drive(url: str, options: DemoOptions) -> str:
    """The exports the shipped suites read their secrets from, and the three gate commands."""
    secrets = (
        ("DEMO_DEV_KEY", options.dev_key),
        ("DEMO_ADMIN_KEY", options.admin_key),
        ("DEMO_READONLY_KEY", options.readonly_key),
        ("DEMO_LOAD_KEY", options.load_key),
        ("DEMO_WEBHOOK_SECRET", options.webhook_secret),
        ("E2E_PASSWORD", DEMO_PASSWORD),
    )
    target = shlex.quote(url)
    lines = [
        "",
        "The shipped suites read the demo's keys from the environment, as a pipeline would:",
        "",
        *(f"export {name}={shlex.quote(value)}" for name, value in secrets),
        "",
        "Then, from a checkout of pytest-opsgate:",
        "",
        f"pytest suites/smoke --gate=smoke --base-url {target}",
        f"pytest suites/e2e --gate=e2e --base-url {target}",
        f"pytest suites --gate=load --gate-locustfile locustfiles/demo.py --base-url {target}",
        "",
        "Stop the demo with Ctrl-C.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until SIGTERM or SIGINT (or the ``backup`` command); the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["backup"]:
        from pytest_opsgate.demo._backup import main as backup_main

        return backup_main(arguments[1:])
    args = build_parser().parse_args(arguments)
    if args.log_file is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("pytest_opsgate.demo")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        options = options_from(args)
        server = start_demo(options, host=args.host, port=args.port)
    except ValueError as error:
        print(f"opsgate-demo: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"opsgate-demo cannot listen on {args.host}:{args.port} ({error.strerror}); "
            "pass another --port, or --port 0 with --port-file",
            file=sys.stderr,
        )
        return 1

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(f"opsgate-demo listening on {server.url}", flush=True)
    print(how_to_drive(server.url, options), flush=True)
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if args.port_file:
            with contextlib.suppress(OSError):
                Path(args.port_file).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
