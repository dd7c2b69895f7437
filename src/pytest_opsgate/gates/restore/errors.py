"""The two ways a drill stops early: a definite failure, or something it could not do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import GateError

if TYPE_CHECKING:
    from .result import DrillResult

__all__ = ["DrillAborted", "DrillError", "DrillFailure"]


class DrillFailure(Exception):
    """The backup is definitely not good (verdict FAIL): missing, corrupt, does not restore."""


class DrillError(GateError):
    """The drill could not run (verdict ERROR): no server binaries, unreachable DSN."""


class DrillAborted(KeyboardInterrupt):
    """SIGTERM or Ctrl-C stopped the drill; everything was cleaned up, ``result`` says what ran."""

    def __init__(self, result: DrillResult) -> None:
        super().__init__(result.reason)
        self.result = result
