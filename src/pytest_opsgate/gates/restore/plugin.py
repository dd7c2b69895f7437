"""The restore gate's pytest side: one item, ``restore::<backup>``, that runs the drill.

``register`` validates the options and the ``[restore]`` table and registers the DSN's
password with the run's redactor before anything runs. The item is collected through
pytest's own collection hooks (``pytest_collectstart``, ``pytest_make_collect_report``,
``pytest_collectreport``), so it is counted, listed by ``--collect-only`` and filtered by
``-k`` like any test. Its verdict: a drill that PASSes passes; FAIL is a test failure
(FAIL); a drill that could not measure raises :class:`~pytest_opsgate.errors.GateError`
(ERROR); SIGTERM or Ctrl-C mid-drill propagates as the interruption it is (ABORTED), after
the drill cleaned up. Every expectation becomes an SLO row of the run (source ``restore``),
and the evidence goes to gate.json (``restore``), the artifacts folder and the HTML report.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ...errors import GateError, GateUsageError
from ...report.attachments import Attachment, item_artifacts_dir, item_evidence, write_text
from ...report.terminal import LiveLines
from ...run.state import get_settings, get_state
from .config import RestoreSetup, load_restore

if TYPE_CHECKING:
    from .result import DrillResult

__all__ = ["RestoreDrillFailed", "RestoreItem", "RestorePlugin", "register"]

SUITE_NAME = "restore"


class RestoreDrillFailed(AssertionError):
    """The backup is definitely not good (verdict FAIL): it did not restore, or broke a check."""


def register(config: pytest.Config) -> None:
    """Called by the core when --gate selects restore: validate everything before it runs."""
    from .spec import spec_secrets

    try:
        setup = load_restore(config)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    if setup is None:
        raise pytest.UsageError(_no_source_message(config))
    redactor = get_state(config).redactor
    for secret in spec_secrets(setup.spec):  # before anything can print the DSN
        redactor.register(secret)
    config.pluginmanager.register(RestorePlugin(config, setup), "opsgate-restore")


def _no_source_message(config: pytest.Config) -> str:
    if "restore" in get_settings(config).named_gates:
        return (
            "--gate=restore needs a backup to drill; pass --gate-restore-from PATH (a backup "
            "file, or the folder your backups are written to), or set from = PATH in the "
            "[restore] table of opsgate.toml"
        )
    return (
        "--gate=all drills a backup because the config file has a [restore] table, but it "
        "names no backup; add from = PATH to [restore] (or pass --gate-restore-from PATH), "
        "or remove the table"
    )


class RestoreSuite(pytest.Collector):
    """The parent of the drill's item; collects one item named after the backup."""

    plugin: RestorePlugin

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        name = self.plugin.pin_backup()
        item = RestoreItem.from_parent(self, name=name)
        item.plugin = self.plugin
        item.add_marker(pytest.mark.gate("restore"))
        return [item]


class RestoreItem(pytest.Item):
    """The restore drill, run as one test."""

    plugin: RestorePlugin

    def runtest(self) -> None:
        self.plugin.run(self)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"restore drill of {self.name}"

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if excinfo.errisinstance((RestoreDrillFailed, GateError)) and not (
            excinfo.value.__cause__  # a crash keeps its traceback
        ):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


class RestorePlugin:
    """Adds the drill's item and runs it."""

    def __init__(self, config: pytest.Config, setup: RestoreSetup) -> None:
        self.config = config
        self.setup = setup
        self.configured_source = setup.spec.source

    def pin_backup(self) -> str:
        """The backup the item drills, found now so its name says which; a folder is pinned
        to its newest backup. None found: the folder's name, and the drill FAILs naming it."""
        from .discover import find_backup
        from .errors import DrillFailure

        try:
            candidate = find_backup(self.configured_source)
        except (DrillFailure, OSError):
            return self.configured_source.name or str(self.configured_source)
        self.setup.spec.source = candidate.path
        return candidate.path.name

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        suite = RestoreSuite.from_parent(
            session, name=SUITE_NAME, nodeid=SUITE_NAME, path=Path(config.rootpath)
        )
        suite.plugin = self
        # pytest's own collection protocol: a collector that fails is a collection error.
        ihook = suite.ihook
        ihook.pytest_collectstart(collector=suite)
        report: pytest.CollectReport = ihook.pytest_make_collect_report(collector=suite)
        ihook.pytest_collectreport(report=report)
        if report.passed:
            items.extend(node for node in report.result if isinstance(node, pytest.Item))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        spec = self.setup.spec
        if spec.dsn is None:
            where = "a throwaway local Postgres (SQLite backups: a copy)"
        else:
            from .endpoint import Endpoint

            host = Endpoint.from_dsn(spec.dsn).describe().split(" on ", 1)[1]
            where = f"a new database on {host}, dropped after"
        count = self.setup.expectation_count
        asked = f"{count} expectation(s)" if count else "no expectation (restore only)"
        return [
            f"opsgate: restore drill of {self.configured_source} into {where}; {asked}",
        ]

    # ---- the drill

    def run(self, item: RestoreItem) -> None:
        """Run the drill and turn its verdict into the item's."""
        from ...verdict import Verdict
        from .drill import run_drill
        from .errors import DrillAborted

        state = get_state(self.config)
        printer = LiveLines(self.config)
        events: list[str] = []

        def on_event(message: str) -> None:
            events.append(message)
            printer.line(f"opsgate: restore: {message}")

        printer.line(f"opsgate: restore: drilling {self.setup.spec.source}")
        try:
            result = run_drill(
                self.setup.spec, redact=state.redactor.redact_text, on_event=on_event
            )
        except DrillAborted as aborted:
            self._keep(item, aborted.result, events)
            printer.line(f"opsgate: restore: {aborted.result.reason}; cleaned up")
            raise
        except Exception as error:  # a bug, or an OS error the drill did not foresee
            message = state.redactor.redact_text(f"{type(error).__name__}: {error}")
            raise GateError(f"the restore drill crashed ({message}); it cleaned up") from error
        text = self._keep(item, result, events)
        if result.verdict is Verdict.PASS:
            return
        if result.verdict is Verdict.FAIL:
            raise RestoreDrillFailed(text)
        raise GateError(text)

    def _keep(self, item: RestoreItem, result: DrillResult, events: list[str]) -> str:
        """Record the drill's SLO rows and evidence; returns its evidence in words."""
        from .evidence import NO_EXPECTATION_NOTE, drill_evidence, drill_text, scrubbed

        state = get_state(self.config)
        redact = state.redactor.redact_text
        for row in result.slo_results:
            state.slo_results.append(dataclasses.replace(row, source="restore", test=item.nodeid))
        evidence = scrubbed(
            drill_evidence(result, test=item.nodeid, source=self.configured_source), redact
        )
        state.gate_evidence["restore"] = evidence
        if not self.setup.expectation_count:
            state.add_note(NO_EXPECTATION_NOTE)
        text = redact(drill_text(evidence))
        folder = item_artifacts_dir(get_settings(self.config).artifacts_dir, item.nodeid)
        written = write_text(folder, "restore-drill.txt", text)
        as_json = json.dumps(evidence, indent=2)
        data = write_text(folder, "restore-drill.json", as_json)
        state.add_artifact(written)
        state.add_artifact(data)
        if events:
            item.add_report_section("call", "restore drill", redact("\n".join(events)))
        attachments = item_evidence(item).always
        attachments.append(Attachment("restore drill", "text", path=written, content=text))
        attachments.append(Attachment("restore drill (JSON)", "json", path=data, content=as_json))
        return text
