"""Example login flow: the password comes from the environment, never from the source.

The demo accepts any user name with the password ``demo-password``. Against a real
service, export E2E_USER / E2E_PASSWORD and add ``--gate-secret-env E2E_PASSWORD`` so the
password is scrubbed from every report and trace (typed passwords are scrubbed from traces
in any case).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from playwright.sync_api import Page, expect

from pytest_opsgate.demo import DEMO_PASSWORD

if TYPE_CHECKING:
    from pytest_opsgate.gates.e2e.page import GatePage

USER = os.environ.get("E2E_USER", "e2e-user")
PASSWORD = os.environ.get("E2E_PASSWORD", DEMO_PASSWORD)


def test_account_needs_a_login(gate_page: GatePage, page: Page) -> None:
    gate_page.visit("/account", expect_login=True)
    expect(page.get_by_test_id("login-form")).to_be_visible()


def test_login_opens_the_account_page(gate_page: GatePage, page: Page) -> None:
    gate_page.visit("/login")
    page.get_by_test_id("username").fill(USER)
    page.get_by_test_id("password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("greeting")).to_have_text(f"Signed in as {USER}")
    gate_page.visit("/account")
    expect(page.get_by_test_id("account-user")).to_have_text(f"Signed in as {USER}")
