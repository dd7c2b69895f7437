"""pytest entry point (``pytest11: opsgate``): options, gate selection, readiness, verdict.

This module wires; it does not compute. It imports only the standard library, pytest and
the project's light modules; the runners of each gate are imported once it is selected.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

from . import settings as cfg
from .errors import GateUsageError
from .fixtures import gate_client, gate_slo, gate_target
from .run.state import GateState, settings_key, state_key

# Fixtures are found by pytest in this module's namespace; session hooks load on --gate.
__all__ = ["gate_client", "gate_slo", "gate_target"]


# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opsgate", "deployment gate (pytest-opsgate)")
    group.addoption(
        "--gate",
        type=cfg.gate_names,
        metavar="NAME[,NAME...]",
        help="run as a deployment gate: smoke, e2e, load or all (comma-separated list allowed)",
    )
    group.addoption(
        "--gate-artifacts",
        metavar="DIR",
        help="folder for evidence: HTTP exchanges, screenshots, load reports (gate-artifacts/)",
    )
    group.addoption(
        "--gate-slo",
        action="append",
        type=cfg.slo_expression,
        default=[],
        metavar="EXPR",
        help='SLO for the run, e.g. "p95 < 300ms", "GET /api/items: p99 <= 1s", '
        '"error_rate < 1%%", "rps >= 50", "page /: load < 2s" (repeatable)',
    )
    group.addoption(
        "--gate-min-samples",
        type=cfg.positive_int,
        metavar="N",
        help="an SLO with fewer samples is an ERROR, never a pass (default 1)",
    )
    group.addoption(
        "--gate-ready-path",
        action="append",
        default=[],
        metavar="PATH",
        help="health path to poll before any test (repeatable; default: discover the first of "
        "/api/health/, /health, /healthz, /ready, /readyz)",
    )
    group.addoption(
        "--gate-ready-timeout",
        type=cfg.duration,
        metavar="SECONDS",
        help="how long to wait for the target to become ready (default 120)",
    )
    group.addoption(
        "--gate-ready-attempt-timeout",
        type=cfg.duration,
        metavar="SECONDS",
        help="timeout of one readiness attempt (default 5)",
    )
    group.addoption(
        "--gate-ready-expect",
        action="append",
        default=[],
        type=cfg.ready_expect,
        metavar="EXPR",
        help="JSON predicate the health body must meet, e.g. 'checks.db.status == \"ok\"' "
        "(repeatable; a predicate on status replaces the default ok/pass/up/healthy/ready)",
    )
    group.addoption(
        "--gate-ready-successes",
        type=cfg.positive_int,
        metavar="K",
        help="consecutive successful readiness attempts required (default 1)",
    )
    group.addoption(
        "--no-gate-ready",
        action="store_true",
        default=False,
        help="skip readiness polling (the target is known to be up)",
    )
    group.addoption(
        "--gate-expect-version",
        metavar="VERSION",
        help="FAIL unless the health body reports this version (catches a stale deploy)",
    )
    group.addoption(
        "--gate-request-timeout",
        type=cfg.duration,
        metavar="SECONDS",
        help="total deadline of one gate_client request, body included (default 30)",
    )
    group.addoption(
        "--gate-max-body",
        type=cfg.byte_size,
        metavar="SIZE",
        help="largest response body gate_client reads, e.g. 4MiB (default)",
    )
    group.addoption(
        "--gate-ca-bundle",
        metavar="PEM",
        help="CA bundle to verify the target's TLS certificate with",
    )
    group.addoption(
        "--gate-insecure",
        action="store_true",
        default=False,
        help="do not verify the target's TLS certificate (shown in the summary)",
    )
    group.addoption(
        "--gate-keep-going",
        action="store_true",
        default=False,
        help="run later phases even when an earlier one failed (default: smoke failing "
        "skips e2e and load)",
    )
    group.addoption(
        "--gate-test-timeout",
        type=cfg.duration,
        metavar="SECONDS",
        help="a test still running after this long is stopped and judged ERROR, so a hung "
        "test cannot hold the pipeline (default 600; 0 disables)",
    )
    group.addoption(
        "--gate-secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="environment variable holding a secret to redact from every artifact (repeatable)",
    )
    group.addoption(
        "--gate-start-cmd",
        metavar="CMD",
        help="shell command that starts the stack before readiness (e.g. 'docker compose up -d')",
    )
    group.addoption("--gate-seed-cmd", metavar="CMD", help="shell command run once ready")
    group.addoption(
        "--gate-logs-cmd",
        metavar="CMD",
        help="shell command whose output is saved as stack-logs.txt when the verdict is not PASS",
    )
    group.addoption("--gate-stop-cmd", metavar="CMD", help="shell command run at the end, always")
    group.addoption(
        "--gate-cmd-timeout",
        type=cfg.duration,
        metavar="SECONDS",
        help="timeout of each stack command and hook (default 300)",
    )
    group.addoption(
        "--gate-on-fail",
        metavar="CMD",
        help="command run when the verdict is FAIL or ERROR (rollback); gets OPSGATE_VERDICT "
        "and OPSGATE_REPORT (gate.json)",
    )
    group.addoption(
        "--gate-on-pass", metavar="CMD", help="command run when the verdict is PASS (promote)"
    )
    group.addoption(
        "--gate-baseline",
        metavar="GATE_JSON",
        help="compare p95/p99 and error rate per endpoint with an earlier gate.json",
    )
    group.addoption(
        "--gate-baseline-partial",
        action="store_true",
        default=False,
        help="compare only the endpoints both runs measured (default: an endpoint of the "
        "baseline this run never requested makes the comparison an ERROR)",
    )
    group.addoption(
        "--gate-save-baseline",
        metavar="PATH",
        help="write this run's gate.json to PATH when the verdict is PASS",
    )
    group.addoption(
        "--gate-regression-tolerance",
        type=cfg.fraction,
        metavar="PCT",
        help="relative change that counts as a regression against the baseline (default 10%%)",
    )
    group.addoption(
        "--gate-regression-floor",
        type=cfg.duration,
        metavar="MS",
        help="absolute latency change below which nothing is a regression (default 5ms)",
    )
    for name, kind, help_text in (
        ("opsgate_artifacts", "string", "folder for gate evidence"),
        ("opsgate_slo", "linelist", "SLO expressions, one per line"),
        ("opsgate_min_samples", "string", "minimum samples for an SLO"),
        ("opsgate_ready", "string", "poll readiness before the first test (true/false)"),
        ("opsgate_ready_path", "linelist", "health paths to poll"),
        ("opsgate_ready_timeout", "string", "readiness deadline"),
        ("opsgate_ready_attempt_timeout", "string", "timeout of one readiness attempt"),
        ("opsgate_ready_expect", "linelist", "JSON predicates for the health body"),
        ("opsgate_ready_successes", "string", "consecutive readiness successes"),
        ("opsgate_expect_version", "string", "version the target must report"),
        ("opsgate_request_timeout", "string", "total deadline of one request"),
        ("opsgate_max_body", "string", "largest response body read"),
        ("opsgate_ca_bundle", "string", "CA bundle for TLS verification"),
        ("opsgate_secret_env", "linelist", "environment variables holding secrets"),
        ("opsgate_test_timeout", "string", "time limit of one test"),
        ("opsgate_start_cmd", "string", "command that starts the stack"),
        ("opsgate_seed_cmd", "string", "command run once the target is ready"),
        ("opsgate_logs_cmd", "string", "command whose output is saved when not PASS"),
        ("opsgate_stop_cmd", "string", "command run at the end, always"),
        ("opsgate_cmd_timeout", "string", "timeout of each stack command"),
        ("opsgate_on_fail", "string", "command run on FAIL or ERROR"),
        ("opsgate_on_pass", "string", "command run on PASS"),
        ("opsgate_baseline", "string", "gate.json to compare with"),
        ("opsgate_save_baseline", "string", "where to save gate.json on PASS"),
        ("opsgate_baseline_partial", "string", "compare only endpoints both runs measured"),
        ("opsgate_regression_tolerance", "string", "relative regression tolerance"),
        ("opsgate_regression_floor", "string", "absolute latency regression floor"),
    ):
        parser.addini(name, help_text, type=kind)  # type: ignore[arg-type]
    for gate in ("smoke", "e2e", "load"):
        _gate_module(gate, "options").add_options(group, parser)


def _gate_module(gate: str, module: str) -> Any:
    return importlib.import_module(f"pytest_opsgate.gates.{gate}.{module}")


# --------------------------------------------------------------------------- configure


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gate(*names): the gate(s) this test belongs to: smoke, e2e, load "
        "(tests under suites/<gate>/ belong to that gate without a marker)",
    )
    try:
        settings = cfg.load_settings(config)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[settings_key] = settings
    config.stash[state_key] = GateState()
    if not settings.active:
        return

    from .http.redact import default_redactor

    settings.redactor = default_redactor()
    for name in settings.secret_envs:
        value = os.environ.get(name)
        if value is None:
            raise pytest.UsageError(
                f"--gate-secret-env {name}: the environment variable is not set; "
                "export it or drop the option"
            )
        settings.redactor.register(value)
    if settings.base_url and not config.getoption("base_url", default=None):
        # BASE_URL / PLAYWRIGHT_BASE_URL: make pytest-base-url's fixture see the same target.
        config.option.base_url = settings.base_url
    _check_slo_scopes(settings)
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)

    from .run.session import GateSession

    config.pluginmanager.register(GateSession(config), "opsgate-session")
    if settings.test_timeout_s:
        from .run.selection import phase_of
        from .run.timeout import TimeLimitHooks

        def exempt(item: pytest.Item) -> bool:
            # Load tests are bounded by their own watchdog (run time plus a grace).
            return phase_of(item, settings.gates) == "load"

        limits = TimeLimitHooks(settings.test_timeout_s, exempt)
        config.pluginmanager.register(limits, "opsgate-time-limit")
    if config.pluginmanager.hasplugin("xdist"):
        from .run.xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(config), "opsgate-xdist")
    if config.pluginmanager.hasplugin("html"):
        from .report.html import HtmlReportHooks

        config.pluginmanager.register(HtmlReportHooks(config), "opsgate-html")
    for gate in settings.ordered_gates:
        _gate_module(gate, "plugin").register(config)


def _check_slo_scopes(settings: cfg.GateSettings) -> None:
    """An SLO that no selected gate can measure is a usage error, not a silent pass."""
    for slo in settings.slos:
        is_page = slo.is_page
        if is_page and "e2e" not in settings.gates:
            raise pytest.UsageError(
                f"--gate-slo {slo.text!r} measures pages; select the e2e gate (--gate=e2e)"
            )
        if not is_page and not settings.gates & {"smoke", "load"}:
            raise pytest.UsageError(
                f"--gate-slo {slo.text!r} measures API requests, but only "
                f"{','.join(settings.ordered_gates)} is selected; scope it to a page "
                '("page /: load < 2s") or select --gate=smoke or --gate=load'
            )
