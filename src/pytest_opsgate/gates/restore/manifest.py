"""Manifests: the row count of each table, written at backup time and checked at restore time.

A manifest is a JSON object ``{"table": rows, ...}`` (also accepted: ``{"tables": {...}}``
with other keys beside it). With a tolerance of 5 %, a table of 1000 rows at backup time must
have at least 950 after the restore; a table missing from the restore fails.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING

from ...slo.grammar import SLO
from .expect import RESTORE_METRIC

if TYPE_CHECKING:
    from pathlib import Path

    from .databases import RestoredDatabase

__all__ = ["ManifestError", "count_tables", "manifest_slos", "read_manifest"]


MANIFEST_MARK = "  (manifest)"


class ManifestError(ValueError):
    """A manifest file that is missing or not ``{table: rows}``."""


def read_manifest(path: Path) -> dict[str, int]:
    """The ``{table: rows}`` a manifest file holds; raise ManifestError naming the problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(
            f"--gate-restore-manifest {path} cannot be read ({error.strerror}); pass the JSON "
            "written at backup time by 'python -m pytest_opsgate.gates.restore manifest'"
        ) from None
    except ValueError as error:
        raise ManifestError(f"--gate-restore-manifest {path} is not JSON ({error})") from None
    if isinstance(data, dict) and isinstance(data.get("tables"), dict):
        data = data["tables"]
    if not isinstance(data, dict) or not data:
        raise ManifestError(
            f'--gate-restore-manifest {path} holds no tables; expected {{"orders": 1200, ...}}'
        )
    bad = [k for k, v in data.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0]
    if bad:
        raise ManifestError(
            f"--gate-restore-manifest {path}: the row counts of {', '.join(map(repr, bad[:5]))} "
            "are not whole numbers >= 0"
        )
    return {str(k): int(v) for k, v in data.items()}


def manifest_slos(manifest: dict[str, int], tolerance: float) -> list[SLO]:
    """One ``TABLE: rows >= expected*(1-tolerance)`` (rounded up) per manifest table."""
    if not 0 <= tolerance < 1:
        raise ManifestError(
            f"the manifest tolerance {tolerance!r} must be >= 0 and < 1 (5% = 0.05)"
        )
    keep = 1 - Decimal(repr(tolerance))
    slos = []
    for table, expected in sorted(manifest.items()):
        minimum = math.ceil(Decimal(expected) * keep)
        text = f"{table}: rows >= {minimum}{MANIFEST_MARK}"
        slos.append(SLO(text, table, RESTORE_METRIC, "rows", ">=", float(minimum)))
    return slos


def count_tables(database: RestoredDatabase) -> dict[str, int]:
    """``{table: rows}`` of every table, the manifest of a live or restored database."""
    return {table: database.count_rows(table) for table in database.tables()}
