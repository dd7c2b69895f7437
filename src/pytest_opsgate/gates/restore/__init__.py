"""The restore-drill gate: prove that the latest backup restores, with the data you expect.

The drill itself is pure of pytest: :func:`run_drill` takes a :class:`DrillSpec` and returns a
:class:`DrillResult`. ``plugin`` makes it a pytest gate (``--gate=restore``), ``config``
reads its options and the ``[restore]`` table, ``options`` holds the light option parsers of
the settings table. ``python -m pytest_opsgate.gates.restore manifest`` writes manifests.

Importing this package imports nothing: the settings table reads ``options`` on every
pytest start, so the names below are loaded on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import CheckResult, SqlCheck, TableEvidence
    from .discover import find_backup, timestamp_in_name
    from .drill import run_drill
    from .errors import DrillAborted, DrillError, DrillFailure
    from .expect import RESTORE_METRIC, RESTORE_STATISTICS, expect_text, parse_restore_expect
    from .inspect import BackupInfo, inspect_backup
    from .manifest import ManifestError, manifest_slos, read_manifest
    from .result import DrillResult
    from .spec import DrillSpec, spec_secrets

_WHERE = {
    "CheckResult": "checks",
    "SqlCheck": "checks",
    "TableEvidence": "checks",
    "find_backup": "discover",
    "timestamp_in_name": "discover",
    "run_drill": "drill",
    "DrillAborted": "errors",
    "DrillError": "errors",
    "DrillFailure": "errors",
    "RESTORE_METRIC": "expect",
    "RESTORE_STATISTICS": "expect",
    "expect_text": "expect",
    "parse_restore_expect": "expect",
    "BackupInfo": "inspect",
    "inspect_backup": "inspect",
    "ManifestError": "manifest",
    "manifest_slos": "manifest",
    "read_manifest": "manifest",
    "DrillResult": "result",
    "DrillSpec": "spec",
    "spec_secrets": "spec",
}

__all__ = [
    "RESTORE_METRIC",
    "RESTORE_STATISTICS",
    "BackupInfo",
    "CheckResult",
    "DrillAborted",
    "DrillError",
    "DrillFailure",
    "DrillResult",
    "DrillSpec",
    "ManifestError",
    "SqlCheck",
    "TableEvidence",
    "expect_text",
    "find_backup",
    "inspect_backup",
    "manifest_slos",
    "parse_restore_expect",
    "read_manifest",
    "run_drill",
    "spec_secrets",
    "timestamp_in_name",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
