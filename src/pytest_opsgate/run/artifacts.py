"""Each run starts from a clean artifacts folder, so uploaded evidence is this run's alone.

The folder of the previous run is moved aside to ``<folder>.previous`` (one generation is
kept, for comparing by hand); a folder that holds files but neither a gate.json nor the
``.opsgate-run`` mark (written first thing, so a run killed before its gate.json still
leaves an ours folder) is not ours, and is never moved: that is a usage error naming the fix.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from ..errors import GateUsageError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MARK", "PREVIOUS_SUFFIX", "fresh_artifacts_dir"]

PREVIOUS_SUFFIX = ".previous"
MARK = ".opsgate-run"


def fresh_artifacts_dir(folder: Path) -> Path | None:
    """Make ``folder`` empty for this run; returns where the previous run's files went."""
    if not folder.exists():
        folder.mkdir(parents=True)
        _mark(folder)
        return None
    if not folder.is_dir():
        raise GateUsageError(
            f"--gate-artifacts {folder} is a file; pass a folder for the run's evidence"
        )
    entries = list(folder.iterdir())
    if not entries:
        _mark(folder)
        return None
    if not (folder / "gate.json").is_file() and not (folder / MARK).is_file():
        raise GateUsageError(
            f"--gate-artifacts {folder} holds files but no gate.json nor {MARK}, so it is not "
            "an earlier run's evidence and the gate will not move it; pass an empty or new folder"
        )
    previous = folder.with_name(folder.name + PREVIOUS_SUFFIX)
    if previous.exists():
        shutil.rmtree(previous)
    folder.rename(previous)
    folder.mkdir()
    _mark(folder)
    return previous


def _mark(folder: Path) -> None:
    (folder / MARK).write_text(
        "pytest-opsgate writes its evidence here; the next run moves this folder aside\n",
        encoding="utf-8",
    )
