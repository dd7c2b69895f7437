"""Watching a Locust run while it goes (local runner or master): stop it early, or wait.

Every second the supervisor merges what the generators reported and asks whether going on
is pointless: a lost or foreign worker, a dead target, an SLO that can no longer be met
(:class:`.outcome.AbortWatch`). It also writes the progress lines the pytest side streams,
gives up on workers that never connect, and stops the load when the pytest process that
started it is gone. Imported only inside Locust processes (gevent).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import gevent

from .monitor import CPU_BUSY_SAMPLES
from .open_model import BEHIND_LIMIT, LATE_TOLERANCE_S
from .outcome import behind_reason
from .result import StopRecord

if TYPE_CHECKING:
    from .locust_ext import OpsgateExtension

logger = logging.getLogger("opsgate")

TICK_S = 1.0
HUNG_AFTER_S = 10.0


class Supervisor:
    """The periodic checks of one run, on behalf of the extension's master or local role."""

    def __init__(self, ext: OpsgateExtension) -> None:
        self.ext = ext

    # ---- the loop

    def run(self) -> None:
        """Check once a second until the run stops early or ends (a greenlet)."""
        ext = self.ext
        while True:
            gevent.sleep(TICK_S)
            runner = ext.runner
            if ext.started is None or ext.stopped is not None or runner is None:
                continue
            if runner.state not in ("spawning", "running"):
                continue
            now = time.monotonic()
            ext.collect(now, final=False)
            reason, kind = self.stop_reason(now)
            self.write_progress(now)
            if reason:
                ext.abort = StopRecord(kind=kind, reason=reason, at_s=round(now - ext.started, 3))
                logger.error("opsgate: stopping the load early: %s", reason)
                ext.stop_arrivals(drain=True)
                gevent.spawn(runner.quit)
                return

    def remaining_s(self, now: float) -> float | None:
        """Seconds of run time left, when the run has a run time."""
        run_time = self.ext.option("run_time")
        if not run_time or self.ext.started is None:
            return None
        return max(0.0, float(run_time) - (now - self.ext.started))

    def stop_reason(self, now: float) -> tuple[str | None, str]:
        """A reason to stop now and its kind, or ``(None, "")``."""
        # Saturation is judged at the end (ERROR) but does not stop the load: the run's
        # figures are still worth reading, and throughput benchmarks saturate on purpose.
        ext = self.ext
        workers = self.worker_problem()
        if workers:
            ext.health.workers = workers
            return workers, "worker_lost"
        down = ext.merger.target_down(at_end=False) or ext.merger.target_hung(self.hung_after_s())
        if down is not None:
            ext.health.target_down = down
            return f"target stopped answering at t={down['at_s']:.1f} s: {down['error']}", "target"
        assert ext.watch is not None
        assert ext.started is not None
        store = ext.merger.store(corrected=ext.judges_corrected)
        reason = ext.watch.check(store, now - ext.started, self.remaining_s(now))
        early = ext.early
        # Early decisions judge latencies: only once every generator is known not to be
        # saturated (its CPU monitor needs a few seconds), or its own slowness could decide.
        decision = None
        if early is not None and self.generators_vouched():
            decision = early.check(store, ext.merger.inflight())
        if early is not None and decision is not None and decision.outcome == "fail":
            if not reason:
                confidence = f"{(1 - early.alpha) * 100:g} %"
                reason = f"{decision.slo} is lost with {confidence} confidence"
            ext.health.lost = decision.reason
        if reason:
            # A hopeless error rate of a target that only refuses is its death: say so.
            down = ext.merger.target_down(at_end=True)
            if down is not None:
                ext.health.target_down = down
                ext.health.lost = None
                return (
                    f"target stopped answering at t={down['at_s']:.1f} s: {down['error']}",
                    "target",
                )
            return reason, "slo"
        if decision is not None and decision.outcome == "pass":
            spoiler = self.early_pass_spoiler(now)
            if spoiler is None:
                return f"passed early: {decision.reason}", "early_pass"
            logger.info("opsgate: every SLO is held, but no early pass: %s", spoiler)
        return None, ""

    def hung_after_s(self) -> float:
        """Silence under load that means a hanging target: 10 s, or the largest latency
        budget when that is longer (a slow answer within budget is no hang)."""
        return max(HUNG_AFTER_S, self.ext.unanswered_after_ms / 1000)

    def generators_vouched(self) -> bool:
        """Every generator process has sampled its CPU long enough and is not busy now."""
        ext = self.ext
        if ext.cpu is None or (ext.role != "master" and not ext.cpu.vouched):
            return False
        if ext.role == "master" and (ext.cpu.saturated or ext.cpu.busy_streak):
            return False
        reports = [s.get("cpu", {}) for s in ext.merger.latest.values()]
        if ext.role == "master" and not reports:
            return False
        return all(
            int(r.get("samples", 0)) >= CPU_BUSY_SAMPLES
            and not r.get("busy_streak")
            and not r.get("saturated")
            for r in reports
            if r
        )

    def early_pass_spoiler(self, now: float) -> str | None:
        """What keeps a run whose SLOs are held from stopping early with PASS, if anything.

        The load asked for must be fully applied first: every user started (closed model),
        the arrival rate at its peak (open model); a PASS on a ramp's first users would
        judge a load the service never saw. The verdict at the end checks the rest again;
        this only avoids stopping a run that would not pass anyway.
        """
        ext = self.ext
        settings = ext.open_settings
        if settings is None and getattr(ext.runner, "state", None) == "spawning":
            return "the users are still being started; the full load has not run yet"
        if settings is not None and ext.started is not None:
            peak = settings.schedule.peak_s
            if now - ext.started < peak:
                return f"the arrival rate reaches its peak only at t={peak:g} s"
        if self.saturation():
            return "the load generator is saturated"
        if ext.merger.target_down(at_end=True) is not None:
            return "the target answers nothing right now"
        if settings is not None:
            behind, _generator = behind_reason(
                ext.merger.open_figures(),
                settings.max_inflight,
                tolerance_s=LATE_TOLERANCE_S,
                limit=BEHIND_LIMIT,
            )
            if behind:
                return behind
        return None

    # ---- generators and workers

    def saturation(self) -> str | None:
        """Which generator process was saturated and why, or None."""
        ext = self.ext
        where = list(ext.merger.saturated())
        if ext.cpu is not None and ext.cpu.saturated and ext.role == "master":
            where.append("master")
        runner = ext.runner
        if getattr(runner, "cpu_warning_emitted", False) or getattr(
            runner, "worker_cpu_warning_emitted", False
        ):
            where.append("locust cpu warning")
        if not where:
            return None
        label = "" if where == ["local"] else f" ({', '.join(sorted(set(where)))})"
        details = [s.get("cpu", {}).get("reason", "") for s in ext.merger.latest.values()]
        if ext.cpu is not None and ext.cpu.reason:
            details.append(ext.cpu.reason)
        detail = next((text for text in details if text), f"max CPU {self.max_cpu():.0f}%")
        return (
            f"load generator saturated{label}: {detail}, so its latencies are not "
            "trustworthy; run fewer users per process or distributed (--gate-load-workers)"
        )

    def max_cpu(self) -> float:
        """The highest CPU percentage any generator process reported."""
        ext = self.ext
        own = ext.cpu.max_percent if ext.cpu is not None else 0.0
        return max(own, ext.merger.max_cpu())

    def max_lag_ms(self) -> float:
        """The worst mean event-loop lag any generator process reported."""
        ext = self.ext
        own = ext.cpu.max_lag_ms if ext.cpu is not None else 0.0
        lags = [float(s.get("cpu", {}).get("max_lag_ms", 0.0)) for s in ext.merger.latest.values()]
        return max([own, *lags])

    def worker_problem(self) -> str | None:
        """A lost worker, or one without the extension (master only)."""
        ext = self.ext
        if ext.role != "master":
            return None
        missing = [node.id for node in ext.runner.clients.missing]
        if missing:
            return (
                f"load worker {', '.join(missing)} stopped sending heartbeats; the remaining "
                "workers were stopped, results are incomplete"
            )
        if ext.merger.without_extension:
            names = ", ".join(sorted(ext.merger.without_extension))
            return (
                f"load worker {names} reports without the opsgate extension; install "
                "pytest-opsgate on the workers and import pytest_opsgate.gates.load.locust_ext"
            )
        return None

    def wait_for_workers(self) -> None:
        """Give up, with exit code 11, when the expected workers do not connect in time."""
        ext = self.ext
        wait_s = ext.duration_option("opsgate_workers_wait", "60s")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if ext.started is not None:
                return
            gevent.sleep(0.25)
        if ext.started is not None:
            return
        connected = len(ext.runner.clients.ready) + len(ext.runner.clients.running)
        ext.health.workers = (
            f"expected {ext.expected_workers} load worker(s), {connected} connected within "
            f"{wait_s:g} s; start them with locust --worker --master-host=<this host>"
        )
        logger.error("opsgate: %s", ext.health.workers)
        ext.finish()
        ext.environment.process_exit_code = ext.exit_code()
        # SystemExit in a greenlet is re-raised in the main greenlet: the process exits.
        raise SystemExit(ext.exit_code())

    def watch_parent(self, parent: int) -> None:
        """Stop the load when the pytest process that started Locust is gone (a greenlet)."""
        while True:
            gevent.sleep(1.0)
            if os.getppid() != parent:
                logger.error("opsgate: the pytest process is gone; stopping the load")
                self.ext.health.interrupted = "the pytest process that started Locust is gone"
                self.ext.stop_arrivals(drain=False)
                gevent.spawn(self.ext.runner.quit)
                return

    # ---- progress

    def write_progress(self, now: float) -> None:
        """One JSON line for the pytest side's progress display."""
        ext = self.ext
        handle: Any = ext.progress
        if handle is None or ext.started is None:
            return
        stats = ext.runner.stats.total
        elapsed = now - ext.started
        line = {
            "t": round(elapsed, 2),
            "users": int(getattr(ext.runner, "user_count", 0) or 0),
            "rps": ext.merger.recent_rps(),
            "requests": int(stats.num_requests),
            "failures": int(stats.num_failures),
            "p95": ext.merger.recent_percentile(95.0, corrected=ext.judges_corrected),
            "workers": len(ext.workers_seen) if ext.role == "master" else None,
        }
        settings = ext.open_settings
        if settings is not None:
            figures = ext.merger.open_figures() or {}
            line["rate"] = round(settings.schedule.rate_at(elapsed), 2)
            line["inflight"] = int(figures.get("inflight", 0))
            line["service_p95"] = ext.merger.recent_percentile(95.0)
        handle.write(json.dumps(line) + "\n")
