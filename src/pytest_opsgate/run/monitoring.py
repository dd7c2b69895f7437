"""Prometheus SLOs in a gate run: read at configure, measured after the run's traffic, judged
with every other SLO.

:func:`configure_prometheus` (at ``pytest_configure``, whatever gates are selected) reads the
``[prometheus]`` table of the config file (``opsgate.toml``, or ``[tool.opsgate.prometheus]``
in pyproject.toml; the file the smoke gate reads, ``--gate-config`` included), with
``--gate-prom-url`` overriding its url. Every mistake is a usage error naming the file, the
key or the flag, and the fix; the auth secrets it names are registered with the run's
redactor before any request is captured.

:func:`evaluate_prometheus_slos` runs in ``finish_run`` after the run's traffic and before
the verdict: it waits ``initial_delay`` (a scrape of the gate's own traffic), measures
``count`` times ``interval`` apart, and adds the rows to the run's SLO results with source
``prometheus``. Whatever is not exactly one finite number is an ERROR row. Prometheus rows
do not count as a gate that ran: a run needs one (the verdict table). The evaluation is
bounded by ``PrometheusConfig.max_seconds()``; Ctrl-C or SIGTERM during it makes the run
ABORTED with its evidence written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import GateUsageError
from .signals import signal_name
from .state import get_settings, get_state

if TYPE_CHECKING:
    from ..slo.evaluate import SLOResult
    from ..slo.prometheus_config import PrometheusConfig
    from .state import GateState

__all__ = [
    "configure_prometheus",
    "evaluate_prometheus_slos",
    "prometheus_key",
    "read_prometheus_config",
]

prometheus_key = pytest.StashKey["PrometheusConfig | None"]()


def _display(path: Path, rootdir: Path) -> str:
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)


def _arg_dirs(config: pytest.Config, invocation: Path) -> list[Path]:
    """The folders named on the command line (an opsgate.toml there is the most specific)."""
    folders = []
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        path = path if path.is_absolute() else invocation / path
        folders.append(path if path.is_dir() else path.parent)
    return folders


def read_prometheus_config(config: pytest.Config) -> PrometheusConfig | None:
    """The validated ``[prometheus]`` table, or None; GateUsageError names the fix."""
    from ..gates.smoke.config import find_config
    from ..settings import option_value

    url = option_value(config, "prom-url") or None
    invocation = Path(config.invocation_params.dir)
    rootdir = Path(config.rootpath)
    explicit = option_value(config, "config") or None
    found = find_config(explicit, rootdir, _arg_dirs(config, invocation), invocation)
    if found is None:
        if url is not None:
            raise GateUsageError(
                "--gate-prom-url is set but no config file was found; add [[prometheus.slo]] "
                "entries (name, query, max or min) to opsgate.toml or [tool.opsgate] in "
                "pyproject.toml, or pass --gate-config PATH"
            )
        return None
    source, table = found
    if url is None and "prometheus" not in table:
        return None
    from ..slo.prometheus_config import load_prometheus_config

    return load_prometheus_config(table, display=_display(source, rootdir), url=url)


def configure_prometheus(config: pytest.Config) -> PrometheusConfig | None:
    """Read and validate the Prometheus SLOs at configure; register their secrets."""
    try:
        prometheus = read_prometheus_config(config)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[prometheus_key] = prometheus
    if prometheus is not None:
        redactor = get_state(config).redactor
        for secret in prometheus.secrets:
            redactor.register(secret)
    return prometheus


def _why_not_measured(config: pytest.Config, state: GateState) -> str | None:
    if config.option.collectonly:
        return "--collect-only sends no traffic"
    if state.stopped_early:
        return "the run stopped before any test"
    if state.signal:
        return f"the run was stopped by {state.signal}"
    broken = sorted({o.gate for o in state.outcomes.values() if o.status in ("failed", "error")})
    if broken and not get_settings(config).keep_going:
        # As a failed phase skips the later ones: the verdict cannot get better by waiting.
        return f"{','.join(broken)} failed (--gate-keep-going measures them anyway)"
    return None


def _unmeasured(prometheus: PrometheusConfig, reason: str) -> list[SLOResult]:
    from ..slo.evaluate import SLOResult
    from ..slo.prometheus_config import PROMETHEUS_METRIC

    return [
        SLOResult(row, None, 0, "error", reason, source=PROMETHEUS_METRIC)
        for slo in prometheus.slos
        for row in slo.rows()
    ]


def _announce(config: pytest.Config, prometheus: PrometheusConfig) -> None:
    """Say what the run waits for: initial_delay and interval can be minutes."""
    count = len(prometheus.slos)
    plan = f"{prometheus.count} measurement(s)"
    if prometheus.count > 1:
        plan += f" {prometheus.interval:g} s apart"
    wait = f"in {prometheus.initial_delay:g} s (initial_delay)" if prometheus.initial_delay else ""
    line = (
        f"opsgate: judging {count} Prometheus SLO(s) at {prometheus.url}: {plan}"
        + (f", the first {wait}" if wait else "")
        + f"; at most {prometheus.max_seconds():g} s"
    )
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


def evaluate_prometheus_slos(config: pytest.Config, state: GateState) -> None:
    """Measure the Prometheus SLOs (module docstring) and add their rows to the run's results."""
    prometheus = config.stash.get(prometheus_key, None)
    if prometheus is None:
        return
    why_not = _why_not_measured(config, state)
    if why_not is not None:
        state.add_note(f"Prometheus SLOs not measured: {why_not}")
        return
    from ..slo.prometheus import evaluate_prometheus

    try:
        _announce(config, prometheus)
        results = evaluate_prometheus(prometheus, redactor=state.redactor)
    except KeyboardInterrupt as exc:
        # Ctrl-C or SIGTERM: ABORTED, and the evidence (gate.json, gate.prom) is still written.
        state.signal = state.signal or signal_name(exc)
        results = _unmeasured(prometheus, f"not measured: the run was stopped by {state.signal}")
    except Exception as exc:  # fail closed: a crash is an ERROR row, not a missing one
        text = state.redactor.redact_text(f"{type(exc).__name__}: {exc}")
        results = _unmeasured(prometheus, f"the measurement crashed ({text})")
    state.slo_results.extend(results)
