"""The restore-drill gate: prove that the latest backup restores, with the data you expect.

Pure of pytest. The plugin calls :func:`run_drill` with a :class:`DrillSpec` and reports the
:class:`DrillResult`; ``python -m pytest_opsgate.gates.restore manifest`` writes manifests.
"""

from __future__ import annotations

from .checks import CheckResult, SqlCheck, TableEvidence
from .discover import find_backup, timestamp_in_name
from .drill import run_drill
from .errors import DrillAborted, DrillError, DrillFailure
from .expect import RESTORE_METRIC, RESTORE_STATISTICS, expect_text, parse_restore_expect
from .inspect import BackupInfo, inspect_backup
from .manifest import ManifestError, manifest_slos, read_manifest
from .result import DrillResult
from .spec import DrillSpec, spec_secrets

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
