"""GateClient against real loopback fault servers: deadlines, caps, protocol faults, redirects."""

from __future__ import annotations

import gzip
import json
import socket
import time
import tracemalloc
import zlib
from typing import TYPE_CHECKING

import httpx
import pytest

import faultserver as fs
from pytest_opsgate.http.client import (
    EXCERPT_CHARS,
    NAME_EXTENSION,
    BodyTooLarge,
    DeadlineExceeded,
    Exchange,
    GateClient,
    InvalidJSON,
    Timeouts,
    parse_json,
)
from pytest_opsgate.http.redact import REDACTED, Redactor

if TYPE_CHECKING:
    from collections.abc import Iterator

SLACK_S = 3.0  # scheduling headroom on a busy 2-core box; bounds are a configured timeout + this
CAP = 256 * 1024
MEMORY_BOUND = 4 * 1024 * 1024  # a few caps plus buffers; the bodies below are 10 MiB and more


@pytest.fixture
def client(server: fs.FaultServer) -> Iterator[GateClient]:
    with GateClient(
        server.url,
        timeouts=Timeouts(connect=2, read=2, total=4),
        max_body_bytes=CAP,
        redactor=Redactor(),
    ) as c:
        yield c


def _timed_error(client: GateClient, path: str, **kwargs: object) -> tuple[httpx.HTTPError, float]:
    began = time.monotonic()
    with pytest.raises(httpx.HTTPError) as info:
        client.get(path, **kwargs)  # type: ignore[arg-type]
    return info.value, time.monotonic() - began


# --- recording ----------------------------------------------------------------------------


def test_success_reads_body_and_records_exchange(server: fs.FaultServer) -> None:
    server.route("/api/items", fs.json({"items": [1, 2]}))
    seen: list[Exchange] = []
    with GateClient(server.url, on_exchange=seen.append, redactor=Redactor()) as client:
        response = client.get("/api/items", params={"page": "2"})
    assert response.json() == {"items": [1, 2]}
    assert response.is_closed
    assert seen == client.exchanges
    (ex,) = seen
    assert ex.name == "GET /api/items"
    assert ex.path == "/api/items"
    assert ex.url == f"{server.url}/api/items?page=2"
    assert ex.status == 200
    assert ex.elapsed_ms is not None
    assert ex.elapsed_ms > 0
    assert json.loads(ex.response_body) == {"items": [1, 2]}
    assert ex.response_headers["content-type"] == "application/json"
    assert not ex.truncated
    assert ex.error is None
    assert json.loads(json.dumps(ex.to_dict()))["name"] == "GET /api/items"
    text = ex.format()
    assert f"> GET {server.url}/api/items?page=2" in text
    assert "< 200 OK" in text


def test_name_extension_groups_samples(server: fs.FaultServer, client: GateClient) -> None:
    server.route("/api/items/7", fs.json({"id": 7}))
    client.get("/api/items/7", extensions={NAME_EXTENSION: "GET /api/items/{id}"})
    assert client.exchanges[-1].name == "GET /api/items/{id}"
    assert client.exchanges[-1].path == "/api/items/7"


def test_long_body_excerpt_is_truncated_and_marked(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/long", fs.text("a" * 10_000))
    response = client.get("/long")
    assert len(response.text) == 10_000  # the caller gets everything; only the record is cut
    ex = client.exchanges[-1]
    assert ex.truncated
    assert ex.response_body.startswith("a" * EXCERPT_CHARS + "...[truncated ")
    assert len(ex.response_body) < EXCERPT_CHARS + 60


def test_stream_true_is_capped_too(server: fs.FaultServer, client: GateClient) -> None:
    server.route("/small", fs.text("hello"))
    server.route("/big", fs.huge(2 * CAP))
    with client.stream("GET", "/small") as response:
        assert b"".join(response.iter_bytes()) == b"hello"
    with pytest.raises(BodyTooLarge), client.stream("GET", "/big"):
        pass


def test_timeouts_are_validated() -> None:
    with pytest.raises(ValueError, match=r"Timeouts\.total must be a positive"):
        Timeouts(total=0)
    with pytest.raises(TypeError, match="timeouts=Timeouts"):
        GateClient("http://127.0.0.1:1", timeout=3)


# --- F13: total deadline --------------------------------------------------------------------


@pytest.mark.parametrize("headers_first", [True, False], ids=["body", "headers"])
def test_f13_drip_fails_at_total_deadline(server: fs.FaultServer, headers_first: bool) -> None:
    # Each byte arrives well within the read timeout, so only a total deadline can stop it.
    server.route("/slow", fs.drip(b"x" * 200, interval_s=0.1, headers_first=headers_first))
    timeouts = Timeouts(connect=2, read=2, total=1.5)
    with GateClient(server.url, timeouts=timeouts, redactor=Redactor()) as client:
        err, elapsed = _timed_error(client, "/slow")
    assert isinstance(err, DeadlineExceeded)
    assert isinstance(err, httpx.TimeoutException)
    assert str(err).startswith("GET /slow: total deadline 1.5 s exceeded after ")
    assert "bytes received" in str(err)
    assert elapsed <= 1.5 + SLACK_S
    (ex,) = client.exchanges
    assert ex.error == str(err)
    assert err.exchange is ex


def test_hang_is_a_read_timeout_not_the_deadline(server: fs.FaultServer) -> None:
    server.route("/hang", fs.hang())
    timeouts = Timeouts(connect=2, read=0.5, total=10)
    with GateClient(server.url, timeouts=timeouts, redactor=Redactor()) as client:
        err, elapsed = _timed_error(client, "/hang")
    assert type(err) is httpx.ReadTimeout
    assert str(err) == "GET /hang: read timeout: the server sent nothing for 0.5 s"
    assert elapsed <= 0.5 + SLACK_S


def test_connection_refused_names_the_request() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with GateClient(f"http://127.0.0.1:{port}", redactor=Redactor()) as client:
        err, _ = _timed_error(client, "/health")
    assert isinstance(err, httpx.ConnectError)
    assert str(err).startswith("GET /health: cannot connect (")
    assert client.exchanges[0].status is None
    assert client.exchanges[0].error == str(err)


def test_tls_failure_is_named_and_a_ca_bundle_fixes_it() -> None:
    with fs.FaultServer(tls=True) as server:
        server.route("/health", fs.json({"status": "ok"}))
        with GateClient(server.url, redactor=Redactor()) as client:
            err, _ = _timed_error(client, "/health")
        assert isinstance(err, httpx.ConnectError)
        assert "TLS verification failed" in str(err)
        assert server.cert_path is not None
        with GateClient(server.url, verify=server.cert_path, redactor=Redactor()) as client:
            assert client.get("/health").json() == {"status": "ok"}


# --- F14: protocol faults ------------------------------------------------------------------


def test_f14_reset_mid_body_is_an_httpx_error(server: fs.FaultServer, client: GateClient) -> None:
    server.route("/reset", fs.reset_mid_body(total=10_000, send=1_000))
    err, _ = _timed_error(client, "/reset")
    assert isinstance(err, httpx.TransportError)
    assert str(err).startswith("GET /reset: ")
    ex = client.exchanges[-1]
    assert ex.status == 200
    assert ex.error == str(err)
    assert ex.truncated


def test_f14_short_content_length_is_a_protocol_error(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/short", fs.short_body(declared=1000, actual=100))
    err, _ = _timed_error(client, "/short")
    assert isinstance(err, httpx.RemoteProtocolError)
    assert str(err).startswith("GET /short: protocol error after 100 body bytes (")
    assert "expected 1000" in str(err)
    assert client.exchanges[-1].response_body.startswith("x" * 100 + "...[truncated")


def test_f14_close_after_headers_is_a_protocol_error(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/empty", fs.close_after_headers(content_length=100))
    err, _ = _timed_error(client, "/empty")
    assert isinstance(err, httpx.RemoteProtocolError)
    assert str(err).startswith("GET /empty: protocol error after 0 body bytes")


def test_garbage_instead_of_http_is_an_httpx_error(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/ssh", fs.garbage())
    err, _ = _timed_error(client, "/ssh")
    assert isinstance(err, httpx.RemoteProtocolError)
    assert str(err).startswith("GET /ssh: protocol error")


# --- F15/F16: byte cap --------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [fs.huge(10 * 1024 * 1024, "text/plain"), fs.endless()],
    ids=["10MiB", "endless"],
)
def test_f15_body_cap_stops_reading_with_bounded_memory(
    server: fs.FaultServer, client: GateClient, behaviour: fs.Behaviour
) -> None:
    server.route("/big", behaviour)
    tracemalloc.start()
    try:
        err, elapsed = _timed_error(client, "/big")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(err, BodyTooLarge)
    assert str(err).startswith("GET /big: response body exceeded the 256 KiB cap (--gate-max-body)")
    assert peak < MEMORY_BOUND
    assert elapsed <= client.timeouts.total + SLACK_S
    ex = client.exchanges[-1]
    assert err.exchange is ex
    assert ex.status == 200
    assert ex.truncated
    assert ex.response_body[:100] in ("x" * 100, "y" * 100)
    assert "the rest was not read]" in ex.response_body


def test_f16_gzip_bomb_is_capped_on_decoded_size(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/bomb", fs.gzip_bomb(decoded_size=100_000_000))
    client.get("/missing")  # warm the connection; the bomb is built lazily server-side
    tracemalloc.start()
    try:
        err, _ = _timed_error(client, "/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(err, BodyTooLarge)
    assert peak < MEMORY_BOUND  # 100 MB decoded would be far past this
    assert client.exchanges[-1].truncated


def test_f16_brotli_bomb_is_capped_on_decoded_size(
    server: fs.FaultServer, client: GateClient
) -> None:
    brotli = pytest.importorskip("brotli")
    if not hasattr(brotli.Decompressor, "can_accept_more_data"):
        pytest.skip("brotli < 1.2 cannot bound its output, so br is not requested")
    bomb = brotli.compress(bytes(100_000_000), quality=5)  # ~150 bytes on the wire
    server.route("/bomb", fs.raw(bomb, "application/json", headers={"content-encoding": "br"}))
    server.route("/small", fs.raw(brotli.compress(b'{"ok": true}'), "application/json",
                                  headers={"content-encoding": "br"}))  # fmt: skip
    assert client.get("/small").json() == {"ok": True}
    tracemalloc.start()
    try:
        err, _ = _timed_error(client, "/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(err, BodyTooLarge)
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
def test_compressed_bodies_decode(
    server: fs.FaultServer, client: GateClient, encoding: str, encode: object
) -> None:
    doc = {"items": list(range(5000))}
    body = encode(json.dumps(doc).encode())  # type: ignore[operator]
    server.route("/z", fs.raw(body, "application/json", headers={"content-encoding": encoding}))
    assert client.get("/z").json() == doc
    assert server.requests[-1].headers["accept-encoding"].startswith("gzip, deflate")


def test_corrupt_gzip_is_a_decoding_error(server: fs.FaultServer, client: GateClient) -> None:
    server.route("/z", fs.raw(b"not gzip at all", headers={"content-encoding": "gzip"}))
    err, _ = _timed_error(client, "/z")
    assert isinstance(err, httpx.DecodingError)
    assert str(err).startswith("GET /z: cannot decode the response body (invalid gzip data")


# --- F8/F9: redirects ----------------------------------------------------------------------


def test_f8_redirects_are_not_followed_by_default(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/old", fs.redirect("/login"))
    server.route("/login", fs.text("login page"))
    response = client.get("/old")
    assert response.status_code == 302
    assert [r.path for r in server.requests] == ["/old"]
    assert response.next_request is not None
    assert response.next_request.url == f"{server.url}/login"


def test_redirects_are_followed_when_asked(server: fs.FaultServer, client: GateClient) -> None:
    server.route("/old", fs.redirect("/new"))
    server.route("/new", fs.text("moved"))
    response = client.get("/old", follow_redirects=True)
    assert response.text == "moved"
    assert [r.status_code for r in response.history] == [302]
    assert [ex.name for ex in client.exchanges] == ["GET /old", "GET /new"]


def test_303_after_post_becomes_get_and_307_keeps_the_body(
    server: fs.FaultServer, client: GateClient
) -> None:
    server.route("/see-other", fs.redirect("/echo", status=303))
    server.route("/temporary", fs.redirect("/echo", status=307))
    server.route("/echo", fs.echo())
    after_303 = client.post("/see-other", content=b"payload", follow_redirects=True).json()
    after_307 = client.post("/temporary", content=b"payload", follow_redirects=True).json()
    assert (after_303["method"], after_303["body"]) == ("GET", "")
    assert (after_307["method"], after_307["body"]) == ("POST", "payload")


def test_f9_redirect_loop_errors_quickly(server: fs.FaultServer) -> None:
    server.route("/a", fs.redirect("/b"))
    server.route("/b", fs.redirect("/a"))
    with GateClient(server.url, max_redirects=5, redactor=Redactor()) as client:
        err, elapsed = _timed_error(client, "/a", follow_redirects=True)
    assert isinstance(err, httpx.TooManyRedirects)
    assert str(err).startswith("GET /a: too many redirects (5 followed, max_redirects=5)")
    assert "redirects in a loop" in str(err)
    assert len(client.exchanges) == 6
    assert elapsed <= client.timeouts.total + SLACK_S


SECRET_HEADERS = {
    "Authorization": "Bearer tok-abcdef-123456",
    "X-Api-Key": "key-abcdef-123456",
    "Cookie": "session=sess-abcdef-123456",
    "X-Trace": "trace-1",
}


def test_f8_sensitive_headers_never_cross_origins(server: fs.FaultServer) -> None:
    with fs.FaultServer() as other:
        server.route("/away", fs.redirect(f"{other.url}/landing"))
        server.route("/home", fs.redirect("/landing"))
        server.route("/landing", fs.echo())
        other.route("/landing", fs.echo())
        with GateClient(
            server.url, headers=SECRET_HEADERS, follow_redirects=True, redactor=Redactor()
        ) as client:
            client.get("/away")
            client.get("/home")
        (crossed,) = other.requests_for("/landing")
        (stayed,) = server.requests_for("/landing")
    for name in ("authorization", "x-api-key", "cookie"):
        assert name not in crossed.headers
    assert stayed.headers["authorization"] == SECRET_HEADERS["Authorization"]
    assert stayed.headers["x-api-key"] == SECRET_HEADERS["X-Api-Key"]
    assert stayed.headers["cookie"] == SECRET_HEADERS["Cookie"]
    assert crossed.headers["x-trace"] == "trace-1"
    assert crossed.headers["host"] == other.url.removeprefix("http://")


# --- F17: strict JSON ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (fs.broken_json(), "GET /doc returned invalid JSON at line 1 column 35: Expecting value"),
        (fs.nan_json(), "GET /doc returned NaN in JSON, which is not valid JSON"),
        (fs.deep_json(100_000), "GET /doc returned JSON nested deeper than 200 levels"),
        (fs.deep_json(201), "GET /doc returned JSON nested deeper than 200 levels"),
        (fs.text("", content_type="application/json"), "GET /doc returned an empty body"),
        (fs.text("<html>login</html>", content_type="text/html"), "GET /doc returned invalid"),
    ],
    ids=["broken", "nan", "deep-100k", "deep-201", "empty", "html"],
)
def test_f17_bad_json_is_a_readable_error(
    server: fs.FaultServer, client: GateClient, behaviour: fs.Behaviour, expected: str
) -> None:
    server.route("/doc", behaviour)
    response = client.get("/doc")
    with pytest.raises(InvalidJSON) as info:
        client.json_of(response)
    assert str(info.value).startswith(expected)
    assert "; body starts with " in str(info.value)
    assert isinstance(info.value, ValueError)


def test_f17_good_json_within_depth_parses(server: fs.FaultServer, client: GateClient) -> None:
    server.route("/doc", fs.deep_json(200))
    value = parse_json(client.get("/doc"))
    for _ in range(199):
        assert isinstance(value, list)
        value = value[0]
    assert value == []


# --- secrets --------------------------------------------------------------------------------


def test_secrets_never_reach_the_record(server: fs.FaultServer) -> None:
    server.route("/echo", fs.echo())
    server.route(
        "/login",
        fs.json(
            {"access_token": "issued-token-98765", "user": "ann"},
            headers={"set-cookie": "sid=cookie-value-24680; Path=/; HttpOnly"},
        ),
    )
    redactor = Redactor()
    redactor.register("planted-password-1")
    with GateClient(server.url, headers=SECRET_HEADERS, redactor=redactor) as client:
        echoed = client.post(
            "/echo",
            params={"token": "query-token-13579", "page": "1"},
            data={"username": "ann", "password": "planted-password-1"},
        )
        client.get("/login")
    assert "tok-abcdef-123456" in echoed.text  # the caller sees the real echo ...
    record = json.dumps([ex.to_dict() for ex in client.exchanges])
    record += "\n".join(ex.format() for ex in client.exchanges)
    for secret in (
        "tok-abcdef-123456",
        "key-abcdef-123456",
        "sess-abcdef-123456",
        "query-token-13579",
        "planted-password-1",
        "issued-token-98765",
        "cookie-value-24680",
    ):
        assert secret not in record  # ... the record never does
    echo_ex, login_ex = client.exchanges
    assert echo_ex.request_headers["authorization"] == REDACTED
    assert echo_ex.request_headers["x-trace"] == "trace-1"
    assert echo_ex.url.endswith(f"?token={REDACTED}&page=1")
    assert login_ex.response_headers["set-cookie"] == REDACTED
    assert '"user": "ann"' in login_ex.response_body


def test_secrets_are_kept_out_of_error_messages(server: fs.FaultServer) -> None:
    redactor = Redactor()
    redactor.register("path-secret-4242")
    server.route("/reset/path-secret-4242", fs.hang())
    timeouts = Timeouts(connect=1, read=0.3, total=2)
    with GateClient(server.url, timeouts=timeouts, redactor=redactor) as client:
        err, _ = _timed_error(client, "/reset/path-secret-4242")
    assert str(err) == f"GET /reset/{REDACTED}: read timeout: the server sent nothing for 0.3 s"
