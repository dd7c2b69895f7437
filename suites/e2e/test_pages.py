"""Example E2E flows against the demo service: copy them and change the selectors.

Run them as a gate:  pytest suites/e2e --gate=e2e --base-url http://127.0.0.1:8000
``gate_page.visit`` fails on a page that answers >= 400, lands on a login page or leaves
the site; ``page`` is pytest-playwright's page, for everything else.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from pytest_opsgate.gates.e2e.page import GatePage


def test_home_page_loads(gate_page: GatePage, page: Page) -> None:
    gate_page.visit("/")
    expect(page).to_have_title(re.compile("opsgate demo"))
    expect(page.get_by_role("heading", name="Items")).to_be_visible()


def test_item_list_renders_from_the_api(gate_page: GatePage, page: Page) -> None:
    gate_page.visit("/")
    # The list is filled by a fetch of /api/public/items after the page loaded.
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "loaded")
    expect(page.get_by_test_id("item").first).to_be_visible()


def test_add_item_shows_the_result(gate_page: GatePage, page: Page) -> None:
    gate_page.visit("/")
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "loaded")
    page.get_by_test_id("item-name").fill("E2E gate widget")
    page.get_by_test_id("item-price").fill("9.50")
    page.get_by_test_id("add-item-submit").click()
    expect(page.get_by_test_id("result")).to_have_text("Added E2E gate widget")
    expect(page.get_by_test_id("item").filter(has_text="E2E gate widget").first).to_be_visible()
