"""Readiness polling against real loopback fault servers, one test per FAULTS.md row."""

from __future__ import annotations

import pickle
import time
from typing import TYPE_CHECKING

import pytest

import faultserver as fs
from pytest_opsgate.target.readiness import (
    DEFAULT_PATHS,
    NotReadyError,
    ReadinessSpec,
    parse_expect,
    wait_until_ready,
)

if TYPE_CHECKING:
    pass

# Bounds are the configured timeout plus this: they catch a hang or an ignored deadline, not a
# slow machine, so the headroom is generous for a busy 2-core CI box.
SLACK_S = 20.0
OK = fs.json({"status": "ok", "checks": {"db": {"status": "ok"}}})


def _wait_error(spec: ReadinessSpec) -> tuple[NotReadyError, float]:
    began = time.monotonic()
    with pytest.raises(NotReadyError) as info:
        wait_until_ready(spec)
    return info.value, time.monotonic() - began


# --- F1-F4: nothing (useful) at the other end ----------------------------------------------


def test_f1_refuses_then_heals_ready_soon_after(server: fs.FaultServer) -> None:
    server.route("/health", OK)
    server.refuse_for(1.0)
    result = wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=10))
    outcomes = [a.outcome for a in result.attempts]
    assert outcomes[0] == "refused"
    assert outcomes[-1] == "ready"
    assert result.waited_s >= 0.5  # it really waited out (most of) the refusal
    assert server.healed_at is not None
    assert result.waited_s <= 10


def test_f2_never_listens_errors_refused_at_deadline(server: fs.FaultServer) -> None:
    server.stop_listening()
    err, elapsed = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1.5))
    assert err.kind == "timeout"
    assert err.last_outcome == "refused"
    first, *log, hint = str(err).splitlines()
    assert first.startswith(f"{server.url} was not ready after ")
    assert first.endswith("(timeout 1.5 s): connection refused")
    assert 1 <= len(log) <= 5
    assert all(line.strip().startswith("#") and "connection refused" in line for line in log)
    assert hint.startswith("hint: ")
    assert err.result.waited_s >= 1.4
    assert elapsed <= 1.5 + SLACK_S
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # survives a trip between processes


def test_f3_dns_failure_is_named_apart_from_refused() -> None:
    err, elapsed = _wait_error(ReadinessSpec("http://nonexistent.invalid", timeout_s=1))
    assert err.last_outcome == "dns"
    assert "could not resolve host" in str(err)
    assert "refused" not in str(err)
    assert elapsed <= 1 + SLACK_S


def test_f4_hang_times_out_per_attempt_and_overall(server: fs.FaultServer) -> None:
    server.route("/health", fs.hang())
    spec = ReadinessSpec(server.url, ["/health"], timeout_s=1.5, attempt_timeout_s=0.4)
    err, elapsed = _wait_error(spec)
    assert {a.outcome for a in err.result.attempts} == {"timeout"}
    assert len(err.result.attempts) >= 2  # per-attempt timeout, not one attempt eating it all
    assert "timed out" in str(err)
    assert elapsed <= 1.5 + SLACK_S


@pytest.mark.parametrize("headers_first", [True, False], ids=["body-drips", "headers-drip"])
def test_f4_drip_is_cut_by_the_attempt_deadline(
    server: fs.FaultServer, headers_first: bool
) -> None:
    # httpx timeouts are per read; a byte every 0.3 s never trips them, and the 100-odd bytes
    # of headers alone take longer than the bound below. Dripped headers reach no body-reading
    # loop: only the socket-level deadline ends them.
    body = b'{"status": "ok"}'.ljust(100)
    server.route("/health", fs.drip(body, interval_s=0.3, headers_first=headers_first))
    spec = ReadinessSpec(server.url, ["/health"], timeout_s=1.5, attempt_timeout_s=1)
    err, elapsed = _wait_error(spec)
    assert err.result.attempts[0].outcome == "timeout"
    assert "timed out: no complete answer within 1 s" in err.result.attempts[0].detail
    assert elapsed <= 1.5 + SLACK_S


# --- F5-F7: answers that are not health --------------------------------------------------


def test_f5_proxy_503_html_then_ready(server: fs.FaultServer) -> None:
    page = fs.text("<html><h1>503 Service Temporarily Unavailable</h1></html>", 503, "text/html")
    server.route("/health", fs.sequence([page, page, OK]))
    result = wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=5))
    first = result.attempts[0]
    assert (first.status, first.outcome) == (503, "not_ready")
    assert "Service Temporarily Unavailable" in first.body_excerpt
    assert result.attempts[-1].outcome == "ready"


def test_f5_persistent_503_reports_status_and_excerpt(server: fs.FaultServer) -> None:
    server.route("/health", fs.text("<html>Bad Gateway from nginx</html>", 503, "text/html"))
    err, _ = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1))
    assert "-> 503 in " in str(err)
    assert "body: <html>Bad Gateway from nginx</html>" in str(err)


def test_f6_degraded_is_not_ready_unless_accepted(server: fs.FaultServer) -> None:
    server.route("/health", fs.json({"status": "degraded", "checks": {"db": {"status": "ok"}}}))
    err, _ = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1))
    assert 'status is "degraded"' in str(err)
    assert '--gate-ready-expect \'status in ["ok", "degraded"]\'' in str(err)  # the fix
    spec = ReadinessSpec(
        server.url, ["/health"], timeout_s=3, expects=['status in ["ok", "degraded"]']
    )
    assert wait_until_ready(spec).body == {"status": "degraded", "checks": {"db": {"status": "ok"}}}


def test_user_expectations_on_nested_checks(server: fs.FaultServer) -> None:
    body = {"status": "ok", "checks": {"db": {"status": "down"}, "migrations": {"pending": 2}}}
    server.route("/health", fs.json(body))
    spec = ReadinessSpec(server.url, ["/health"], timeout_s=1, expects=['checks.db.status == "ok"'])
    err, _ = _wait_error(spec)
    assert 'expect checks.db.status == "ok": checks.db.status is "down"' in str(err)


def test_f7_html_200_is_not_ready_but_plain_ok_is(server: fs.FaultServer) -> None:
    server.route("/health", fs.text("<!doctype html><div id=app></div>", 200, "text/html"))
    err, _ = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1))
    assert "health path answered text/html (an SPA fallback or login page?)" in str(err)
    server.route("/healthz", fs.text("OK"))
    assert wait_until_ready(ReadinessSpec(server.url, ["/healthz"], timeout_s=3)).body is None


# --- F8-F9: redirects ---------------------------------------------------------------------


def test_f8_redirect_to_login_is_not_ready(server: fs.FaultServer) -> None:
    server.route("/health", fs.redirect("/login"))
    err, _ = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1))
    assert err.last_outcome == "redirect"
    assert "-> 302 in " in str(err)
    assert "redirect to /login (not followed)" in str(err)


def test_f8_cross_origin_redirect_never_carries_headers() -> None:
    secret = {"Authorization": "Bearer s3cret-sentinel", "X-Api-Key": "k3y-sentinel"}
    with fs.FaultServer() as home, fs.FaultServer() as other:
        other.route("/health", OK)
        home.route("/health", fs.redirect(f"{other.url}/health"))
        spec = ReadinessSpec(home.url, ["/health"], timeout_s=1, headers=secret)
        err, _ = _wait_error(spec)
        assert f"redirect to {other.url}/health (not followed)" in str(err)
        assert home.requests[0].headers["authorization"] == "Bearer s3cret-sentinel"
        for req in other.requests:
            assert "authorization" not in req.headers
            assert "x-api-key" not in req.headers


@pytest.mark.parametrize(
    ("routes", "path"),
    [({"/a": "/b", "/b": "/a"}, "/a"), ({"/self": "/self"}, "/self")],
    ids=["two-hop", "self"],
)
def test_f9_redirect_loop_fails_fast(
    server: fs.FaultServer, routes: dict[str, str], path: str
) -> None:
    for src, dst in routes.items():
        server.route(src, fs.redirect(dst))
    err, elapsed = _wait_error(ReadinessSpec(server.url, [path], timeout_s=120))
    assert err.kind == "redirect_loop"
    assert "redirect loop" in str(err)
    assert elapsed < 120 / 2  # a loop stops the wait at once, not at the deadline


# --- F10-F12 -------------------------------------------------------------------------------


def test_f10_flapping_needs_consecutive_successes(server: fs.FaultServer) -> None:
    server.route("/health", fs.flap([OK, fs.json({"status": "fail"}, 503)]))
    spec = ReadinessSpec(server.url, ["/health"], timeout_s=1.5, successes=3)
    err, elapsed = _wait_error(spec)
    assert err.kind == "unstable"
    assert "unstable: flapped between ready and not ready" in str(err)
    assert elapsed <= 1.5 + SLACK_S
    server.route("/health", fs.flap([OK, fs.json({"status": "fail"}, 503)]))
    assert wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=3, successes=1))


def test_f10_stable_service_passes_k_successes(server: fs.FaultServer) -> None:
    server.route("/health", OK)
    result = wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=5, successes=3))
    assert [a.outcome for a in result.attempts] == ["ready"] * 3


def test_f11_bad_certificate_is_a_tls_error_never_a_silent_fallback() -> None:
    with fs.FaultServer(tls=True) as s:
        s.route("/health", OK)
        err, _ = _wait_error(ReadinessSpec(s.url, ["/health"], timeout_s=1))
        assert err.last_outcome == "tls"
        assert "TLS verification failed" in str(err)
        assert not s.requests  # no request went out over an unverified channel
        assert wait_until_ready(ReadinessSpec(s.url, ["/health"], timeout_s=3, verify=False))
        assert s.cert_path is not None
        assert wait_until_ready(ReadinessSpec(s.url, ["/health"], timeout_s=3, verify=s.cert_path))


def test_f12_f32_an_old_version_is_waited_out_and_named_at_the_deadline(
    server: fs.FaultServer,
) -> None:
    # F32: during a rolling deploy the old version answers healthy first; keep waiting.
    old, new = (
        fs.json({"status": "ok", "version": "1.2.3"}),
        fs.json({"status": "ok", "version": "1.2.4"}),
    )
    server.route("/health", fs.after(1.0, old, new))
    spec = ReadinessSpec(server.url, ["/health"], timeout_s=10, expected_version="1.2.4")
    result = wait_until_ready(spec)
    assert result.version == "1.2.4"
    outcomes = [a.outcome for a in result.attempts]
    assert outcomes[0] == "version"
    assert outcomes[-1] == "ready"
    # F12: a version that never comes is not-ready at the deadline, naming both versions.
    server.route("/health", old)
    err, elapsed = _wait_error(
        ReadinessSpec(server.url, ["/health"], timeout_s=1.5, expected_version="9.9.9")
    )
    assert err.kind == "version"
    assert "still serving 1.2.3, want 9.9.9" in str(err)
    assert err.result.last_version == "1.2.3"
    assert elapsed <= 1.5 + SLACK_S


def test_version_key_order(server: fs.FaultServer) -> None:
    server.route("/health", fs.json({"status": "ok", "git_sha": "abc", "build": {"version": "b7"}}))
    assert wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=3)).version == "b7"


# --- F16, F17, F19: bodies and throttling --------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "detail"),
    [
        (fs.gzip_bomb(), "health body larger than"),
        (fs.gzip_bomb(50_000_000), "health body larger than"),  # compressed part under the cap
        (fs.huge(5 * 1024 * 1024, "application/json"), "health body larger than"),
        (fs.endless(), "health body larger than"),
        (fs.broken_json(), "invalid JSON"),
        (fs.nan_json(), "NaN is not valid JSON"),
        (fs.deep_json(30_000), "nested too deeply"),  # 60 kB: under the size cap
    ],
    ids=["gzip-bomb", "small-gzip-bomb", "huge", "endless", "broken", "nan", "deep"],
)
def test_hostile_bodies_are_not_ready_and_bounded(
    server: fs.FaultServer, behaviour: fs.Behaviour, detail: str
) -> None:
    server.route("/health", behaviour)
    err, elapsed = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1))
    assert detail in str(err)
    assert elapsed <= 1 + SLACK_S


@pytest.mark.parametrize(
    "behaviour",
    [fs.reset_mid_body(), fs.short_body(), fs.close_immediately(), fs.garbage()],
    ids=["reset", "short", "closed", "garbage"],
)
def test_f14_broken_responses_are_protocol_errors(
    server: fs.FaultServer, behaviour: fs.Behaviour
) -> None:
    server.route("/health", behaviour)
    err, elapsed = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1))
    assert err.last_outcome == "protocol"
    assert "protocol error" in str(err)
    assert elapsed <= 1 + SLACK_S


def test_f19_retry_after_is_capped_by_the_budget(server: fs.FaultServer) -> None:
    server.route("/health", fs.retry_after(86400))
    err, elapsed = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1.5))
    assert "HTTP 429" in str(err)
    assert elapsed <= 1.5 + SLACK_S


# --- F20: clocks -----------------------------------------------------------------------------


def test_f20_wall_clock_jumps_do_not_move_the_deadline(
    server: fs.FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time = time.time
    jumps = iter(range(10**9))
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600 * next(jumps))  # +1 h per call
    server.stop_listening()
    err, elapsed = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=1.5))
    assert err.result.waited_s < 1.5 + SLACK_S
    assert elapsed <= 1.5 + SLACK_S


def test_f20_deadline_runs_on_the_injected_monotonic_clock(server: fs.FaultServer) -> None:
    server.stop_listening()
    now = [1000.0]
    spec = ReadinessSpec(server.url, ["/health"], timeout_s=20)
    began = time.monotonic()
    with pytest.raises(NotReadyError) as info:
        wait_until_ready(
            spec,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),  # time passes only when we sleep
        )
    assert info.value.result.waited_s == pytest.approx(20)
    assert time.monotonic() - began < 20 / 2  # the real clock was not the one counting


# --- discovery, redaction, configuration ---------------------------------------------------


def test_discovery_uses_first_path_that_is_not_404(server: fs.FaultServer) -> None:
    server.route("/healthz", OK)
    result = wait_until_ready(ReadinessSpec(server.url, timeout_s=3))
    assert result.path == "/healthz"
    assert result.url == f"{server.url}/healthz"
    assert [a.path for a in result.attempts] == DEFAULT_PATHS[:3]


def test_discovery_that_finds_nothing_says_so(server: fs.FaultServer) -> None:
    err, _ = _wait_error(ReadinessSpec(server.url, timeout_s=1))
    assert "no health path gave a health answer" in str(err)
    assert "pass the health path with --gate-ready-path" in str(err)


def test_discovery_against_nothing_listening_hints_at_the_service_not_the_path(
    server: fs.FaultServer,
) -> None:
    server.stop_listening()
    err, _ = _wait_error(ReadinessSpec(server.url, timeout_s=1))
    message = str(err)
    assert "no health path gave a health answer" in message  # every path is still named
    assert "hint: nothing listens there yet: check that the service started" in message
    assert "--gate-ready-path" not in message


def test_discovery_that_finds_nothing_under_a_base_path_names_that_path(
    server: fs.FaultServer,
) -> None:
    server.route("/healthz", OK)  # the health path exists, but not under /v2
    err, _ = _wait_error(ReadinessSpec(f"{server.url}/v2", timeout_s=1))
    assert "check the base URL: its path /v2 is put before every health path" in str(err)


def test_redact_and_userinfo_never_reach_the_message(server: fs.FaultServer) -> None:
    server.route("/health", fs.json({"status": "down", "dsn": "postgres://u:hunter2@db"}, 503))
    url = server.url.replace("http://", "http://admin:pa55word@")
    spec = ReadinessSpec(
        url, ["/health"], timeout_s=1, redact=lambda s: s.replace("hunter2", "[REDACTED]")
    )
    err, _ = _wait_error(spec)
    assert "hunter2" not in str(err)
    assert "[REDACTED]" in str(err)
    assert "pa55word" not in str(err)


def test_base_url_path_prefix_is_kept(server: fs.FaultServer) -> None:
    server.route("/app/health", OK)
    result = wait_until_ready(ReadinessSpec(f"{server.url}/app/", ["/health"], timeout_s=3))
    assert result.url == f"{server.url}/app/health"


def test_bad_expectation_fails_before_any_request(server: fs.FaultServer) -> None:
    with pytest.raises(ValueError, match="invalid expectation"):
        wait_until_ready(ReadinessSpec(server.url, ["/health"], expects=["status = 'ok'"]))
    assert not server.requests


# --- the expectation language (pure) -----------------------------------------------------


DOC = {
    "status": "ok",
    "version": "1.0",
    "ok": True,
    "checks": {"db": {"status": "ok"}, "migrations": {"pending_count": 0}},
    "nodes": [{"name": "a"}],
}


@pytest.mark.parametrize(
    ("expr", "holds"),
    [
        ('status == "ok"', True),
        ("status == 'ok'", True),
        ('status != "fail"', True),
        ('status in ["ok", "degraded"]', True),
        ("status in ['degraded']", False),
        ("status not in ['degraded']", True),
        ('checks.db.status == "ok"', True),
        ("checks.migrations.pending_count == 0", True),
        ("checks.migrations.pending_count <= 0", True),
        ("checks.migrations.pending_count > 0", False),
        ("version", True),
        ("missing", False),
        ("ok == true", True),
        ("ok == 1", False),  # JSON true is not the number 1
        ('nodes.0.name == "a"', True),
        ("checks.db.status < 1", False),  # not a number: fails, does not crash
    ],
)
def test_expectation_semantics(expr: str, holds: bool) -> None:
    assert (parse_expect(expr).check(DOC) is None) is holds


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("status = 'ok'", "use == to compare"),
        ("status == ok", "'ok' is not a JSON value"),
        ("status in 'ok'", "'in' needs a list"),
        ("count < 'x'", "'<' needs a number"),
        ("status == 'ok", "unterminated string"),
        ("== 'ok'", "must start with a dotted path"),
        ('status == "ok" extra', "unexpected"),
    ],
)
def test_parse_expect_errors_name_expression_and_example(expr: str, problem: str) -> None:
    with pytest.raises(ValueError, match="invalid expectation") as info:
        parse_expect(expr)
    message = str(info.value)
    assert repr(expr) in message
    assert problem in message
    assert "e.g." in message


def test_a_zero_timeout_still_asks_once(server: fs.FaultServer) -> None:
    server.route("/health", OK)
    result = wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=0))
    assert [a.outcome for a in result.attempts] == ["ready"]


# --- F31: health bodies in other frameworks' words ----------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "word"),
    [
        (fs.text("Degraded"), '"Degraded"'),  # ASP.NET Core's default writer, with 200
        (fs.text("Unhealthy"), '"Unhealthy"'),
        (fs.json({"status": "DOWN"}), '"DOWN"'),  # Spring Boot Actuator
        (fs.json({"status": "OUT_OF_SERVICE"}), '"OUT_OF_SERVICE"'),
        (fs.json({"status": "UNKNOWN"}), '"UNKNOWN"'),
        (fs.json({"status": "fail", "checks": {}}), '"fail"'),  # IETF health+json
        (fs.json({"status": "warn"}), '"warn"'),
        (fs.json({"ok": False}), "ok is false"),
        (fs.json({"healthy": False, "status": "ok"}), "healthy is false"),
        (fs.json({"status": "UP", "checks": [{"name": "db", "status": "DOWN"}]}), "'db' is DOWN"),
        (fs.text("[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed"), "etcd"),
        (fs.json({"status": "rebooting-ish"}), "does not know"),
        (fs.text("The service is warming up"), "does not know"),
    ],
)
def test_F31_health_in_other_frameworks_words_is_not_ready(
    server: fs.FaultServer, behaviour: fs.Behaviour, word: str
) -> None:
    server.route("/health", behaviour)
    err, elapsed = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=0.6))
    assert word in str(err)
    assert err.result.attempts
    assert all(a.outcome == "not_ready" for a in err.result.attempts)
    assert elapsed <= 0.6 + SLACK_S


@pytest.mark.parametrize(
    "behaviour",
    [
        fs.text("Healthy"),
        fs.text("ok"),
        fs.text("[+]ping ok\n[+]etcd ok\nreadyz check passed"),
        fs.json({"status": "UP", "checks": [{"name": "db", "status": "UP"}]}),
        fs.json({"status": "pass"}),
        fs.json({"healthy": True}),
        fs.json({"version": "1.0"}),  # no health word at all says nothing against it
        fs.text(""),
    ],
)
def test_ready_words_of_every_format_are_ready(
    server: fs.FaultServer, behaviour: fs.Behaviour
) -> None:
    server.route("/health", behaviour)
    assert wait_until_ready(ReadinessSpec(server.url, ["/health"], timeout_s=3))


def test_an_unready_word_names_the_option_that_accepts_it(server: fs.FaultServer) -> None:
    server.route("/health", fs.text("Degraded"))
    err, _ = _wait_error(ReadinessSpec(server.url, ["/health"], timeout_s=0.5))
    assert '--gate-ready-expect \'status in ["ok", "Degraded"]\'' in str(err)
    accepted = ReadinessSpec(
        server.url, ["/health"], timeout_s=3, expects=['status in ["Healthy", "Degraded"]']
    )
    assert wait_until_ready(accepted)


def test_readiness_and_the_health_schema_profile_share_one_table() -> None:
    from pytest_opsgate.gates.smoke import profiles
    from pytest_opsgate.target import health

    assert profiles.HEALTHY is health.READY_WORDS
    assert profiles.UNHEALTHY is health.NOT_READY_WORDS


# --- F41: discovery keeps probing until a path gives a health answer --------------------


def test_F41_discovery_is_not_fooled_by_a_proxy_503_or_a_404_while_the_app_boots(
    server: fs.FaultServer,
) -> None:
    proxy = fs.text("<html>503 Service Unavailable</html>", status=503, content_type="text/html")
    for path in DEFAULT_PATHS:
        server.route(path, fs.after(1.0, proxy, fs.text("not found", status=404)))
    server.route("/healthz", fs.after(1.0, proxy, OK))
    result = wait_until_ready(ReadinessSpec(server.url, timeout_s=10))
    assert result.path == "/healthz"


def test_F41_a_failing_discovery_names_every_path_and_its_answer(server: fs.FaultServer) -> None:
    for path in DEFAULT_PATHS:
        server.route(path, fs.text("not found", status=404))
    server.route("/health", fs.text("boom", status=500))
    err, _ = _wait_error(ReadinessSpec(server.url, timeout_s=0.8))
    message = str(err)
    assert "no health path gave a health answer" in message
    for path in DEFAULT_PATHS:
        assert f"{path} -> " in message
    assert "/health -> 500" in message
    assert "--gate-ready-path" in message
