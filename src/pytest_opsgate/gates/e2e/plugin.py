"""The E2E gate's pytest plugin, built on pytest-playwright; core registers it on --gate=e2e."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import warnings
from typing import TYPE_CHECKING

import pytest

from ... import settings as cfg
from ...errors import GateUsageError
from ...report.attachments import item_artifacts_dir, item_evidence
from ...run.state import get_settings, get_state
from .browser import BrowserChoice, BrowserNotFoundError, find_browser, playwright_has
from .options import DEFAULT_CONSOLE_IGNORE
from .session import (
    PLAYWRIGHT_PROPERTY_PREFIX,
    E2ESettings,
    e2e_settings_key,
    evidence_collected_key,
    item_watchers,
)

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

INSTALL_E2E = "pip install 'pytest-opsgate[e2e]'"
# pytest-playwright's artifact options, and what the gate keeps unless the user chose.
RETENTION_PRESETS = (
    ("tracing", "retain-on-failure"),
    ("video", "retain-on-failure"),
)
# Not preset: pytest-playwright's only-on-failure takes a screenshot of every page at every
# teardown and throws it away when the test passed. Unless the user passes --screenshot, the
# gate takes its own, only for a failed test, while its pages are still open.
SCREENSHOT = "screenshot"
GATE_SCREENSHOT = "only-on-failure"


class BrowserConsoleWarning(UserWarning):
    """A page logged console errors during an E2E test (--gate-e2e-console-errors=warn)."""


def register(config: pytest.Config) -> None:
    """Set up the E2E gate: check the browser, preset retention, register hooks and fixtures."""
    _require_playwright(config)
    try:
        e2e = _load_settings(config)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[e2e_settings_key] = e2e
    _preset_retention(config, e2e)

    from . import fixtures

    config.pluginmanager.register(fixtures, "opsgate-e2e-fixtures")
    config.pluginmanager.register(E2EPlugin(config, e2e), "opsgate-e2e")


def _require_playwright(config: pytest.Config) -> None:
    for module in ("playwright", "pytest_playwright"):
        if importlib.util.find_spec(module) is None:
            raise pytest.UsageError(
                f"--gate=e2e needs {module.replace('_', '-')}; install it with {INSTALL_E2E}"
            )
    if not config.pluginmanager.hasplugin("playwright"):
        if config.pluginmanager.is_blocked("playwright"):
            raise pytest.UsageError(
                "--gate=e2e needs pytest-playwright's plugin, which is disabled; "
                "remove -p no:playwright or pass -p playwright after it"
            )
        # Not blocked, so a conftest.py unregistered it (this repository's tests/ does).
        raise pytest.UsageError(
            "--gate=e2e needs pytest-playwright's plugin, which a conftest.py unregistered; "
            "name the E2E tests' folder so that conftest.py is not loaded "
            "(pytest --gate=e2e suites/e2e ...)"
        )


def _load_settings(config: pytest.Config) -> E2ESettings:
    policy = cfg.option_value(config, "e2e-console-errors")
    pattern = cfg.option_value(config, "e2e-login-pattern")
    explicit = cfg.option_value(config, "browser-executable") or None
    browsers = list(getattr(config.option, "browser", None) or ["chromium"])
    choice: BrowserChoice | None = None
    # Playwright finds a --browser-channel (chrome, msedge) and firefox/webkit itself.
    if "chromium" in browsers and not getattr(config.option, "browser_channel", None):
        try:
            choice = find_browser(explicit)
        except BrowserNotFoundError as exc:
            raise GateUsageError(str(exc)) from None
    ignore = (*DEFAULT_CONSOLE_IGNORE, *cfg.option_value(config, "e2e-console-ignore"))
    return E2ESettings(
        choice=choice,
        console_policy=policy,
        console_ignore=tuple(re.compile(text) for text in ignore),
        login_pattern=re.compile(pattern, re.IGNORECASE),
    )


def user_chosen_flags(config: pytest.Config, names: tuple[str, ...]) -> set[str]:
    """Which of pytest-playwright's ``--<name>`` options the user set, even to their default."""
    tokens = [str(arg) for arg in config.invocation_params.args]
    tokens += shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    tokens += [str(arg) for arg in config.getini("addopts")]
    chosen = {name for name in names if getattr(config.option, name, "off") != "off"}
    for token in tokens:
        for name in names:
            if token == f"--{name}" or token.startswith(f"--{name}="):
                chosen.add(name)
    return chosen


def _preset_retention(config: pytest.Config, e2e: E2ESettings) -> None:
    # pytest-playwright reads these options in fixtures and at teardown, after configure.
    names = (SCREENSHOT, *(name for name, _ in RETENTION_PRESETS))
    chosen = user_chosen_flags(config, names)
    if SCREENSHOT in chosen:
        e2e.retention[SCREENSHOT] = str(getattr(config.option, SCREENSHOT))
    else:
        e2e.retention[SCREENSHOT] = GATE_SCREENSHOT
        e2e.own_screenshot = True
    for name, preset in RETENTION_PRESETS:
        if name in chosen:
            e2e.retention[name] = str(getattr(config.option, name))
            continue
        if name == "video" and not playwright_has("ffmpeg"):
            e2e.retention[name] = "off"
            e2e.notes.append(
                "video not recorded: Playwright's ffmpeg is missing (`playwright install ffmpeg`)"
            )
            continue
        setattr(config.option, name, preset)
        e2e.retention[name] = preset


def _lists_playwright_artifacts(report: pytest.TestReport) -> bool:
    # A passing test under the retain-on-failure presets keeps nothing: no import, no globbing.
    return any(
        isinstance(name, str) and name.startswith(PLAYWRIGHT_PROPERTY_PREFIX)
        for name, _value in report.user_properties
    )


class E2EPlugin:
    """Hooks of the E2E gate: report header, console policy, failure evidence, artifacts."""

    def __init__(self, config: pytest.Config, e2e: E2ESettings) -> None:
        self.config = config
        self.e2e = e2e
        self.settings = get_settings(config)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        browser = self.e2e.choice.describe() if self.e2e.choice else "chosen by Playwright"
        kept = ", ".join(f"{name} {value}" for name, value in self.e2e.retention.items())
        lines = [f"opsgate e2e: browser {browser}; keeps {kept}"]
        lines += [f"opsgate e2e: {note}" for note in self.e2e.notes]
        return lines

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        result = yield
        if self.e2e.console_policy == "ignore":
            return result
        logged = [line for watcher in item_watchers(item) for line in watcher.console_errors]
        ignored = [line for line in logged if any(p.search(line) for p in self.e2e.console_ignore)]
        errors = [line for line in logged if line not in ignored]
        if ignored:
            item.add_report_section(
                "call",
                "opsgate e2e",
                f"{len(ignored)} console error(s) ignored (--gate-e2e-console-ignore): "
                + "; ".join(ignored[:5]),
            )
        if not errors:
            return result
        shown = "; ".join(errors[:3]) + (f"; ... ({len(errors)} in all)" if len(errors) > 3 else "")
        message = f"the page logged {len(errors)} console error(s): {shown}"
        if self.e2e.console_policy == "fail":
            pytest.fail(f"{message} (--gate-e2e-console-errors=fail)", pytrace=False)
        warnings.warn(BrowserConsoleWarning(message), stacklevel=1)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # Before the report exists, while the pages are open: core attaches the evidence
        # to this failed report in its own makereport wrapper, which runs after this point.
        if (
            call.when in ("setup", "call")
            and call.excinfo is not None
            and not call.excinfo.errisinstance(pytest.skip.Exception)
            and not item.stash.get(evidence_collected_key, False)
            and item_watchers(item)
        ):
            item.stash[evidence_collected_key] = True
            self._collect_failure_evidence(item)
        report = yield
        if report.when == "teardown" and _lists_playwright_artifacts(report):
            self._adopt_artifacts(item, report)
        return report

    def _folder(self, item: pytest.Item) -> Path:
        return item_artifacts_dir(self.settings.artifacts_dir, item.nodeid)

    def _collect_failure_evidence(self, item: pytest.Item) -> None:
        from .evidence import failure_attachments, failure_screenshots, html_report_dir

        attachments = failure_attachments(item_watchers(item), self._folder(item))
        if self.e2e.own_screenshot:
            attachments += failure_screenshots(
                item_watchers(item),
                self._folder(item),
                full_page=bool(self.config.getoption("full_page_screenshot", default=False)),
                html_dir=None if self._self_contained() else html_report_dir(self.config),
            )
        item_evidence(item).attachments.extend(attachments)

    def _self_contained(self) -> bool:
        return bool(self.config.getoption("self_contained_html", default=False))

    def _adopt_artifacts(self, item: pytest.Item, report: pytest.TestReport) -> None:
        from .evidence import adopt_playwright_artifacts, html_report_dir

        adopted = adopt_playwright_artifacts(
            report,
            start_dir=self.config.invocation_params.dir,
            folder=self._folder(item),
            redactor=get_state(self.config).redactor,
            html_dir=html_report_dir(self.config),
        )
        state = get_state(self.config)
        for path in adopted.copies:
            state.add_artifact(path)
        for path in adopted.removed_storage_states:
            state.notes.append(f"removed storage state {path.name} from {item.nodeid}'s output")
