"""The gates, each imported only when selected, behind one small protocol.

A gate is a module ``pytest_opsgate.gates.<name>.plugin`` with a ``register(config)``
function: called from ``pytest_configure`` when ``--gate`` selects it, it validates the
gate's settings (a usage error names the fix before any request is sent) and registers the
pytest hooks that collect and run its tests, checks or locustfiles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import pytest

__all__ = ["Gate", "load_gate"]


class Gate(Protocol):
    """What the core asks of a selected gate."""

    def register(self, config: pytest.Config) -> None:
        """Validate the gate's settings and register its hooks."""


def load_gate(name: str) -> Gate:
    """The plugin module of gate ``name``, imported now (and only now)."""
    return cast("Gate", importlib.import_module(f"pytest_opsgate.gates.{name}.plugin"))
