"""The open model inside one Locust process: arrivals on a clock, each one task on a pooled user.

Locust's own users loop (send, wait for the answer, think, send again): when the service
stalls, they stop sending, and the stall is hardly measured (coordinated omission). Here a
dispatcher greenlet starts arrival ``n`` at the moment :class:`~.arrivals.ArrivalSchedule`
says, whatever the responses do. Each arrival takes an idle user of a user class (chosen by
the classes' ``weight``; a new user runs ``on_start`` first), runs one of its tasks (chosen
by task weight; a TaskSet task runs one of its own tasks), and gives the user back. At most
``max_inflight`` arrivals run at once; an arrival that finds no free slot waits, starts
late, and that lateness is part of its latency.

Two latencies: Locust measures each request from its actual send (*service* time); the
extension adds how late the arrival started (:attr:`OpenModel.lateness_ms`, looked up by
the running greenlet) to get the latency from the *intended* start (*corrected*), as wrk2
does. An arrival is late when it starts more than :data:`LATE_TOLERANCE_S` after its time;
more than :data:`BEHIND_LIMIT` of them late (or never started) means the generator fell
behind, an ERROR (see :func:`.outcome.behind_reason`), never a quietly lower rate.

At the end the dispatcher stops, arrivals still in flight get :data:`DRAIN_S` to finish
(their answers are recorded), and those still unanswered are recorded as failed requests,
with the time they had waited so far (a lower bound of their latency), of the endpoint whose
answer they were waiting for, or of the scope ``unanswered arrivals`` when none (they had not
sent one yet). Imported only inside Locust processes (gevent).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent
from gevent.lock import BoundedSemaphore
from gevent.pool import Group
from locust import TaskSet
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser

from .arrivals import ArrivalSchedule, Stage, parse_rate, parse_stages
from .locust_args import locustfile_setting

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("opsgate")

LATE_TOLERANCE_S = 0.1
BEHIND_LIMIT = 0.01
DRAIN_S = 3.0
DEFAULT_MAX_INFLIGHT = 1000
UNANSWERED_SCOPE = "unanswered arrivals"
_QUIET = (StopUser, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)


@dataclass(frozen=True)
class OpenPlan:
    """This process's share of the schedule: arrivals ``index``, ``index + count``, ..."""

    schedule: ArrivalSchedule
    duration_s: float
    max_inflight: int
    index: int = 0
    count: int = 1


@dataclass(frozen=True)
class OpenSettings:
    """The open model of a run, as the master (or the local runner) resolved it."""

    schedule: ArrivalSchedule
    max_inflight: int
    judged: str  # corrected or service

    def plan(self, duration_s: float | None) -> OpenPlan:
        """The whole schedule for one process."""
        return OpenPlan(self.schedule, _duration(duration_s), self.max_inflight)

    def worker_plans(self, workers: list[str], duration_s: float | None) -> str:
        """JSON for the workers: who takes which arrivals, and each one's in-flight share."""
        return json.dumps(
            {
                "start_rate": self.schedule.start_rate,
                "stages": [[st.duration_s, st.target] for st in self.schedule.stages],
                "duration_s": duration_s,
                "max_inflight": math.ceil(self.max_inflight / max(1, len(workers))),
                "slots": {worker: index for index, worker in enumerate(workers)},
            }
        )


def _duration(duration_s: float | None) -> float:
    return math.inf if duration_s is None else float(duration_s)


def worker_plan(text: str, client_id: str) -> OpenPlan | None:
    """This worker's share of the master's plan (None when the master gave it no slot)."""
    data = json.loads(text)
    slots = data["slots"]
    if client_id not in slots:
        return None
    schedule = ArrivalSchedule(
        float(data["start_rate"]), tuple(Stage(float(d), float(t)) for d, t in data["stages"])
    )
    return OpenPlan(
        schedule,
        _duration(data["duration_s"]),
        int(data["max_inflight"]),
        index=int(slots[client_id]),
        count=len(slots),
    )


def open_settings(option: Callable[[str], Any], environment: Any) -> OpenSettings | None:
    """The open model from the command line or the locustfile, or None (the closed model)."""

    def pick(name: str, module_name: str) -> str | None:
        value = option(name)
        if value is None or value == "":
            value = locustfile_setting(environment, module_name)
        return None if value is None else str(value)

    rate = pick("opsgate_rate", "LOAD_RATE")
    stages = pick("opsgate_stages", "LOAD_STAGES")
    if rate is None and stages is None:
        return None
    schedule = ArrivalSchedule(
        parse_rate(rate) if rate is not None else 0.0,
        parse_stages(stages) if stages is not None else (),
    )
    inflight_text = pick("opsgate_max_inflight", "LOAD_MAX_INFLIGHT")
    max_inflight = int(inflight_text) if inflight_text is not None else DEFAULT_MAX_INFLIGHT
    if max_inflight < 1:
        raise ValueError(f"max in-flight {max_inflight} must be at least 1")
    judged = (pick("opsgate_latency", "LOAD_LATENCY") or "corrected").strip().lower()
    if judged not in ("corrected", "service"):
        raise ValueError(f"latency {judged!r} is neither corrected nor service")
    return OpenSettings(schedule, max_inflight, judged)


class OpenModel:
    """Runs one process's arrivals; see the module docstring."""

    def __init__(
        self,
        environment: Any,
        plan: OpenPlan,
        on_unanswered: Callable[[Any, float], None],
    ) -> None:
        self.environment = environment
        self.plan = plan
        self.on_unanswered = on_unanswered
        self.lateness_ms: dict[Any, float] = {}
        self._intended: dict[Any, float] = {}
        self._slots = BoundedSemaphore(plan.max_inflight)
        self._arrivals = Group()
        self._dispatcher: Any = None
        self._idle: dict[type, list[Any]] = {}
        self._users: list[Any] = []
        self._classes, self._weights = self._user_classes()
        self._stopping = False
        self._waiting_for_slot = False
        # The dispatcher's waits for a slot: since when it has waited (in one backlog), and
        # when the slot it got was freed (not when the dispatcher ran again: a busy loop
        # delays that, and arrivals due meanwhile are late for the generator's sake).
        self._cap_since = math.inf
        self._cap_freed_at = -math.inf
        self._freed_at: float | None = None  # the first slot freed while the dispatcher waits
        self._pending_cap = 0  # dispatched, held back by the cap, not started yet
        self._errors_logged: set[str] = set()
        self.t0 = 0.0
        self.started = 0
        self.dispatched = 0
        self.late_generator = 0
        self.late_cap = 0
        self.missed_cap = 0
        self.unanswered = 0
        self.inflight = 0
        self.peak_inflight = 0
        self.stopped_at: float | None = None

    def _user_classes(self) -> tuple[list[type], list[float]]:
        classes = [c for c in self.environment.user_classes if getattr(c, "tasks", None)]
        if not classes:
            raise ValueError("the open model found no user class with a task in the locustfile")
        weights = [max(0.0, float(getattr(c, "weight", 1) or 0)) for c in classes]
        if not any(weights):
            weights = [1.0] * len(classes)
        host = getattr(self.environment, "host", None)
        if host:
            for user_class in classes:
                user_class.host = host
        return classes, weights

    # ---- running

    def start(self) -> None:
        """Start the clock and the dispatcher."""
        self.t0 = time.monotonic()
        self._dispatcher = gevent.spawn(self._dispatch)

    def _dispatch(self) -> None:
        plan = self.plan
        n = plan.index
        while not self._stopping:
            due = plan.schedule.time_of(n)
            if due is None or due >= plan.duration_s:
                return
            intended = self.t0 + due
            wait = intended - time.monotonic()
            if wait > 0:
                gevent.sleep(wait)
            waited = not self._slots.acquire(blocking=False)
            if waited:
                if intended >= self._cap_freed_at:  # not the backlog of an earlier wait
                    self._cap_since = time.monotonic()
                self._freed_at = None
                self._waiting_for_slot = True
                self._slots.acquire()
                self._waiting_for_slot = False
                freed = self._freed_at
                self._cap_freed_at = time.monotonic() if freed is None else freed
            if self._stopping:
                self._slots.release()
                return
            # Held back by the cap: this arrival, and every one due while the dispatcher
            # waited for a slot (they go out in a burst once slots free up, each finding a
            # slot at once, but late for the cap's sake). Arrivals due before the wait began
            # were already late: the generator's (it stalled, then filled the slots).
            cap = waited or self._cap_since <= intended < self._cap_freed_at
            self.inflight += 1
            self.dispatched += 1
            self.peak_inflight = max(self.peak_inflight, self.inflight)
            if cap:
                self._pending_cap += 1
            self._arrivals.spawn(self._arrival, intended, cap)
            n += plan.count

    def _arrival(self, intended: float, cap: bool) -> None:
        me = gevent.getcurrent()
        began = time.monotonic()
        self.started += 1
        if cap:
            self._pending_cap -= 1
        if began - intended > LATE_TOLERANCE_S:
            if cap:
                self.late_cap += 1
            else:
                self.late_generator += 1
        self._intended[me] = intended
        user = None
        try:
            self.lateness_ms[me] = (began - intended) * 1000
            user = self._take_user()
            # on_start of a new user also delays this arrival's task: part of its latency.
            self.lateness_ms[me] = (time.monotonic() - intended) * 1000
            self._run_task(user)
        finally:
            self.lateness_ms.pop(me, None)
            self._intended.pop(me, None)
            if user is not None:
                self._idle.setdefault(type(user), []).append(user)
            self.inflight -= 1
            if self._waiting_for_slot and self._freed_at is None:
                self._freed_at = time.monotonic()
            self._slots.release()

    def _take_user(self) -> Any:
        (user_class,) = random.choices(self._classes, self._weights)
        idle = self._idle.get(user_class)
        if idle:
            return idle.pop()
        user = user_class(self.environment)
        self._users.append(user)
        self._guarded(user, user.on_start)
        return user

    def _run_task(self, user: Any) -> None:
        owner = user
        task = random.choice(user.tasks)
        while isinstance(task, type) and issubclass(task, TaskSet):
            owner = task(owner)
            if not owner.tasks:
                raise ValueError(f"TaskSet {task.__name__} has no task")
            task = random.choice(owner.tasks)
        self._guarded(user, lambda: task(owner))

    def _guarded(self, user: Any, call: Callable[[], Any]) -> None:
        """Run a task as Locust does: report an exception as a user error and go on."""
        try:
            call()
        except _QUIET:
            pass
        except Exception as exc:
            self.environment.events.user_error.fire(
                user_instance=user, exception=exc, tb=exc.__traceback__
            )
            kind = type(exc).__name__
            if kind not in self._errors_logged:
                self._errors_logged.add(kind)
                logger.error("opsgate: an arrival's task raised %s: %s", kind, exc)

    # ---- stopping

    def stop(self, *, drain: bool) -> None:
        """No more arrivals; let those in flight finish (``drain``), then record the rest."""
        if self.stopped_at is not None:
            return
        self._stopping = True
        self.stopped_at = time.monotonic()
        if self._dispatcher is not None:
            # Never started: dispatched ones the cap held back, and, while the dispatcher
            # waits for a slot, every overdue one it has not dispatched yet.
            self.missed_cap = self._pending_cap
            if self._waiting_for_slot:
                undispatched = self.scheduled(overdue=True) - self.dispatched
                self.missed_cap += max(0, undispatched)
            self._dispatcher.kill(block=True, timeout=1.0)
        if drain and len(self._arrivals):
            self._arrivals.join(timeout=DRAIN_S)
        now = time.monotonic()
        left = list(self._arrivals)
        for greenlet in left:
            intended = self._intended.get(greenlet)
            if intended is not None:
                self.unanswered += 1
                self.on_unanswered(greenlet, (now - intended) * 1000)
        self._arrivals.kill(block=True, timeout=1.0)
        for user in self._idle_users():
            self._guarded(user, user.on_stop)

    def _idle_users(self) -> list[Any]:
        return [user for users in self._idle.values() for user in users]

    def scheduled(self, now: float | None = None, *, overdue: bool = False) -> int:
        """This process's arrivals due by ``now`` (or the stop) within the run time;
        ``overdue`` counts only those due more than :data:`LATE_TOLERANCE_S` ago."""
        if self.stopped_at is not None:
            end = self.stopped_at
        else:
            end = time.monotonic() if now is None else now
        # Clamped to the run time first: Locust's own stop takes a while to reach the
        # test_stopping event (it inspects the stack), and no arrival is due after the run.
        elapsed = min(end - self.t0, self.plan.duration_s)
        elapsed = max(0.0, elapsed - (LATE_TOLERANCE_S if overdue else 0.0))
        due = self.plan.schedule.due_by(elapsed)
        plan = self.plan
        return max(0, math.ceil((due - plan.index) / plan.count))

    def figures(self, now: float | None = None) -> dict[str, Any]:
        """Counts for the snapshot; the master adds them up over workers."""
        scheduled = self.scheduled(now)
        missed = max(0, self.scheduled(now, overdue=True) - self.started)
        return {
            "scheduled": scheduled,
            "started": self.started,
            "late_generator": self.late_generator,
            "late_cap": self.late_cap,
            "missed": missed,
            "missed_cap": min(missed, self.missed_cap),
            "unanswered": self.unanswered,
            "inflight": self.inflight,
            "peak_inflight": self.peak_inflight,
            "users": len(self._users),
        }
