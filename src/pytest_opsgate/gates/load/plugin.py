"""The load gate's pytest side: one item per locustfile, run as a Locust child process.

Locust is never imported here (it monkey-patches the process with gevent); the item
starts ``python -m pytest_opsgate.gates.load.launch``, streams its progress, and turns the
extension's JSON result into a verdict: the SLO table as a failure (FAIL), or
:class:`~pytest_opsgate.errors.GateError` when the run could not measure (ERROR).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ...errors import GateError, GateUsageError, InsufficientSamplesError
from ...report.attachments import Attachment, item_artifacts_dir, item_evidence, write_text
from ...run.state import get_settings, get_state
from .settings import (
    LoadSettings,
    check_load_target,
    discover_locustfiles,
    load_settings,
    settings_for,
)

if TYPE_CHECKING:
    from ...http.redact import Redactor
    from ...slo.evaluate import SLOResult
    from .process import LoadRun, RunOutcome

INSTALL_HINT = "pip install 'pytest-opsgate[load]'"
# Locust's files, copied (redacted) from the private work folder into the artifacts.
CHART_FILE = "load-chart.svg"
COPIED_FILES = (
    "opsgate-result.json",
    "locust.html",
    "locust.json",
    "locust_stats.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "locust_stats_history.csv",
    "locust.log",
    "progress.jsonl",
)


class LoadSLOFailed(AssertionError):
    """The service broke a load SLO (verdict FAIL)."""


def register(config: pytest.Config) -> None:
    """Called by the core when --gate selects load: check everything before any request."""
    if importlib.util.find_spec("locust") is None:
        raise pytest.UsageError(f"--gate=load needs Locust; install it with {INSTALL_HINT}")
    core = get_settings(config)
    try:
        settings = load_settings(config)
        if core.base_url:
            check_load_target(core.base_url, settings.allow_hosts)
        locustfiles = discover_locustfiles(config)
        for path in locustfiles:
            settings_for(config, settings, path)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(LoadPlugin(config, settings, locustfiles), "opsgate-load")


class LocustfileItem(pytest.Item):
    """One locustfile run as a load test."""

    def __init__(self, *, locustfile: Path, plugin: LoadPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.locustfile = locustfile
        self.plugin = plugin

    def runtest(self) -> None:
        self.plugin.run_item(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.locustfile, None, f"load {self.name}"

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if excinfo.errisinstance((LoadSLOFailed, GateError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


class LoadPlugin:
    """Adds the load items and runs them."""

    def __init__(
        self, config: pytest.Config, settings: LoadSettings, locustfiles: list[Path]
    ) -> None:
        self.config = config
        self.settings = settings
        self.locustfiles = locustfiles
        self.rootdir = Path(str(config.rootpath))

    def label(self, path: Path) -> str:
        """``locustfiles/demo.py``: the path relative to the rootdir when it is inside."""
        try:
            return path.relative_to(self.rootdir).as_posix()
        except ValueError:
            return path.as_posix()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        xdist = config.pluginmanager.hasplugin("xdist")
        added: list[pytest.Item] = []
        for path in self.locustfiles:
            label = self.label(path)
            item = LocustfileItem.from_parent(
                session,
                name=label,
                nodeid=f"{label}::load",
                path=path,
                locustfile=path,
                plugin=self,
            )
            item.add_marker(pytest.mark.gate("load"))
            if xdist:
                # Two load tests at once on one machine would measure each other.
                item.add_marker(pytest.mark.xdist_group("opsgate-load"))
            added.append(item)
        items.extend(added)
        # Report them as collected, so "collected N items" counts them.
        report = pytest.CollectReport("load", "passed", None, list(added))
        config.hook.pytest_collectreport(report=report)

    # ---- running one locustfile

    def run_item(self, item: LocustfileItem) -> None:
        from .process import LoadRun, run_locust

        core = get_settings(self.config)
        if not core.base_url:
            raise GateUsageError("--gate=load needs a target; pass --base-url URL")
        settings = settings_for(self.config, self.settings, item.locustfile)
        workdir = Path(tempfile.mkdtemp(prefix="opsgate-load-"))
        run = LoadRun(item.locustfile, core.base_url, settings, workdir, cwd=self.rootdir)
        progress = _ProgressPrinter(self.config, item.name)
        progress.line(_start_line(item.name, settings, core.display_url))
        try:
            outcome = run_locust(run, on_progress=progress)
            folder = item_artifacts_dir(core.artifacts_dir, item.nodeid)
            self._keep_artifacts(item, run, outcome, folder)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if outcome.signal_received is not None:
            stop = f"{outcome.stop_s:.1f} s" if outcome.stop_s is not None else "?"
            progress.line(
                f"opsgate: load stopped by signal {outcome.signal_received} within {stop}; "
                f"partial report in {folder}"
            )
            raise KeyboardInterrupt
        self._judge(item, run, outcome, folder)

    def _judge(self, item: LocustfileItem, run: LoadRun, outcome: RunOutcome, folder: Path) -> None:
        from ...measure.metrics import MetricsStore
        from ...slo.evaluate import SLOResult

        redact = get_state(self.config).redactor.redact_text
        if outcome.orphans:
            raise GateError(
                f"{item.name}: Locust processes {outcome.orphans} survived SIGKILL; "
                "kill them by hand before the next run"
            )
        if outcome.watchdog_fired:
            raise GateError(
                f"{item.name}: Locust did not finish within {run.deadline_s:g} s (run time "
                f"plus start-up, shut-down and worker wait); it was stopped. Log tail:\n"
                + redact(outcome.log_tail(folder))
            )
        result = outcome.result
        if result is not None and result.get("status") == "interrupted":
            # Only the gate's own signal trap may stop Locust (handled in run_item); any other
            # interruption leaves partial data, and partial data is never judged.
            raise GateError(
                f"{item.name}: Locust was interrupted by something other than the gate "
                f"({'; '.join(result.get('reasons', [])) or 'a signal'}); its partial figures "
                "are not judged. Log tail:\n" + redact(outcome.log_tail(folder))
            )
        if result is None:
            raise GateError(
                f"{item.name}: Locust exited with code {outcome.returncode} before writing a "
                "result (a locustfile error?). Log tail:\n" + redact(outcome.log_tail(folder))
            )
        results = [SLOResult.from_dict(data) for data in result.get("slos", [])]
        state = get_state(self.config)
        died = result.get("target_down") is not None
        for slo_result in results:
            if died and slo_result.verdict == "error":
                continue  # the verdict is the target's death, not missing samples
            state.slo_results.append(dataclasses.replace(slo_result, source="load"))
        state.store("load").merge(MetricsStore.from_dict(result.get("metrics", {})))
        message = redact(failure_message(item.name, result, results, folder))
        verdict = result.get("verdict")
        if verdict == "pass":
            return
        if verdict == "fail":
            raise LoadSLOFailed(message)
        if result.get("error_kind") == "samples":
            raise InsufficientSamplesError(message)
        raise GateError(message)  # error, aborted, or anything this version does not know

    def _keep_artifacts(
        self, item: LocustfileItem, run: LoadRun, outcome: RunOutcome, folder: Path
    ) -> None:
        from ...report.chart import load_chart_svg

        core = get_settings(self.config)
        state = get_state(self.config)
        redact = state.redactor.redact_text
        evidence = item_evidence(item)
        folder.mkdir(parents=True, exist_ok=True)
        for name in COPIED_FILES:
            source = run.workdir / name
            if source.is_file():
                text = source.read_text(encoding="utf-8", errors="replace")
                state.add_artifact(write_text(folder, name, redact(text)))
        result = outcome.result
        if result is None:
            return
        results_text = _slo_table(result)
        evidence.always.append(Attachment(name="load SLOs", kind="text", content=results_text))
        title = f"{item.name}  {str(result.get('verdict', '')).upper()}  {core.display_url}"
        svg = load_chart_svg(result, title=redact(title))
        chart = write_text(folder, CHART_FILE, svg)
        state.charts.append((f"{item.name}: latency and throughput", svg))
        state.add_artifact(chart)
        # Inline, so the report shows the chart under the test instead of a link to it.
        evidence.always.append(Attachment(name="latency and throughput", kind="html", content=svg))
        html_report = folder / "locust.html"
        if html_report.is_file():
            evidence.always.append(
                Attachment(name="Locust report", kind="url", content=html_report.as_uri())
            )
        summary = {k: v for k, v in result.items() if k not in ("metrics", "timeline")}
        evidence.always.append(
            Attachment(
                name="load result",
                kind="json",
                path=folder / "opsgate-result.json",
                content=redact(json.dumps(summary, default=str)),
            )
        )
        stats_csv = folder / "locust_stats.csv"
        if stats_csv.is_file():
            evidence.always.append(
                Attachment(
                    name="Locust stats (CSV)",
                    kind="text",
                    path=stats_csv,
                    content=stats_csv.read_text(encoding="utf-8"),
                )
            )


def _redact_fn(redactor: Redactor | None) -> Any:
    if redactor is None:
        return lambda text: text
    return redactor.redact_text


def _slo_table(result: dict[str, Any]) -> str:
    from ...slo.evaluate import SLOResult, format_slo_table

    results = [SLOResult.from_dict(data) for data in result.get("slos", [])]
    return format_slo_table(results) if results else "(no SLO evaluated)"


def _start_line(name: str, settings: LoadSettings, url: str) -> str:
    where = ""
    if settings.workers:
        where = f", {settings.workers} local workers"
    elif settings.expect_workers:
        host, port = settings.bind
        where = f", waiting for {settings.expect_workers} workers on {host}:{port}"
    warmup = f" ({settings.warmup_s:g} s warmup)" if settings.warmup_s else ""
    return (
        f"opsgate: load {name}: {settings.users} users at {settings.effective_spawn_rate:g}/s "
        f"for {settings.run_time_s:g} s{warmup} against {url}{where}"
    )


def failure_message(
    name: str, result: dict[str, Any], results: list[SLOResult], folder: Path
) -> str:
    """The load verdict as the test's failure text: headline, SLO table, reasons, figures."""
    from ...slo.evaluate import format_slo_table

    verdict = str(result.get("verdict", "error")).upper()
    lines = [f"load {name}: {verdict}"]
    abort = result.get("abort")
    if abort:
        lines[0] += f", stopped early at t={float(abort['at_s']):.1f} s"
    if abort:
        lines.append(f"stopped early: {abort['reason']}")
    if results:
        lines += ["", format_slo_table(results)]
    reasons = [
        r for r in result.get("reasons", []) if not any(r.startswith(x.slo.text) for x in results)
    ]
    down = result.get("target_down")
    if reasons or down:
        lines.append("")
    lines += reasons
    if down and down.get("at_wall"):
        import datetime

        when = datetime.datetime.fromtimestamp(float(down["at_wall"]), datetime.timezone.utc)
        lines.append(f"target died at {when.isoformat(timespec='milliseconds')}")
    total = next((row for row in result.get("endpoints", []) if row["scope"] == "all"), None)
    figures = f"requests: {result.get('requests_total', 0)} sent"
    if total:
        rps = total.get("rps")
        figures += (
            f"; measured {total['requests']} in {float(total['window_s']):.1f} s"
            + (f" ({rps:.1f}/s)" if rps else "")
            + f", {total['failures']} failed"
        )
    figures += f"; peak users {result.get('peak_users', 0)}"
    workers = result.get("workers", {})
    if workers.get("seen"):
        figures += f"; workers {len(workers['seen'])}"
    lines += ["", figures, f"report: {folder}"]
    errors = result.get("errors", [])[:5]
    if errors:
        lines.append("top errors:")
        lines += [f"  {e['count']}x {e['scope']}: {e['error']}" for e in errors]
    # The last line is what one-line summaries of a failed test show.
    why = abort["reason"] if abort else next(iter(result.get("reasons", [])), "")
    lines += ["", f"load {name}: {verdict}" + (f": {why}" if why else "")]
    return "\n".join(lines)


class _ProgressPrinter:
    """Writes one line per progress record to the terminal, around output capturing."""

    def __init__(self, config: pytest.Config, name: str) -> None:
        self.config = config
        self.name = name
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capman = config.pluginmanager.get_plugin("capturemanager")

    def line(self, text: str) -> None:
        if self.reporter is None:
            return
        context = self.capman.global_and_fixture_disabled() if self.capman else nullcontext()
        with context:
            self.reporter.write_line(text)

    def __call__(self, record: dict[str, Any]) -> None:
        requests = int(record.get("requests") or 0)
        failures = int(record.get("failures") or 0)
        share = f" ({failures / requests:.1%})" if requests else ""
        p95 = record.get("p95")
        rps = record.get("rps")
        workers = record.get("workers")
        text = (
            f"  load {self.name} {float(record.get('t', 0)):6.1f} s  "
            f"users {record.get('users', 0):>4}  "
            f"rps {(f'{rps:.1f}' if rps is not None else '-'):>7}  "
            f"failures {failures}{share}  "
            f"p95 {(f'{p95:.1f} ms' if p95 is not None else '-')}"
        )
        if workers is not None:
            text += f"  workers {workers}"
        self.line(text)
