"""The opsgate extension's Locust command-line arguments, and the SLOs a locustfile declares."""

from __future__ import annotations

import os
import sys
from typing import Any


def add_arguments(parser: Any) -> None:
    """Add the ``--opsgate-*`` arguments to Locust's parser (hidden from its web UI)."""
    hidden = {"include_in_web_ui": False}
    parser.add_argument(
        "--opsgate-slo",
        action="append",
        default=[],
        metavar="EXPR",
        help='opsgate SLO, e.g. "GET /api/items: p95 < 300ms" (repeatable)',
        **hidden,
    )
    parser.add_argument(
        "--opsgate-warmup", default="0", metavar="DURATION", help="left out of SLOs", **hidden
    )
    parser.add_argument(
        "--opsgate-min-samples", type=int, default=1, metavar="N", help="per SLO", **hidden
    )
    parser.add_argument(
        "--opsgate-abort-grace",
        default="5s",
        metavar="DURATION",
        help="how long an [abort] SLO may stay broken",
        **hidden,
    )
    parser.add_argument(
        "--opsgate-workers-wait",
        default="60s",
        metavar="DURATION",
        help="how long the master waits for --expect-workers before exit code 11",
        **hidden,
    )
    parser.add_argument("--opsgate-result", metavar="PATH", help="JSON result file", **hidden)
    parser.add_argument(
        "--opsgate-progress", metavar="PATH", help="JSON lines of progress, one a second", **hidden
    )
    parser.add_argument(
        "--opsgate-no-default-slo",
        action="store_true",
        default=False,
        help="do not add error_rate < 1%% when no SLO is given",
        **hidden,
    )


def locustfile_slos(environment: Any) -> list[str]:
    """The ``SLOS`` lists of the loaded locustfiles."""
    paths = {os.path.abspath(p) for p in (getattr(environment, "parsed_locustfiles", None) or [])}
    texts: list[str] = []
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if filename and os.path.abspath(filename) in paths:
            value = getattr(module, "SLOS", None)
            if isinstance(value, str):
                texts.append(value)
            elif value:
                texts.extend(str(item) for item in value)
    return texts
