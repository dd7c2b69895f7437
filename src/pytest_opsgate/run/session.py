"""Hooks of a gate run: target, selection, phases, per-test outcomes, then the verdict.

Registered by the plugin only when ``--gate`` selects at least one gate. The run's flow:
``pytest_sessionstart`` prepares the target (start command, readiness, seed) on the
controller; collection keeps the selected gates' tests in phase order; each test's
outcome is recorded; ``pytest_sessionfinish`` hands everything to :mod:`.finish`, which
builds the evidence and asks :func:`pytest_opsgate.verdict.decide`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import GateError
from ..verdict import Verdict
from .attach import attach_evidence, one_line, redact_report
from .selection import item_gates, phase_of, phase_order
from .signals import abort_on_sigterm, signal_name
from .state import TestOutcome, get_settings, get_state
from .timeout import TestTimeoutError, alarm_usable

if TYPE_CHECKING:
    from collections.abc import Generator

    from ..verdict import Decision
    from .state import Status


class GateSession:
    """Hooks active only during a gate run (``--gate`` given)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.settings = get_settings(config)
        self.state = get_state(config)
        self.failed_phases: set[str] = set()
        self.decision: Decision | None = None

    # ---- the target, before any test, on the controller only

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.settings.is_worker or self.state.listing:
            return
        abort_on_sigterm()
        try:
            self._prepare_target()
        except KeyboardInterrupt as exc:
            # pytest skips sessionfinish when sessionstart is interrupted: close here.
            self.state.signal = signal_name(exc)
            self._finish(pytest.ExitCode.INTERRUPTED)
            raise

    def _prepare_target(self) -> None:
        """Start the stack, wait until it is ready, seed it; stop the run if that fails."""
        from .finish import run_stack_command

        settings = self.settings
        if settings.start_cmd:
            _write_line(self.config, f"opsgate: starting the stack: {settings.start_cmd}")
            result = run_stack_command(settings, self.state, "start", settings.start_cmd)
            if result.timed_out:
                self._stop_early(
                    f"--gate-start-cmd did not return within --gate-cmd-timeout "
                    f"({result.status}); a start command must return (e.g. docker compose up "
                    "-d); for a server that runs in the foreground (uvicorn app:app, npm "
                    "start) use --gate-serve-cmd"
                )
            if not result.ok:
                self._stop_early(f"--gate-start-cmd failed ({result.status})")
        if settings.serve_cmd:
            self._serve(settings.serve_cmd)
        if settings.ready:
            self._wait_until_ready()
        elif settings.needs_target:  # a restore-only run has no target to poll
            self.state.add_note("readiness polling skipped (--no-gate-ready)")
            if self.state.served is not None:
                self._wait_until_listening()
        if settings.seed_cmd:
            result = run_stack_command(settings, self.state, "seed", settings.seed_cmd)
            if not result.ok:
                self._stop_early(f"--gate-seed-cmd failed ({result.status})")

    def _serve(self, command: str) -> None:
        """Start --gate-serve-cmd in the background, unless a server is there already."""
        from ..target.serve import ServedProcess, something_answers

        settings = self.settings
        assert settings.base_url is not None
        if something_answers(settings.base_url):
            if settings.serve_reuse:
                self.state.add_note(
                    f"--gate-serve-reuse: tested the server already answering at "
                    f"{settings.display_url}; --gate-serve-cmd was not run"
                )
                return
            self._stop_early(
                f"something already answers at {settings.display_url}, so --gate-serve-cmd "
                "would not be the server under test; stop it, or pass --gate-serve-reuse to "
                "test it as it is"
            )
        log = settings.artifacts_dir / "stack-logs.txt"
        served = ServedProcess(command, log, self.state.redactor.redact_text)
        _write_line(self.config, f"opsgate: serving: {self.state.redactor.redact_text(command)}")
        served.start()
        self.state.served = served
        self.state.add_artifact(log)
        self.config.add_cleanup(served.stop_quietly)  # the last resort; the finish stops it

    def _wait_until_listening(self) -> None:
        """--no-gate-ready with --gate-serve-cmd: no health polling, but the first request
        waits until the served process listens (else a good build fails on its startup)."""
        import time

        from ..target.serve import something_answers

        assert self.settings.base_url is not None
        assert self.state.served is not None
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while not something_answers(self.settings.base_url, timeout_s=1.0):
            gone = self.state.served.exited()
            if gone:
                self._stop_early(f"target not ready: {gone}", not_ready=True)
            if time.monotonic() >= deadline:
                self._stop_early(
                    f"target not ready: --gate-serve-cmd did not listen at "
                    f"{self.settings.display_url} within --gate-ready-timeout "
                    f"({self.settings.ready_timeout_s:g} s)",
                    not_ready=True,
                )
            time.sleep(0.1)

    def _wait_until_ready(self) -> None:
        from ..target.readiness import NotReadyError, ReadinessSpec, wait_until_ready

        assert self.settings.base_url is not None
        redactor = self.state.redactor
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
            give_up=self.state.served.exited if self.state.served else None,
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
            self._stop_early(f"target not ready: {str(exc).splitlines()[0]}", not_ready=True)

    def _stop_early(self, message: str, *, not_ready: bool = False) -> None:
        """End the run before any test: evidence, logs, stop command, then exit."""
        self.state.stopped_early = True
        if not not_ready:
            self.state.errors.append(message)
        decision = self._finish(pytest.ExitCode.OK)
        htmlpath = getattr(self.config.option, "htmlpath", None)
        if htmlpath:
            # pytest-html never sees a run that stops before any test: write one ourselves.
            from ..report.html import report_title, verdict_block, write_standalone_report

            block = verdict_block(self.settings, self.state, decision)
            write_standalone_report(Path(htmlpath), report_title(self.settings), block)
        for line in _summary(self.config, self.state, decision):
            _write_line(self.config, line)
        # The summary above holds the detail; pytest repeats only this one line.
        pytest.exit(f"opsgate: {message.splitlines()[0]}", int(decision.exit_code))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        lines = [f"opsgate: gates {','.join(self.settings.ordered_gates)}"]
        lines.append(f"opsgate: target {self.settings.display_url}")
        readiness = self.state.readiness
        if readiness is not None:
            tries = len(readiness.attempts)
            lines.append(
                f"opsgate: ready after {readiness.waited_s:.2f} s at {readiness.path} "
                f"({tries} attempt{'' if tries == 1 else 's'}), "
                f"version {readiness.version or 'unknown'}"
            )
        if self.settings.verify is False:
            lines.append("opsgate: TLS verification DISABLED (--gate-insecure)")
        if self.settings.test_timeout_s and not alarm_usable():
            lines.append("opsgate: --gate-test-timeout cannot be enforced here (no SIGALRM)")
        return lines

    # ---- selection and collection errors

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
        keep.sort(key=lambda it: phase_order(phase_of(it, selected)))
        items[:] = keep
        self.state.selected = [item.nodeid for item in keep]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            where = report.nodeid or str(getattr(report, "fspath", "")) or "collection"
            text = f"{where}: {one_line(report) or 'failed to collect'}"
            text = self.state.redactor.redact_text(text)
            if text not in self.state.collection_errors:
                self.state.collection_errors.append(text)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest reports collection errors and -x stops as KeyboardInterrupt subclasses too;
        # only a real signal makes the run ABORTED.
        if excinfo.errisinstance((pytest.Session.Interrupted, pytest.exit.Exception)):
            return
        self.state.signal = self.state.signal or signal_name(excinfo.value)

    # ---- fail-fast between phases

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if self.settings.keep_going:
            return
        order = phase_order(phase_of(item, self.settings.gates))
        for earlier in sorted(self.failed_phases, key=phase_order):
            if phase_order(earlier) < order:
                pytest.skip(f"not run: {earlier} failed (--gate-keep-going runs every phase)")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        outcome = self.state.outcomes.get(nodeid)
        if outcome is not None and outcome.status in ("failed", "error"):
            self.failed_phases.add(outcome.gate)

    # ---- evidence and per-test outcomes

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        redact_report(report, self.state.redactor)
        report.user_properties.append(("opsgate_gate", phase_of(item, self.settings.gates)))
        if call.excinfo is not None and call.excinfo.errisinstance((GateError, TestTimeoutError)):
            report.user_properties.append(("opsgate_verdict", Verdict.ERROR.value))
        if report.when == "teardown" or (report.failed and report.when == "call"):
            attach_evidence(item, report, self.state, self.settings.artifacts_dir)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        status: Status = "passed"
        reason = ""
        if report.failed:
            # A failing assertion in the test body is a definite failure (FAIL); a failing
            # fixture, a crash, a timeout or GateError means the gate could not measure.
            errored = props.get("opsgate_verdict") == Verdict.ERROR.value
            status = "error" if errored or report.when != "call" else "failed"
            reason = one_line(report)
        elif report.skipped:
            status, reason = "skipped", one_line(report) or "skipped"
        outcome = self.state.outcomes.get(report.nodeid)
        if outcome is None:
            gate = str(props.get("opsgate_gate", ""))
            self.state.outcomes[report.nodeid] = TestOutcome(
                report.nodeid, gate, status, reason, report.duration
            )
        else:
            outcome.duration_s += report.duration
            outcome.worsen(status, reason)

    # ---- verdict

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.settings.is_worker:
            workeroutput = getattr(self.config, "workeroutput", None)
            if workeroutput is not None:
                workeroutput["opsgate"] = self.state.to_workeroutput()
            return
        if self.state.listing:
            return  # pytest's own exit code: a listing is not a gate run
        decision = self._finish(int(exitstatus))
        session.exitstatus = int(decision.exit_code)

    def _finish(self, exitstatus: int) -> Decision:
        """Decide the verdict and write the evidence, once, however the run ended."""
        if self.decision is not None:
            return self.decision
        from .finish import finish_run

        self.decision = finish_run(self.config, exitstatus)
        return self.decision

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.state.listing:
            _write_line(self.config, "opsgate: listing only: nothing was sent, no verdict")
            return
        if self.settings.is_worker or self.state.stopped_early:
            return  # an early stop printed its summary before pytest.exit
        terminalreporter.section("opsgate", sep="=")
        for line in _summary(self.config, self.state, self.decision):
            terminalreporter.write_line(line)


def _summary(config: pytest.Config, state: Any, decision: Decision | None) -> list[str]:
    from ..report.terminal import terminal_summary_lines

    verbose = config.option.verbose > 0 or "A" in (config.option.reportchars or "")
    return terminal_summary_lines(get_settings(config), state, decision, verbose=verbose)


def _write_line(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:  # pragma: no cover - terminal reporting disabled
        sys.stderr.write(line + "\n")
