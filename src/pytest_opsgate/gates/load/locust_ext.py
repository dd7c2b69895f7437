"""The opsgate Locust extension: exact-percentile SLOs enforced inside Locust itself.

Import it from a locustfile (``import pytest_opsgate.gates.load.locust_ext``) or run Locust
through ``python -m pytest_opsgate.gates.load.launch``; the pytest load gate does the latter.
Imported only inside Locust processes: it imports locust, which monkey-patches the
process with gevent.

Every process that runs users records each request (see :mod:`.recorder`); workers send
cumulative snapshots to the master with each stats report. The master (or the local
runner) merges them, evaluates the SLOs every second, stops the load early when going on
is pointless (see :class:`.outcome.AbortWatch`, a saturated generator, a lost worker, a
dead target), and at the end prints the SLO table, writes the JSON result
(``--opsgate-result``) and sets Locust's exit code: 0 pass, 1 SLO failed, 11 could not
measure. SLOs come from ``--opsgate-slo`` (repeatable) and a module-level ``SLOS`` list in
the locustfile.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import locust
from locust.runners import MasterRunner, WorkerRunner

from ...report.files import write_atomic
from ...settings import strip_credentials
from ...slo.evaluate import (
    SLOSyntaxError,
    evaluate_all,
    format_slo_table,
    parse_duration,
    parse_slo,
)
from .locust_args import add_arguments, locustfile_slos
from .monitor import CpuMonitor
from .outcome import (
    AbortWatch,
    Health,
    SnapshotMerger,
    decide_load,
    distrusted,
    endpoint_rows,
    judged_slos,
)
from .recorder import RequestRecorder, error_text, sanitising_fire, transport_failure

logger = logging.getLogger("opsgate")

RESULT_FORMAT = "opsgate-load-result/1"
REPORT_KEY = "opsgate"
_INSTALLED = "_opsgate_extension"
STOP_MESSAGE = "opsgate_stop"
FINAL_MESSAGE = "opsgate_final"
# Locust's master waits 0.5 s for the workers' last reports; a busy worker needs longer.
FINAL_REPORT_WAIT_S = 5.0


def _duration(text: str) -> float:
    return parse_duration(str(text))


class OpsgateExtension:
    """State of the extension in one Locust process."""

    def __init__(self) -> None:
        self.environment: Any = None
        self.runner: Any = None
        self.role = "local"
        self.options: Any = None
        self.recorder = RequestRecorder()
        self.merger = SnapshotMerger()
        self.cpu: CpuMonitor | None = None
        self.slos: list[Any] = []
        self.watch: AbortWatch | None = None
        self.health = Health()
        self.abort: dict[str, Any] | None = None
        self.started: float | None = None
        self.started_wall: float | None = None
        self.stopped: float | None = None
        self.peak_users = 0
        self.workers_seen: set[str] = set()
        self.expected_workers = 0
        self.result: dict[str, Any] | None = None
        self.results: list[Any] = []
        self._progress: Any = None

    # ---- setup

    def on_init(self, environment: Any, runner: Any = None, **_kw: Any) -> None:
        self.environment = environment
        self.runner = runner
        self.options = environment.parsed_options
        if isinstance(runner, MasterRunner):
            self.role = "master"
        elif isinstance(runner, WorkerRunner):
            self.role = "worker"
        # gevent's loop caches "now" since before Locust's imports; the --run-time timer is
        # armed right after init, and would end the run early by the start-up time.
        gevent.get_hub().loop.update_now()
        self.cpu = CpuMonitor()
        gevent.spawn(self.cpu.run)
        if self.role == "worker":
            runner.register_message(STOP_MESSAGE, self._on_stop_request)
            if self.options is not None:
                # Workers forked by --processes inherit --json-file; only the master's
                # statistics are the run's, so a worker must not overwrite the file.
                self.options.json_file = None
            return
        try:
            self._configure()
        except (SLOSyntaxError, ValueError) as exc:
            self.health.config_error = f"opsgate configuration: {exc}"
            logger.error("%s", self.health.config_error)
            self.finish()
            raise SystemExit(self.exit_code()) from None
        if self._option("opsgate_progress"):
            self._progress = open(self._option("opsgate_progress"), "a", buffering=1)  # noqa: SIM115
        # Quitting listeners run newest first: this one sees the test before the master's
        # own listener stops it, so a signal (quitting while running) can be told apart.
        environment.events.quitting.add_listener(self._on_quitting_begins)
        gevent.spawn(self._coordinate)
        if self.role == "master":
            runner.register_message(FINAL_MESSAGE, self._on_final_snapshot)
            self.expected_workers = int(self._option("expect_workers", 0) or 0)
            gevent.spawn(self._wait_for_workers)
        parent = os.environ.get("OPSGATE_PARENT_PID")
        if parent and os.environ.get("OPSGATE_ROOT_PID") == str(os.getpid()):
            gevent.spawn(self._watch_parent, int(parent))

    def _option(self, name: str, default: Any = None) -> Any:
        return getattr(self.options, name, default) if self.options is not None else default

    def _configure(self) -> None:
        texts = [*(self._option("opsgate_slo") or []), *locustfile_slos(self.environment)]
        slos = [parse_slo(text) for text in texts]
        default = not self._option("opsgate_no_default_slo", False)
        self.slos = judged_slos(list(dict.fromkeys(slos)), default_guard=default)
        self.recorder.warmup_s = _duration(self._option("opsgate_warmup", "0") or "0")
        self.watch = AbortWatch(
            self.slos,
            min_samples=int(self._option("opsgate_min_samples", 1) or 1),
            grace_s=_duration(self._option("opsgate_abort_grace", "5s") or "5s"),
        )

    # ---- events

    def on_test_start(self, environment: Any, **_kw: Any) -> None:
        if self.role == "worker":
            self.recorder.warmup_s = _duration(self._worker_option("opsgate_warmup", "0"))
        self.recorder.reset()
        self.merger = SnapshotMerger()
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.stopped = None

    def _worker_option(self, name: str, default: str) -> str:
        # Custom arguments reach a worker with each spawn message, after init.
        options = getattr(self.environment, "parsed_options", None)
        return str(getattr(options, name, default) or default)

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        exception: Any = None,
        response: Any = None,
        **_kw: Any,
    ) -> None:
        if exception is None:
            self.recorder.record(request_type, name, response_time, True)
            return
        self.recorder.record(
            request_type,
            name,
            response_time,
            False,
            error=error_text(exception),
            transport_error=transport_failure(exception, response),
        )

    def on_test_stopping(self, environment: Any, **_kw: Any) -> None:
        if self.role != "master" or self.health.interrupted or not self.workers_seen:
            return
        # Stop the workers' users first and collect their final snapshots, so the merged
        # counts are complete before Locust's master quits.
        self.runner.send_message(STOP_MESSAGE)
        deadline = time.monotonic() + FINAL_REPORT_WAIT_S
        while self.merger.not_final() and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def _on_stop_request(self, environment: Any, msg: Any, **_kw: Any) -> None:
        self.runner.stop()

    def _on_final_snapshot(self, environment: Any, msg: Any, **_kw: Any) -> None:
        self.workers_seen.add(msg.node_id)
        self.merger.add(msg.node_id, msg.data)

    def on_test_stop(self, environment: Any, **_kw: Any) -> None:
        if self.stopped is None and self.started is not None:
            self.stopped = time.monotonic()
        self.recorder.finish()
        if self.role == "worker" and self.started is not None:
            extra = {"cpu": self.cpu.to_dict() if self.cpu else {}}
            self.runner.send_message(FINAL_MESSAGE, self.recorder.snapshot(final=True, extra=extra))

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        extra = {"cpu": self.cpu.to_dict() if self.cpu else {}}
        data[REPORT_KEY] = self.recorder.snapshot(final=self.stopped is not None, extra=extra)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        self.workers_seen.add(client_id)
        snapshot = data.get(REPORT_KEY)
        if snapshot is None:
            self.merger.without_extension.add(client_id)
            return
        self.merger.add(client_id, snapshot)

    def on_quitting(self, environment: Any, **_kw: Any) -> None:
        if self.role == "worker":
            return
        self.finish()
        environment.process_exit_code = self.exit_code()

    def _on_quitting_begins(self, environment: Any, **_kw: Any) -> None:
        if self.started is not None and self.stopped is None and self.abort is None:
            self.health.interrupted = self.health.interrupted or "a signal (SIGINT or SIGTERM)"

    def on_quit(self, exit_code: int = 0, **_kw: Any) -> None:
        if self.role != "worker" and self.result is not None:
            sys.stdout.write(self.summary_text() + "\n")
            sys.stdout.flush()

    # ---- coordination (local runner or master)

    def _coordinate(self) -> None:
        while True:
            gevent.sleep(1.0)
            runner = self.runner
            if self.started is None or self.stopped is not None or runner is None:
                continue
            if runner.state not in ("spawning", "running"):
                continue
            now = time.monotonic()
            self._collect(now, final=False)
            reason, kind = self._abort_reason(now)
            self._write_progress(now)
            if reason:
                self.abort = {"kind": kind, "reason": reason, "at_s": round(now - self.started, 3)}
                logger.error("opsgate: stopping the load early: %s", reason)
                gevent.spawn(runner.quit)
                return

    def _collect(self, now: float, *, final: bool) -> None:
        if self.role == "local":
            extra = {"cpu": self.cpu.to_dict() if self.cpu else {}}
            self.merger.add("local", self.recorder.snapshot(now, final=final, extra=extra))
        users = int(getattr(self.runner, "user_count", 0) or 0)
        self.peak_users = max(self.peak_users, users)

    def _remaining(self, now: float) -> float | None:
        run_time = self._option("run_time")
        if not run_time or self.started is None:
            return None
        return max(0.0, float(run_time) - (now - self.started))

    def _abort_reason(self, now: float) -> tuple[str | None, str]:
        # Saturation is judged at the end (ERROR) but does not stop the load: the run's
        # figures are still worth reading, and throughput benchmarks saturate on purpose.
        workers = self._worker_problem()
        if workers:
            self.health.workers = workers
            return workers, "worker_lost"
        down = self.merger.target_down(at_end=False)
        if down is not None:
            self.health.target_down = down
            return f"target stopped answering at t={down['at_s']:.1f} s: {down['error']}", "target"
        assert self.watch is not None
        assert self.started is not None
        reason = self.watch.check(self.merger.store(), now - self.started, self._remaining(now))
        if reason:
            # A hopeless error rate of a target that only refuses is its death: say so.
            down = self.merger.target_down(at_end=True)
            if down is not None:
                self.health.target_down = down
                return (
                    f"target stopped answering at t={down['at_s']:.1f} s: {down['error']}",
                    "target",
                )
        return reason, "slo"

    def _saturation(self) -> str | None:
        where = list(self.merger.saturated())
        if self.cpu is not None and self.cpu.saturated and self.role == "master":
            where.append("master")
        runner = self.runner
        if getattr(runner, "cpu_warning_emitted", False) or getattr(
            runner, "worker_cpu_warning_emitted", False
        ):
            where.append("locust cpu warning")
        if not where:
            return None
        label = "" if where == ["local"] else f" ({', '.join(sorted(set(where)))})"
        details = [s.get("cpu", {}).get("reason", "") for s in self.merger.latest.values()]
        if self.cpu is not None and self.cpu.reason:
            details.append(self.cpu.reason)
        detail = next((text for text in details if text), f"max CPU {self.max_cpu():.0f}%")
        return (
            f"load generator saturated{label}: {detail}, so its latencies are not "
            "trustworthy; run fewer users per process or distributed (--gate-load-workers)"
        )

    def max_cpu(self) -> float:
        """The highest CPU percentage any generator process reported."""
        own = self.cpu.max_percent if self.cpu is not None else 0.0
        return max(own, self.merger.max_cpu())

    def max_lag_ms(self) -> float:
        """The worst mean event-loop lag any generator process reported."""
        own = self.cpu.max_lag_ms if self.cpu is not None else 0.0
        lags = [float(s.get("cpu", {}).get("max_lag_ms", 0.0)) for s in self.merger.latest.values()]
        return max([own, *lags])

    def _worker_problem(self) -> str | None:
        if self.role != "master":
            return None
        clients = self.runner.clients
        missing = [node.id for node in clients.missing]
        if missing:
            return (
                f"load worker {', '.join(missing)} stopped sending heartbeats; the remaining "
                "workers were stopped, results are incomplete"
            )
        if self.merger.without_extension:
            names = ", ".join(sorted(self.merger.without_extension))
            return (
                f"load worker {names} reports without the opsgate extension; install "
                "pytest-opsgate on the workers and import pytest_opsgate.gates.load.locust_ext"
            )
        return None

    def _wait_for_workers(self) -> None:
        wait_s = _duration(self._option("opsgate_workers_wait", "60s") or "60s")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.started is not None:
                return
            gevent.sleep(0.25)
        if self.started is not None:
            return
        connected = len(self.runner.clients.ready) + len(self.runner.clients.running)
        self.health.workers = (
            f"expected {self.expected_workers} load worker(s), {connected} connected within "
            f"{wait_s:g} s; start them with locust --worker --master-host=<this host>"
        )
        logger.error("opsgate: %s", self.health.workers)
        self.finish()
        self.environment.process_exit_code = self.exit_code()
        # SystemExit in a greenlet is re-raised in the main greenlet: the process exits.
        raise SystemExit(self.exit_code())

    def _watch_parent(self, parent: int) -> None:
        while True:
            gevent.sleep(1.0)
            if os.getppid() != parent:
                logger.error("opsgate: the pytest process is gone; stopping the load")
                self.health.interrupted = "the pytest process that started Locust is gone"
                gevent.spawn(self.runner.quit)
                return

    def _write_progress(self, now: float) -> None:
        if self._progress is None or self.started is None:
            return
        stats = self.runner.stats.total
        line = {
            "t": round(now - self.started, 2),
            "users": int(getattr(self.runner, "user_count", 0) or 0),
            "rps": self.merger.recent_rps(),
            "requests": int(stats.num_requests),
            "failures": int(stats.num_failures),
            "p95": self.merger.recent_percentile(95.0),
            "workers": len(self.workers_seen) if self.role == "master" else None,
        }
        self._progress.write(json.dumps(line) + "\n")

    # ---- result

    def finish(self) -> None:
        """Evaluate the SLOs once more, over everything, and write the result."""
        if self.result is not None:
            return
        now = time.monotonic()
        if self.started is not None and self.role == "local":
            self._collect(now, final=True)
        store = self.merger.store()
        if self.started is not None and self.role == "master":
            saturated = self._saturation()
            if saturated:
                self.health.saturated = saturated
            self.health.workers = self.health.workers or self._worker_problem()
        elif self.started is not None:
            self.health.saturated = self.health.saturated or self._saturation()
        if self.health.target_down is None:
            self.health.target_down = self.merger.target_down(at_end=True)
        if self.role == "master" and self.started is not None and not self.health.interrupted:
            self.health.late_workers = self.merger.not_final()
        self.health.started = self.started is not None
        self.health.ended_early = self._ended_early(now)
        results = evaluate_all(
            self.slos, store, min_samples=self.watch.min_samples if self.watch else 1
        )
        if self.health.saturated:
            results = distrusted(results, "the load generator was saturated")
        self.results = results
        requests_total = self.merger.requests_total()
        decision = decide_load(results, self.health, requests_total)
        verdict = decision.verdict.value.lower()
        reasons = list(decision.reasons)
        self.result = self._result_dict(
            store, results, verdict, int(decision.exit_code), reasons, now
        )
        path = self._option("opsgate_result")
        if path:
            write_atomic(Path(path), json.dumps(self.result, indent=2, default=str))

    def _ended_early(self, now: float) -> str | None:
        """Why the run is shorter than its run time, unless the gate's own rule stopped it."""
        run_time = self._option("run_time")
        if not run_time or self.started is None or self.abort is not None:
            return None
        if self.health.interrupted or self.health.config_error or self.health.workers:
            return None
        ran = (self.stopped or now) - self.started
        if ran >= float(run_time) - max(1.0, 0.02 * float(run_time)):
            return None
        return (
            f"the load stopped after {ran:.1f} s of its {float(run_time):g} s run time, not by "
            "the gate's abort rule (a locustfile that stopped the runner, or every user "
            "stopping?); a partial run is never judged"
        )

    def exit_code(self) -> int:
        """0 pass, 1 fail, 2 aborted, 11 error (the result must be final)."""
        return int(self.result["exit_code"]) if self.result else 11

    def _result_dict(
        self,
        store: Any,
        results: list[Any],
        verdict: str,
        code: int,
        reasons: list[str],
        now: float,
    ) -> dict[str, Any]:
        if self.health.interrupted:
            status = "interrupted"
        elif self.abort is not None:
            status = "aborted"
        elif self.started is None:
            status = "not_started"
        else:
            status = "completed"
        end = self.stopped or now
        host = getattr(self.environment, "host", None)
        down = self.health.target_down
        if down is not None and self.started_wall is not None:
            down = {**down, "at_wall": self.started_wall + float(down["at_s"])}
        return {
            "format": RESULT_FORMAT,
            "locust_version": locust.__version__,
            "role": self.role,
            "host": strip_credentials(host) if host else None,
            "status": status,
            "verdict": verdict,
            "exit_code": code,
            "error_kind": self._error_kind(verdict),
            "reasons": reasons,
            "started_wall": self.started_wall,
            "duration_s": round(end - self.started, 3) if self.started is not None else 0.0,
            "run_time_s": self._option("run_time"),
            "warmup_s": self.recorder.warmup_bins,
            "window_s": store.total().window_s,
            "users": self._option("num_users"),
            "peak_users": self.peak_users,
            "abort": self.abort,
            "target_down": down,
            "cpu": {
                "saturated": self.health.saturated is not None,
                "max_percent": self.max_cpu(),
                "max_lag_ms": self.max_lag_ms(),
            },
            "workers": {
                "expected": self.expected_workers,
                "seen": sorted(self.workers_seen),
                "requests": self.merger.worker_requests() if self.role == "master" else {},
                "late": self.merger.not_final() if self.role == "master" else [],
            },
            "requests_total": self.merger.requests_total(),
            "slos": [result.to_dict() for result in results],
            "endpoints": endpoint_rows(store),
            "errors": self.merger.errors(),
            "timeline": self.merger.timeline(),
            "metrics": store.to_dict(),
        }

    def _error_kind(self, verdict: str) -> str | None:
        """Why the verdict is an error: configuration, saturation, workers or samples."""
        if verdict != "error":
            return None
        if self.health.config_error:
            return "configuration"
        if self.health.saturated:
            return "saturation"
        if self.health.workers or self.health.late_workers:
            return "workers"
        if self.health.ended_early:
            return "ended_early"
        return "samples"

    def summary_text(self) -> str:
        """The verdict and SLO table as printed at the end of a Locust run."""
        assert self.result is not None
        lines = [f"opsgate: load verdict {self.result['verdict'].upper()}"]
        if self.results:
            lines.append(format_slo_table(self.results))
        lines.extend(f"opsgate: {reason}" for reason in self.result["reasons"])
        if self.abort is not None:
            lines.append(f"opsgate: stopped early at t={self.abort['at_s']:.1f} s")
        return "\n".join(lines)


def install(events: Any = None) -> OpsgateExtension:
    """Register the extension's listeners on ``events`` (Locust's global events) once."""
    events = events if events is not None else locust.events
    existing = getattr(events, _INSTALLED, None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    ext = OpsgateExtension()
    setattr(events, _INSTALLED, ext)
    events.init_command_line_parser.add_listener(lambda parser, **_kw: add_arguments(parser))
    events.init.add_listener(ext.on_init)
    events.test_start.add_listener(ext.on_test_start)
    events.test_stopping.add_listener(ext.on_test_stopping)
    events.test_stop.add_listener(ext.on_test_stop)
    events.request.add_listener(ext.on_request)
    events.request.fire = sanitising_fire(events.request.fire)
    events.report_to_master.add_listener(ext.on_report_to_master)
    events.worker_report.add_listener(ext.on_worker_report)
    events.quitting.add_listener(ext.on_quitting)
    events.quit.add_listener(ext.on_quit)
    return ext


extension = install()
