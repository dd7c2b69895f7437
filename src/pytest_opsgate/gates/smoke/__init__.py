"""The smoke gate: declarative HTTP checks, built-in profiles, and checks for zero configuration."""

from __future__ import annotations


class SmokeFindingWarning(UserWarning):
    """A smoke profile in ``warn`` mode found a problem, e.g. a missing security header."""
