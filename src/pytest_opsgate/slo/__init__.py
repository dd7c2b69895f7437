"""Service-level objectives: the one grammar, evaluation over measured traffic, and baselines."""

from __future__ import annotations

from .evaluate import (
    COUNTER_STATS,
    FLAGS,
    OPS,
    SLO,
    SLOResult,
    SLOSyntaxError,
    evaluate_all,
    evaluate_slo,
    format_measure,
    format_slo_table,
    parse_duration,
    parse_slo,
    resolve_stats,
)

__all__ = [
    "COUNTER_STATS",
    "FLAGS",
    "OPS",
    "SLO",
    "SLOResult",
    "SLOSyntaxError",
    "evaluate_all",
    "evaluate_slo",
    "format_measure",
    "format_slo_table",
    "parse_duration",
    "parse_slo",
    "resolve_stats",
]
