"""Each run starts from a clean artifacts folder, so uploaded evidence is this run's alone.

The folder of the previous run is moved aside to ``<folder>.previous`` (one generation is
kept, for comparing by hand); a folder that holds files but no gate.json is not ours, and is
never moved: that is a usage error naming the fix.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from ..errors import GateUsageError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PREVIOUS_SUFFIX", "fresh_artifacts_dir"]

PREVIOUS_SUFFIX = ".previous"


def fresh_artifacts_dir(folder: Path) -> Path | None:
    """Make ``folder`` empty for this run; returns where the previous run's files went."""
    if not folder.exists():
        folder.mkdir(parents=True)
        return None
    if not folder.is_dir():
        raise GateUsageError(
            f"--gate-artifacts {folder} is a file; pass a folder for the run's evidence"
        )
    entries = list(folder.iterdir())
    if not entries:
        return None
    if not (folder / "gate.json").is_file():
        raise GateUsageError(
            f"--gate-artifacts {folder} holds files but no gate.json, so it is not an earlier "
            "run's evidence and the gate will not move it; pass an empty or new folder"
        )
    previous = folder.with_name(folder.name + PREVIOUS_SUFFIX)
    if previous.exists():
        shutil.rmtree(previous)
    folder.rename(previous)
    folder.mkdir()
    return previous
