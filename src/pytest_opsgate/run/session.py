"""Hooks of a gate run: readiness and stack commands, selection, phases, evidence, verdict.

Registered by the plugin only when ``--gate`` selects at least one gate.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .. import settings as cfg
from ..errors import GateError
from ..fixtures import exchanges_key
from ..report.attachments import Attachment, item_evidence
from ..verdict import ExitCode, Verdict
from .state import TestOutcome, get_settings, get_state

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from ..gate_verdict import Decision

_gates_key = pytest.StashKey[frozenset[str]]()


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


class GateSession:
    """Hooks active only during a gate run (``--gate`` given)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = get_settings(config)
        self.state = get_state(config)
        self.failed_phases: set[str] = set()
        self.decision: Decision | None = None

    # ---- readiness, before any test, on the controller only

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.settings.is_worker or self.config.option.collectonly:
            return
        _abort_on_sigterm()
        try:
            self._prepare_target()
        except KeyboardInterrupt:
            # pytest skips sessionfinish when sessionstart is interrupted: close here.
            self._finish(pytest.ExitCode.INTERRUPTED)
            raise

    def _prepare_target(self) -> None:
        """Start the stack, wait until it is ready, seed it; stop the run if that fails."""
        from .finish import run_stack_command

        settings = self.settings
        if settings.start_cmd:
            _write_line(self.config, f"opsgate: starting the stack: {settings.start_cmd}")
            result = run_stack_command(settings, self.state, "start", settings.start_cmd)
            if not result.ok:
                self._stop_early(f"--gate-start-cmd failed ({result.status})", ExitCode.ERROR)
        if settings.ready:
            self._wait_until_ready()
        else:
            self.state.notes.append("readiness polling skipped (--no-gate-ready)")
        if settings.seed_cmd:
            result = run_stack_command(settings, self.state, "seed", settings.seed_cmd)
            if not result.ok:
                self._stop_early(f"--gate-seed-cmd failed ({result.status})", ExitCode.ERROR)

    def _wait_until_ready(self) -> None:
        from ..target.readiness import (
            NotReadyError,
            ReadinessSpec,
            VersionMismatchError,
            wait_until_ready,
        )

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
            self.state.readiness_attempted = exc.result
            first = str(exc).splitlines()[0]
            self._stop_early(f"target not ready: {first}\n{exc}", ExitCode.NOT_READY)
        except VersionMismatchError as exc:
            self.state.readiness_error = str(exc)
            self.state.readiness_attempted = exc.result
            self._stop_early(str(exc), ExitCode.FAIL)

    def _stop_early(self, message: str, code: ExitCode) -> None:
        """End the run before any test: evidence, logs, stop command, then exit ``code``."""
        verdict = Verdict.FAIL if code == ExitCode.FAIL else Verdict.ERROR
        self.state.early_stop = (verdict, int(code), message)
        decision = self._finish(code)
        for line in _summary(self.config, self.settings, self.state, decision):
            _write_line(self.config, line)
        pytest.exit(f"opsgate: {message}", decision.exit_code or int(code))

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
        if self.settings.keep_going:
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

    # ---- a hung test must not hold the pipeline

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # Load tests are bounded by their own watchdog (--gate-run-time plus a grace).
        limit = 0.0 if _primary_gate(item, self.settings.gates) == "load" else None
        with _time_limit(self.settings.test_timeout_s if limit is None else limit, item.nodeid):
            return (yield)

    # ---- evidence and per-test verdicts

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        _redact_report(report, self.settings)
        gate = _primary_gate(item, self.settings.gates)
        report.user_properties.append(("opsgate_gate", gate))
        if call.excinfo is not None and call.excinfo.errisinstance((GateError, TestTimeoutError)):
            report.user_properties.append(("opsgate_verdict", Verdict.ERROR.value))
        if report.when == "teardown" or (report.failed and report.when == "call"):
            self._attach_evidence(item, report)
        return report

    def _attach_evidence(self, item: pytest.Item, report: pytest.TestReport) -> None:
        from ..report.attachments import html_extra, item_artifacts_dir, write_json, write_text

        evidence = item_evidence(item)
        failed = report.failed or bool(item.stash.get(_failed_key, False))
        if report.failed:
            item.stash[_failed_key] = True
        exchanges = item.stash.get(exchanges_key, [])
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
        decision = self._finish(int(exitstatus))
        if decision.exit_code is not None:
            session.exitstatus = decision.exit_code

    def _finish(self, exitstatus: int) -> Decision:
        """Decide the verdict and write the evidence, once, however the run ended."""
        if self.decision is not None:
            return self.decision
        from ..gate_verdict import decide
        from .finish import close_run

        decision = decide(self.settings, self.state, exitstatus)
        self.decision = decision  # set first: a failure below must not decide twice
        self.decision = close_run(self.config, decision)
        return self.decision

    def _send_workeroutput(self) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["opsgate"] = self.state.to_workeroutput()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.settings.is_worker:
            return
        terminalreporter.section("opsgate", sep="=")
        for line in _summary(self.config, self.settings, self.state, self.decision):
            terminalreporter.write_line(line)


def _summary(
    config: pytest.Config, settings: cfg.GateSettings, state: Any, decision: Decision | None
) -> list[str]:
    from ..report.html import terminal_summary_lines

    verbose = config.option.verbose > 0 or "A" in (config.option.reportchars or "")
    return terminal_summary_lines(settings, state, decision, verbose=verbose)


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


class TestTimeoutError(BaseException):
    """A test ran past --gate-test-timeout (verdict ERROR).

    A BaseException, like pytest's own outcomes, so ``except Exception`` in the test cannot
    swallow it; the alarm also repeats every second until the test has stopped.
    """

    __test__ = False


@contextlib.contextmanager
def _time_limit(seconds: float, nodeid: str) -> Iterator[None]:
    """Raise TestTimeoutError in the test after ``seconds`` (SIGALRM; main thread, POSIX)."""
    import signal
    import threading

    usable = (
        seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TestTimeoutError(
            f"{nodeid} still running after --gate-test-timeout={seconds:g}s; stopped it "
            "(raise the option if the test is meant to take longer)"
        )

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


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


class XdistHooks:
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
                "path": state.readiness.path,
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get("opsgate")
        if data:
            get_state(self.config).merge_workeroutput(data)
