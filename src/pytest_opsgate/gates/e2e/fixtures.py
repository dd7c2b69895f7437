"""Fixtures of the E2E gate; they extend pytest-playwright's fixtures of the same names.

Registered as a plugin after pytest-playwright, so ``browser_type_launch_args`` and
``new_context`` here receive pytest-playwright's versions and extend them. A conftest that
overrides either should request the original and extend it, as these do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ...measure.metrics import PAGE_METRICS
from ...run.state import get_settings, get_state
from .browser import launch_args, merge_launch_options
from .page import ContextWatcher, GatePage
from .session import e2e_settings_key, item_watchers

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import BrowserContext, Page

    from .navigation import PageTimings


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], browser_name: str, pytestconfig: pytest.Config
) -> dict[str, Any]:
    """pytest-playwright's launch options plus the gate's browser binary and CI flags."""
    if browser_name != "chromium":
        return browser_type_launch_args
    e2e = pytestconfig.stash[e2e_settings_key]
    return merge_launch_options(browser_type_launch_args, e2e.choice, launch_args())


@pytest.fixture
def new_context(
    new_context: Callable[..., BrowserContext], request: pytest.FixtureRequest
) -> Callable[..., BrowserContext]:
    """pytest-playwright's ``new_context`` whose contexts report console errors and failures."""
    redactor = get_state(request.config).redactor
    watchers = item_watchers(request.node)

    def watched_context(**kwargs: Any) -> BrowserContext:
        context = new_context(**kwargs)
        watcher = ContextWatcher(redactor)
        watcher.attach(context)
        watchers.append(watcher)
        return context

    return watched_context


@pytest.fixture
def gate_page(page: Page, request: pytest.FixtureRequest) -> GatePage:
    """pytest-playwright's page with visit() that fails on >= 400, login redirects, other hosts."""
    config = request.config
    settings = get_settings(config)
    e2e = config.stash[e2e_settings_key]
    if not settings.base_url:
        raise pytest.UsageError("gate_page needs a target; pass --base-url URL")
    metrics = get_state(config).store("e2e")

    def record(scope: str, timings: PageTimings, ok: bool) -> None:
        measured = timings.as_metrics()
        for metric in PAGE_METRICS:
            metrics.record(scope, measured.get(metric), ok, metric=metric)

    watcher = next(
        (w for w in item_watchers(request.node) if page in w.pages),
        None,
    )
    return GatePage(
        page,
        base_url=settings.base_url,
        login_pattern=e2e.login_pattern,
        redactor=get_state(config).redactor,
        on_timings=record,
        watcher=watcher,
    )
