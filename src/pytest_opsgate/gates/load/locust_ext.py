"""The opsgate Locust extension: exact-percentile SLOs enforced inside Locust itself.

Load it from a locustfile (``import pytest_opsgate.gates.load.locust_ext``), as an extra
locustfile (``locust -f locustfile.py,$(python -m pytest_opsgate.gates.load.opsgate_locust)``)
or run Locust through ``python -m pytest_opsgate.gates.load.launch``; the pytest load gate
does the last. Imported only inside Locust processes: it imports locust, which
monkey-patches the process with gevent.

Every process that runs users records each request (:mod:`.recorder`); workers send
cumulative snapshots to the master with each stats report. The master (or the local
runner) merges them and watches the run (:mod:`.supervise`); at the end it judges the SLOs
by the gate's decision table (:mod:`.conclude`), prints the SLO table, writes the typed
result (``--opsgate-result``, :class:`.result.LoadResult`) and sets Locust's exit code:
0 pass, 1 SLO failed, 2 interrupted, 11 could not measure. SLOs come from ``--opsgate-slo``
(repeatable) and a module-level ``SLOS`` list in the locustfile.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
import locust
from locust.runners import MasterRunner, WorkerRunner

from ...report.files import write_atomic
from ...settings import strip_credentials
from ...slo.evaluate import SLOSyntaxError, parse_duration, parse_slo
from .conclude import Ending, build_result, ended_early, judge, summary_text, with_reason
from .early import EarlyJudge
from .inflight import InFlight
from .locust_args import add_arguments, locustfile_slos
from .merge import SnapshotMerger
from .monitor import CpuMonitor
from .open_model import (
    BEHIND_LIMIT,
    DRAIN_S,
    LATE_TOLERANCE_S,
    UNANSWERED_SCOPE,
    OpenModel,
    OpenSettings,
    open_settings,
    worker_plan,
)
from .outcome import (
    AbortWatch,
    Health,
    behind_reason,
    decide_load,
    judged_slos,
    record_errors_reason,
    task_errors_reason,
)
from .recorder import RequestRecorder, error_text, recording_fire, transport_failure
from .result import CpuFigures, LoadResult, ModelFigures, StopRecord, WorkerFigures
from .supervise import Supervisor

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger("opsgate")

REPORT_KEY = "opsgate"
_MODEL_COUNTS = (
    "scheduled",
    "started",
    "late_generator",
    "late_cap",
    "missed",
    "missed_cap",
    "unanswered",
    "peak_inflight",
    "users",
)
_INSTALLED = "_opsgate_extension"
STOP_MESSAGE = "opsgate_stop"
FINAL_MESSAGE = "opsgate_final"
# Locust's master waits 0.5 s for the workers' last reports; a busy worker needs longer.
FINAL_REPORT_WAIT_S = 5.0
MAX_TASK_ERROR_KINDS = 20


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while the verdict is written (a second Ctrl-C would lose it).

    The run is already stopping; an impatient second Ctrl-C, or GNU ``timeout`` signalling the
    whole process group, would otherwise raise KeyboardInterrupt inside :meth:`finish` and
    Locust would exit 130 with no verdict and no partial report. Writing the result is
    bounded CPU work, so the signal is dropped, not deferred. Outside the main thread
    (where Python cannot change handlers) nothing changes.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class OpsgateExtension:
    """State of the extension in one Locust process, and its event listeners."""

    def __init__(self) -> None:
        self.environment: Any = None
        self.runner: Any = None
        self.role = "local"
        self.options: Any = None
        self.recorder = RequestRecorder()
        self.merger = SnapshotMerger()
        self.cpu: CpuMonitor | None = None
        self.slos: list[Any] = []
        self.min_samples = 1
        self.watch: AbortWatch | None = None
        self.early: EarlyJudge | None = None
        self.health = Health()
        self.abort: StopRecord | None = None
        self.started: float | None = None
        self.started_wall: float | None = None
        self.stopped: float | None = None
        self.peak_users = 0
        self.workers_seen: set[str] = set()
        self.expected_workers = 0
        self.result: LoadResult | None = None
        self.progress: Any = None
        self.supervisor = Supervisor(self)
        self.open_settings: OpenSettings | None = None  # the open model (master, local)
        self.open: OpenModel | None = None  # this process's arrivals (local, worker)
        self.inflight = InFlight()
        self.inflight.on_killed = self._record_killed
        self.inflight.on_timeout = self._record_timed_out
        # A request killed unanswered after this long is a failure (the largest latency
        # budget, at least the open model's drain): it broke every latency SLO it had.
        self.unanswered_after_ms = DRAIN_S * 1000
        self._stop_requested = False
        self.task_errors: dict[str, int] = {}  # exceptions raised by tasks: text -> count
        self.record_errors: dict[str, int] = {}  # request events not counted: text -> count
        # Request events recorded through the gate's fire (compared with Locust's own count).
        self.events_recorded = 0

    # ---- options

    def option(self, name: str, default: Any = None) -> Any:
        """A parsed Locust option (ours are ``opsgate_*``), or ``default``."""
        options = getattr(self.environment, "parsed_options", None) or self.options
        return getattr(options, name, default) if options is not None else default

    def duration_option(self, name: str, default: str) -> float:
        """A duration option in seconds."""
        return parse_duration(str(self.option(name, default) or default))

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
        progress = self.option("opsgate_progress")
        if progress:
            self.progress = open(progress, "a", buffering=1)  # noqa: SIM115
        # Quitting listeners run newest first: this one sees the test before the master's
        # own listener stops it, so a signal (quitting while running) can be told apart.
        environment.events.quitting.add_listener(self._on_quitting_begins)
        gevent.spawn(self.supervisor.run)
        if self.role == "master":
            runner.register_message(FINAL_MESSAGE, self._on_final_snapshot)
            self.expected_workers = int(self.option("expect_workers", 0) or 0)
            gevent.spawn(self.supervisor.wait_for_workers)
        parent = os.environ.get("OPSGATE_PARENT_PID")
        if parent and os.environ.get("OPSGATE_ROOT_PID") == str(os.getpid()):
            gevent.spawn(self.supervisor.watch_parent, int(parent))

    def _configure(self) -> None:
        texts = [*(self.option("opsgate_slo") or []), *locustfile_slos(self.environment)]
        slos = [parse_slo(text) for text in texts]
        default = not self.option("opsgate_no_default_slo", False)
        self.slos = judged_slos(list(dict.fromkeys(slos)), default_guard=default)
        self.min_samples = int(self.option("opsgate_min_samples", 1) or 1)
        self.recorder.warmup_s = self.duration_option("opsgate_warmup", "0")
        self.unanswered_after_ms = _unanswered_after_ms(self.slos)
        self.watch = AbortWatch(self.slos, min_samples=self.min_samples)
        self.early = EarlyJudge(
            self.slos,
            min_samples=self.min_samples,
            early_pass=bool(self.option("opsgate_early_pass", False)),
        )
        self.open_settings = open_settings(self.option, self.environment)
        if self.open_settings is not None:
            self._configure_open(self.open_settings)

    def _configure_open(self, settings: OpenSettings) -> None:
        """Arrivals replace Locust's users; stages without --run-time set it."""
        options = self.environment.parsed_options
        if options is None:
            return
        if getattr(options, "num_users", None):
            logger.info("opsgate: open model, so -u %s is ignored", options.num_users)
        options.num_users = 0
        stages_s = settings.schedule.stages_s
        if stages_s and not getattr(options, "run_time", None):
            options.run_time = max(1, math.ceil(stages_s))
        self.recorder.corrected = True

    # ---- events

    def on_test_start(self, environment: Any, **_kw: Any) -> None:
        # Custom arguments reach a worker with each spawn message, after init.
        self.recorder.warmup_s = self.duration_option("opsgate_warmup", "0")
        if self.role == "worker":
            texts = [*(self.option("opsgate_slo") or []), *locustfile_slos(environment)]
            with contextlib.suppress(SLOSyntaxError, ValueError):
                self.unanswered_after_ms = _unanswered_after_ms([parse_slo(t) for t in texts])
        self._start_open()
        self.recorder.reset()
        self.merger = SnapshotMerger()
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.stopped = None
        if self.open is not None:
            self.open.start()

    def _start_open(self) -> None:
        """Plan this process's arrivals: all of them (local), or a worker's share."""
        settings = self.open_settings
        run_time = self.option("run_time")
        if self.role == "master" and settings is not None:
            runner = self.runner
            workers = [node.id for node in runner.clients.ready + runner.clients.running]
            workers += [node.id for node in runner.clients.spawning]
            plans = settings.worker_plans(sorted(set(workers)), run_time)
            # Custom options travel to the workers with each spawn job.
            self.environment.parsed_options.opsgate_open_plan = plans
            return
        plan = None
        if self.role == "local" and settings is not None:
            plan = settings.plan(run_time)
        elif self.role == "worker":
            text = self.option("opsgate_open_plan")
            if text:
                plan = worker_plan(text, self.runner.client_id)
                self.recorder.corrected = True
                if plan is None:
                    logger.warning("opsgate: this worker has no share of the open model's plan")
        if plan is not None:
            self.open = OpenModel(self.environment, plan, self._record_unanswered)

    def _record_killed(self, method: str, name: str, waited_ms: float) -> None:
        """A closed-model request killed with its user when the load stopped: a failure when
        it had waited longer than any latency budget (the open model counts its own)."""
        if self.open is not None or waited_ms < self.unanswered_after_ms:
            return
        self.recorder.record(
            method,
            name,
            None,
            False,
            error=f"no answer within {self.unanswered_after_ms / 1000:g} s, when the load stopped",
        )

    def _record_timed_out(self, method: str, name: str, waited_ms: float) -> None:
        """A request its task's own gevent.Timeout abandoned, which the client never reported
        (HttpSession): a failure of its endpoint, whatever the model."""
        self.recorder.record(
            method,
            name,
            None,
            False,
            error=f"no answer within the task's own gevent.Timeout ({waited_ms / 1000:.2f} s)",
        )

    def _record_unanswered(self, arrival: Any, waited_ms: float) -> None:
        # Under the endpoint it waited on, so that endpoint's own SLOs and guard see it.
        method, name = self.inflight.waiting(arrival) or ("", UNANSWERED_SCOPE)
        self.recorder.record(
            method,
            name,
            None,
            False,
            error=f"no answer within the run and its {DRAIN_S:g} s drain",
            corrected_ms=waited_ms,
        )

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        exception: Any = None,
        response: Any = None,
    ) -> None:
        """Count one request event (called by :func:`.recorder.recording_fire`)."""
        # Every request passes here: no keyword arguments and no lookups on the fast path.
        self.events_recorded += 1
        if self.open is None:
            if exception is None:
                self.recorder.record(request_type, name, response_time, True)
                return
            self._record_failure(request_type, name, response_time, exception, response, None)
            return
        corrected = None
        if response_time is not None:
            corrected = response_time + self.open.lateness_ms.get(gevent.getcurrent(), 0.0)
        if exception is None:
            self.recorder.record(request_type, name, response_time, True, corrected_ms=corrected)
            return
        self._record_failure(request_type, name, response_time, exception, response, corrected)

    def _record_failure(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        exception: Any,
        response: Any,
        corrected: float | None,
    ) -> None:
        self.recorder.record(
            request_type,
            name,
            response_time,
            False,
            error=error_text(exception),
            transport_error=transport_failure(exception, response),
            corrected_ms=corrected,
        )

    def bypassed(self) -> dict[str, int]:
        """Request events Locust's statistics counted and the gate did not, as record errors.

        The gate records inside ``events.request.fire`` (:func:`.recorder.recording_fire`),
        which a locustfile loaded before the extension may have kept a reference to (plain
        ``locust -f locustfile.py,opsgate_locust.py``): such events reach the listeners only,
        Locust's statistics among them. Comparing the two counts costs nothing per request.
        Locust's count can only be lower otherwise (``--reset-stats``, a final worker report
        still on its way), so a higher one is never a false alarm.
        """
        stats = getattr(self.environment, "stats", None)
        seen = int(getattr(getattr(stats, "total", None), "num_requests", 0) or 0)
        missed = seen - self.merger.events_recorded()
        if missed <= 0:
            return {}
        text = (
            "they were fired through a reference to events.request.fire kept from before the "
            "extension loaded; load it first (-f its path before the locustfile's, or import "
            "pytest_opsgate.gates.load.locust_ext at the top of the locustfile)"
        )
        return {text: missed}

    def on_record_error(self, exception: BaseException) -> None:
        """A request event the recorder could not count: the verdict cannot be trusted."""
        text = (
            f"{error_text(exception)[:200]} (a request event needs request_type, name and a "
            "numeric response_time)"
        )
        if text not in self.record_errors and len(self.record_errors) >= MAX_TASK_ERROR_KINDS:
            text = "(other exceptions)"
        if not self.record_errors:
            logger.error("opsgate: a request event could not be counted: %s", text)
        self.record_errors[text] = self.record_errors.get(text, 0) + 1

    def on_user_error(self, user_instance: Any, exception: Any, tb: Any = None, **_kw: Any) -> None:
        """A task raised: the rest of what it was written to request was skipped."""
        if self.started is None or self.stopped is not None:
            return
        where = ""
        frames = traceback.extract_tb(tb) if tb is not None else []
        if frames:
            where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})"
        text = f"{type(exception).__name__}: {exception}"[:200] + where
        if text not in self.task_errors and len(self.task_errors) >= MAX_TASK_ERROR_KINDS:
            text = "(other exceptions)"
        self.task_errors[text] = self.task_errors.get(text, 0) + 1

    def on_test_stopping(self, environment: Any, **_kw: Any) -> None:
        # Arrivals in flight get a drain to answer, unless a signal stops the run.
        drain = self._stop_requested if self.role == "worker" else not self.health.interrupted
        self.stop_arrivals(drain=drain)
        if self.role != "master" or self.health.interrupted or not self.workers_seen:
            return
        # Stop the workers' users first and collect their final snapshots, so the merged
        # counts are complete before Locust's master quits.
        self.runner.send_message(STOP_MESSAGE)
        wait = FINAL_REPORT_WAIT_S + (DRAIN_S if self.open_settings is not None else 0.0)
        deadline = time.monotonic() + wait
        while self.merger.not_final() and time.monotonic() < deadline:
            gevent.sleep(0.05)

    def _on_stop_request(self, environment: Any, msg: Any, **_kw: Any) -> None:
        self._stop_requested = True
        # Before runner.stop(), whose stack inspection holds the loop for a while.
        self.stop_arrivals(drain=True)
        self.runner.stop()

    def stop_arrivals(self, *, drain: bool) -> None:
        """The open model: no more arrivals; those in flight may drain."""
        if self.open is not None:
            self.open.stop(drain=drain)

    def _on_final_snapshot(self, environment: Any, msg: Any, **_kw: Any) -> None:
        self.workers_seen.add(msg.node_id)
        self.merger.add(msg.node_id, msg.data)

    def on_test_stop(self, environment: Any, **_kw: Any) -> None:
        if self.stopped is None and self.started is not None:
            self.stopped = time.monotonic()
        self.recorder.finish()
        if self.role == "worker" and self.started is not None:
            self.runner.send_message(FINAL_MESSAGE, self._snapshot(final=True))

    def _snapshot(
        self, now: float | None = None, *, final: bool, plain: bool = True
    ) -> dict[str, Any]:
        extra = {
            "cpu": self.cpu.to_dict() if self.cpu else {},
            "open": self.open.figures(now) if self.open is not None else None,
            "inflight": self.inflight.count(),
            "silent_s": round(self.inflight.silent_s(now), 3),
            "task_errors": [[text, count] for text, count in self.task_errors.items()],
            "record_errors": [[text, count] for text, count in self.record_errors.items()],
            "events": self.events_recorded,
        }
        return self.recorder.snapshot(now, final=final, extra=extra, plain=plain)

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_kw: Any) -> None:
        data[REPORT_KEY] = self._snapshot(final=self.stopped is not None)

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
        with sigint_ignored():
            self.finish()
        environment.process_exit_code = self.exit_code()

    def _on_quitting_begins(self, environment: Any, **_kw: Any) -> None:
        if self.started is not None and self.stopped is None and self.abort is None:
            self.health.interrupted = self.health.interrupted or "a signal (SIGINT or SIGTERM)"

    def on_quit(self, exit_code: int = 0, **_kw: Any) -> None:
        if self.role != "worker" and self.result is not None:
            sys.stdout.write(summary_text(self.result) + "\n")
            sys.stdout.flush()

    # ---- merging (local runner or master)

    def collect(self, now: float, *, final: bool) -> None:
        """Bring the local runner's own requests into the merger; note the peak of users."""
        if self.role == "local":
            self.merger.add("local", self._snapshot(now, final=final, plain=False))
        users = int(getattr(self.runner, "user_count", 0) or 0)
        figures = self.merger.open_figures()
        if figures is not None:
            users = int(figures.get("inflight", 0))
        self.peak_users = max(self.peak_users, users)

    @property
    def judges_corrected(self) -> bool:
        """True when SLOs read the open model's latencies from the intended start."""
        return self.open_settings is not None and self.open_settings.judged == "corrected"

    def model_figures(self) -> ModelFigures:
        """The load model of the run and, for the open model, its arrival counts."""
        settings = self.open_settings
        if settings is None:
            return ModelFigures()
        figures = self.merger.open_figures() or {}
        schedule = settings.schedule
        return ModelFigures(
            kind="open",
            judged="corrected" if self.judges_corrected else "service",
            rate=schedule.start_rate or None,
            stages=[[stage.duration_s, stage.target] for stage in schedule.stages],
            max_inflight=settings.max_inflight,
            **{k: int(v) for k, v in figures.items() if k in _MODEL_COUNTS},
        )

    # ---- result

    def finish(self) -> None:
        """Evaluate the SLOs once more, over everything, and write the result."""
        if self.result is not None:
            return
        now = time.monotonic()
        started = self.started is not None
        if started and self.role == "local":
            self.collect(now, final=True)
        health = self.health
        store = self.merger.store(corrected=self.judges_corrected)
        if self.open_settings is not None:
            health.behind, health.behind_generator = behind_reason(
                self.merger.open_figures(),
                self.open_settings.max_inflight,
                tolerance_s=LATE_TOLERANCE_S,
                limit=BEHIND_LIMIT,
            )
        if started:
            health.saturated = health.saturated or self.supervisor.saturation()
            health.task_errors = task_errors_reason(self.merger.task_errors())
            health.record_errors = record_errors_reason(
                {**self.merger.record_errors(), **self.bypassed()}
            )
        if started and self.role == "master":
            health.workers = health.workers or self.supervisor.worker_problem()
        if health.target_down is None:
            health.target_down = self.merger.target_down(at_end=True)
        if self.role == "master" and started and not health.interrupted:
            health.late_workers = self.merger.not_final()
        health.started = started
        run_time = self.option("run_time")
        ran = None if self.started is None else (self.stopped or now) - self.started
        health.ended_early = ended_early(
            run_time_s=float(run_time) if run_time else None,
            ran_s=ran,
            abort=self.abort,
            health=health,
        )
        results = self._annotated(judge(self.slos, store, health, self.min_samples))
        requests_total = self.merger.requests_total()
        decision = decide_load(results, health, requests_total)
        host = getattr(self.environment, "host", None)
        master = self.role == "master"
        ending = Ending(
            locust_version=locust.__version__,
            role=self.role,
            host=strip_credentials(host) if host else None,
            started=self.started,
            started_wall=self.started_wall,
            stopped=self.stopped,
            now=now,
            run_time_s=run_time,
            warmup_s=self.recorder.warmup_bins,
            users=None if self.open_settings is not None else self.option("num_users"),
            peak_users=self.peak_users,
            abort=self.abort,
            cpu=CpuFigures(
                saturated=health.saturated is not None,
                max_percent=self.supervisor.max_cpu(),
                max_lag_ms=self.supervisor.max_lag_ms(),
            ),
            workers=WorkerFigures(
                expected=self.expected_workers,
                seen=sorted(self.workers_seen),
                requests=self.merger.worker_requests() if master else {},
                late=self.merger.not_final() if master else [],
            ),
            model=self.model_figures(),
            requests_total=requests_total,
            errors=self.merger.errors(),
            timeline=self.merger.timeline(),
        )
        both = (
            (self.merger.store(), self.merger.store(corrected=True))
            if self.open_settings is not None
            else None
        )
        self.result = build_result(ending, store, results, health, decision, both=both)
        path = self.option("opsgate_result")
        if path:
            write_atomic(Path(path), self.result.to_json())

    def _annotated(self, results: list[Any]) -> list[Any]:
        """Say in the SLO rows what the early decisions found, when they stopped the run."""
        early = self.early
        if early is None or self.abort is None:
            return results
        notes = dict(early.secured) if self.abort.kind == "early_pass" else {}
        if self.health.lost and early.lost_slo:
            notes = {early.lost_slo: f"lost early: {self.health.lost}"}
        else:
            notes = {text: f"held early: {why}" for text, why in notes.items()}
        return [
            with_reason(result, notes[result.slo.text]) if result.slo.text in notes else result
            for result in results
        ]

    def exit_code(self) -> int:
        """0 pass, 1 fail, 2 aborted, 11 error (the result must be final)."""
        return self.result.exit_code if self.result else 11


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
    events.user_error.add_listener(ext.on_user_error)
    # Not a listener: the gate records inside the event's fire (see recording_fire; events
    # fired around it are caught by comparing counts with Locust's statistics at the end).
    events.request.fire = recording_fire(events.request.fire, ext.on_request, ext.on_record_error)
    _track_requests(ext.inflight)
    events.report_to_master.add_listener(ext.on_report_to_master)
    events.worker_report.add_listener(ext.on_worker_report)
    events.quitting.add_listener(ext.on_quitting)
    events.quit.add_listener(ext.on_quit)
    return ext


def _unanswered_after_ms(slos: list[Any]) -> float:
    """How long a request killed unanswered waited at least to count as a failure."""
    budgets = [float(slo.budget) for slo in slos if slo.kind == "duration"]
    return max([DRAIN_S * 1000, *budgets])


def _track_requests(inflight: InFlight) -> None:
    """Know which requests of Locust's HTTP clients are in flight (see :mod:`.inflight`)."""
    from locust.clients import HttpSession
    from locust.contrib.fasthttp import FastHttpSession

    inflight.wrap(HttpSession)
    inflight.wrap(FastHttpSession)


extension = install()
