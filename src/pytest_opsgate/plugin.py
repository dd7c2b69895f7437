"""pytest entry point (``pytest11: opsgate``): options, gate selection, readiness, verdict.

This module wires; it does not compute. It imports only the standard library, pytest and
the project's light modules; the runners of each gate are imported once it is selected.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import config as cfg
from .artifacts import Attachment, item_evidence
from .errors import GateError, GateUsageError
from .state import GateState, TestOutcome, get_settings, get_state, settings_key, state_key
from .verdict import ExitCode, Verdict

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from .client import Exchange, GateClient
    from .sampling import GateSLO

_gates_key = pytest.StashKey[frozenset[str]]()
_exchanges_key = pytest.StashKey[list["Exchange"]]()


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
        "--gate-secret-env",
        action="append",
        default=[],
        metavar="NAME",
        help="environment variable holding a secret to redact from every artifact (repeatable)",
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
    ):
        parser.addini(name, help_text, type=kind)  # type: ignore[arg-type]
    for gate in ("smoke", "e2e", "load"):
        _gate_module(gate, "options").add_options(group, parser)


def _gate_module(gate: str, module: str) -> Any:
    import importlib

    return importlib.import_module(f"pytest_opsgate.{gate}.{module}")


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

    from .redact import default_redactor

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

    config.pluginmanager.register(_GateSession(config), "opsgate-session")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "opsgate-xdist")
    if config.pluginmanager.hasplugin("html"):
        from .report import HtmlReportHooks

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


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def gate_client(request: pytest.FixtureRequest) -> Iterator[GateClient]:
    """An httpx client bound to the base URL that records every exchange as evidence."""
    from .client import GateClient, Timeouts
    from .redact import default_redactor

    config = request.config
    settings = get_settings(config)
    base_url = settings.base_url or cfg.find_base_url(config)
    if not base_url:
        raise pytest.UsageError("gate_client needs a target; pass --base-url URL")
    state = get_state(config)
    exchanges = request.node.stash.setdefault(_exchanges_key, [])

    def on_exchange(exchange: Exchange) -> None:
        exchanges.append(exchange)
        ok = exchange.error is None and exchange.status is not None and exchange.status < 500
        state.metrics.record(exchange.name, exchange.elapsed_ms, ok=ok)

    total = settings.request_timeout_s
    client = GateClient(
        base_url,
        timeouts=Timeouts(connect=min(5.0, total), read=min(10.0, total), total=total),
        max_body_bytes=settings.max_body_bytes,
        verify=settings.verify,
        redactor=settings.redactor or default_redactor(),
        on_exchange=on_exchange,
    )
    with client:
        yield client


@pytest.fixture
def gate_slo(gate_client: GateClient, request: pytest.FixtureRequest) -> GateSLO:
    """Latency sampling and SLO assertions (p50/p95/p99, error rate) through gate_client."""
    from .sampling import GateSLO

    return GateSLO(gate_client, min_samples=get_settings(request.config).min_samples)


@pytest.fixture(scope="session")
def gate_target(pytestconfig: pytest.Config) -> dict[str, Any]:
    """What readiness learned of the target: url, version, seconds until ready."""
    state = get_state(pytestconfig)
    settings = get_settings(pytestconfig)
    info: dict[str, Any] = {"url": settings.display_url, "version": None, "ready_after_s": None}
    if state.readiness is not None:
        info.update(version=state.readiness.version, ready_after_s=state.readiness.waited_s)
    workerinput = getattr(pytestconfig, "workerinput", None)
    if workerinput and workerinput.get("opsgate_target"):
        info.update(workerinput["opsgate_target"])
    return info


# --------------------------------------------------------------------------- membership


def item_gates(item: pytest.Item) -> frozenset[str]:
    """Gates a test belongs to: its gate markers plus a suites/<gate>/ folder."""
    cached = item.stash.get(_gates_key, None)
    if cached is not None:
        return cached
    names: set[str] = set()
    for marker in item.iter_markers("gate"):
        for arg in marker.args:
            names.update(part.strip().lower() for part in str(arg).split(","))
    parts = Path(str(item.path)).parts
    for index, part in enumerate(parts[:-1]):
        if part == "suites" and parts[index + 1] in cfg.GATE_NAMES:
            names.add(parts[index + 1])
    if "all" in names:
        names = set(cfg.GATE_NAMES)
    result = frozenset(names)
    item.stash[_gates_key] = result
    return result


def _primary_gate(item: pytest.Item, selected: frozenset[str]) -> str:
    chosen = item_gates(item) & selected
    return min(chosen, key=cfg.GATE_ORDER.__getitem__) if chosen else ""


class _GateSession:
    """Hooks active only during a gate run (``--gate`` given)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = get_settings(config)
        self.state = get_state(config)
        self.started = time.monotonic()
        self.failed_phases: set[str] = set()

    # ---- readiness, before any test, on the controller only

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.settings.is_worker or self.config.option.collectonly:
            return
        _abort_on_sigterm()
        if not self.settings.ready:
            self.state.notes.append("readiness polling skipped (--no-gate-ready)")
            return
        from .readiness import NotReadyError, ReadinessSpec, VersionMismatchError, wait_until_ready

        assert self.settings.base_url is not None
        redactor = self.settings.redactor
        spec = ReadinessSpec(
            base_url=self.settings.base_url,
            paths=list(self.settings.ready_paths),
            timeout_s=self.settings.ready_timeout_s,
            attempt_timeout_s=self.settings.ready_attempt_timeout_s,
            expects=list(self.settings.ready_expects),
            successes=self.settings.ready_successes,
            verify=self.settings.verify,
            expected_version=self.settings.expected_version,
            redact=redactor.redact_text if redactor else None,
        )
        _write_line(
            self.config,
            f"opsgate: waiting up to {self.settings.ready_timeout_s:g} s "
            f"for {self.settings.display_url} to be ready",
        )
        try:
            self.state.readiness = wait_until_ready(spec)
        except NotReadyError as exc:
            self.state.readiness_error = str(exc)
            pytest.exit(f"opsgate: target not ready (verdict ERROR)\n{exc}", ExitCode.NOT_READY)
        except VersionMismatchError as exc:
            self.state.readiness_error = str(exc)
            pytest.exit(f"opsgate: {exc} (verdict FAIL)", ExitCode.FAIL)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = [f"opsgate: gates {','.join(self.settings.ordered_gates)}"]
        lines.append(f"opsgate: target {self.settings.display_url}")
        readiness = self.state.readiness
        if readiness is not None:
            lines.append(
                f"opsgate: ready after {readiness.waited_s:.2f} s at {readiness.path} "
                f"({len(readiness.attempts)} attempts), version {readiness.version or 'unknown'}"
            )
        if self.settings.verify is False:
            lines.append("opsgate: TLS verification DISABLED (--gate-insecure)")
        return lines

    # ---- selection

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        selected = self.settings.gates
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        label = ",".join(self.settings.ordered_gates)
        for item in items:
            gates = item_gates(item)
            if gates & selected:
                keep.append(item)
                continue
            if gates:
                reason = f"not in --gate={label} (belongs to {','.join(sorted(gates))})"
            else:
                reason = (
                    f"not in --gate={label}: mark it @pytest.mark.gate(...) "
                    "or put it under suites/<gate>/"
                )
            self.state.deselected[item.nodeid] = reason
            dropped.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        # Smoke, then e2e, then load: a load test against a broken deploy measures nothing.
        keep.sort(key=lambda it: cfg.GATE_ORDER.get(_primary_gate(it, selected), 99))
        items[:] = keep

    # ---- fail-fast between phases

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.config.getoption("gate_keep_going"):
            return
        gate = _primary_gate(item, self.settings.gates)
        order = cfg.GATE_ORDER.get(gate, 99)
        for earlier in cfg.GATE_NAMES[:order]:
            if earlier in self.failed_phases:
                pytest.skip(f"skipped: {earlier} failed (--gate-keep-going runs every phase)")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        outcome = self.state.outcomes.get(nodeid)
        if outcome is not None and outcome.verdict in (Verdict.FAIL, Verdict.ERROR):
            self.failed_phases.add(outcome.gate)

    # ---- evidence and per-test verdicts

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        _redact_report(report, self.settings)
        gate = _primary_gate(item, self.settings.gates)
        report.user_properties.append(("opsgate_gate", gate))
        if call.excinfo is not None and call.excinfo.errisinstance(GateError):
            report.user_properties.append(("opsgate_verdict", Verdict.ERROR.value))
        if report.when == "teardown" or (report.failed and report.when == "call"):
            self._attach_evidence(item, report)
        return report

    def _attach_evidence(self, item: pytest.Item, report: pytest.TestReport) -> None:
        from .artifacts import html_extra, item_artifacts_dir, write_json, write_text

        evidence = item_evidence(item)
        failed = report.failed or bool(item.stash.get(_failed_key, False))
        if report.failed:
            item.stash[_failed_key] = True
        exchanges = item.stash.get(_exchanges_key, [])
        folder = item_artifacts_dir(self.settings.artifacts_dir, item.nodeid)
        pending: list[Attachment] = []
        if report.when == "teardown" or report.when == "call":
            pending.extend(a for a in evidence.always if not _seen(item, a))
            if failed:
                pending.extend(a for a in evidence.attachments if not _seen(item, a))
        if failed and exchanges and not item.stash.get(_exchanges_written_key, False):
            item.stash[_exchanges_written_key] = True
            text = "\n\n".join(exchange.format() for exchange in exchanges)
            write_json(folder, "exchanges.json", [exchange.to_dict() for exchange in exchanges])
            path = write_text(folder, "exchanges.txt", text)
            self.state.add_artifact(path)
            self.state.add_artifact(folder / "exchanges.json")
            pending.append(Attachment(name="HTTP exchanges", kind="text", path=path, content=text))
        extras = list(getattr(report, "extras", []))
        for attachment in pending:
            _mark_seen(item, attachment)
            if attachment.path is not None:
                self.state.add_artifact(attachment.path)
            extra = html_extra(attachment)
            if extra is not None:
                extras.append(extra)
        report.extras = extras  # type: ignore[attr-defined]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        gate = str(props.get("opsgate_gate", ""))
        previous = self.state.outcomes.get(report.nodeid)
        verdict = Verdict.PASS
        reason = ""
        if report.failed:
            if props.get("opsgate_verdict") == Verdict.ERROR.value or report.when != "call":
                verdict = Verdict.ERROR
            else:
                verdict = Verdict.FAIL
            reason = _one_line(report)
        elif report.skipped:
            reason = _one_line(report)
        if previous is None:
            outcome = TestOutcome(report.nodeid, gate, verdict, reason, report.duration)
            if report.skipped:
                outcome.reason = reason or "skipped"
            self.state.outcomes[report.nodeid] = outcome
        else:
            previous.duration_s += report.duration
            if verdict != Verdict.PASS and previous.verdict == Verdict.PASS:
                previous.verdict, previous.reason = verdict, reason
            if report.skipped and report.when == "setup":
                previous.reason = reason or "skipped"

    # ---- verdict

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.settings.is_worker:
            self._send_workeroutput()
            return
        from .gate_verdict import decide

        decision = decide(self.settings, self.state, int(exitstatus))
        self.state.notes.extend(decision.notes)
        self.decision = decision
        if decision.exit_code is not None:
            session.exitstatus = decision.exit_code

    def _send_workeroutput(self) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["opsgate"] = self.state.to_workeroutput()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.settings.is_worker:
            return
        from .report import terminal_summary_lines

        decision = getattr(self, "decision", None)
        verbose = self.config.option.verbose > 0 or "A" in (self.config.option.reportchars or "")
        terminalreporter.section("opsgate", sep="=")
        for line in terminal_summary_lines(self.settings, self.state, decision, verbose=verbose):
            terminalreporter.write_line(line)


_failed_key = pytest.StashKey[bool]()
_exchanges_written_key = pytest.StashKey[bool]()
_seen_key = pytest.StashKey[set[int]]()


def _seen(item: pytest.Item, attachment: Attachment) -> bool:
    return id(attachment) in item.stash.get(_seen_key, set())


def _mark_seen(item: pytest.Item, attachment: Attachment) -> None:
    item.stash.setdefault(_seen_key, set()).add(id(attachment))


def _redact_report(report: pytest.TestReport, settings: cfg.GateSettings) -> None:
    """Scrub registered secrets from tracebacks and captured output before anything prints."""
    redactor = settings.redactor
    if redactor is None or not redactor.secrets_registered():
        return
    if report.longrepr is not None:
        text = str(report.longrepr)
        scrubbed = redactor.redact_text(text)
        if scrubbed != text:
            report.longrepr = scrubbed
    report.sections = [(title, redactor.redact_text(body)) for title, body in report.sections]


def _one_line(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:300]
    return str(report.longrepr or "").strip().splitlines()[-1][:300] if report.longrepr else ""


def _abort_on_sigterm() -> None:
    """SIGTERM (a cancelled CI job) stops the run like Ctrl-C: verdict ABORTED, stop-cmd runs."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return  # someone else owns SIGTERM; leave it to them

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise KeyboardInterrupt(f"received signal {signum} (SIGTERM)")

    signal.signal(signal.SIGTERM, interrupt)


def _write_line(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:  # pragma: no cover - terminal reporting disabled
        sys.stderr.write(line + "\n")


class _XdistHooks:
    """Readiness facts to workers; metrics and SLO results back to the controller."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        state = get_state(self.config)
        if state.readiness is not None:
            node.workerinput["opsgate_target"] = {
                "version": state.readiness.version,
                "ready_after_s": state.readiness.waited_s,
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get("opsgate")
        if data:
            get_state(self.config).merge_workeroutput(data)
