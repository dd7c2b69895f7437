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
    """SIGTERM or Ctrl-C stopped the drill; everything was cleaned up, ``result`` says what ran.

    Its text is the interrupt's own (``received signal 15 (SIGTERM)`` from the gate's SIGTERM
    handler), so whoever catches it can still tell which signal it was.
    """

    def __init__(self, result: DrillResult, interrupt: BaseException | None = None) -> None:
        super().__init__(str(interrupt) if interrupt is not None and str(interrupt) else "")
        self.result = result
