"""pytest entry point (``pytest11: opsgate``): hooks, options, and the wiring of a gate run.

This module wires; it does not compute. It imports only the standard library, pytest and
the project's light modules. Without ``--gate`` it builds nothing: no settings, no state, no
import of httpx, hdrh, Locust, Playwright or jsonschema (a subprocess test checks it). With
``--gate`` it resolves the frozen settings, registers the run's hooks (``run/``), the
built-in report writers (``report/``) and the selected gates (``gates/``).
"""

from __future__ import annotations

import os

import pytest

from .errors import GateUsageError
from .fixtures import gate_client, gate_slo, gate_target

# Fixtures are found by pytest in this module's namespace; session hooks load on --gate.
__all__ = ["gate_client", "gate_slo", "gate_target"]

MARKER = (
    "gate(*names): the gate(s) this test belongs to: smoke, e2e, load, restore "
    "(tests under suites/<gate>/ belong to that gate without a marker)"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    from .settings import add_options

    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    if config.getoption("gate", default=None) is None:
        return  # not a gate run: nothing is built, nothing heavy imported
    from .run.state import get_settings, get_state

    try:
        settings = get_settings(config)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = get_state(config)
    option = config.option
    if getattr(option, "setuponly", False) or getattr(option, "setupplan", False):
        raise pytest.UsageError(
            "--setup-only and --setup-plan run no test body, so a gate run would judge tests "
            "that never ran; drop them, or drop --gate to see the fixtures"
        )
    # Listing (--collect-only, --fixtures) sends no traffic: no readiness, no verdict, no
    # hooks, and the last real run's evidence stays where the upload step looks for it.
    state.listing = bool(
        option.collectonly
        or getattr(option, "showfixtures", False)
        or getattr(option, "show_fixtures_per_test", False)
    )
    for name in settings.secret_envs:
        value = os.environ.get(name)
        if value is None:
            raise pytest.UsageError(
                f"--gate-secret-env {name}: the environment variable is not set; "
                "export it or drop the option"
            )
        state.redactor.register(value)
    if settings.base_url and not config.getoption("base_url", default=None):
        # BASE_URL / PLAYWRIGHT_BASE_URL: make pytest-base-url's fixture see the same target.
        config.option.base_url = settings.base_url
    _check_slo_scopes(config)
    _check_combinations(config)
    _check_baseline_paths(config)
    if settings.is_worker:
        settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    elif not state.listing:
        from .run.artifacts import fresh_artifacts_dir

        try:
            previous = fresh_artifacts_dir(settings.artifacts_dir)
        except GateUsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        if previous is not None:
            state.add_note(f"the previous run's evidence was moved to {previous}")
    _register_run(config)


def _register_run(config: pytest.Config) -> None:
    """The hooks of a gate run, the report writers, then each selected gate."""
    from .gates import load_gate
    from .report.writers import register_writers
    from .run.monitoring import configure_prometheus
    from .run.selection import phase_of
    from .run.session import GateSession
    from .run.state import get_settings

    settings = get_settings(config)
    manager = config.pluginmanager
    manager.register(GateSession(config), "opsgate-session")
    if settings.test_timeout_s:
        from .run.timeout import TimeLimitHooks

        def exempt(item: pytest.Item) -> bool:
            # Load tests are bounded by their own watchdog (run time plus a grace), the
            # restore drill by its own timeouts (restore, server start, checks, then).
            return phase_of(item, settings.gates) in ("load", "restore")

        manager.register(TimeLimitHooks(settings.test_timeout_s, exempt), "opsgate-time-limit")
    if manager.hasplugin("xdist"):
        from .run.xdist import XdistHooks

        manager.register(XdistHooks(config), "opsgate-xdist")
    register_writers(config)
    configure_prometheus(config)  # [prometheus] SLOs, whatever gates are selected
    for gate in settings.ordered_gates:
        load_gate(gate).register(config)


def _check_combinations(config: pytest.Config) -> None:
    """Runs whose measurements would silently mix are refused, naming the fix."""
    from .run.state import get_settings

    settings = get_settings(config)
    workers = config.getoption("numprocesses", default=None)
    if "load" in settings.gates and workers and not settings.is_worker:
        raise pytest.UsageError(
            "--gate=load does not run under xdist (-n): load tests would share the machine "
            "with the tests beside them and each would skew the other's latency; run the "
            "load gate in a pytest run of its own without -n (it spreads itself over Locust "
            "workers with --gate-load-workers)"
        )


def _check_baseline_paths(config: pytest.Config) -> None:
    """A baseline the run itself would move, or one each run overwrites, is called out."""
    from .run.state import get_settings, get_state

    settings = get_settings(config)
    baseline, saved = settings.baseline_path, settings.save_baseline_path
    if baseline is None:
        return
    if baseline.absolute().is_relative_to(settings.artifacts_dir):
        raise pytest.UsageError(
            f"--gate-baseline {baseline} is inside --gate-artifacts {settings.artifacts_dir}, "
            "which each run moves aside before it starts; keep baselines outside it, e.g. "
            "baselines/main.json"
        )
    if saved is not None and saved.absolute() == baseline.absolute():
        get_state(config).add_note(
            f"--gate-save-baseline overwrites the baseline this run is compared with "
            f"({baseline}): each deploy may then be slower than the last by up to the floor "
            "and still PASS; save to another file and promote it on purpose to avoid the drift"
        )


def _check_slo_scopes(config: pytest.Config) -> None:
    """An SLO that no selected gate can measure is a usage error, not a silent pass."""
    from .run.state import get_settings

    settings = get_settings(config)
    for slo in settings.slos:
        if slo.is_page and "e2e" not in settings.gates:
            raise pytest.UsageError(
                f"--gate-slo {slo.text!r} measures pages; select the e2e gate (--gate=e2e)"
            )
        if not slo.is_page and not settings.gates & {"smoke", "load"}:
            raise pytest.UsageError(
                f"--gate-slo {slo.text!r} measures API requests, but only "
                f"{','.join(settings.ordered_gates)} is selected; scope it to a page "
                '("page /: load < 2s") or select --gate=smoke or --gate=load'
            )
