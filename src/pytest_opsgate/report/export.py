"""The run for monitoring: ``gate.prom`` in the artifacts of every run, and the Pushgateway push.

Two built-in writers (``pytest_opsgate_write_report``), registered by
:func:`pytest_opsgate.report.writers.register_writers`:

- :class:`GateProm` writes ``gate.prom`` (the text format a node-exporter textfile collector
  reads) first, so gate.json lists it among the run's artifacts.
- :class:`MetricsPush`, with ``--gate-pushgateway``, pushes last, once gate.json and gate.md
  are on disk: a hung or interrupted push can delay them but never lose them. A push failure
  (refused, unreachable, interrupted) is a note in the terminal summary and in gate.json
  (which is then written again), never a verdict change. Each request is bounded by
  :data:`~pytest_opsgate.report.pushgateway.DEFAULT_TIMEOUT_S`, two requests at most.

Both read the :class:`~pytest_opsgate.report.record.RunRecord`: verdict, duration, SLO rows
and per-endpoint request counts, label values scrubbed by the run's redactor.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from ..errors import GateUsageError

if TYPE_CHECKING:
    from pathlib import Path

    from ..http.redact import Redactor
    from ..verdict import Decision
    from .openmetrics import RunSummary
    from .record import RunRecord

__all__ = ["GateProm", "MetricsPush", "run_summary"]


def run_summary(record: RunRecord) -> RunSummary:
    """What the export says about a run, from its record: API requests only, by gate and scope."""
    from ..measure.metrics import LATENCY
    from .openmetrics import RunSummary

    requests: dict[tuple[str, str], int] = {}
    for gate, store in record.endpoints.items():
        for scope in store.scopes(LATENCY):
            stats = store.get(scope, LATENCY)
            if stats is not None:
                requests[(gate, scope)] = stats.requests
    return RunSummary.build(
        record.verdict,
        record.duration_s,
        record.slo_results,
        requests,
        finished_at=record.finished_at.timestamp(),
        redact=record.redact,
    )


def _note(config: pytest.Config, record: RunRecord, text: str) -> None:
    from ..run.state import get_state

    if text not in record.notes:
        record.notes.append(text)
    get_state(config).add_note(text)


class GateProm:
    """Writes ``gate.prom`` into the artifacts folder, before gate.json lists the artifacts."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_opsgate_write_report(
        self, decision: Decision, record: RunRecord, out_dir: Path
    ) -> None:
        from ..run.state import get_state
        from .openmetrics import write_gate_prom

        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = write_gate_prom(out_dir, run_summary(record))
        except OSError as exc:
            _note(self.config, record, f"gate.prom not written: {exc}")
            return
        if path not in record.artifacts:
            record.artifacts.append(path)
        get_state(self.config).add_artifact(path)


ABORTED_PUSH_TIMEOUT_S = 2.0


class MetricsPush:
    """Pushes the run to a Pushgateway after gate.json and gate.md are written."""

    def __init__(
        self,
        config: pytest.Config,
        url: str,
        *,
        job: str,
        instance: str | None,
        headers: tuple[tuple[str, str], ...],
        redactor: Redactor,
    ) -> None:
        self.config = config
        self.url = url
        self.job = job
        self.instance = instance
        self.headers = headers
        self.redactor = redactor

    @classmethod
    def from_config(cls, config: pytest.Config) -> MetricsPush | None:
        """The push ``--gate-pushgateway`` asks for, or None; a half auth pair is a UsageError.

        The credentials are read now and registered with the run's redactor, before any
        request of the run is captured.
        """
        from ..run.state import get_state
        from ..settings import option_value
        from .pushgateway import PASSWORD_ENV, TOKEN_ENV, pushgateway_headers

        try:  # the options may come from the environment or the ini file, parsed only now
            url = option_value(config, "pushgateway")
            job = option_value(config, "push-job")
            instance = option_value(config, "push-instance") or None
        except GateUsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        if not url:
            return None
        try:
            headers = pushgateway_headers()
        except GateUsageError as exc:
            raise pytest.UsageError(f"--gate-pushgateway: {exc}") from None
        redactor = get_state(config).redactor
        for name in (TOKEN_ENV, PASSWORD_ENV):
            redactor.register(os.environ.get(name) or None)
        for _name, value in headers:
            redactor.register(value.partition(" ")[2])
        return cls(config, url, job=job, instance=instance, headers=headers, redactor=redactor)

    @pytest.hookimpl(trylast=True)
    def pytest_opsgate_write_report(
        self, decision: Decision, record: RunRecord, out_dir: Path
    ) -> None:
        from ..verdict import Verdict
        from .gate_json import write_gate_files
        from .pushgateway import DEFAULT_TIMEOUT_S, push_run

        # A cancelled CI job gives a few seconds' grace before SIGKILL (GitHub: 7.5 s), so
        # an ABORTED run pushes with a short deadline: at most 2 x 2 s, not 2 x 10 s.
        timeout = (
            ABORTED_PUSH_TIMEOUT_S if decision.verdict is Verdict.ABORTED else DEFAULT_TIMEOUT_S
        )
        try:
            note = push_run(
                self.url,
                run_summary(record),
                job=self.job,
                instance=self.instance,
                headers=self.headers,
                redactor=self.redactor,
                timeout=timeout,
            )
        except KeyboardInterrupt:
            # The verdict is decided and its files are written; a stop now only loses the push.
            note = f"metrics not pushed to {self.url}: interrupted"
        if note is None:
            from ..run.state import get_state

            where = f"job={self.job}" + (f", instance={self.instance}" if self.instance else "")
            get_state(self.config).add_note(f"metrics pushed to {self.url} ({where})")
            return
        _note(self.config, record, note)
        write_gate_files(record, out_dir)  # gate.json and gate.md carry the note too
