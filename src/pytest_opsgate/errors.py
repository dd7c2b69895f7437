"""Exceptions that carry a gate verdict: a test failing with one is judged by its class."""

from __future__ import annotations


class GateError(Exception):
    """The gate could not measure what it was asked to (verdict ERROR, exit code 11)."""


class InsufficientSamplesError(GateError):
    """An SLO had no samples, or fewer than the minimum, so it cannot pass."""


class GateUsageError(Exception):
    """A gate setting is invalid; raised before any request is sent."""
