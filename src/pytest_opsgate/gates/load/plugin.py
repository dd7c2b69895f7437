"""The load gate's pytest side: one item per locustfile, run as a Locust child process.

Collection. Locustfiles live outside the test paths (``locustfiles/`` or
``--gate-locustfile``), so :func:`register` appends their paths to ``config.args``, the
public list of what pytest collects (xdist workers rebuild it the same way from the same
options). pytest then visits each locustfile and asks ``pytest_collect_file``; the load
plugin answers with a :class:`LocustFile` (a ``pytest.File``) holding one
:class:`LocustfileItem`. It does so as a hook wrapper, replacing what other plugins made of
the path: pytest's python plugin makes a ``Module`` of every initial path ending in ``.py``,
and collecting that Module would import the locustfile, and with it Locust and gevent.

Locust is never imported here (it monkey-patches the process with gevent); the item starts
``python -m pytest_opsgate.gates.load.launch``, streams its progress, and turns the
extension's typed result into a verdict: the SLO table as a failure (FAIL), or
:class:`~pytest_opsgate.errors.GateError` when the run could not measure (ERROR).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
import tempfile
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
    given_anywhere,
    halved,
    load_settings,
    settings_for,
)
from .terminal import (
    ProgressPrinter,
    failure_message,
    latency_table,
    model_note,
    slo_table,
    start_line,
)

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from .process import LoadRun, RunOutcome
    from .result import LoadResult

INSTALL_HINT = "pip install 'pytest-opsgate[load]'"
ITEM_NAME = "load"
CHART_FILE = "load-chart.svg"
# Locust's files, copied (redacted) from the private work folder into the artifacts.
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
    from ...settings import strip_credentials

    core = get_settings(config)
    baseline = core.baseline_url
    try:
        settings = load_settings(config)
        if core.base_url:
            check_load_target(core.base_url, settings.allow_hosts)
        if baseline:
            check_load_target(baseline, settings.allow_hosts)
            if settings.expect_workers:
                raise GateUsageError(
                    "--gate-baseline-url and --gate-load-expect-workers exclude each other: "
                    "external workers join one master; run the baseline comparison with local "
                    "workers (--gate-load-workers) or none"
                )
            if settings.early_pass:
                raise GateUsageError(
                    "--gate-load-early-pass and --gate-baseline-url exclude each other: an "
                    "early PASS would end the target's load while the baseline's goes on, so "
                    "the two would not be measured side by side; drop one of them"
                )
        locustfiles = discover_locustfiles(config)
        for path in locustfiles:
            settings_for(config, settings, path)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    _warn_deprecated(config, settings)
    # What pytest collects: the test paths it chose, and the locustfiles besides them.
    given = {str(arg) for arg in config.args}
    config.args.extend(str(path) for path in locustfiles if str(path) not in given)
    plugin = LoadPlugin(config, settings, locustfiles)
    plugin.baseline_url = baseline
    plugin.baseline_label = strip_credentials(baseline) if baseline else None
    config.pluginmanager.register(plugin, "opsgate-load")


DEPRECATED_GRACE = (
    "--gate-load-abort-grace is deprecated and has no effect: the load gate now stops a load "
    "test early as soon as an SLO is lost with 98 % confidence (a sequential test, safe to "
    "look at every second), with no grace period; remove the option"
)
DEPRECATED_ABORT = (
    "[abort] on the load SLO {text!r} is no longer needed: every load SLO now stops the load "
    "early once it is lost with 98 % confidence"
)


def _warn_deprecated(config: pytest.Config, settings: LoadSettings) -> None:
    """The grace-period rule is gone; say so to those who still configure it."""
    if given_anywhere(config, "load-abort-grace"):
        config.issue_config_time_warning(pytest.PytestDeprecationWarning(DEPRECATED_GRACE), 2)
    for slo in settings.slos:
        if slo.abort:
            warning = pytest.PytestDeprecationWarning(DEPRECATED_ABORT.format(text=slo.text))
            config.issue_config_time_warning(warning, 2)


class LocustfileItem(pytest.Item):
    """One locustfile run as a load test."""

    def __init__(self, *, plugin: LoadPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin

    @property
    def locustfile(self) -> Path:
        """The locustfile this item runs."""
        return self.path

    @property
    def label(self) -> str:
        """``locustfiles/demo.py``: the path relative to the rootdir when it is inside."""
        return self.plugin.label(self.path)

    def runtest(self) -> None:
        self.plugin.run_item(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"load {self.label}"

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if excinfo.errisinstance((LoadSLOFailed, GateError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


class LocustFile(pytest.File):
    """A locustfile as pytest sees it: a file with one load test in it."""

    def __init__(self, *, plugin: LoadPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin

    def collect(self) -> Iterable[pytest.Item]:
        item = LocustfileItem.from_parent(self, name=ITEM_NAME, plugin=self.plugin)
        item.add_marker(pytest.mark.gate("load"))
        if self.config.pluginmanager.hasplugin("xdist"):
            # Two load tests at once on one machine would measure each other.
            item.add_marker(pytest.mark.xdist_group("opsgate-load"))
        return [item]


class LoadPlugin:
    """Collects the locustfiles and runs them."""

    def __init__(
        self, config: pytest.Config, settings: LoadSettings, locustfiles: list[Path]
    ) -> None:
        self.config = config
        self.settings = settings
        self.locustfiles = locustfiles
        self._names = {path.name for path in locustfiles}
        self._paths = set(locustfiles)
        self.rootdir = Path(str(config.rootpath))
        # A live baseline target (--gate-baseline-url): the same load runs against it too.
        self.baseline_url: str | None = None
        self.baseline_label: str | None = None

    def label(self, path: Path) -> str:
        """``locustfiles/demo.py``: the path relative to the rootdir when it is inside."""
        try:
            return path.relative_to(self.rootdir).as_posix()
        except ValueError:
            return path.as_posix()

    def is_locustfile(self, path: Path) -> bool:
        """True for a locustfile this run selected (symlinks resolved)."""
        return path.name in self._names and path.resolve() in self._paths

    @pytest.hookimpl(wrapper=True)
    def pytest_collect_file(
        self, file_path: Path, parent: pytest.Collector
    ) -> Generator[None, list[pytest.Collector], list[pytest.Collector]]:
        collected = yield
        if not self.is_locustfile(file_path):
            return collected
        # Not the python plugin's Module: collecting it would import Locust into pytest.
        return [LocustFile.from_parent(parent, path=file_path, plugin=self)]

    # ---- running one locustfile

    def run_item(self, item: LocustfileItem) -> None:
        from .process import LoadRun, run_locusts

        core = get_settings(self.config)
        if not core.base_url:
            raise GateUsageError("--gate=load needs a target; pass --base-url URL")
        settings = settings_for(self.config, self.settings, item.locustfile)
        baseline = self.baseline_url
        if baseline:
            settings = halved(settings)  # the same load, half against each target
        workdir = Path(tempfile.mkdtemp(prefix="opsgate-load-"))
        runs = [LoadRun(item.locustfile, core.base_url, settings, workdir / "target", self.rootdir)]
        progress = ProgressPrinter(self.config, item.label)
        printers: list[ProgressPrinter | None] = [progress]
        line = start_line(item.label, settings, core.display_url)
        if baseline:
            runs.append(
                LoadRun(item.locustfile, baseline, settings, workdir / "base", self.rootdir)
            )
            printers.append(ProgressPrinter(self.config, f"{item.label} (baseline)"))
            line += f"; the same against the live baseline {self.baseline_label}"
        progress.line(line)
        try:
            outcomes = run_locusts(runs, list(printers))
            folder = item_artifacts_dir(core.artifacts_dir, item.nodeid)
            self._keep_artifacts(item, runs[0], outcomes[0], folder)
            if baseline:
                self._keep_files(runs[1], folder / "baseline")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        outcome = outcomes[0]
        if outcome.signal_received is not None:
            stop = f"{outcome.stop_s:.1f} s" if outcome.stop_s is not None else "?"
            progress.line(
                f"opsgate: load stopped by signal {outcome.signal_received} within {stop}; "
                f"partial report in {folder}"
            )
            raise KeyboardInterrupt
        if outcome.result is not None:
            progress.line(latency_table(outcome.result))
            get_state(self.config).add_note(model_note(item.label, outcome.result))
            abort = outcome.result.abort
            if abort is not None and abort.kind == "early_pass":
                progress.line(f"opsgate: load {item.label} at t={abort.at_s:.1f} s: {abort.reason}")
        unmeasured = None
        if baseline:
            unmeasured = self._measure_baseline(item, outcomes[1], folder / "baseline")
        self._judge(item, runs[0], outcome, folder, unmeasured)

    def _measure_baseline(
        self, item: LocustfileItem, outcome: RunOutcome, folder: Path
    ) -> str | None:
        """Keep the live baseline's traffic for the comparison; why it is unusable, if it is."""
        state = get_state(self.config)
        where = f"the live baseline {self.baseline_label}"
        result = outcome.result
        problem = None
        if outcome.orphans or outcome.watchdog_fired:
            problem = "its Locust run had to be stopped by the watchdog"
        elif result is None:
            problem = f"its Locust run wrote no usable result ({outcome.result_error or 'none'})"
        elif result.status == "interrupted":
            problem = "its Locust run was interrupted"
        elif result.requests_total == 0:
            problem = "no request was sent to it"
        elif result.target_down is not None:
            # A dead baseline makes every comparison look good: not a baseline at all.
            down = result.target_down
            problem = f"it stopped answering at t={down.at_s:.1f} s: {down.error}"
        elif result.verdict == "error" and result.error_kind != "samples":
            problem = "its figures are not trustworthy: " + "; ".join(result.reasons[:3])
        if result is not None and problem is None:
            state.baseline_store("load").merge(result.store())
            total = result.total()
            if total is not None:
                state.add_note(
                    f"load {item.label}: {where} measured side by side: {total.requests} "
                    f"requests, p95 {total.p95 if total.p95 is not None else '-'} ms"
                )
            return None
        return (
            f"{where} could not be measured, so nothing can be compared with it: {problem} "
            f"(files in {folder})"
        )

    def _judge(
        self,
        item: LocustfileItem,
        run: LoadRun,
        outcome: RunOutcome,
        folder: Path,
        unmeasured: str | None = None,
    ) -> None:
        """Raise the load verdict: FAIL, ERROR, or nothing for PASS; ``unmeasured`` is a live
        baseline that could not be measured (an error, outranked by a definite failure)."""
        try:
            self._judge_target(item, run, outcome, folder)
        except LoadSLOFailed as exc:
            if unmeasured:
                raise LoadSLOFailed(f"{exc}\n{unmeasured}") from None
            raise
        except GateError as exc:
            if unmeasured:
                raise GateError(f"{exc}\n{unmeasured}") from None
            raise
        if unmeasured:
            raise GateError(f"load {item.label}: ERROR: {unmeasured}")

    def _judge_target(
        self, item: LocustfileItem, run: LoadRun, outcome: RunOutcome, folder: Path
    ) -> None:
        state = get_state(self.config)
        redact = state.redactor.redact_text
        name = item.label
        if outcome.orphans:
            raise GateError(
                f"{name}: Locust processes {outcome.orphans} survived SIGKILL; "
                "kill them by hand before the next run"
            )
        if outcome.watchdog_fired:
            raise GateError(
                f"{name}: Locust did not finish within {run.deadline_s:g} s (run time "
                f"plus start-up, shut-down and worker wait); it was stopped. Log tail:\n"
                + redact(outcome.log_tail(folder))
            )
        result = outcome.result
        if result is not None and result.status == "interrupted":
            # Only the gate's own signal trap may stop Locust (handled in run_item); any other
            # interruption leaves partial data, and partial data is never judged.
            raise GateError(
                f"{name}: Locust was interrupted by something other than the gate "
                f"({'; '.join(result.reasons) or 'a signal'}); its partial figures "
                "are not judged. Log tail:\n" + redact(outcome.log_tail(folder))
            )
        if result is None:
            why = (
                f"wrote a result that cannot be read ({outcome.result_error})"
                if outcome.result_error
                else "exited before writing a result (a locustfile error?)"
            )
            raise GateError(
                f"{name}: Locust (exit code {outcome.returncode}) {why}. Log tail:\n"
                + redact(outcome.log_tail(folder))
            )
        died = result.target_down is not None
        for slo_result in result.slos:
            if died and slo_result.verdict == "error":
                continue  # the verdict is the target's death, not missing samples
            state.slo_results.append(dataclasses.replace(slo_result, source="load"))
        state.store("load").merge(result.store())
        message = redact(failure_message(name, result, folder))
        if result.verdict == "pass":
            return
        if result.verdict == "fail":
            raise LoadSLOFailed(message)
        if result.error_kind == "samples":
            raise InsufficientSamplesError(message)
        raise GateError(message)  # error, aborted, or anything this version does not know

    def _keep_artifacts(
        self, item: LocustfileItem, run: LoadRun, outcome: RunOutcome, folder: Path
    ) -> None:
        core = get_settings(self.config)
        state = get_state(self.config)
        redact = state.redactor.redact_text
        evidence = item_evidence(item)
        self._keep_files(run, folder)
        result = outcome.result
        if result is None:
            return
        tables = f"{slo_table(result)}\n\n{latency_table(result)}"
        evidence.always.append(Attachment(name="load SLOs", kind="text", content=tables))
        title = f"{item.label}  {result.verdict.upper()}  {core.display_url}"
        svg = _chart_svg(result, redact(title))
        state.charts.append((f"{item.label}: latency and throughput", svg))
        state.add_artifact(write_text(folder, CHART_FILE, svg))
        # Inline, so the report shows the chart under the test instead of a link to it.
        evidence.always.append(Attachment(name="latency and throughput", kind="html", content=svg))
        html_report = folder / "locust.html"
        if html_report.is_file():
            evidence.always.append(
                Attachment(name="Locust report", kind="url", content=html_report.as_uri())
            )
        evidence.always.append(
            Attachment(
                name="load result",
                kind="json",
                path=folder / "opsgate-result.json",
                content=redact(json.dumps(result.summary(), default=str)),
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

    def _keep_files(self, run: LoadRun, folder: Path) -> None:
        """Locust's files, redacted, into the artifacts folder."""
        state = get_state(self.config)
        redact = state.redactor.redact_text
        folder.mkdir(parents=True, exist_ok=True)
        for name in COPIED_FILES:
            source = run.workdir / name
            if source.is_file():
                text = source.read_text(encoding="utf-8", errors="replace")
                state.add_artifact(write_text(folder, name, redact(text)))


def _chart_svg(result: LoadResult, title: str) -> str:
    from ...report.chart import load_chart_svg

    return load_chart_svg(result.to_dict(), title=title)
