"""write_atomic: whole files only, with the mode every other evidence file gets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pytest_opsgate.report.files import write_atomic


def test_evidence_files_get_the_usual_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    # gate.json was 0600 beside gate.prom's 0644: an upload step running as another user
    # could read one and not the other.
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "gate.json"
    write_atomic(target, "{}")
    plain = tmp_path / "plain.txt"
    plain.write_text("{}")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert target.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
