"""The opsgate extension's Locust command-line arguments, and what a locustfile declares.

A locustfile may declare, at module level: ``SLOS`` (a list of SLO expressions), and for
the open model ``LOAD_RATE`` (``40`` or ``"40/s"``), ``LOAD_STAGES``
(``"30s:50/s,60s:200/s"``), ``LOAD_MAX_INFLIGHT`` and ``LOAD_LATENCY`` (``"corrected"`` or
``"service"``). Command-line arguments win over the locustfile's settings.
"""

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
        help="deprecated, ignored: SLOs stop the load early when lost with 98%% confidence",
        **hidden,
    )
    parser.add_argument(
        "--opsgate-early-pass",
        action="store_true",
        default=False,
        help="stop early with PASS once every SLO is held with 98%% confidence",
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
        "--opsgate-rate", metavar="R", help="open model: arrivals per second", **hidden
    )
    parser.add_argument(
        "--opsgate-stages",
        metavar="STAGES",
        help='open model: ramping rate, e.g. "30s:50/s,60s:200/s"',
        **hidden,
    )
    parser.add_argument(
        "--opsgate-max-inflight", metavar="N", help="open model: arrivals in flight", **hidden
    )
    parser.add_argument(
        "--opsgate-latency",
        metavar="BASIS",
        help="open model: corrected (default) or service latency for SLOs",
        **hidden,
    )
    # Internal: the master's open-model plan for its workers (JSON), sent with spawn jobs.
    parser.add_argument("--opsgate-open-plan", default=None, help="(internal)", **hidden)
    parser.add_argument(
        "--opsgate-no-default-slo",
        action="store_true",
        default=False,
        help="do not add error_rate < 1%% when no SLO is given",
        **hidden,
    )


def _locustfile_modules(environment: Any) -> list[Any]:
    paths = {os.path.abspath(p) for p in (getattr(environment, "parsed_locustfiles", None) or [])}
    found = []
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if filename and os.path.abspath(filename) in paths:
            found.append(module)
    return found


def locustfile_slos(environment: Any) -> list[str]:
    """The ``SLOS`` lists of the loaded locustfiles."""
    texts: list[str] = []
    for module in _locustfile_modules(environment):
        value = getattr(module, "SLOS", None)
        if isinstance(value, str):
            texts.append(value)
        elif value:
            texts.extend(str(item) for item in value)
    return texts


def locustfile_setting(environment: Any, name: str) -> str | None:
    """A module-level setting such as ``LOAD_RATE`` of the loaded locustfiles, as text.

    Two locustfiles that disagree are a ValueError naming both values.
    """
    values = {
        str(getattr(module, name))
        for module in _locustfile_modules(environment)
        if getattr(module, name, None) is not None
    }
    if len(values) > 1:
        raise ValueError(f"the locustfiles disagree on {name}: {', '.join(sorted(values))}")
    return next(iter(values), None)
