"""Service-level objectives: the one grammar, evaluation over measured traffic, and baselines.

``from pytest_opsgate.slo import parse_slo`` works for every name below; they load on first
use, so parsing an SLO option does not import the histograms.
"""

from __future__ import annotations

import importlib
from typing import Any

_FROM = {
    "COUNTER_STATS": "grammar",
    "FLAGS": "grammar",
    "OPS": "grammar",
    "SLO": "grammar",
    "SLOSyntaxError": "grammar",
    "parse_duration": "grammar",
    "parse_slo": "grammar",
    "SLOResult": "evaluate",
    "evaluate_all": "evaluate",
    "evaluate_slo": "evaluate",
    "format_measure": "evaluate",
    "format_slo_table": "evaluate",
    "resolve_stats": "evaluate",
    "with_guards": "evaluate",
}

__all__ = sorted(_FROM)


def __getattr__(name: str) -> Any:
    module = _FROM.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
