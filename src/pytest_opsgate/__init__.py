"""pytest-opsgate: a deployment gate for pytest.

Readiness polling, smoke checks, Playwright E2E flows and Locust load tests against a
deployed service, judged by exact-percentile SLOs into one verdict a pipeline can act on.
"""

from __future__ import annotations

from .errors import GateError, InsufficientSamplesError
from .verdict import ExitCode, Verdict

__all__ = ["ExitCode", "GateError", "InsufficientSamplesError", "Verdict", "__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("pytest-opsgate")
except Exception:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0"
