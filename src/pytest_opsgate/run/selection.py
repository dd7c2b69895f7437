"""Which gate a test belongs to: its ``gate`` markers and a ``suites/<gate>/`` folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..settings import GATE_NAMES, GATE_ORDER, TARGET_GATES

_gates_key = pytest.StashKey[frozenset[str]]()


def item_gates(item: pytest.Item) -> frozenset[str]:
    """Gates a test belongs to: its gate markers plus a suites/<gate>/ folder."""
    cached = item.stash.get(_gates_key, None)
    if cached is not None:
        return cached
    names: set[str] = set()
    for marker in item.iter_markers("gate"):
        for arg in marker.args:
            names.update(part.strip().lower() for part in str(arg).split(","))
    parts = Path(str(item.path)).parts
    for index, part in enumerate(parts[:-1]):
        if part == "suites" and parts[index + 1] in GATE_NAMES:
            names.add(parts[index + 1])
    if "all" in names:
        # Every gate that tests the target; the restore gate drills a backup, not a target.
        names = (names - {"all"}) | set(TARGET_GATES)
    result = frozenset(names)
    item.stash[_gates_key] = result
    return result


def phase_of(item: pytest.Item, selected: frozenset[str]) -> str:
    """The selected gate whose phase runs the test: the earliest of its selected gates."""
    chosen = item_gates(item) & selected
    return min(chosen, key=GATE_ORDER.__getitem__) if chosen else ""


def traffic_label(item: pytest.Item) -> str:
    """The gate that labels a test's traffic, whatever was selected (baselines compare)."""
    own = item_gates(item)
    return min(own, key=GATE_ORDER.__getitem__) if own else "smoke"


def phase_order(gate: str) -> int:
    """Sort key of a phase: smoke, e2e, load, restore; unknown last."""
    return GATE_ORDER.get(gate, 99)
