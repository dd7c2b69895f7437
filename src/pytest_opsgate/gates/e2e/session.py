"""Run-wide E2E settings and per-test browser watchers, kept in the pytest stash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import re

    from .browser import BrowserChoice
    from .page import ContextWatcher


@dataclass
class E2ESettings:
    """What the E2E gate resolved at configure time."""

    choice: BrowserChoice | None  # None: another engine or a channel; Playwright decides
    console_policy: str
    login_pattern: re.Pattern[str]
    console_ignore: tuple[re.Pattern[str], ...] = ()
    retention: dict[str, str] = field(default_factory=dict)
    own_screenshot: bool = False  # the gate screenshots failed tests (no --screenshot given)
    notes: list[str] = field(default_factory=list)


# pytest-playwright 0.10 lists each artifact it kept as report.user_properties
# ("playwright_<kind>", path).
PLAYWRIGHT_PROPERTY_PREFIX = "playwright_"

e2e_settings_key = pytest.StashKey[E2ESettings]()
watchers_key = pytest.StashKey[list["ContextWatcher"]]()
evidence_collected_key = pytest.StashKey[bool]()


def item_watchers(item: pytest.Item) -> list[ContextWatcher]:
    """The watchers of every browser context a test opened, oldest first."""
    return item.stash.setdefault(watchers_key, [])
