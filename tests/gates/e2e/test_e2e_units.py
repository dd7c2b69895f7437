"""The E2E gate's pure parts: browser discovery, visit verdicts, timings, trace scrubbing."""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from typing import TYPE_CHECKING

import pytest

from pytest_opsgate.gates.e2e.browser import (
    BrowserChoice,
    BrowserNotFoundError,
    find_browser,
    installed_in_registry,
    launch_args,
    merge_launch_options,
    playwright_registry_dir,
)
from pytest_opsgate.gates.e2e.navigation import (
    PageTimings,
    describe_chain,
    navigation_problem,
    page_scope,
    resolve_url,
    timings_from_entry,
)
from pytest_opsgate.gates.e2e.options import DEFAULT_LOGIN_PATTERN, console_policy, login_pattern
from pytest_opsgate.gates.e2e.trace_scrub import is_storage_state, scrub_trace
from pytest_opsgate.http.redact import Redactor

if TYPE_CHECKING:
    from pathlib import Path

LOGIN = re.compile(DEFAULT_LOGIN_PATTERN, re.IGNORECASE)
BASE = "http://127.0.0.1:8000"

# ------------------------------------------------------------------------------ browser


def test_explicit_executable_wins(tmp_path: Path) -> None:
    binary = tmp_path / "chrome"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    choice = find_browser(str(binary), which=lambda name: "/usr/bin/chromium")
    assert choice == BrowserChoice(str(binary), "--gate-browser-executable")


def test_explicit_executable_that_does_not_exist_names_the_flag() -> None:
    with pytest.raises(BrowserNotFoundError, match="--gate-browser-executable '/nope/chrome'"):
        find_browser("/nope/chrome", is_executable=lambda path: False)


def test_system_chromium_found_on_path_before_playwrights_own() -> None:
    found = {"google-chrome": "/opt/google/chrome"}
    choice = find_browser(
        None,
        which=found.get,
        is_executable=lambda path: path == "/opt/google/chrome",
        playwright_chromium=lambda: True,
    )
    assert choice == BrowserChoice("/opt/google/chrome", "system")


def test_playwrights_installed_chromium_is_the_last_resort() -> None:
    choice = find_browser(
        None,
        which=lambda name: None,
        is_executable=lambda p: False,
        playwright_chromium=lambda: True,
    )
    assert choice == BrowserChoice(None, "playwright")
    assert "Playwright" in choice.describe()


def test_no_browser_at_all_says_what_to_install() -> None:
    with pytest.raises(BrowserNotFoundError) as info:
        find_browser(
            None,
            which=lambda name: None,
            is_executable=lambda p: False,
            playwright_chromium=lambda: False,
        )
    message = str(info.value)
    assert "apt-get install chromium" in message
    assert "playwright install chromium" in message


def test_no_sandbox_only_as_root() -> None:
    assert "--no-sandbox" in launch_args(euid=0)
    assert "--no-sandbox" not in launch_args(euid=1000)
    for flag in ("--disable-background-networking", "--disable-component-update", "--no-first-run"):
        assert flag in launch_args(euid=1000)


def test_launch_options_merge_keeps_the_users_choices() -> None:
    choice = BrowserChoice("/usr/bin/chromium", "system")
    merged = merge_launch_options(
        {"args": ["--disable-gpu=0", "--lang=de"], "slow_mo": 5}, choice, launch_args(euid=0)
    )
    assert merged["executable_path"] == "/usr/bin/chromium"
    assert merged["slow_mo"] == 5
    assert merged["args"][:2] == ["--disable-gpu=0", "--lang=de"]
    assert "--disable-gpu" not in merged["args"]  # the user's own value of the flag stays
    assert "--no-sandbox" in merged["args"]
    theirs = merge_launch_options({"executable_path": "/mine"}, choice, [])
    assert theirs["executable_path"] == "/mine"
    channel = merge_launch_options({"channel": "chrome"}, choice, [])
    assert "executable_path" not in channel


def test_playwright_registry_dir_follows_playwrights_rules(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert playwright_registry_dir({}, "linux", home) == home / ".cache" / "ms-playwright"
    xdg = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert playwright_registry_dir(xdg, "linux", home) == tmp_path / "xdg" / "ms-playwright"
    assert playwright_registry_dir({}, "darwin", home) == home / "Library/Caches/ms-playwright"
    custom = {"PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "browsers")}
    assert playwright_registry_dir(custom, "linux", home) == tmp_path / "browsers"


def test_installed_in_registry_needs_the_completion_marker(tmp_path: Path) -> None:
    folder = tmp_path / "chromium_headless_shell-1255"
    folder.mkdir()
    assert not installed_in_registry(tmp_path, "chromium-headless-shell", "1255")
    (folder / "INSTALLATION_COMPLETE").write_text("")
    assert installed_in_registry(tmp_path, "chromium-headless-shell", "1255")
    assert not installed_in_registry(tmp_path, "chromium-headless-shell", "1300")
    assert installed_in_registry(tmp_path, "chromium-headless-shell", None)


# ------------------------------------------------------------------------------ options


def test_option_types_reject_bad_values_naming_the_fix() -> None:
    assert console_policy("FAIL") == "fail"
    with pytest.raises(argparse.ArgumentTypeError, match="fail, warn or ignore"):
        console_policy("loud")
    with pytest.raises(argparse.ArgumentTypeError, match="regular expression"):
        login_pattern("(unclosed")


# ------------------------------------------------------------------------------ navigation


def _problem(**overrides: object) -> str | None:
    args: dict[str, object] = {
        "path": "/",
        "final_url": f"{BASE}/",
        "status": 200,
        "status_text": "OK",
        "base_url": BASE,
        "login_pattern": LOGIN,
    }
    args.update(overrides)
    return navigation_problem(**args)  # type: ignore[arg-type]


def test_a_plain_200_page_is_fine() -> None:
    assert _problem() is None


def test_status_400_and_above_fails_with_status_and_url() -> None:
    message = _problem(
        path="/boom", final_url=f"{BASE}/boom", status=500, status_text="Server Error"
    )
    assert message is not None
    assert "visit('/boom') answered 500 Server Error" in message
    assert f"{BASE}/boom" in message
    assert _problem(status=404, allow_status=(404,)) is None


def test_redirect_to_a_login_page_fails_and_shows_the_chain() -> None:
    chain = [(f"{BASE}/account", 302), (f"{BASE}/login?next=/account", 200)]
    message = _problem(path="/account", final_url=chain[-1][0], chain=chain)
    assert message is not None
    assert "login page" in message
    assert f"{BASE}/account -> 302 -> {BASE}/login?next=/account" in message
    assert _problem(path="/account", final_url=chain[-1][0], expect_login=True) is None


def test_visiting_the_login_page_itself_is_not_a_login_redirect() -> None:
    assert _problem(path="/login", final_url=f"{BASE}/login") is None
    assert _problem(path="/x", final_url=f"{BASE}/auth/sso") is not None
    assert _problem(path="/x", final_url=f"{BASE}/authors") is None


def test_landing_on_another_host_fails() -> None:
    message = _problem(final_url="https://sso.example.com/")
    assert message is not None
    assert "left the site" in message
    assert "sso.example.com" in message


def test_no_response_fails() -> None:
    assert "no HTTP response" in (_problem(final_url=None, status=None) or "")


def test_chain_description_marks_redirect_statuses() -> None:
    assert describe_chain([("/a", 301), ("/b", 302), ("/c", 200)]) == "/a -> 301 -> /b -> 302 -> /c"


def test_page_scope_drops_query_and_fragment() -> None:
    assert page_scope("/") == "page /"
    assert page_scope("/items?token=abc#top") == "page /items"
    assert page_scope("items") == "page /items"


def test_resolve_url_keeps_a_base_path_prefix() -> None:
    assert resolve_url("http://h/app", "/items") == "http://h/app/items"
    assert resolve_url("http://h/", "/") == "http://h/"
    assert resolve_url("http://h", "https://other/x") == "https://other/x"


def test_timings_are_relative_to_navigation_start() -> None:
    entry = {
        "startTime": 10.0,
        "requestStart": 12.0,
        "responseStart": 40.0,
        "domContentLoadedEventEnd": 110.0,
        "loadEventEnd": 210.0,
    }
    timings = timings_from_entry(entry)
    assert timings == PageTimings(ttfb_ms=30.0, dcl_ms=100.0, load_ms=200.0)
    assert timings.as_metrics() == {"ttfb": 30.0, "dcl": 100.0, "load": 200.0}
    unfinished = timings_from_entry({**entry, "loadEventEnd": 0})
    assert unfinished.load_ms is None
    assert "load" not in unfinished.as_metrics()
    assert timings_from_entry(None) == PageTimings(None, None, None)


# ------------------------------------------------------------------------------ traces


def _events(*events: dict[str, object]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


def _snapshot(call_id: str, html: list[object]) -> dict[str, object]:
    return {"type": "frame-snapshot", "snapshot": {"callId": call_id, "html": html}}


def _write_trace(path: Path, members: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)


def _all_text(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        return "\n".join(archive.read(name).decode() for name in archive.namelist())


def test_typed_password_is_scrubbed_everywhere_without_registration(tmp_path: Path) -> None:
    password = "hunter2-Sentinel"
    trace = tmp_path / "trace.zip"
    _write_trace(
        trace,
        {
            "trace.trace": _events(
                {"type": "context-options", "options": {"viewport": {"width": 1}}},
                {
                    "type": "before",
                    "callId": "c@1",
                    "method": "fill",
                    "params": {"selector": "#user", "value": "alice-the-user"},
                },
                {
                    "type": "before",
                    "callId": "c@2",
                    "method": "fill",
                    "params": {"selector": "#pw", "value": password},
                },
                {"type": "log", "callId": "c@2", "message": f'  fill("{password}")'},
                _snapshot(
                    "c@2",
                    [
                        "HTML",
                        {},
                        ["INPUT", {"__playwright_value_": "alice-the-user", "id": "user"}],
                        [
                            "INPUT",
                            {
                                "__playwright_value_": password,
                                "__playwright_target__": "",
                                "type": "password",
                            },
                        ],
                    ],
                ),
            ),
            "trace.network": "",
            "resources/body.dat": f"user=alice-the-user&pw={password}",
            "src/test_login.py": f'page.fill("#pw", "{password}")\n',
        },
    )
    redactor = Redactor()
    result = scrub_trace(trace, redactor)
    text = _all_text(trace)
    assert password not in text
    assert "alice-the-user" in text  # ordinary typing stays readable in the trace viewer
    assert result.passwords == 1
    # Learnt, so reports written after the trace are scrubbed too.
    assert redactor.redact_text(f"x {password} y") == "x [REDACTED] y"
    for line in _all_text(trace).splitlines():
        if line.startswith("{"):
            json.loads(line)  # still valid JSON lines for the trace viewer


def test_without_snapshots_every_typed_value_is_treated_as_a_password(tmp_path: Path) -> None:
    trace = tmp_path / "trace.zip"
    before = {"type": "before", "callId": "c@1", "method": "fill"}
    _write_trace(
        trace,
        {"trace.trace": _events({**before, "params": {"selector": "#x", "value": "typed-1234"}})},
    )
    scrub_trace(trace, Redactor())
    assert "typed-1234" not in _all_text(trace)


def test_network_headers_cookies_query_and_registered_secrets_are_scrubbed(tmp_path: Path) -> None:
    token = "tok-registered-0123456789"
    request = {
        "method": "GET",
        "url": f"{BASE}/api?api_key=qs-secret-98765&page=2",
        "headers": [
            {"name": "Authorization", "value": "Bearer bearer-secret-abcdef"},
            {"name": "X-Trace", "value": f"id {token}"},
            {"name": "Accept", "value": "text/html"},
        ],
        "cookies": [{"name": "theme", "value": "dark-cookie-value"}],
        "queryString": [{"name": "api_key", "value": "qs-secret-98765"}],
    }
    response = {
        "status": 200,
        "headers": [{"name": "Set-Cookie", "value": "sid=session-secret-4242; HttpOnly"}],
        "cookies": [{"name": "sid", "value": "session-secret-4242"}],
        "content": {"mimeType": "application/json", "_sha1": "abc.json"},
    }
    trace = tmp_path / "trace.zip"
    _write_trace(
        trace,
        {
            "trace.trace": _events(
                {
                    "type": "after",
                    "callId": "c@9",
                    "result": {"cookies": [{"name": "sid", "value": "session-secret-4242"}]},
                }
            ),
            "trace.network": _events(
                {
                    "type": "resource-snapshot",
                    "snapshot": {"request": request, "response": response},
                }
            ),
            "resources/abc.json": json.dumps({"access_token": "body-secret-55555", "n": 1}),
            "src/test_x.py": f"TOKEN = '{token}'\n",
        },
    )
    redactor = Redactor()
    redactor.register(token)
    scrub_trace(trace, redactor)
    text = _all_text(trace)
    for secret in (
        token,
        "bearer-secret-abcdef",
        "qs-secret-98765",
        "dark-cookie-value",
        "session-secret-4242",
        "body-secret-55555",
    ):
        assert secret not in text, secret
    assert "text/html" in text
    assert "page=2" in text


def test_a_trace_without_secrets_is_left_byte_for_byte(tmp_path: Path) -> None:
    trace = tmp_path / "trace.zip"
    _write_trace(trace, {"trace.trace": _events({"type": "log", "message": "hello"})})
    before = trace.read_bytes()
    result = scrub_trace(trace, Redactor())
    assert result.changed == []
    assert trace.read_bytes() == before


def test_storage_state_files_are_recognised(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"cookies": [], "origins": []}))
    other = tmp_path / "data.json"
    other.write_text(json.dumps({"cookies": []}))
    assert is_storage_state(state)
    assert not is_storage_state(other)
    assert not is_storage_state(tmp_path / "missing.json")
