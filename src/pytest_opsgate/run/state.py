"""Per-run state, kept in ``config.stash`` (no module globals): the frozen settings, and what the
run learned: readiness, measured traffic, outcomes, SLO results, and the run's redactor.

Both are built on first use, so a plain pytest run without ``--gate`` builds neither.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from ..http.redact import Redactor

if TYPE_CHECKING:
    from ..measure.metrics import MetricsStore
    from ..settings import GateSettings
    from ..slo.baseline import BaselineComparison
    from ..slo.evaluate import SLOResult
    from ..target.readiness import ReadinessResult
    from ..target.serve import ServedProcess
    from ..target.stack import CommandResult

settings_key = pytest.StashKey["GateSettings"]()
state_key = pytest.StashKey["GateState"]()

Status = Literal["passed", "failed", "error", "skipped"]
_VERDICT_WORDS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIPPED"}
_STATUS_ORDER: dict[Status, int] = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


@dataclass
class TestOutcome:
    """The gate's view of one test: which gate it belongs to and how it ended."""

    __test__ = False  # not a test class, whatever pytest's name pattern says

    nodeid: str
    gate: str
    status: Status
    reason: str = ""
    duration_s: float = 0.0

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL``, ``ERROR`` or ``SKIPPED``, as gate.json lists tests."""
        return _VERDICT_WORDS[self.status]

    def worsen(self, status: Status, reason: str) -> None:
        """Keep the worst status a test reached over its setup, call and teardown."""
        if _STATUS_ORDER[status] > _STATUS_ORDER[self.status]:
            self.status, self.reason = status, reason


@dataclass
class GateState:
    """What a gate run learned; the controller's copy holds the merged view of all workers.

    ``stores`` holds measured traffic by the gate of the test that made it (``smoke``,
    ``e2e``, ``load``...), whichever gates were selected, so a baseline saved from one
    selection compares with another.
    """

    redactor: Redactor = field(default_factory=Redactor)  # this run's secrets, and only this run's
    stores: dict[str, MetricsStore] = field(default_factory=dict)
    # Traffic measured against a live baseline (--gate-baseline-url), by gate, side by side.
    baseline_stores: dict[str, MetricsStore] = field(default_factory=dict)
    slo_results: list[SLOResult] = field(default_factory=list)
    readiness: ReadinessResult | None = None
    readiness_error: str | None = None
    readiness_attempted: ReadinessResult | None = None  # what a failed wait saw
    stopped_early: bool = False  # the run ended before any test (not ready, start failed)
    listing: bool = False  # --collect-only, --fixtures: nothing is sent, nothing judged
    served: ServedProcess | None = None  # --gate-serve-cmd's process, stopped at the end
    signal: str | None = None  # a signal stopped the run
    collection_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # could not measure, outside any test
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    deselected: dict[str, str] = field(default_factory=dict)
    selected: list[str] = field(default_factory=list)  # node ids kept by the gate selection
    notes: list[str] = field(default_factory=list)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (title, SVG) for the summary
    baseline_comparison: BaselineComparison | None = None
    # A gate's own evidence object for gate.json, by gate ("restore": the drill), plain data.
    gate_evidence: dict[str, Any] = field(default_factory=dict)
    commands: list[CommandResult] = field(default_factory=list)
    hooks: list[CommandResult] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started_monotonic: float = field(default_factory=time.monotonic)

    def store(self, gate: str) -> MetricsStore:
        """The traffic store of one gate, created on first use."""
        store = self.stores.get(gate)
        if store is None:
            from ..measure.metrics import MetricsStore

            store = self.stores[gate] = MetricsStore()
        return store

    def baseline_store(self, gate: str) -> MetricsStore:
        """The store of one gate's traffic to the live baseline target, made on first use."""
        store = self.baseline_stores.get(gate)
        if store is None:
            from ..measure.metrics import MetricsStore

            store = self.baseline_stores[gate] = MetricsStore()
        return store

    def add_artifact(self, path: Path) -> None:
        """List a file in the run's evidence (gate.json)."""
        if path not in self.artifacts:
            self.artifacts.append(path)

    def add_note(self, note: str) -> None:
        """A sentence for the summary, once."""
        if note not in self.notes:
            self.notes.append(note)

    def to_workeroutput(self) -> dict[str, Any]:
        """Plain data an xdist worker sends to the controller."""
        return {
            "stores": {gate: store.to_dict() for gate, store in self.stores.items()},
            "baseline_stores": {g: s.to_dict() for g, s in self.baseline_stores.items()},
            "slo_results": [result.to_dict() for result in self.slo_results],
            "artifacts": [str(path) for path in self.artifacts],
            "deselected": dict(self.deselected),
            "selected": list(self.selected),
            "notes": list(self.notes),
            "errors": list(self.errors),
            "gate_evidence": dict(self.gate_evidence),
        }

    def merge_workeroutput(self, data: dict[str, Any]) -> None:
        """Merge what one worker sent: histograms are added, never averaged."""
        from ..measure.metrics import MetricsStore
        from ..slo.evaluate import SLOResult

        for gate, stored in data.get("stores", {}).items():
            self.store(gate).merge(MetricsStore.from_dict(stored))
        for gate, stored in data.get("baseline_stores", {}).items():
            self.baseline_store(gate).merge(MetricsStore.from_dict(stored))
        self.slo_results.extend(SLOResult.from_dict(item) for item in data.get("slo_results", []))
        for path in data.get("artifacts", []):
            self.add_artifact(Path(path))
        self.deselected.update(data.get("deselected", {}))
        known = set(self.selected)  # every worker collects the whole run: keep each id once
        self.selected.extend(i for i in data.get("selected", []) if i not in known)
        for note in data.get("notes", []):
            self.add_note(note)
        self.errors.extend(error for error in data.get("errors", []) if error not in self.errors)
        self.gate_evidence.update(data.get("gate_evidence", {}))


def get_settings(config: pytest.Config) -> GateSettings:
    """The run's resolved, frozen gate settings (resolved on first use)."""
    settings = config.stash.get(settings_key, None)
    if settings is None:
        from ..settings import build_settings

        settings = config.stash[settings_key] = build_settings(config)
    return settings


def get_state(config: pytest.Config) -> GateState:
    """The run's gate state (metrics, SLO results, readiness, redactor), made on first use."""
    state = config.stash.get(state_key, None)
    if state is None:
        state = config.stash[state_key] = GateState()
    return state
