"""Each built-in profile passes against the demo and fails, naming what is missing, against a
server that lacks it."""

from __future__ import annotations

import json as json_module
import re
from dataclasses import dataclass

import pytest

# In-process pytester runs drop modules a run imported first; importing the HTTP stack here
# keeps one httpx and httpcore, so their exception classes stay the same across runs.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import Behaviour, Exchange, FaultServer, json, raw, retry_after, sequence, text
from gatekit import run_smoke
from pytest_opsgate.demo import (
    ADMIN_KEY,
    DEV_KEY,
    READONLY_KEY,
    WEBHOOK_SECRET,
    DemoServer,
)

ALL_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(autouse=True)
def demo_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_KEY", DEV_KEY)
    monkeypatch.setenv("ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("READONLY_KEY", READONLY_KEY)
    monkeypatch.setenv("HOOK_SECRET", WEBHOOK_SECRET)


def run_fault(
    pytester: pytest.Pytester, routes: dict[str, Behaviour], toml: str, *args: str
) -> pytest.RunResult:
    with FaultServer() as server:
        for path, behaviour in routes.items():
            server.route(path, behaviour)
        return run_smoke(pytester, server.url, toml, "--no-gate-ready", *args)


def outcome(result: pytest.RunResult, name: str) -> tuple[str, str]:
    for report in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        if report.nodeid == f"smoke::{name}" and report.when == "call":
            return report.outcome, report.longreprtext
    raise AssertionError(f"no smoke::{name} in {result.stdout.str()}")


def assert_passes(result: pytest.RunResult, *names: str) -> None:
    for name in names:
        assert outcome(result, name)[0] == "passed", outcome(result, name)[1]
    assert result.ret == 0


def assert_fails(result: pytest.RunResult, name: str, *fragments: str) -> None:
    state, message = outcome(result, name)
    assert state == "failed"
    for fragment in fragments:
        assert fragment in message, message
    assert result.ret == 1


# --------------------------------------------------------------------------- security_headers


def test_security_headers_pass_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    result = run_smoke(pytester, demo.url, 'security_headers = { paths = ["/", "/api/health/"] }\n')
    assert_passes(result, "security_headers GET /", "security_headers GET /api/health/")


def test_security_headers_name_each_missing_header(pytester: pytest.Pytester) -> None:
    result = run_fault(pytester, {"/": text("hello")}, "security_headers = true\n")
    assert_fails(
        result,
        "security_headers GET /",
        "security_headers GET /: Content-Security-Policy is missing; send one",
        "(+3 more)",
        "X-Content-Type-Options is missing; send X-Content-Type-Options: nosniff",
        "no frame protection; send X-Frame-Options: DENY or a CSP frame-ancestors directive",
        "Referrer-Policy is missing",
    )
    assert "Strict-Transport-Security" not in outcome(result, "security_headers GET /")[1]


def test_security_headers_on_https_check_hsts_and_report_only(pytester: pytest.Pytester) -> None:
    csp_frames = {**ALL_SECURITY_HEADERS, "content-security-policy": "frame-ancestors 'self'"}
    del csp_frames["x-frame-options"]
    with FaultServer(tls=True) as server:
        server.route(
            "/short",
            text("ok", headers={**ALL_SECURITY_HEADERS, "strict-transport-security": "max-age=60"}),
        )
        server.route("/none", text("ok", headers=ALL_SECURITY_HEADERS))
        server.route(
            "/good",
            text("ok", headers={**csp_frames, "strict-transport-security": "max-age=63072000"}),
        )
        report_only = {k: v for k, v in ALL_SECURITY_HEADERS.items() if "security" not in k}
        report_only["content-security-policy-report-only"] = "default-src 'self'"
        server.route(
            "/ro",
            text("ok", headers={**report_only, "strict-transport-security": "max-age=63072000"}),
        )
        result = run_smoke(
            pytester,
            server.url,
            'security_headers = { paths = ["/short", "/none", "/good", "/ro"] }\n',
            "--no-gate-ready",
            f"--gate-ca-bundle={server.cert_path}",
        )
    assert_fails(
        result,
        "security_headers GET /short",
        "Strict-Transport-Security max-age=60 is below the floor of 15552000 s (hsts_min_age)",
    )
    assert_fails(
        result, "security_headers GET /none", "Strict-Transport-Security is missing on an https"
    )
    assert outcome(result, "security_headers GET /good")[0] == "passed"
    assert_fails(
        result,
        "security_headers GET /ro",
        "Content-Security-Policy is only sent as Content-Security-Policy-Report-Only",
    )


def test_security_headers_in_warn_mode_warn_and_pass(pytester: pytest.Pytester) -> None:
    result = run_fault(pytester, {"/": text("hello")}, 'security_headers = "warn"\n')
    assert outcome(result, "security_headers GET /")[0] == "passed"
    result.stdout.fnmatch_lines(
        [
            "*SmokeFindingWarning: security_headers GET /: Content-Security-Policy is missing*",
            "*note: warning: security_headers GET /: X-Content-Type-Options is missing*",
            "*VERDICT: PASS*",
        ]
    )
    assert result.ret == 0


# --------------------------------------------------------------------------- rate_limit


def test_rate_limit_headers_and_burst_pass_on_the_demo(
    pytester: pytest.Pytester, fresh_demo: DemoServer
) -> None:
    result = run_smoke(
        pytester,
        fresh_demo.url,
        """
        [rate_limit]
        path = "/api/items"
        auth = { header = "X-Api-Key", env = "READONLY_KEY" }
        burst = 65
        """,
        "-rP",
    )
    assert_passes(result, "rate_limit GET /api/items", "rate_limit burst GET /api/items")
    result.stdout.fnmatch_lines(["*GET /api/items: 429 after 60 requests in*"])


def test_rate_limit_headers_missing_or_partial(pytester: pytest.Pytester) -> None:
    result = run_fault(
        pytester,
        {"/none": json({}), "/partial": json({}, headers={"x-ratelimit-limit": "60"})},
        """
        [[rate_limit]]
        path = "/none"
        [[rate_limit]]
        path = "/partial"
        """,
    )
    assert_fails(
        result,
        "rate_limit GET /none",
        "no complete set of rate-limit headers (GET /none -> 200); send X-RateLimit-Limit, "
        "X-RateLimit-Remaining, X-RateLimit-Reset; or RateLimit-Limit",
    )
    assert_fails(
        result,
        "rate_limit GET /partial",
        "found only X-RateLimit-Limit without X-RateLimit-Remaining, X-RateLimit-Reset",
    )


def test_burst_without_any_429_fails(pytester: pytest.Pytester) -> None:
    with FaultServer() as server:
        server.route("/open", json({}, headers={"ratelimit": "r=1", "ratelimit-policy": "q=9"}))
        result = run_smoke(
            pytester, server.url, '[rate_limit]\npath = "/open"\nburst = 7\n', "--no-gate-ready"
        )
        sent = len(server.requests_for("/open"))
    assert outcome(result, "rate_limit GET /open")[0] == "passed"
    assert_fails(
        result,
        "rate_limit burst GET /open",
        "GET /open: 7 requests in",
        "met no 429; the endpoint is not rate limited at this rate (burst = 7)",
    )
    assert sent == 1 + 7


def test_burst_429_needs_retry_after_and_is_honoured(pytester: pytest.Pytester) -> None:
    ok = json({}, headers={"ratelimit": "r=1", "ratelimit-policy": "q=9"})
    result = run_fault(
        pytester,
        {
            "/bare": sequence([ok, ok, raw(b"", status=429)]),
            "/polite": sequence([ok, ok, retry_after(1), ok]),
        },
        """
        [[rate_limit]]
        path = "/bare"
        burst = 10
        [[rate_limit]]
        path = "/polite"
        burst = 10
        """,
        "-rP",
    )
    assert_fails(
        result, "rate_limit burst GET /bare", "the 429 after 2 requests has no Retry-After header"
    )
    assert outcome(result, "rate_limit burst GET /polite")[0] == "passed"
    result.stdout.fnmatch_lines(["*recovered after waiting Retry-After 1: 200*"])


# --------------------------------------------------------------------------- auth


AUTH = '[auth]\nendpoints = ["{path}"]\ncredential = {{ header = "X-Api-Key", env = "{env}" }}\n'


def test_auth_passes_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    result = run_smoke(
        pytester,
        demo.url,
        """
        [[auth]]
        endpoints = ["GET /api/audit"]
        credential = { header = "X-Api-Key", env = "ADMIN_KEY" }
        [[auth]]
        endpoints = ["POST /api/preview"]
        credential = { scheme = "Bearer", env = "DEV_KEY" }
        """,
    )
    assert_passes(result, "auth GET /api/audit", "auth POST /api/preview")


def test_auth_fails_on_an_open_endpoint(pytester: pytest.Pytester) -> None:
    result = run_fault(
        pytester,
        {"/api/open": json({"secret": "data"})},
        AUTH.format(path="/api/open", env="ADMIN_KEY"),
    )
    assert_fails(
        result,
        "auth GET /api/open",
        "GET /api/open without a credential answered 200, expected one of 401, 403: the endpoint "
        "is open to anyone",
        "GET /api/open with a wrong credential (X-Api-Key from $ADMIN_KEY) answered 200, "
        "expected 401",
    )


def test_auth_fails_when_the_right_credential_is_refused(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    result = run_smoke(
        pytester,
        demo.url,
        AUTH.format(path="/api/audit", env="DEV_KEY"),
    )
    assert_fails(
        result,
        "auth GET /api/audit",
        "GET /api/audit with the right credential (X-Api-Key from $DEV_KEY) answered 403, "
        "expected 2xx",
    )


# --------------------------------------------------------------------------- csrf

CSRF = """
[[csrf]]
path = "/form"
form = { display_name = "opsgate" }
token_cookie = "csrftoken"
token_field = "csrf_token"
[[csrf]]
path = "/api/session/logout"
token_path = "/form"
token_cookie = "csrftoken"
token_header = "X-CSRF-Token"
"""


def test_csrf_passes_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    result = run_smoke(pytester, demo.url, CSRF)
    assert_passes(result, "csrf POST /form", "csrf POST /api/session/logout")


def test_csrf_fails_when_a_post_without_token_is_accepted(pytester: pytest.Pytester) -> None:
    result = run_fault(pytester, {"/form": text("saved")}, '[csrf]\npath = "/form"\n')
    assert_fails(
        result,
        "csrf POST /form",
        "POST /form without a CSRF token answered 200, expected it refused (one of 400, 403, "
        "419, 422)",
    )


def test_csrf_positive_control_catches_a_server_that_refuses_everything(
    pytester: pytest.Pytester,
) -> None:
    cookie = {"set-cookie": "csrftoken=abcdefghijklmnopqrstuvwxyz123456; Path=/"}
    result = run_fault(
        pytester,
        {"/token": text("form", headers=cookie), "/form": text("no", status=403)},
        """
        [csrf]
        path = "/form"
        token_path = "/token"
        token_cookie = "csrftoken"
        token_field = "csrf_token"
        """,
    )
    assert_fails(
        result,
        "csrf POST /form",
        "POST /form with the CSRF token answered 403, expected one of 2xx, 3xx",
        "positive control",
    )


# --------------------------------------------------------------------------- webhook_hmac

WEBHOOK = '[webhook_hmac]\npath = "/api/webhooks/incoming"\nenv = "HOOK_SECRET"\n'


def test_webhook_hmac_passes_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    assert_passes(
        run_smoke(pytester, demo.url, WEBHOOK), "webhook_hmac POST /api/webhooks/incoming"
    )


def test_webhook_hmac_fails_when_signatures_are_not_checked(pytester: pytest.Pytester) -> None:
    result = run_fault(pytester, {"/api/webhooks/incoming": json({}, status=202)}, WEBHOOK)
    assert_fails(
        result,
        "webhook_hmac POST /api/webhooks/incoming",
        "accepted a tampered body carrying the original signature (202, expected 4xx)",
        "accepted a body with no X-Signature header (202, expected 4xx): anyone can post to it",
    )


def test_webhook_hmac_with_the_wrong_secret_or_format_is_refused(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("HOOK_SECRET", "not-the-demo-secret")
    result = run_smoke(pytester, demo.url, WEBHOOK)
    assert_fails(
        result,
        "webhook_hmac POST /api/webhooks/incoming",
        "refused a body signed with $HOOK_SECRET (X-Signature, sha256, format 'sha256={hex}'): "
        "401, expected 2xx",
    )
    assert "not-the-demo-secret" not in result.stdout.str()


# --------------------------------------------------------------------------- cors

CORS = """
[cors]
origin = "http://localhost:3000"
paths = ["/api/items"]
request_headers = ["X-Api-Key"]
"""


@dataclass
class EchoOrigin(Behaviour):
    """A CORS misconfiguration: every origin is allowed by echoing it."""

    async def serve(self, ex: Exchange) -> bool:
        origin = ex.request.headers.get("origin", "")
        headers = {
            "access-control-allow-origin": origin,
            "access-control-allow-methods": "GET, POST",
            "access-control-allow-headers": "x-api-key",
        }
        return await ex.send(204, b"", headers)


def test_cors_passes_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    assert_passes(run_smoke(pytester, demo.url, CORS), "cors OPTIONS /api/items")


def test_cors_fails_without_allow_headers(pytester: pytest.Pytester) -> None:
    result = run_fault(pytester, {"/api/items": raw(b"", status=204)}, CORS)
    assert_fails(
        result,
        "cors OPTIONS /api/items",
        "preflight OPTIONS /api/items from http://localhost:3000: Access-Control-Allow-Origin is "
        "missing, so browsers on http://localhost:3000 cannot call /api/items",
        "Access-Control-Allow-Headers (missing) does not allow X-Api-Key",
    )


def test_cors_fails_when_any_origin_is_echoed(pytester: pytest.Pytester) -> None:
    result = run_fault(pytester, {"/api/items": EchoOrigin()}, CORS)
    assert_fails(
        result,
        "cors OPTIONS /api/items",
        "Access-Control-Allow-Origin echoes any origin (it allowed "
        "https://opsgate-cors-probe.invalid)",
    )


# --------------------------------------------------------------------------- negative_control


def test_negative_control_passes_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    assert_passes(run_smoke(pytester, demo.url, "negative_control = true\n"), "negative_control")


def test_negative_control_fails_on_a_catch_all_server(pytester: pytest.Pytester) -> None:
    """F18: a server that answers 200 everywhere makes every other check meaningless."""
    with FaultServer(catch_all=True) as server:
        pytester.makefile(".toml", opsgate="")
        result = pytester.runpytest(
            "--gate=smoke",
            f"--base-url={server.url}",
            "--no-gate-ready",
            "--gate-profile=negative_control",
            "-p",
            "no:cacheprovider",
        )
    assert_fails(
        result,
        "negative_control",
        "answered 200 for a path that cannot exist: the server answers every path",
    )


def test_negative_control_counts_under_its_configured_path_so_baselines_compare_it(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    """Issue 17.9: a random path each run was "missing now" plus "new" in every baseline."""
    toml = 'negative_control = { paths = ["/opsgate-gone-{random}"] }\n'
    baseline = pytester.path / "baseline.json"
    evidence = pytester.path / "evidence"
    saved = run_smoke(pytester, demo.url, toml, f"--gate-save-baseline={baseline}")
    assert saved.ret == 0
    again = run_smoke(
        pytester,
        demo.url,
        toml,
        f"--gate-baseline={baseline}",
        f"--gate-artifacts={evidence}",
        "-rP",
    )
    # One request per check is too thin to judge, but every endpoint is found in both runs:
    # INCONCLUSIVE for the thinness, never ERROR for an endpoint "missing now".
    assert again.ret == 12, again.stdout.str()
    report = json_module.loads((evidence / "gate.json").read_text())
    scopes = {row["scope"] for row in report["endpoints"]}
    assert "GET /opsgate-gone-{random}" in scopes
    assert not any(scope.startswith("GET /opsgate-gone-") and "{" not in scope for scope in scopes)
    assert report["baseline"]["missing"] == []
    rows = {(row["endpoint"], row["status"]) for row in report["baseline"]["rows"]}
    assert ("GET /opsgate-gone-{random} (smoke)", "thin") in rows
    assert {status for _, status in rows} == {"thin"}, rows
    # The request itself still went to a fresh random path.
    assert re.search(r"GET /opsgate-gone-[0-9a-f]{16} -> 404", again.stdout.str())


# --------------------------------------------------------------------------- health_schema


def test_health_schema_passes_on_the_demo(pytester: pytest.Pytester, demo: DemoServer) -> None:
    assert_passes(run_smoke(pytester, demo.url, "health_schema = true\n"), "health_schema")


def test_health_schema_names_what_the_document_lacks(pytester: pytest.Pytester) -> None:
    result = run_fault(
        pytester,
        {
            "/thin": json({"status": "ok"}),
            "/liar": json({"status": "ok", "checks": {"redis": {"status": "fail"}}, "version": 3}),
            "/spa": text("<html></html>", content_type="text/html"),
        },
        """
        [[health_schema]]
        path = "/thin"
        [[health_schema]]
        path = "/liar"
        [[health_schema]]
        path = "/spa"
        """,
    )
    assert_fails(
        result,
        "health_schema GET /thin",
        "GET /thin: the health body has no 'checks' (required: status, checks, version) (+1 more)",
        "GET /thin: the health body has no 'version'",
    )
    assert_fails(
        result,
        "health_schema GET /liar",
        "'status' is 'ok' but checks.redis is 'fail': the summary hides a failing dependency",
    )
    assert_fails(
        result, "health_schema GET /spa", "GET /spa answered text/html; charset=utf-8, not a JSON"
    )
