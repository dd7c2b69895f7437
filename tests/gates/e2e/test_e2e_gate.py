"""The E2E gate end to end: real Chromium, pytest-playwright and the demo service on loopback.

Every run is a subprocess (pytest-playwright's soft-assertion scope cannot nest in-process)
and costs a browser start, so each run checks several things.
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_SUITE = REPO_ROOT / "suites" / "e2e"
RUN_TIMEOUT_S = 180

FAILING_FLOWS = """
    import pytest
    from playwright.sync_api import expect

    pytestmark = pytest.mark.gate("e2e")

    def test_broken_flow(gate_page, page):
        gate_page.visit("/console-error")
        status = page.evaluate(
            "() => fetch('/api/public/missing?api_key=qs-SENTINEL-4242').then(r => r.status)"
        )
        assert status == 404
        expect(page.get_by_test_id("console-note")).to_have_text("never shown", timeout=300)

    def test_boom(gate_page):
        gate_page.visit("/boom")

    def test_account(gate_page):
        gate_page.visit("/account")

    def test_console_error_only_warns(gate_page):
        gate_page.visit("/console-error")
        assert gate_page.console_errors
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--gate=e2e", *args, timeout=RUN_TIMEOUT_S
    )


def _copy_shipped_suite(pytester: pytest.Pytester) -> None:
    target = pytester.path / "suites" / "e2e"
    target.mkdir(parents=True)
    for source in SHIPPED_SUITE.glob("test_*.py"):
        shutil.copy(source, target / source.name)


def _report_rows(report: Path) -> dict[str, list[dict[str, Any]]]:
    match = re.search(r'data-jsonblob="([^"]*)"', report.read_text(encoding="utf-8"))
    assert match, "pytest-html report without its data blob"
    tests: dict[str, list[dict[str, Any]]] = json.loads(html.unescape(match.group(1)))["tests"]
    return tests


def _extras(rows: dict[str, list[dict[str, Any]]], test_name: str) -> list[dict[str, Any]]:
    matching = [row for nodeid, entries in rows.items() if test_name in nodeid for row in entries]
    assert len(matching) == 1, f"{test_name}: expected one report row, got {len(matching)}"
    extras: list[dict[str, Any]] = matching[0]["extras"]
    return extras


def _names(extras: list[dict[str, Any]]) -> list[str]:
    return sorted(str(extra["name"]) for extra in extras)


def _artifact_folder(pytester: pytest.Pytester, test_name: str) -> Path:
    folders = [p for p in (pytester.path / "gate-artifacts").iterdir() if test_name in p.name]
    assert len(folders) == 1, folders
    return folders[0]


def test_shipped_suite_passes_against_the_demo(
    pytester: pytest.Pytester, fresh_demo: DemoServer
) -> None:
    _copy_shipped_suite(pytester)
    result = _run(pytester, f"--base-url={fresh_demo.url}", "--gate-slo=page /: load < 30s")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(
        [
            "*opsgate e2e: browser * keeps screenshot only-on-failure, tracing retain-on-failure*",
            "*page /*load*< 30 s*PASSED*",
            "*VERDICT: PASS (exit code 0)*",
        ]
    )
    assert result.ret == 0
    # Passing tests keep nothing: retention is "on failure".
    assert not (pytester.path / "test-results").exists()


def test_failed_flow_report_shows_each_artifact_once(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(test_flows=FAILING_FLOWS)
    result = _run(pytester, f"--base-url={demo.url}", "--html=report/report.html", "-rA")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "*visit('/boom') answered 500 Internal Server Error at http://127.0.0.1:*/boom*",
            "*visit('/account') was sent to a login page: http://127.0.0.1:*/login?next=/account*",
            "*BrowserConsoleWarning: the page logged 1 console error(s)*deliberate console error*",
        ]
    )
    rows = _report_rows(pytester.path / "report" / "report.html")
    extras = _extras(rows, "test_broken_flow")
    assert _names(extras) == [
        "Console errors",
        "Failed requests",
        "Final URL",
        "Screenshot",
        "Trace",
    ]
    by_name = {extra["name"]: extra for extra in extras}
    assert by_name["Final URL"]["content"].endswith("/console-error")
    folder = _artifact_folder(pytester, "test_broken_flow")
    # pytest-playwright's own extras now point at the gate's copies, outside --output.
    report_dir = pytester.path / "report"
    for name in ("Screenshot", "Trace"):
        target = (report_dir / by_name[name]["content"]).resolve()
        assert target.parent == folder.resolve(), (name, target)
        assert target.is_file()
    failed = (folder / "failed-requests.txt").read_text()
    assert "GET http://127.0.0.1:" in failed
    assert "/api/public/missing?api_key=[REDACTED] -> 404" in failed
    assert "deliberate console error" in (folder / "console-errors.txt").read_text()
    for name in ("test_boom", "test_account"):
        assert _names(_extras(rows, name)).count("Final URL") == 1
        assert _names(_extras(rows, name)).count("Trace") == 1
    assert (
        (_artifact_folder(pytester, "test_account") / "final-url.txt")
        .read_text()
        .startswith(f"{demo.url}/login?next=/account")
    )
    assert _extras(rows, "test_console_error_only_warns") == []
    report_text = (report_dir / "report.html").read_text()
    assert "qs-SENTINEL-4242" not in report_text


def test_console_error_policy_fail_and_the_users_retention_choice(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("e2e")
        def test_console(gate_page):
            gate_page.visit("/console-error")
        """
    )
    result = _run(
        pytester,
        f"--base-url={demo.url}",
        "--gate-e2e-console-errors=fail",
        "--screenshot=off",
        "--tracing=off",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*keeps screenshot off, tracing off*",
            "*the page logged 1 console error(s)*(--gate-e2e-console-errors=fail)*",
        ]
    )
    folder = _artifact_folder(pytester, "test_console")
    assert sorted(p.name for p in folder.iterdir()) == ["console-errors.txt", "final-url.txt"]
    assert not (pytester.path / "test-results").exists()


def test_slow_pages_fail_the_page_budget_naming_the_page(
    pytester: pytest.Pytester, fresh_demo: DemoServer
) -> None:
    fresh_demo.options.latency_ms = 1500
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.gate("e2e")

        def test_home(gate_page):
            gate_page.visit("/")

        def test_home_within_budget(gate_page):
            gate_page.visit("/")
            gate_page.assert_budget("load < 1s")
        """
    )
    result = _run(
        pytester,
        f"--base-url={fresh_demo.url}",
        "--gate-slo=page /: load < 1s",
        "--screenshot=off",
        "--tracing=off",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*Failed: page /: load * s is not < 1 s (budget 'load < 1s')*",
            "*page /*load* s*< 1 s*2*FAILED*",
            "*VERDICT: FAIL (exit code 1)*",
        ]
    )
    assert result.ret == 1


def test_two_xdist_workers_keep_artifacts_apart_and_merge_page_metrics(
    pytester: pytest.Pytester, fresh_demo: DemoServer
) -> None:
    _copy_shipped_suite(pytester)
    pytester.makepyfile(
        test_failing="""
        import pytest

        pytestmark = pytest.mark.gate("e2e")

        @pytest.mark.parametrize("path", ["/boom", "/account"])
        def test_fails(gate_page, path):
            gate_page.visit(path)
        """
    )
    result = _run(
        pytester,
        f"--base-url={fresh_demo.url}",
        "-n",
        "2",
        "--gate-slo=page /: requests >= 3",
        "--html=report.html",
    )
    result.assert_outcomes(passed=5, failed=2)
    # "/" is visited by three tests spread over both workers; the controller sees all three.
    result.stdout.fnmatch_lines(["*page /*requests*3*>= 3*3*PASSED*"])
    rows = _report_rows(pytester.path / "report.html")
    for case in ("boom", "account"):
        folder = _artifact_folder(pytester, f"test_fails-chromium--{case}")
        assert {p.name for p in folder.iterdir()} >= {"test-failed-1.png", "trace.zip"}
        extras = _extras(rows, f"test_fails[chromium-/{case}]")
        assert _names(extras).count("Screenshot") == 1
        for extra in extras:
            if extra["name"] in ("Screenshot", "Trace"):
                assert (pytester.path / extra["content"]).resolve().parent == folder.resolve()


def test_missing_browser_is_a_usage_error_naming_the_fix(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = _run(
        pytester, f"--base-url={demo.url}", "--gate-browser-executable=/nonexistent/chromium"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--gate-browser-executable '/nonexistent/chromium' is not an executable file*"]
    )


def test_a_disabled_playwright_plugin_is_a_usage_error_naming_how_it_was_disabled(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    url = "--base-url=http://127.0.0.1:9"  # usage errors come before any request
    blocked = _run(pytester, url, "-p", "no:playwright")
    assert blocked.ret == pytest.ExitCode.USAGE_ERROR
    blocked.stderr.fnmatch_lines(["*which is disabled; remove -p no:playwright*"])
    # As this repository's tests/conftest.py does: no -p no:playwright to remove.
    pytester.makeconftest(
        """
        def pytest_configure(config):
            config.pluginmanager.unregister(config.pluginmanager.get_plugin("playwright"))
        """
    )
    unregistered = _run(pytester, url)
    assert unregistered.ret == pytest.ExitCode.USAGE_ERROR
    unregistered.stderr.fnmatch_lines(["*which a conftest.py unregistered; name the E2E*"])
    assert "no:playwright" not in unregistered.stderr.str()


def _files_containing(root: Path, needles: list[bytes]) -> list[str]:
    leaks: list[str] = []

    def check(name: str, data: bytes) -> None:
        leaks.extend(f"{name}: {needle.decode()}" for needle in needles if needle in data)
        if data[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for member in archive.namelist():
                    check(f"{name}!{member}", archive.read(member))

    for path in root.rglob("*"):
        if path.is_file():
            check(str(path.relative_to(root)), path.read_bytes())
    return leaks


def test_secrets_never_reach_any_file_the_run_wrote(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok-SENTINEL-7f3a9c2e"
    password = "demo-password"  # the demo's password: typed, never registered
    monkeypatch.setenv("DEPLOY_TOKEN", token)
    monkeypatch.setenv("E2E_PASSWORD", password)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    pytester.makepyfile(
        """
        import os

        import pytest
        from playwright.sync_api import expect

        pytestmark = pytest.mark.gate("e2e")

        @pytest.fixture
        def browser_context_args(browser_context_args):
            headers = {"X-Deploy-Token": os.environ["DEPLOY_TOKEN"]}
            return {**browser_context_args, "extra_http_headers": headers}

        def test_login_then_fail(gate_page, page, context, output_path):
            gate_page.visit("/login")
            page.get_by_test_id("username").fill("sentinel-user")
            page.get_by_test_id("password").fill(os.environ["E2E_PASSWORD"])
            page.get_by_test_id("login-submit").click()
            expect(page.get_by_test_id("greeting")).to_contain_text("Signed in")
            os.makedirs(output_path, exist_ok=True)
            context.storage_state(path=os.path.join(output_path, "state.json"))
            gate_page.visit("/console-error")
            assert page.title() == "a title the page does not have"
        """
    )
    result = _run(
        pytester,
        f"--base-url={demo.url}",
        "--gate-secret-env=DEPLOY_TOKEN",
        "--html=report.html",
        "--junitxml=junit.xml",
        "-rA",
    )
    result.assert_outcomes(failed=1)
    traces = list((pytester.path / "gate-artifacts").rglob("trace.zip"))
    assert len(traces) == 1
    with zipfile.ZipFile(traces[0]) as archive:
        events = [json.loads(line) for line in archive.read("trace.trace").splitlines()]
    # The trace did record the fill into the password field, with its value scrubbed.
    fills = [
        event["params"]
        for event in events
        if event.get("type") == "before" and event.get("method") == "fill"
    ]
    assert [fill["value"] for fill in fills] == ["sentinel-user", "[REDACTED]"]
    sources = {path.name for path in pytester.path.glob("*.py")}
    written = _files_containing(pytester.path, [token.encode(), password.encode()])
    assert [leak for leak in written if leak.split(":")[0] not in sources] == []
    assert not list(pytester.path.rglob("state.json")), "storage state kept as an artifact"
    assert token not in result.stdout.str()
    assert password not in result.stdout.str()


SCREENSHOT_PROBE = """
    import pytest

    pytestmark = pytest.mark.gate("e2e")

    def test_passes(gate_page, pytestconfig):
        gate_page.visit("/")
        print("playwright screenshot option:", pytestconfig.getoption("screenshot"))

    def test_fails(gate_page):
        gate_page.visit("/boom")
"""


@pytest.mark.parametrize("screenshot", [None, "only-on-failure"])
def test_failed_tests_get_one_screenshot_passing_tests_none(
    pytester: pytest.Pytester, demo: DemoServer, screenshot: str | None
) -> None:
    """By default the gate screenshots failed tests itself, so pytest-playwright takes (and
    throws away) none at every teardown; an explicit --screenshot is the user's, honoured."""
    pytester.makepyfile(test_shots=SCREENSHOT_PROBE)
    chosen = [f"--screenshot={screenshot}"] if screenshot else []
    result = _run(
        pytester,
        f"--base-url={demo.url}",
        "--tracing=off",
        "--html=report.html",
        "--self-contained-html",
        "-s",
        *chosen,
    )
    result.assert_outcomes(passed=1, failed=1)
    expected = screenshot or "off"  # the gate no longer presets pytest-playwright's option
    result.stdout.fnmatch_lines(
        [
            "*keeps screenshot only-on-failure*",
            f"*playwright screenshot option: {expected}*",
        ]
    )
    rows = _report_rows(pytester.path / "report.html")
    shots = [extra for extra in _extras(rows, "test_fails") if extra["name"] == "Screenshot"]
    assert len(shots) == 1
    # Self-contained: the PNG itself is in the report, not a link.
    assert shots[0]["content"].startswith("data:image/png;base64,iVBORw0KGgo")  # a PNG
    assert [e for e in _extras(rows, "test_passes") if e["name"] == "Screenshot"] == []
    folder = _artifact_folder(pytester, "test_fails")
    assert [p.name for p in folder.iterdir() if p.suffix == ".png"] == ["test-failed-1.png"]
    assert not list(_artifact_folder_or_none(pytester, "test_passes"))


def _artifact_folder_or_none(pytester: pytest.Pytester, test_name: str) -> list[Path]:
    root = pytester.path / "gate-artifacts"
    return [p for p in root.iterdir() if test_name in p.name and any(p.glob("*.png"))]


def test_a_favicon_404_is_no_console_error_and_ignores_are_listed(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    from faultserver import FaultServer, json, text

    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.gate("e2e")
        def test_plain_page(gate_page):
            # Chromium logs the favicon 404 after the page has loaded, sometimes after the
            # test would end: wait for that message, so the gate's listener sees it too.
            def favicon(message):
                return "favicon.ico" in (message.location or {}).get("url", "")

            with gate_page.page.expect_console_message(favicon, timeout=15_000):
                gate_page.visit("/")
        """,
        test_known_noise=f"""
        import pytest

        @pytest.mark.gate("e2e")
        def test_deliberate(gate_page):
            gate_page.page.goto("{demo.url}/console-error")
        """,
    )
    page = "<html><body><h1>hello</h1></body></html>"
    with FaultServer() as server:
        server.route("/healthz", json({"status": "ok"}))
        # A page with no <link rel=icon>: Chromium asks for /favicon.ico, which is a 404.
        server.route("/", text(page, content_type="text/html"))
        result = _run(
            pytester,
            f"--base-url={server.url}",
            "--gate-ready-path=/healthz",
            "--gate-e2e-console-errors=fail",
            "--gate-e2e-console-ignore=deliberate console error",
            "-rA",
        )
        favicon_asked = bool(server.requests_for("/favicon.ico"))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*console error(s) ignored (--gate-e2e-console-ignore)*"])
    assert favicon_asked  # the browser's own request, which the gate must not count
    assert "favicon.ico" in result.stdout.str()
