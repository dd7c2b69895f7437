"""The hostile-target corpus: each row F1-F21 of FAULTS.md run through the real gate.

One test per row. Each runs ``pytest --gate=...`` (in-process through pytester, or in a
subprocess where a browser or a patched clock needs a process of its own) against a
FaultServer on loopback and asserts the verdict in gate.json and on the VERDICT line, the
exit code, the message's key words, and an upper bound on wall time taken from the
configured timeouts plus a generous margin. docs/reliability.md maps rows to these names
(benchmarks/reliability_table.py regenerates it).
"""

from __future__ import annotations

import socket
import textwrap
from typing import TYPE_CHECKING

import pytest

# In-process pytester runs drop modules a run imported first; importing the HTTP stack here
# keeps one httpx and httpcore, so their exception classes stay the same across runs.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import (
    Behaviour,
    FaultServer,
    broken_json,
    close_after_headers,
    deep_json,
    drip,
    endless,
    flap,
    gzip_bomb,
    hang,
    huge,
    json,
    nan_json,
    redirect,
    reset_mid_body,
    retry_after,
    sequence,
    short_body,
    text,
)
from gatekit import MARGIN_S, OK, Gate, GateRun, assert_verdict

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytest_opsgate.demo import DemoServer


# Headroom for a busy 2-core CI box on top of the configured timeouts: the bounds below catch
# a hang or a deadline that is not honoured, not a slow machine.
READY_TIMEOUT_S = 1.5  # for targets that never become ready
HEAL_TIMEOUT_S = 15.0  # for targets that do: ample, and far above the time they take
REQUEST_TIMEOUT_S = 1.0

PROXY_502 = text(
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
    status=502,
    content_type="text/html",
)

# The project under test in readiness rows: one smoke test that needs the target up.
SMOKE_TEST = """
    import pytest

    @pytest.mark.gate("smoke")
    def test_target_answers(gate_client):
        assert gate_client.get("/api/items").status_code == 200
"""


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but never listening: refused, and no other process can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def assert_never_ran_a_test(run: GateRun) -> None:
    """Readiness stopped the run before any test of the project."""
    __tracebackhide__ = True
    assert run.report["tests"] == []
    assert " passed" not in run.output
    assert not run.readiness["ready"]


def attempt_log(run: GateRun) -> list[str]:
    """The numbered attempt lines of a not-ready message (the last few attempts)."""
    return [line for line in run.readiness["error"].splitlines() if line.startswith("  #")]


def not_ready(
    gate: Gate, server: FaultServer, behaviour: Behaviour, *args: str, timeout: float
) -> GateRun:
    """Serve ``behaviour`` on /healthz and run the smoke gate until readiness gives up."""
    server.route("/healthz", behaviour)
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(
        server.url, "--gate-ready-path=/healthz", f"--gate-ready-timeout={timeout}", *args
    )
    assert_verdict(run, "ERROR", 10)
    assert_never_ran_a_test(run)
    return run


def healthy_target(server: FaultServer) -> None:
    server.route("/healthz", OK)
    server.route("/api/items", json({"items": [], "count": 0}))


# --------------------------------------------------------------------------- readiness: F1-F12


class RefuseAtStart:
    """Restarts the target as the gate run configures, so readiness meets the refusal."""

    def __init__(self, server: FaultServer, seconds: float) -> None:
        self.server = server
        self.seconds = seconds

    def pytest_configure(self, config: pytest.Config) -> None:
        self.server.refuse_for(self.seconds, hold_port=True)


def test_F01_refused_then_healthy_passes(gate: Gate, server: FaultServer) -> None:
    healthy_target(server)
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(
        server.url,
        "--gate-ready-path=/healthz",
        f"--gate-ready-timeout={HEAL_TIMEOUT_S}",
        plugins=[RefuseAtStart(server, 1.0)],
    )
    assert_verdict(run, "PASS", 0)
    assert run.readiness["ready"]
    assert run.readiness["version"] == "1.4.2"
    assert run.readiness["attempts"] >= 2  # it was refused first, and kept asking
    assert server.healed_at is not None
    # Refused attempts never reach the server: the first request after it healed was ready.
    (health,) = server.requests_for("/healthz")
    assert run.readiness["waited_s"] >= 0.5
    # Healing is noticed before the deadline (how soon is benchmarks/readiness_lag.py's
    # business: a timing goal, not a hang bound).
    assert health.at - server.healed_at < HEAL_TIMEOUT_S
    assert run.elapsed_s < HEAL_TIMEOUT_S + MARGIN_S


def test_F02_never_listens_exits_10_connection_refused(gate: Gate, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(url, "--gate-ready-path=/healthz", f"--gate-ready-timeout={READY_TIMEOUT_S}")
    assert_verdict(run, "ERROR", 10)
    assert_never_ran_a_test(run)
    log = attempt_log(run)
    assert len(log) >= 2
    assert all("GET /healthz -> connection refused" in line for line in log)
    # The attempt log: numbered attempts, each naming the path and what happened.
    run.result.stdout.fnmatch_lines(
        [
            f"*{url} was not ready after * s (timeout {READY_TIMEOUT_S:g} s): connection refused*",
            "*#* +*s GET /healthz -> connection refused*",
            "*hint: nothing listens there yet*",
        ]
    )
    assert run.elapsed_s >= READY_TIMEOUT_S  # it waited out the deadline, then stopped
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S


def test_F03_dns_failure_exits_10_naming_dns(gate: Gate) -> None:
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(
        "http://nonexistent.invalid:8080",
        "--gate-ready-path=/healthz",
        f"--gate-ready-timeout={READY_TIMEOUT_S}",
    )
    assert_verdict(run, "ERROR", 10)
    assert_never_ran_a_test(run)
    error = run.readiness["error"]
    assert "could not resolve host" in error
    assert "hint: the host name does not resolve" in error
    assert "refused" not in error  # told apart from a closed port
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S


def test_F04_silent_target_times_out_per_attempt_and_per_check(
    gate: Gate, server: FaultServer
) -> None:
    attempt_timeout = 0.4
    run = not_ready(
        gate,
        server,
        hang(),
        f"--gate-ready-attempt-timeout={attempt_timeout}",
        timeout=READY_TIMEOUT_S,
    )
    assert "timed out" in run.readiness["error"]
    assert "hint: the service accepts connections but does not answer" in run.readiness["error"]
    # Each attempt gave up at its own timeout, so several fit in the deadline.
    log = attempt_log(run)
    assert len(log) >= 2
    assert f"timed out: no complete answer within {attempt_timeout:g} s" in log[0]
    assert len(server.requests_for("/healthz")) >= 2
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S

    # The same silence on a declared smoke check: FAIL at --gate-request-timeout, no hang.
    healthy_target(server)
    server.route("/silent", hang())
    gate.checks('[[checks]]\npath = "/silent"\n')
    check = gate.run(
        server.url, "--gate-ready-path=/healthz", f"--gate-request-timeout={REQUEST_TIMEOUT_S}"
    )
    assert_verdict(check, "FAIL", 1)
    assert f"total deadline {REQUEST_TIMEOUT_S:g} s exceeded" in check.test_reason("/silent")
    assert check.elapsed_s < REQUEST_TIMEOUT_S + MARGIN_S


def test_F05_proxy_502_while_booting_then_ready(gate: Gate, server: FaultServer) -> None:
    run = not_ready(gate, server, PROXY_502, timeout=READY_TIMEOUT_S)
    error = run.readiness["error"]
    assert "not ready: HTTP 502" in error
    assert "body: <html><head><title>502 Bad Gateway</title>" in error  # a short excerpt
    assert len(max(error.splitlines(), key=len)) < 400  # the excerpt is short
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S

    # The proxy's error page for the first polls while booting, then the service: PASS.
    server.route("/healthz", sequence([PROXY_502, PROXY_502, PROXY_502, OK]))
    server.route("/api/items", json({"items": [], "count": 0}))
    healed = gate.run(
        server.url, "--gate-ready-path=/healthz", f"--gate-ready-timeout={HEAL_TIMEOUT_S}"
    )
    assert_verdict(healed, "PASS", 0)
    assert healed.readiness["attempts"] == 4  # ready at the first answer that was ready
    assert healed.elapsed_s < HEAL_TIMEOUT_S


def test_F06_degraded_200_is_not_ready_unless_accepted(gate: Gate, server: FaultServer) -> None:
    degraded = json({"status": "degraded", "checks": {"db": {"status": "ok"}}})
    run = not_ready(gate, server, degraded, timeout=READY_TIMEOUT_S)
    assert 'not ready: status is "degraded"' in run.readiness["error"]
    assert '--gate-ready-expect \'status in ["ok", "degraded"]\'' in run.readiness["error"]
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S

    server.route("/api/items", json({"items": []}))
    accepted = gate.run(
        server.url,
        "--gate-ready-path=/healthz",
        '--gate-ready-expect=status in ["ok", "degraded"]',
        f"--gate-ready-timeout={READY_TIMEOUT_S}",
    )
    assert_verdict(accepted, "PASS", 0)
    assert accepted.readiness["ready"]


def test_F07_html_on_the_health_path_is_not_ready(gate: Gate, server: FaultServer) -> None:
    spa = text("<!doctype html><title>App</title><div id=root></div>", content_type="text/html")
    run = not_ready(gate, server, spa, timeout=READY_TIMEOUT_S)
    error = run.readiness["error"]
    assert "health path answered text/html" in error
    assert "hint: this path serves a web page, not health" in error
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S


@pytest.mark.parametrize("where", ["login", "other_host"])
def test_F08_redirect_is_not_followed(gate: Gate, server: FaultServer, where: str) -> None:
    with FaultServer() as other:
        # Both places answer like a healthy service: a gate that followed would call it ready.
        other.route("/health", OK)
        server.route("/login", OK)
        location = "/login?next=/healthz" if where == "login" else f"{other.url}/health"
        run = not_ready(gate, server, redirect(location), timeout=READY_TIMEOUT_S)
        assert other.requests == []  # nothing at all sent to another host
    error = run.readiness["error"]
    assert f"redirect to {location} (not followed)" in error
    assert "hint: the health path redirects (to a login page?)" in error
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S


@pytest.mark.parametrize("shape", ["loop", "chain"])
def test_F09_redirect_loop_errors_quickly(gate: Gate, server: FaultServer, shape: str) -> None:
    timeout = 60.0
    if shape == "loop":
        server.route("/bounce", redirect("/healthz"))
        behaviour = redirect("/bounce")
        words = "redirect loop: /healthz -> /bounce -> /healthz"
    else:
        for hop in range(1, 10):
            server.route(f"/hop{hop}", redirect(f"/hop{hop + 1}"))
        behaviour = redirect("/hop1")
        words = "too many redirects (more than 5)"
    run = not_ready(gate, server, behaviour, timeout=timeout)
    assert words in run.readiness["error"]
    # Settled on the first answer, not by waiting for the readiness deadline.
    assert len(attempt_log(run)) == 1
    assert run.elapsed_s < timeout / 3


def test_F10_flapping_target_is_unstable(gate: Gate, server: FaultServer) -> None:
    unavailable = json({"status": "starting"}, status=503)
    run = not_ready(
        gate,
        server,
        flap([OK, unavailable]),
        "--gate-ready-successes=3",
        timeout=READY_TIMEOUT_S,
    )
    error = run.readiness["error"]
    assert "unstable: flapped between ready and not ready" in error
    assert "3 consecutive needed" in error
    assert "hint: the service flaps" in error
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S


def test_F11_self_signed_tls_fails_and_a_ca_bundle_fixes_it(gate: Gate) -> None:
    with FaultServer(tls=True) as server:
        run = not_ready(gate, server, OK, timeout=READY_TIMEOUT_S)
        assert server.requests == []  # no silent retry without verification
        error = run.readiness["error"]
        assert "TLS verification failed" in error
        assert "verification is never switched off silently" in error
        assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S

        assert server.cert_path is not None
        server.route("/api/items", json({"items": []}))
        trusted = gate.run(
            server.url,
            "--gate-ready-path=/healthz",
            f"--gate-ca-bundle={server.cert_path}",
            f"--gate-ready-timeout={READY_TIMEOUT_S}",
        )
        assert_verdict(trusted, "PASS", 0)
        assert "TLS verification DISABLED" not in trusted.output
        assert len(server.requests_for("/api/items")) == 1  # the test's request, verified too


def test_F12_F32_a_version_never_served_is_not_ready_naming_both(
    gate: Gate, server: FaultServer
) -> None:
    healthy_target(server)
    gate.pytester.makepyfile(SMOKE_TEST)
    run = gate.run(
        server.url,
        "--gate-ready-path=/healthz",
        "--gate-expect-version=2.0.0",
        f"--gate-ready-timeout={READY_TIMEOUT_S}",
    )
    # During a rolling deploy the old version answers healthy first (F32): the gate waits
    # for the wanted one, and at the deadline says what is still served.
    assert_verdict(run, "ERROR", 10)
    assert "still serving 1.4.2, want 2.0.0" in run.reasons()
    assert "ready, but serving 1.4.2, want 2.0.0" in run.output
    assert run.report["tests"] == []  # a stale deploy is not worth testing
    assert run.elapsed_s < READY_TIMEOUT_S + MARGIN_S

    matching = gate.run(server.url, "--gate-ready-path=/healthz", "--gate-expect-version=1.4.2")
    assert_verdict(matching, "PASS", 0)


# --------------------------------------------------------------------------- smoke checks: F13-F19


def check_run(
    gate: Gate,
    server: FaultServer,
    path: str,
    behaviour: Behaviour,
    extra: str = "",
    *args: str,
) -> tuple[GateRun, str]:
    """Declare one smoke check on a hostile path of a healthy target; FAIL is expected."""
    healthy_target(server)
    server.route(path, behaviour)
    gate.checks(f'[[checks]]\npath = "{path}"\n{extra}\n')
    run = gate.run(server.url, "--gate-ready-path=/healthz", *args)
    assert_verdict(run, "FAIL", 1)
    reason = run.test_reason(f"GET {path}")
    assert run.report["phases"][0]["failed"] == 1
    return run, reason


def test_F13_slow_drip_fails_within_the_request_timeout(gate: Gate, server: FaultServer) -> None:
    run, reason = check_run(
        gate,
        server,
        "/drip",
        drip(b"x" * 100, interval_s=0.2),
        "",
        f"--gate-request-timeout={REQUEST_TIMEOUT_S}",
    )
    assert f"total deadline {REQUEST_TIMEOUT_S:g} s exceeded" in reason
    # 100 bytes at 5 a second would take 20 s; the deadline cut it off.
    assert run.elapsed_s < REQUEST_TIMEOUT_S + MARGIN_S


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (reset_mid_body(), "connection broken after"),
        (short_body(), "protocol error after 100 body bytes"),
        (close_after_headers(), "protocol error"),
    ],
    ids=["reset_mid_body", "short_content_length", "close_after_headers"],
)
def test_F14_broken_body_fails_with_a_protocol_error(
    gate: Gate, server: FaultServer, behaviour: Behaviour, words: str
) -> None:
    run, reason = check_run(
        gate, server, "/broken", behaviour, "", f"--gate-request-timeout={REQUEST_TIMEOUT_S}"
    )
    assert words in reason
    assert run.elapsed_s < REQUEST_TIMEOUT_S + MARGIN_S


@pytest.mark.parametrize("behaviour", [huge(), endless()], ids=["10MB", "endless"])
def test_F15_huge_body_stops_at_the_byte_cap(
    gate: Gate, server: FaultServer, behaviour: Behaviour
) -> None:
    cap = 64 * 1024
    run, reason = check_run(
        gate,
        server,
        "/big",
        behaviour,
        "",
        "--gate-max-body=64KiB",
        f"--gate-request-timeout={REQUEST_TIMEOUT_S * 5}",
    )
    assert "response body exceeded the 64 KiB cap" in reason
    (dump,) = run.artifacts.rglob("exchanges.txt")
    assert dump.stat().st_size < cap  # the evidence is an excerpt, not the body
    assert sum(p.stat().st_size for p in run.artifacts.rglob("*") if p.is_file()) < 2 * cap
    assert run.elapsed_s < REQUEST_TIMEOUT_S * 5 + MARGIN_S


def test_F16_gzip_bomb_is_capped_on_decoded_size(gate: Gate, server: FaultServer) -> None:
    bomb = gzip_bomb(decoded_size=1_000_000_000)
    run, reason = check_run(
        gate,
        server,
        "/bomb",
        bomb,
        'json_has = ["status"]',
        "--gate-max-body=64KiB",
        f"--gate-request-timeout={REQUEST_TIMEOUT_S * 5}",
    )
    assert "response body exceeded the 64 KiB cap" in reason
    (dump,) = run.artifacts.rglob("exchanges.txt")
    assert dump.stat().st_size < 64 * 1024
    assert run.elapsed_s < REQUEST_TIMEOUT_S * 5 + MARGIN_S


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (broken_json(), "returned invalid JSON at line 1 column 35"),
        (nan_json(), "returned NaN in JSON, which is not valid JSON"),
        (deep_json(depth=100_000), "JSON nested deeper than 200 levels"),
    ],
    ids=["truncated", "nan", "deep"],
)
def test_F17_bad_json_fails_with_a_readable_parse_error(
    gate: Gate, server: FaultServer, behaviour: Behaviour, words: str
) -> None:
    run, reason = check_run(
        gate,
        server,
        "/doc",
        behaviour,
        'json_has = ["status"]',
        f"--gate-request-timeout={REQUEST_TIMEOUT_S}",
    )
    assert words in reason
    assert "RecursionError" not in run.output
    assert run.elapsed_s < REQUEST_TIMEOUT_S + MARGIN_S


def test_F18_catch_all_200_fails_the_negative_control(gate: Gate) -> None:
    with FaultServer(catch_all=True) as server:
        gate.checks(
            """
            negative_control = true

            [[checks]]
            path = "/api/items"
            """
        )
        run = gate.run(server.url)  # readiness discovers /api/health/: "ok", 200
    assert_verdict(run, "FAIL", 1)
    assert run.readiness["ready"]
    verdicts = {t["nodeid"]: t["verdict"] for t in run.report["tests"]}
    assert verdicts["smoke::GET /api/items"] == "PASS"  # which proves nothing, and so:
    assert verdicts["smoke::negative_control"] == "FAIL"
    assert "answered 200 for a path that cannot exist" in run.test_reason("negative_control")
    assert run.elapsed_s < MARGIN_S


def test_F19_retry_after_a_day_is_capped_by_the_budget(gate: Gate, server: FaultServer) -> None:
    budget_s = 3.0
    run, reason = check_run(
        gate,
        server,
        "/limited",
        retry_after(86400),
        f'budget = "{budget_s:g}s"',
    )
    assert "answered 429 Too Many Requests (Retry-After: 86400 (24 h))" in reason
    assert "remaining budget of" in reason
    assert run.elapsed_s < budget_s + MARGIN_S

    # The same throttle on the health path: polite waits, each cut to the readiness deadline.
    throttled = not_ready(gate, server, retry_after(86400), timeout=READY_TIMEOUT_S)
    assert "not ready: HTTP 429" in throttled.readiness["error"]
    assert throttled.elapsed_s < READY_TIMEOUT_S + MARGIN_S


# --------------------------------------------------------------------------- clock: F20

JUMPING_CLOCK = """
    import time

    _real_time = time.time
    _calls = [0]

    def _jumping_time():
        # The wall clock leaps a day ahead on every read (an NTP step, a VM resumed).
        _calls[0] += 1
        return _real_time() + 86400.0 * _calls[0]

    time.time = _jumping_time

    def pytest_unconfigure(config):
        time.time = _real_time
"""

CLOCK_TEST = """
    import time

    import pytest

    @pytest.mark.gate("smoke")
    def test_wall_clock_jumps_while_we_talk_to_the_target(gate_client):
        before = time.time()
        assert gate_client.get("/api/items").status_code == 200
        assert time.time() - before >= 86400  # the jump is real in this process
"""


def test_F20_wall_clock_jumps_do_not_change_durations(gate: Gate, server: FaultServer) -> None:
    healthy_target(server)
    # Readiness spans several polls, and backoff sleeps, while the clock jumps.
    starting = json({"status": "starting"}, status=503)
    server.route("/healthz", sequence([starting, starting, starting, OK]))
    gate.pytester.makeconftest(JUMPING_CLOCK)
    gate.pytester.makepyfile(CLOCK_TEST)
    run = gate.run(
        server.url,
        "--gate-ready-path=/healthz",
        f"--gate-ready-timeout={HEAL_TIMEOUT_S}",
        subprocess=True,
    )
    assert_verdict(run, "PASS", 0)
    assert run.readiness["attempts"] == 4
    # Every duration is bounded by the run's real wall time; a day-long jump would show.
    assert 0 < run.readiness["waited_s"] < run.elapsed_s
    assert 0 < run.report["duration_s"] < run.elapsed_s
    for test in run.report["tests"]:
        assert 0 <= test["duration_s"] < run.elapsed_s
    for phase in run.report["phases"]:
        assert 0 <= phase["duration_s"] < run.elapsed_s
    for endpoint in run.report["endpoints"]:
        assert endpoint["max"] < run.elapsed_s * 1000
        assert endpoint["window_s"] < run.elapsed_s
    assert run.elapsed_s < HEAL_TIMEOUT_S + MARGIN_S


# --------------------------------------------------------------------------- e2e: F21

E2E_FLOWS = """
    import pytest

    pytestmark = pytest.mark.gate("e2e")

    def test_error_page(gate_page):
        gate_page.visit("/boom", timeout={timeout_ms})

    def test_login_redirect(gate_page):
        gate_page.visit("/account", timeout={timeout_ms})
"""


def test_F21_e2e_page_500_or_login_redirect_fails(gate: Gate, demo: DemoServer) -> None:
    timeout_s = 15
    gate.pytester.makepyfile(
        textwrap.dedent(E2E_FLOWS).replace("{timeout_ms}", str(timeout_s * 1000))
    )
    run = gate.run(demo.url, "--screenshot=off", "--tracing=off", gate="e2e", subprocess=True)
    assert_verdict(run, "FAIL", 1)
    run.result.assert_outcomes(failed=2)
    assert "answered 500 Internal Server Error at" in run.test_reason("test_error_page")
    assert "/boom" in run.test_reason("test_error_page")
    reason = run.test_reason("test_login_redirect")
    assert "was sent to a login page:" in reason
    assert "/login?next=/account" in reason
    final_urls = sorted(p.read_text().strip() for p in run.artifacts.rglob("final-url.txt"))
    assert [url.split("?")[0].rsplit("/", 1)[-1] for url in final_urls] == ["boom", "login"]
    # Two visits bounded by their navigation timeout, plus a browser start.
    assert run.elapsed_s < 2 * timeout_s + 2 * MARGIN_S


# --------------------------------------------------------------------------- known gaps


def test_gate_json_of_a_run_stopped_by_readiness_keeps_its_numbers(
    gate: Gate, server: FaultServer, closed_port: int
) -> None:
    gate.pytester.makepyfile(SMOKE_TEST)
    refused = gate.run(
        f"http://127.0.0.1:{closed_port}",
        "--gate-ready-path=/healthz",
        f"--gate-ready-timeout={READY_TIMEOUT_S}",
    )
    assert_verdict(refused, "ERROR", 10)
    assert refused.readiness["path"] == "/healthz"
    assert refused.readiness["attempts"] >= len(attempt_log(refused)) >= 2
    assert refused.readiness["waited_s"] >= READY_TIMEOUT_S - 0.1
    healthy_target(server)
    stale = gate.run(
        server.url,
        "--gate-ready-path=/healthz",
        "--gate-expect-version=2.0.0",
        f"--gate-ready-timeout={READY_TIMEOUT_S}",
    )
    assert_verdict(stale, "ERROR", 10)
    assert stale.report["target"]["version"] == "1.4.2"
    assert stale.readiness["version"] == "1.4.2"
