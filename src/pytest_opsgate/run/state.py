"""Run-wide gate state: settings, readiness, merged metrics, SLO results, phase outcomes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..measure.metrics import MetricsStore
    from ..settings import GateSettings
    from ..slo.evaluate import SLOResult
    from ..target.readiness import ReadinessResult
    from ..target.stack import CommandResult
    from ..verdict import Verdict

settings_key = pytest.StashKey["GateSettings"]()
state_key = pytest.StashKey["GateState"]()


@dataclass
class TestOutcome:
    """The gate's view of one test: which gate it belongs to and how it ended."""

    nodeid: str
    gate: str
    verdict: Verdict
    reason: str = ""
    duration_s: float = 0.0


@dataclass
class GateState:
    """What a gate run learned; the controller's copy holds the merged view of all workers."""

    metrics: MetricsStore = field(default_factory=lambda: _new_store())  # gate_client, pages
    load_metrics: MetricsStore = field(default_factory=lambda: _new_store())  # Locust traffic
    slo_results: list[SLOResult] = field(default_factory=list)
    readiness: ReadinessResult | None = None
    readiness_error: str | None = None
    readiness_attempted: ReadinessResult | None = None  # what a failed wait saw
    early_stop: tuple[Verdict, int, str] | None = None  # the run ended before any test
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    deselected: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    commands: list[CommandResult] = field(default_factory=list)
    hooks: list[CommandResult] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started_monotonic: float = field(default_factory=time.monotonic)

    def add_artifact(self, path: Path) -> None:
        """List a file in the run's evidence (gate.json)."""
        if path not in self.artifacts:
            self.artifacts.append(path)

    def to_workeroutput(self) -> dict[str, Any]:
        """Plain data an xdist worker sends to the controller."""
        return {
            "metrics": self.metrics.to_dict(),
            "load_metrics": self.load_metrics.to_dict(),
            "slo_results": [result.to_dict() for result in self.slo_results],
            "artifacts": [str(path) for path in self.artifacts],
            "deselected": dict(self.deselected),
            "notes": list(self.notes),
        }

    def merge_workeroutput(self, data: dict[str, Any]) -> None:
        """Merge what one worker sent: histograms are added, never averaged."""
        from ..measure.metrics import MetricsStore
        from ..slo.evaluate import SLOResult

        self.metrics.merge(MetricsStore.from_dict(data.get("metrics", {})))
        self.load_metrics.merge(MetricsStore.from_dict(data.get("load_metrics", {})))
        self.slo_results.extend(SLOResult.from_dict(item) for item in data.get("slo_results", []))
        for path in data.get("artifacts", []):
            self.add_artifact(Path(path))
        self.deselected.update(data.get("deselected", {}))
        self.notes.extend(note for note in data.get("notes", []) if note not in self.notes)


def _new_store() -> MetricsStore:
    # Imported on first use: a plain pytest run (no --gate) never loads the histograms.
    from ..measure.metrics import MetricsStore

    return MetricsStore()


def get_settings(config: pytest.Config) -> GateSettings:
    """The run's resolved gate settings."""
    return config.stash[settings_key]


def get_state(config: pytest.Config) -> GateState:
    """The run's gate state (metrics, SLO results, readiness)."""
    return config.stash[state_key]
