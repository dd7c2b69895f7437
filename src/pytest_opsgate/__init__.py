"""pytest-opsgate: a deployment gate for pytest.

Readiness polling, smoke checks, Playwright E2E flows and Locust load tests against a
deployed service, judged by exact-percentile SLOs into one verdict a pipeline can act on.
"""

from __future__ import annotations

from .errors import GateError, InsufficientSamplesError
from .verdict import ExitCode, Verdict

__all__ = ["ExitCode", "GateError", "InsufficientSamplesError", "Verdict", "__version__"]


def __getattr__(name: str) -> str:
    # The version is read from package metadata on first use, not on every pytest start.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("pytest-opsgate")
        except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
            return "0.0.0"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
