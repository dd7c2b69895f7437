"""The smoke gate end to end: zero configuration, a project with only opsgate.toml, the shipped
suite, xdist, and secrets kept out of every file a run writes."""

from __future__ import annotations

import re
import shutil
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# In-process pytester runs drop modules a run imported first; importing the HTTP stack here
# keeps one httpx and httpcore, so their exception classes stay the same across runs.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import FaultServer, echo, json, text
from pytest_opsgate.demo import (
    ADMIN_KEY,
    DEV_KEY,
    READONLY_KEY,
    WEBHOOK_SECRET,
    DemoServer,
    start_demo,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


REPO_ROOT = Path(__file__).resolve().parents[3]
SUITE = REPO_ROOT / "suites" / "smoke"


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variables the shipped suite reads its secrets from."""
    monkeypatch.setenv("DEMO_DEV_KEY", DEV_KEY)
    monkeypatch.setenv("DEMO_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("DEMO_READONLY_KEY", READONLY_KEY)
    monkeypatch.setenv("DEMO_WEBHOOK_SECRET", WEBHOOK_SECRET)


@pytest.fixture
def default_demo() -> Iterator[DemoServer]:
    """A demo with its default rate limit, which the suite's burst must meet."""
    server = start_demo()
    try:
        yield server
    finally:
        server.stop()


def statuses(output: str) -> dict[str, str]:
    """nodeid -> PASSED/FAILED/SKIPPED/ERROR from the -rA short summary."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(PASSED|FAILED|SKIPPED|ERROR) (\S.*?)(?: - .*)?$", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


def test_without_gate_an_opsgate_toml_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", opsgate='[[checks]]\npath = "/"\n')
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_project_with_only_opsgate_toml_gets_a_working_gate(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makefile(
        ".toml",
        opsgate="""
        negative_control = true

        [[checks]]
        path = "/api/health/"
        json_equals = { status = "ok" }
        """.replace("\n        ", "\n"),
    )
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}", "-v")
    result.stdout.fnmatch_lines(
        [
            "*opsgate: smoke config opsgate.toml (1 checks, profiles negative_control)*",
            "*collected 2 items",
            "smoke::GET /api/health/ PASSED*",
            "smoke::negative_control PASSED*",
            "*VERDICT: PASS (exit code 0)*",
        ]
    )
    assert result.ret == 0


def test_zero_configuration_runs_the_builtin_checks_and_warns_about_headers(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}", "-rA")
    found = statuses(result.stdout.str())
    assert found == {
        "smoke::readiness": "PASSED",
        "smoke::health_schema": "PASSED",
        "smoke::negative_control": "PASSED",
        "smoke::security_headers GET /": "PASSED",
        "smoke::rate_limit GET /": "PASSED",
    }
    result.stdout.fnmatch_lines(
        [
            "*SmokeFindingWarning: rate_limit GET /: no complete set of rate-limit headers*",
            "*ready after * s at /api/health/; version *",
            "*note: warning: rate_limit GET /: no complete set of rate-limit headers*",
            "*VERDICT: PASS (exit code 0)*",
        ]
    )
    assert result.ret == 0


def test_zero_configuration_fails_a_catch_all_server_and_only_warns_on_headers(
    pytester: pytest.Pytester,
) -> None:
    with FaultServer(catch_all=True) as server:
        server.route("/api/health/", json({"status": "ok", "version": "9"}))
        result = pytester.runpytest("--gate=smoke", f"--base-url={server.url}", "-rA")
    found = statuses(result.stdout.str())
    assert found["smoke::negative_control"] == "FAILED"
    assert found["smoke::security_headers GET /"] == "PASSED"
    assert found["smoke::readiness"] == "PASSED"
    result.stdout.fnmatch_lines(
        [
            "*SmokeFindingWarning: security_headers GET /: Content-Security-Policy is missing*",
            "*VERDICT: FAIL (exit code 1)*",
        ]
    )
    assert result.ret == 1


def test_security_headers_key_turns_builtin_warnings_into_failures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".toml", opsgate='builtin_checks = true\nsecurity_headers = "fail"\n')
    with FaultServer() as server:
        server.route("/api/health/", json({"status": "ok"}))
        server.route("/", text("home"))
        result = pytester.runpytest("--gate=smoke", f"--base-url={server.url}", "-rA")
    found = statuses(result.stdout.str())
    assert found["smoke::security_headers GET /"] == "FAILED"
    assert found["smoke::readiness"] == "PASSED"
    assert found["smoke::negative_control"] == "PASSED"


def test_no_builtin_checks_when_the_project_has_tests_of_its_own(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.gate('smoke')\n"
        "def test_up(gate_client):\n    assert gate_client.get('/healthz').status_code == 200\n"
    )
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}", "-rA")
    assert statuses(result.stdout.str()) == {
        "test_no_builtin_checks_when_the_project_has_tests_of_its_own.py::test_up": "PASSED"
    }
    assert result.ret == 0


def _run_suite(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--gate=smoke",
        f"--base-url={url}",
        "-p",
        "no:cacheprovider",
        "-rA",
        "--gate-slo=GET /api/audit: max < 30s",
        *args,
    )


def test_shipped_suite_passes_against_the_demo_alone_and_with_xdist(
    pytester: pytest.Pytester, demo_env: None
) -> None:
    shutil.copytree(SUITE, pytester.path / "suites" / "smoke")
    results = {}
    for workers in ("0", "2"):
        with start_demo() as server:
            results[workers] = _run_suite(pytester, server.url, "-n", workers)
    serial, parallel = results["0"], results["2"]
    assert serial.ret == 0, serial.stdout.str()
    assert parallel.ret == 0, parallel.stdout.str()
    found = statuses(serial.stdout.str())
    assert set(found.values()) == {"PASSED"}
    for name in [
        "smoke::health_schema",
        "smoke::negative_control GET /opsgate-missing-{random}",
        "smoke::security_headers GET /",
        "smoke::rate_limit GET /api/items",
        "smoke::rate_limit burst GET /api/items",
        "smoke::auth GET /api/audit",
        "smoke::csrf POST /api/session/logout",
        "smoke::webhook_hmac POST /api/webhooks/incoming",
        "smoke::cors OPTIONS /api/items",
        "smoke::GET /api/audit (dev key may not read the audit log)",
        "suites/smoke/test_items.py::test_a_listed_item_can_be_fetched_by_id",
        # [openapi]: the demo's GET operations, checked against its document.
        "openapi::GET /api/items (listItems)",
        "openapi::GET /api/items/{id} (getItem)",
        "openapi::GET /api/audit (listAuditEvents)",
    ]:
        assert found[name] == "PASSED"
    assert statuses(parallel.stdout.str()) == found
    for result in (serial, parallel):
        # Per-check SLOs from the workers and the run's SLO over merged samples.
        result.stdout.fnmatch_lines(
            [
                "*GET /api/items*p95*< 300 ms*20*PASSED*",
                "*GET /api/items*error_rate*0 %*< 1 %*20*PASSED*",
                "*GET /api/audit*max*< 30 s*6*PASSED*",
                "*VERDICT: PASS (exit code 0)*",
            ]
        )


def test_failing_run_with_xdist_reports_the_same_failures(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makefile(
        ".toml",
        opsgate=textwrap.dedent(
            """
            [[checks]]
            path = "/healthz"
            repeat = 6
            slo = ["max < 1us"]
            [[checks]]
            path = "/api/public/items"
            repeat = 4
            slo = ["p95 < 30s"]
            [[checks]]
            path = "/nowhere"
            """
        ),
    )
    serial = pytester.runpytest_subprocess("--gate=smoke", f"--base-url={demo.url}", "-rA")
    parallel = pytester.runpytest_subprocess(
        "--gate=smoke", f"--base-url={demo.url}", "-rA", "-n", "2"
    )
    expected = {
        "smoke::GET /healthz": "FAILED",
        "smoke::GET /api/public/items": "PASSED",
        "smoke::GET /nowhere": "FAILED",
    }
    for result in (serial, parallel):
        assert statuses(result.stdout.str()) == expected
        result.stdout.fnmatch_lines(
            [
                "*GET /healthz*max*< 0.001 ms*6*FAILED*",
                "*GET /api/public/items*p95*< 30 s*4*PASSED*",
                "*VERDICT: FAIL (exit code 1)*",
            ]
        )
        assert result.ret == 1


SENTINELS = {
    "header": "sntl-hdr-7f3a9c2e51",
    "query": "sntl-qry-0d4b8e6a73",
    "env": "sntl-env-c91f2a7b46",
}


def test_planted_secrets_appear_in_no_file_the_run_writes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("SMOKE_TOKEN", SENTINELS["env"])
    pytester.makefile(
        ".toml",
        opsgate=textwrap.dedent(
            f"""
            [[checks]]
            path = "/echo?access_token={SENTINELS["query"]}"
            headers = {{ X-Api-Key = "{SENTINELS["header"]}" }}
            auth = {{ scheme = "Bearer", env = "SMOKE_TOKEN" }}
            status = 201
            [checks.json_equals]
            "headers.authorization" = "-"
            "headers.x-api-key" = "-"
            query = "-"

            [[checks]]
            path = "/echo"
            name = "query credential"
            auth = {{ query = "token", env = "SMOKE_TOKEN" }}
            json_equals = {{ query = "no" }}
            """
        ),
    )
    config_file = pytester.path / "opsgate.toml"
    started = time.time()
    with FaultServer() as server:
        server.route("/echo", echo())
        result = pytester.runpytest_subprocess(
            "--gate=smoke",
            f"--base-url={server.url}",
            "--no-gate-ready",
            "-rA",
            "-v",
            "--html=report.html",
            "--self-contained-html",
            "--junitxml=junit.xml",
            f"--gate-artifacts={pytester.path / 'evidence'}",
        )
        received = server.requests_for("/echo")
    assert result.ret == 1
    # The secrets really went out, so finding none below means they were redacted.
    assert received[0].headers["x-api-key"] == SENTINELS["header"]
    assert received[0].headers["authorization"] == f"Bearer {SENTINELS['env']}"
    assert SENTINELS["query"] in received[0].query
    assert received[1].query == f"token={SENTINELS['env']}"
    written = [
        path
        for path in pytester.path.rglob("*")
        if path.is_file() and path != config_file and path.stat().st_mtime >= started - 1
    ]
    names = {path.name for path in written}
    assert {"report.html", "junit.xml", "exchanges.txt", "exchanges.json"} <= names
    evidence = (pytester.path / "evidence").rglob("exchanges.txt")
    assert any("[REDACTED]" in path.read_text() for path in evidence)
    output = result.stdout.str() + result.stderr.str()
    assert "JSON field 'headers.authorization' is \"[REDACTED]\"" in output
    for where, secret in SENTINELS.items():
        for path in written:
            assert secret.encode() not in path.read_bytes(), f"{where} secret in {path}"
        assert secret not in output, f"{where} secret in the terminal output"
