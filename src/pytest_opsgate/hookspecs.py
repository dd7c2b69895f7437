"""Hooks pytest-opsgate adds to pytest (registered by the plugin in ``pytest_addhooks``).

Implement them in a ``conftest.py`` or a plugin, as pytest-xdist's ``newhooks`` are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from .report.record import RunRecord
    from .verdict import Decision

hookspec = pytest.hookspec


@hookspec
def pytest_opsgate_write_report(decision: Decision, record: RunRecord, out_dir: Path) -> None:
    """Write one report of a finished run into ``out_dir`` (gate.json, gate.md, JUnit and the
    HTML summary are the built-in implementations)."""


@hookspec
def pytest_opsgate_smoke_profiles() -> list[Any]:  # type: ignore[empty-body]
    """Return smoke profiles (``pytest_opsgate.gates.smoke.registry.Profile``) to offer."""


@hookspec
def pytest_opsgate_verdict(decision: Decision) -> None:
    """Observe the verdict of a gate run, once it is decided and its reports are written."""
