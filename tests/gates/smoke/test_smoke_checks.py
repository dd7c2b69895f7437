"""Declarative smoke checks through pytest: expectations, secrets from the environment,
repetitions with SLOs, rate-limit retries, and hostile targets (FAULTS.md F4, F7, F13-F17, F19)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

# In-process pytester runs drop modules a run imported first; importing the HTTP stack here
# keeps one httpx and httpcore, so their exception classes stay the same across runs.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import (
    FaultServer,
    broken_json,
    deep_json,
    drip,
    echo,
    endless,
    gzip_bomb,
    hang,
    huge,
    json,
    nan_json,
    raw,
    redirect,
    reset_mid_body,
    retry_after,
    sequence,
    short_body,
    text,
)
from gatekit import run_smoke
from pytest_opsgate.demo import ADMIN_KEY, DEV_KEY, DemoOptions, RateLimit, start_demo

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_opsgate.demo import DemoServer


REQUEST_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def roomy_demo() -> Iterator[DemoServer]:
    """A demo whose rate limit no test of this module reaches."""
    server = start_demo(DemoOptions(rate_limit=RateLimit(100_000, 60.0)))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def demo_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_KEY", DEV_KEY)
    monkeypatch.setenv("ADMIN_KEY", ADMIN_KEY)


def outcomes(result: pytest.RunResult) -> dict[str, tuple[str, str]]:
    """nodeid -> (outcome, message) of each smoke item."""
    found: dict[str, tuple[str, str]] = {}
    for report in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        if report.when == "call" or (report.when == "setup" and not report.passed):
            message = report.longreprtext
            found[report.nodeid] = (report.outcome, message)
    return found


def test_checks_pass_and_are_named_by_method_and_path(
    pytester: pytest.Pytester, roomy_demo: DemoServer
) -> None:
    result = run_smoke(
        pytester,
        roomy_demo.url,
        """
        [[checks]]
        path = "/api/items"
        auth = { header = "X-Api-Key", env = "DEV_KEY" }
        query = { limit = 2 }
        content_type = "application/json"
        json_has = ["items", "items.0.name", "count"]
        json_equals = { limit = 2, offset = 0 }
        headers_has = ["X-RateLimit-Limit"]
        headers_match = { Cache-Control = "^no-store$" }
        latency = "10s"

        [[checks]]
        method = "POST"
        path = "/api/items"
        auth = { scheme = "Bearer", env = "DEV_KEY" }
        json = { name = "smoke", price = 2.5 }
        status = 201
        json_equals = { name = "smoke", price = 2.5 }

        [[checks]]
        path = "/healthz"
        body_contains = "ok"
        """,
        "-v",
    )
    result.stdout.fnmatch_lines(
        [
            "smoke::GET /api/items PASSED*",
            "smoke::POST /api/items PASSED*",
            "smoke::GET /healthz PASSED*",
            "*VERDICT: PASS (exit code 0)*",
        ]
    )
    assert result.ret == 0


def test_a_failing_check_lists_every_problem(
    pytester: pytest.Pytester, roomy_demo: DemoServer
) -> None:
    result = run_smoke(
        pytester,
        roomy_demo.url,
        """
        [[checks]]
        path = "/api/items"
        auth = { header = "X-Api-Key", env = "DEV_KEY" }
        status = 201
        content_type = "text/html"
        json_has = ["results", "items.99"]
        json_equals = { offset = 5, "limit" = "50" }
        headers_has = ["X-Request-Id"]
        headers_match = { Cache-Control = "public" }
        body_contains = "needle"
        """,
    )
    assert result.ret == 1
    (outcome, message) = outcomes(result)["smoke::GET /api/items"]
    assert outcome == "failed"
    for expected in [
        "GET /api/items: status 200, expected 201",
        "content type application/json, expected text/html",
        "JSON field 'results' is missing: the body has no 'results' (keys: count, items, limit,",
        "JSON field 'items.99' is missing: items is a list of ",
        ", with no item '99'",
        "JSON field 'offset' is 0, expected 5",
        "JSON field 'limit' is 50, expected \"50\"",
        "response header X-Request-Id is missing",
        "response header Cache-Control: 'no-store' does not match 'public'",
        "the body does not contain 'needle'",
        "response: 200 application/json: {",
    ]:
        assert expected in message
    assert "Traceback" not in message


def test_an_expected_error_status_passes_and_a_redirect_is_explained(
    pytester: pytest.Pytester, roomy_demo: DemoServer
) -> None:
    result = run_smoke(
        pytester,
        roomy_demo.url,
        """
        [[checks]]
        path = "/api/audit"
        auth = { header = "X-Api-Key", env = "DEV_KEY" }
        status = [401, 403]

        [[checks]]
        path = "/account"

        [[checks]]
        name = "login page after the redirect"
        path = "/account"
        follow_redirects = true
        content_type = "text/html"
        """,
    )
    found = outcomes(result)
    assert found["smoke::GET /api/audit"][0] == "passed"
    outcome, message = found["smoke::GET /account"]
    assert outcome == "failed"
    assert "status 302, expected 2xx (redirect to /login?next=/account; set follow_redirects" in (
        message
    )
    assert found["smoke::GET /account (login page after the redirect)"][0] == "passed"


def test_missing_secret_is_an_error_of_that_check_or_skips_an_optional_one(
    pytester: pytest.Pytester, roomy_demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_EXPORTED", raising=False)
    result = run_smoke(
        pytester,
        roomy_demo.url,
        """
        [[checks]]
        path = "/api/items"
        auth = { header = "X-Api-Key", env = "NOT_EXPORTED" }

        [[checks]]
        path = "/api/audit"
        auth = { header = "X-Api-Key", env = "NOT_EXPORTED" }
        optional = true

        [[checks]]
        path = "/healthz"
        """,
        "-rs",
    )
    found = outcomes(result)
    outcome, message = found["smoke::GET /api/items"]
    # Nothing was sent, so the deploy is not known to be broken: ERROR, not FAIL.
    assert outcome == "failed"  # pytest's word; the gate judges it ERROR (exit 11)
    assert "environment variable NOT_EXPORTED is not set; export it or mark the check optional" in (
        message
    )
    assert found["smoke::GET /api/audit"][0] == "skipped"
    result.stdout.fnmatch_lines(
        ["*environment variable NOT_EXPORTED is not set (optional = true)*"]
    )
    assert found["smoke::GET /healthz"][0] == "passed"
    assert "INTERNALERROR" not in result.stdout.str()
    assert result.ret == 11
    result.stdout.fnmatch_lines(["VERDICT: ERROR (exit code 11)"])


def test_repeat_with_slo_passes_fails_and_reports_the_table(
    pytester: pytest.Pytester, roomy_demo: DemoServer
) -> None:
    toml = """
        [[checks]]
        path = "/healthz"
        repeat = 8
        slo = ["{slo}", "error_rate < 1%"]
        """
    passing = run_smoke(pytester, roomy_demo.url, toml.replace("{slo}", "p95 < 10s"))
    assert passing.ret == 0
    passing.stdout.fnmatch_lines(
        ["*GET /healthz*p95*< 10 s*8*PASSED*", "*GET /healthz*error_rate*0 %*< 1 %*8*PASSED*"]
    )
    failing = run_smoke(pytester, roomy_demo.url, toml.replace("{slo}", "max < 1us"))
    assert failing.ret == 1
    outcome, message = outcomes(failing)["smoke::GET /healthz"]
    assert outcome == "failed"
    assert "GET /healthz: SLO breached:" in message
    assert "FAILED GET /healthz max:" in message
    failing.stdout.fnmatch_lines(["*GET /healthz*max*< 0.001 ms*8*FAILED*", "*VERDICT: FAIL*"])


def test_too_few_repetitions_for_min_samples_is_an_error_not_a_pass(
    pytester: pytest.Pytester, roomy_demo: DemoServer
) -> None:

    result = run_smoke(
        pytester,
        roomy_demo.url,
        '[[checks]]\npath = "/healthz"\nrepeat = 3\nslo = ["p95 < 10s"]\n',
        "--gate-min-samples=10",
    )
    assert result.ret == 11
    result.stdout.fnmatch_lines(
        ["*3 of 3 requests*succeeded, fewer than the 10 successful samples*", "*VERDICT: ERROR*"]
    )


def test_latency_budget_of_one_request(pytester: pytest.Pytester) -> None:
    with start_demo(DemoOptions(latency_ms=60)) as slow:
        result = run_smoke(
            pytester, slow.url, '[[checks]]\npath = "/api/public/items"\nlatency = "5ms"\n'
        )
    (outcome, message) = outcomes(result)["smoke::GET /api/public/items"]
    assert outcome == "failed"
    assert "ms, over the 5 ms latency budget" in message


def test_credentials_travel_where_configured(pytester: pytest.Pytester) -> None:
    with FaultServer() as server:
        server.route("/echo", echo())
        run_smoke(
            pytester,
            server.url,
            """
            [[checks]]
            path = "/echo"
            name = "header"
            auth = { header = "X-Api-Key", env = "DEV_KEY" }
            [[checks]]
            path = "/echo"
            name = "bearer"
            auth = { scheme = "Bearer", env = "DEV_KEY" }
            [[checks]]
            path = "/echo"
            name = "query"
            auth = { query = "api_key", env = "DEV_KEY" }
            [[checks]]
            method = "POST"
            path = "/echo"
            name = "form"
            form = { a = "1", b = 2 }
            """,
            "--no-gate-ready",
        )
        seen = server.requests_for("/echo")
    assert seen[0].headers["x-api-key"] == DEV_KEY
    assert seen[1].headers["authorization"] == f"Bearer {DEV_KEY}"
    assert seen[2].query == f"api_key={DEV_KEY}"
    assert seen[3].body == b"a=1&b=2"
    assert seen[3].headers["content-type"] == "application/x-www-form-urlencoded"


def test_429_is_retried_after_retry_after_within_the_budget(pytester: pytest.Pytester) -> None:
    with FaultServer() as server:
        server.route("/limited", sequence([retry_after(1), json({"ok": True})]))
        result = run_smoke(
            pytester, server.url, '[[checks]]\npath = "/limited"\n', "--no-gate-ready"
        )
        seen = len(server.requests_for("/limited"))
    assert result.ret == 0
    assert seen == 2


def test_429_with_a_day_long_retry_after_fails_at_once(pytester: pytest.Pytester) -> None:
    """F19: the wait is capped by the check's remaining budget, then the check fails."""
    with FaultServer() as server:
        server.route("/limited", retry_after(86400))
        started = time.monotonic()
        result = run_smoke(
            pytester,
            server.url,
            '[[checks]]\npath = "/limited"\nbudget = "5s"\n',
            "--no-gate-ready",
        )
        elapsed = time.monotonic() - started
    outcome, message = outcomes(result)["smoke::GET /limited"]
    assert outcome == "failed"
    assert (
        "GET /limited answered 429 Too Many Requests (Retry-After: 86400 (24 h)); waiting 24 h"
        in (message)
    )
    assert "remaining budget of" in message
    assert elapsed < 5 + 10


FAULTS = [
    ("/hang", hang(), "", "total deadline 1.5 s exceeded"),  # F4
    ("/drip", drip(b"x" * 50, 0.25), "", "total deadline 1.5 s exceeded"),  # F13
    ("/reset", reset_mid_body(), "", "connection broken after"),  # F14
    ("/short", short_body(), "", "protocol error after 100 body bytes"),  # F14
    ("/huge", huge(), "", "response body exceeded the 64 KiB cap"),  # F15
    ("/endless", endless(), "", "response body exceeded the 64 KiB cap"),  # F15
    ("/bomb", gzip_bomb(), 'json_has = ["status"]', "response body exceeded the 64 KiB cap"),  # F16
    (
        "/broken",
        broken_json(),
        'json_has = ["status"]',
        "returned invalid JSON at line 1 column 35",
    ),
    ("/nan", nan_json(), 'json_has = ["status"]', "returned NaN in JSON, which is not valid JSON"),
    ("/deep", deep_json(depth=1000), 'json_has = ["status"]', "JSON nested deeper than 200 levels"),
    (
        "/spa",
        text("<!doctype html><title>Login</title>", content_type="text/html"),
        'content_type = "application/json"\njson_has = ["status"]',
        "content type text/html; charset=utf-8, expected application/json",
    ),  # F7
    ("/gone", raw(b"", status=503), "", "status 503, expected 2xx"),
    ("/loop", redirect("/loop"), "follow_redirects = true", "too many redirects"),
]


def test_hostile_targets_fail_with_a_reason_within_the_timeout(pytester: pytest.Pytester) -> None:
    toml = "".join(
        f'[[checks]]\npath = "{path}"\n{extra}\n' for path, _behaviour, extra, _reason in FAULTS
    )
    with FaultServer() as server:
        for path, behaviour, _extra, _reason in FAULTS:
            server.route(path, behaviour)
        started = time.monotonic()
        result = run_smoke(
            pytester,
            server.url,
            toml,
            "--no-gate-ready",
            f"--gate-request-timeout={REQUEST_TIMEOUT_S}",
            "--gate-max-body=64KiB",
            f"--gate-artifacts={pytester.path / 'evidence'}",
        )
        elapsed = time.monotonic() - started
    found = outcomes(result)
    for path, _behaviour, _extra, reason in FAULTS:
        outcome, message = found[f"smoke::GET {path}"]
        assert outcome == "failed", path
        assert reason in message, (path, message)
        assert "Traceback" not in message
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    result.stdout.fnmatch_lines(["*VERDICT: FAIL (exit code 1)*"])
    assert result.ret == 1
    # Two requests wait out the deadline; everything else answers at once.
    assert elapsed < 2 * REQUEST_TIMEOUT_S + 20
    dumps = {p.parent.name for p in (pytester.path / "evidence").rglob("exchanges.txt")}
    assert {"smoke-GET-hang", "smoke-GET-bomb"} <= dumps
