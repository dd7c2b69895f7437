"""Tests of the bundled demo service, over real sockets on loopback."""

from __future__ import annotations

import dataclasses
import json
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pytest_opsgate.demo import (
    ADMIN_KEY,
    DEV_KEY,
    LOAD_KEY,
    READONLY_KEY,
    WEBHOOK_SECRET,
    DemoOptions,
    DemoServer,
    RateLimit,
    start_demo,
    webhook_signature,
)
from pytest_opsgate.demo._accesslog import loggable_target

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
DRAFT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def key(value: str) -> dict[str, str]:
    return {"X-Api-Key": value}


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    with start_demo(port=0) as server:
        yield server


@pytest.fixture
def live(demo: DemoServer) -> Iterator[DemoServer]:
    """The shared demo; options flipped by the test are restored afterwards."""
    saved = {f.name: getattr(demo.options, f.name) for f in dataclasses.fields(demo.options)}
    yield demo
    for name, value in saved.items():
        setattr(demo.options, name, value)


@pytest.fixture
def client(demo: DemoServer) -> Iterator[httpx.Client]:
    # Each test starts with fresh windows, so the shared 60/60s limit never bites.
    demo.reset_rate_limits()
    with httpx.Client(base_url=demo.url, timeout=10) as http:
        yield http


# --- health, liveness, readiness ------------------------------------------------------


def test_health_reports_ok_checks_and_version(client: httpx.Client) -> None:
    response = client.get("/api/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["db"]["status"] == "ok"
    assert isinstance(body["checks"]["db"]["latency_ms"], float)
    assert body["checks"]["migrations"] == {"status": "ok", "pending_count": 0}
    assert body["checks"]["redis"] == {"status": "ok"}
    assert body["version"] == metadata.version("pytest-opsgate")
    assert client.get("/ready").json() == {"status": "ready"}


def test_degraded_health_answers_200_but_is_not_ready(
    live: DemoServer, client: httpx.Client
) -> None:
    live.options.degraded = True
    response = client.get("/api/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"]["status"] == "fail"
    assert client.get("/ready").status_code == 503


def test_starting_health_answers_503_with_pending_migrations(
    live: DemoServer, client: httpx.Client
) -> None:
    live.options.startup_delay = 3600
    response = client.get("/api/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "starting"
    assert body["checks"]["migrations"]["status"] == "pending"
    assert body["checks"]["migrations"]["pending_count"] > 0
    assert int(response.headers["Retry-After"]) > 0
    assert client.get("/ready").status_code == 503
    liveness = client.get("/healthz")
    assert (liveness.status_code, liveness.text) == (200, "ok")
    live.options.startup_delay = 0
    assert client.get("/api/health/").json()["status"] == "ok"


def test_version_comes_from_the_option_when_set(live: DemoServer, client: httpx.Client) -> None:
    live.options.version = "9.9.9"
    assert client.get("/api/health/").json()["version"] == "9.9.9"


# --- items and credentials --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {}, 401),
        ("GET", key("not-a-demo-key"), 401),
        ("POST", key(READONLY_KEY), 403),
        ("GET", key(READONLY_KEY), 200),
        ("GET", {"Authorization": f"Bearer {DEV_KEY}"}, 200),
        ("POST", key(DEV_KEY), 201),
        ("POST", {"Authorization": f"Bearer {ADMIN_KEY}"}, 201),
    ],
    ids=["no-key", "wrong-key", "readonly-write", "readonly-read", "bearer", "dev-write", "admin"],
)
def test_items_auth_matrix(
    client: httpx.Client, method: str, headers: dict[str, str], status: int
) -> None:
    body = {"name": "Widget", "price": 3.5} if method == "POST" else None
    response = client.request(method, "/api/items", json=body, headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]


def test_wrong_key_is_told_apart_from_missing_key(client: httpx.Client) -> None:
    missing = client.get("/api/items").headers["WWW-Authenticate"]
    wrong = client.get("/api/items", headers=key("nope")).headers["WWW-Authenticate"]
    assert "invalid_token" in wrong
    assert "invalid_token" not in missing


def test_created_item_is_listed_and_fetchable(client: httpx.Client) -> None:
    created = client.post("/api/items", json={"name": "Sprocket", "price": 2}, headers=key(DEV_KEY))
    assert created.status_code == 201
    item = created.json()
    assert (item["name"], item["price"]) == ("Sprocket", 2.0)
    assert created.headers["Location"] == f"/api/items/{item['id']}"
    fetched = client.get(f"/api/items/{item['id']}", headers=key(READONLY_KEY))
    assert fetched.json() == item
    listing = client.get("/api/items", params={"limit": 100}, headers=key(DEV_KEY)).json()
    assert item in listing["items"]
    assert listing["count"] >= 21


def test_seeded_items_page_with_limit_and_offset(client: httpx.Client) -> None:
    first = client.get("/api/items", params={"limit": 5}, headers=key(DEV_KEY)).json()
    second = client.get("/api/items", params={"limit": 5, "offset": 5}, headers=key(DEV_KEY)).json()
    assert len(first["items"]) == len(second["items"]) == 5
    assert first["items"][-1]["id"] < second["items"][0]["id"]
    assert first["count"] >= 20


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "offset=-1"])
def test_bad_paging_is_422(client: httpx.Client, query: str) -> None:
    assert client.get(f"/api/items?{query}", headers=key(DEV_KEY)).status_code == 422


def test_unknown_item_is_404_json(client: httpx.Client) -> None:
    response = client.get("/api/items/999999", headers=key(DEV_KEY))
    assert response.status_code == 404
    assert response.json()["error"] == "not found"


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[1, 2]",
        b'{"name": "x"}',
        b'{"name": "", "price": 1}',
        b'{"name": "x", "price": true}',
        b'{"name": "x", "price": -1}',
        b'{"name": "x", "price": NaN}',
        b'{"name": "x", "price": "1"}',
    ],
)
def test_invalid_item_body_is_422(client: httpx.Client, content: bytes) -> None:
    response = client.post(
        "/api/items",
        content=content,
        headers={**key(DEV_KEY), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid item"


def test_public_items_need_no_key_and_are_not_rate_limited(client: httpx.Client) -> None:
    listing = client.get("/api/public/items")
    assert listing.status_code == 200
    assert len(listing.json()["items"]) >= 20
    assert not any(name in listing.headers for name in LIMIT_HEADERS)
    created = client.post("/api/public/items", json={"name": "Public thing", "price": 1})
    assert created.status_code == 201


def test_keys_can_be_replaced_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DEV_KEY", "custom-dev-key")
    with start_demo(DemoOptions()) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/api/items", headers=key("custom-dev-key")).status_code == 200
        assert http.get("/api/items", headers=key(DEV_KEY)).status_code == 401


def test_options_repr_hides_credentials() -> None:
    text = repr(DemoOptions())
    for secret in (DEV_KEY, ADMIN_KEY, READONLY_KEY, LOAD_KEY, WEBHOOK_SECRET):
        assert secret not in text


# --- audit, preview, webhooks -----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (key("nope"), 401), (key(DEV_KEY), 403), (key(READONLY_KEY), 403)],
)
def test_audit_refuses_non_admins(
    client: httpx.Client, headers: dict[str, str], status: int
) -> None:
    assert client.get("/api/audit", headers=headers).status_code == status


def test_audit_lists_events_without_credentials(client: httpx.Client) -> None:
    client.post("/api/items", json={"name": "Audited", "price": 1}, headers=key(DEV_KEY))
    response = client.get("/api/audit", headers=key(ADMIN_KEY))
    assert response.status_code == 200
    events = response.json()["events"]
    assert any(e["action"] == "item.created" and e["actor"] == "dev" for e in events)
    assert DEV_KEY not in response.text


def test_preview_issues_fresh_execution_tokens(client: httpx.Client) -> None:
    first = client.post("/api/preview", headers=key(DEV_KEY))
    second = client.post("/api/preview", headers=key(ADMIN_KEY))
    assert first.status_code == second.status_code == 200
    assert first.json()["expires_in"] == 300
    assert len(first.json()["execution_token"]) >= 16
    assert first.json()["execution_token"] != second.json()["execution_token"]
    assert client.post("/api/preview", headers=key(READONLY_KEY)).status_code == 403


def test_webhook_accepts_a_valid_hmac_signature(client: httpx.Client) -> None:
    body = b'{"event": "deploy.finished"}'
    response = client.post(
        "/api/webhooks/incoming", content=body, headers={"X-Signature": webhook_signature(body)}
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": True}


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, webhook_signature(b"another body"), "md5=abc"],
    ids=["missing", "zeros", "other-body", "other-scheme"],
)
def test_webhook_rejects_bad_signatures(client: httpx.Client, signature: str | None) -> None:
    headers = {"X-Signature": signature} if signature else {}
    response = client.post("/api/webhooks/incoming", content=b"{}", headers=headers)
    assert response.status_code == 401


# --- CSRF, cookies, login ---------------------------------------------------------------


def test_form_sets_an_httponly_csrf_cookie_matching_the_hidden_field(client: httpx.Client) -> None:
    page = client.get("/form")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("csrftoken=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    hidden = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert hidden is not None
    assert hidden.group(1) == client.cookies["csrftoken"]


def test_form_post_needs_the_matching_csrf_token(client: httpx.Client) -> None:
    client.get("/form")
    token = client.cookies["csrftoken"]
    assert client.post("/form", data={"display_name": "x"}).status_code == 403
    wrong = {"display_name": "x", "csrf_token": "A" * 43}
    assert client.post("/form", data=wrong).status_code == 403
    right = client.post("/form", data={"display_name": "Ada", "csrf_token": token})
    assert right.status_code == 200
    assert "Saved Ada" in right.text


def test_logout_needs_the_csrf_header(client: httpx.Client) -> None:
    client.get("/form")
    token = client.cookies["csrftoken"]
    assert client.post("/api/session/logout").status_code == 403
    response = client.post("/api/session/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert response.json() == {"logged_out": True}


def test_account_redirects_to_login_without_a_session(client: httpx.Client) -> None:
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"


def test_login_with_the_demo_password_opens_the_account(client: httpx.Client) -> None:
    refused = client.post("/login", data={"username": "ada", "password": "wrong"})
    assert refused.status_code == 401
    assert "wrong" not in refused.text
    accepted = client.post(
        "/login", data={"username": "ada", "password": "demo-password", "next": "/account"}
    )
    assert accepted.status_code == 303
    assert accepted.headers["Location"] == "/account"
    assert "HttpOnly" in accepted.headers["Set-Cookie"]
    account = client.get("/account")
    assert account.status_code == 200
    assert "Signed in as ada" in account.text


def test_login_never_redirects_off_site(client: httpx.Client) -> None:
    response = client.post(
        "/login", data={"username": "ada", "password": "demo-password", "next": "//evil.test/"}
    )
    assert response.headers["Location"] == "/"


# --- the E2E pages ----------------------------------------------------------------------


def test_home_page_loads_its_script_from_a_same_origin_file(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "<title>opsgate demo</title>" in page.text
    assert '<ul id="items"' in page.text
    assert 'data-testid="add-item-submit"' in page.text
    assert '<script src="/static/app.js" defer></script>' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "inline script breaks CSP"
    script = client.get("/static/app.js")
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    assert "/api/public/items" in script.text
    assert "Added " in script.text


def test_failure_pages(client: httpx.Client) -> None:
    assert client.get("/boom").status_code == 500
    page = client.get("/console-error")
    assert page.status_code == 200
    assert 'data-page="console-error"' in page.text
    assert "console.error" in client.get("/static/app.js").text


def test_static_files_are_served_by_exact_name_only(client: httpx.Client) -> None:
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/__init__.py").status_code == 404
    assert client.get("/static/..%2F__init__.py").status_code == 404


# --- headers: security, CORS ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/health/", "/api/items", "/no/such/path", "/healthz"])
def test_security_headers_on_every_response(client: httpx.Client, path: str) -> None:
    headers = client.get(path).headers
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    csp = headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "script-src 'self'"):
        assert directive in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_cors_preflight_from_an_allowed_origin(client: httpx.Client) -> None:
    response = client.options(
        "/api/items",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for name in ("x-api-key", "content-type", "authorization"):
        assert name in allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]


def test_cors_preflight_from_another_origin_gets_no_allow_origin(client: httpx.Client) -> None:
    response = client.options(
        "/api/items",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    get = client.get("/api/public/items", headers={"Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in get.headers


def test_cors_origins_are_configurable(live: DemoServer, client: httpx.Client) -> None:
    live.options.cors_origins = ("https://app.example",)
    get = client.get("/api/public/items", headers={"Origin": "https://app.example"})
    assert get.headers["Access-Control-Allow-Origin"] == "https://app.example"


# --- rate limiting ----------------------------------------------------------------------


@pytest.fixture
def limited() -> Iterator[httpx.Client]:
    with (
        start_demo(DemoOptions(rate_limit=RateLimit(5, 60))) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield http


def test_rate_limit_headers_count_down_then_429(limited: httpx.Client) -> None:
    remaining = []
    for _ in range(5):
        response = limited.get("/api/items", headers=key(DEV_KEY))
        assert response.status_code == 200
        for name in LIMIT_HEADERS + DRAFT_HEADERS:
            assert name in response.headers
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert 0 < int(response.headers["X-RateLimit-Reset"]) <= 60
        remaining.append(int(response.headers["RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    refused = limited.get("/api/items", headers=key(DEV_KEY))
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"


def test_rate_limit_is_per_path_and_per_credential(limited: httpx.Client) -> None:
    for _ in range(6):
        limited.get("/api/items", headers=key(DEV_KEY))
    assert limited.get("/api/items", headers=key(DEV_KEY)).status_code == 429
    assert limited.get("/api/items/1", headers=key(DEV_KEY)).status_code == 200
    assert limited.get("/api/items", headers=key(READONLY_KEY)).status_code == 200


def test_load_key_and_health_are_exempt(limited: httpx.Client) -> None:
    for _ in range(8):
        response = limited.get("/api/items", headers=key(LOAD_KEY))
        assert response.status_code == 200
        assert "X-RateLimit-Limit" not in response.headers
        assert limited.get("/api/health/").status_code == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60/60s", RateLimit(60, 60)),
        ("5/60s", RateLimit(5, 60)),
        ("100/1m", RateLimit(100, 60)),
        ("10/s", RateLimit(10, 1)),
        ("off", None),
    ],
)
def test_rate_limit_parse(text: str, expected: RateLimit | None) -> None:
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["60", "x/60s", "0/60s", "5/0s", "5/60y"])
def test_rate_limit_parse_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="60/60s"):
        RateLimit.parse(text)


# --- routing ------------------------------------------------------------------------------


def test_unknown_paths_are_404_json(client: httpx.Client) -> None:
    for path in ("/nope", "/api/nope", "/api/items/abc", "/static/"):
        response = client.get(path, headers=key(DEV_KEY))
        assert response.status_code == 404
        assert response.json()["error"] == "not found"


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.delete("/api/items", headers=key(DEV_KEY))
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_malformed_request_gets_json_400_without_echo(demo: DemoServer) -> None:
    with socket.create_connection(("127.0.0.1", demo.port), timeout=10) as raw:
        raw.sendall(b"GARBAGE-secret-token\r\n\r\n")
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request")
    assert b"X-Frame-Options: DENY" in head
    assert json.loads(body)["error"]
    assert b"secret" not in reply


# --- faults -------------------------------------------------------------------------------


def test_latency_delays_api_and_pages(live: DemoServer, client: httpx.Client) -> None:
    live.options.latency_ms = 300
    for path in ("/api/public/items", "/"):
        started = time.perf_counter()
        assert client.get(path).status_code == 200
        assert time.perf_counter() - started >= 0.3


def test_latency_spares_health_checks(live: DemoServer, client: httpx.Client) -> None:
    live.options.latency_ms = 60_000
    # A delayed health check would exceed this 5 s timeout, which is far below the latency.
    for path in ("/api/health/", "/healthz", "/ready"):
        assert client.get(path, timeout=5).status_code == 200


def test_error_rate_one_fails_every_api_call_but_not_health(
    live: DemoServer, client: httpx.Client
) -> None:
    live.options.error_rate = 1.0
    for path in ("/api/items", "/api/public/items"):
        response = client.get(path, headers=key(DEV_KEY))
        assert response.status_code == 500
        assert response.json() == {"error": "injected"}
    assert client.get("/api/health/").status_code == 200
    assert client.get("/").status_code == 200


def test_error_rate_is_repeatable_with_a_seed() -> None:
    def statuses() -> list[int]:
        options = DemoOptions(error_rate=0.5, seed=7)
        with start_demo(options) as server, httpx.Client(base_url=server.url) as http:
            return [http.get("/api/public/items?limit=1").status_code for _ in range(30)]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


@pytest.mark.parametrize(
    "bad",
    [{"error_rate": 1.5}, {"latency_ms": -1}, {"startup_delay": -1}, {"dev_key": ADMIN_KEY}],
)
def test_options_reject_impossible_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        DemoOptions(**bad)


# --- lifecycle ----------------------------------------------------------------------------


def test_stop_closes_kept_alive_connections() -> None:
    server = start_demo()
    with httpx.Client(base_url=server.url, timeout=5) as http:
        assert http.get("/healthz").status_code == 200
        server.stop()
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get("/healthz")


def test_stop_interrupts_a_delayed_request() -> None:
    server = start_demo(DemoOptions(latency_ms=60_000))
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(f"{server.url}/api/public/items", timeout=60).status_code)
        except httpx.TransportError as error:
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    # Wait until the request is inside the server before stopping it.
    deadline = time.monotonic() + 10
    while not server._httpd._connections and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop()
    caller.join(timeout=30)
    assert not caller.is_alive(), "a delayed request kept running after stop()"
    assert outcome


def test_port_file_holds_the_bound_port(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    with start_demo(DemoOptions(port_file=str(port_file))) as server:
        assert int(port_file.read_text()) == server.port


def test_loggable_target_masks_secret_query_values() -> None:
    masked = loggable_target("/api/items?limit=5&api_key=s3cret&token=t0k")
    assert "s3cret" not in masked
    assert "t0k" not in masked
    assert "limit=5" in masked


def test_cli_binds_port_zero_logs_without_secrets_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "demo.port"
    log_file = tmp_path / "access.log"
    command = [
        sys.executable,
        "-m",
        "pytest_opsgate.demo",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--log-file",
        str(log_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=20), "the demo printed nothing within 20 s"
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"opsgate-demo listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        port = int(match.group(1))
        assert int(port_file.read_text()) == port
        url = f"http://127.0.0.1:{port}"
        response = httpx.get(f"{url}/api/items?api_key=query-secret", headers=key(DEV_KEY))
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_file.read_text()
    assert '"GET /api/items?api_key=' in log
    assert " 200 " in log
    assert DEV_KEY not in log
    assert "query-secret" not in log
    assert not port_file.exists()


def test_cli_rejects_a_bad_rate_limit() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest_opsgate.demo", "--rate-limit", "lots"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "--rate-limit" in result.stderr
