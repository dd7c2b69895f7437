"""Sanity checks that each FaultServer behaviour really misbehaves the way it claims."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from typing import TYPE_CHECKING

import httpx
import pytest

import faultserver as fs

if TYPE_CHECKING:
    pass


def test_json_route_ignores_query_and_records_requests(server: fs.FaultServer) -> None:
    server.route("/health", fs.json({"status": "ok"}))
    r = httpx.post(f"{server.url}/health?x=1", content=b"hi", headers={"X-Token": "abc"})
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    (req,) = server.requests
    assert (req.method, req.path, req.query, req.body) == ("POST", "/health", "x=1", b"hi")
    assert req.headers["x-token"] == "abc"
    assert req.target == "/health?x=1"


def test_unknown_path_is_404_unless_catch_all(server: fs.FaultServer) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404
    with fs.FaultServer(catch_all=True) as everything:
        r = httpx.get(f"{everything.url}/definitely/not/a/page")
        assert (r.status_code, r.text) == (200, "ok")


def test_text_sets_content_type_and_status(server: fs.FaultServer) -> None:
    server.route("/", fs.text("<html>bad gateway</html>", 503, "text/html"))
    r = httpx.get(f"{server.url}/")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")


def test_sequence_repeats_last_and_flap_cycles(server: fs.FaultServer) -> None:
    server.route("/s", fs.sequence([fs.json({}, 503), fs.json({}, 503), fs.json({})]))
    server.route("/f", fs.flap([fs.json({}), fs.json({}, 503)]))
    with httpx.Client(base_url=server.url) as c:
        assert [c.get("/s").status_code for _ in range(4)] == [503, 503, 200, 200]
        assert [c.get("/f").status_code for _ in range(4)] == [200, 503, 200, 503]


def test_after_switches_at_recorded_moment(server: fs.FaultServer) -> None:
    # 5 s, not less: on a loaded CI machine the first request can take a second to arrive.
    switch = fs.after(5.0, fs.json({}, 503), fs.json({"status": "ok"}))
    server.route("/h", switch)
    assert switch.switch_at == pytest.approx(switch.routed_at + 5.0)
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/h").status_code == 503
        while time.monotonic() < switch.switch_at:
            time.sleep(0.02)
        assert c.get("/h").status_code == 200
    assert switch.first_then_at is not None
    assert switch.first_then_at >= switch.switch_at


def test_hang_times_out_and_stop_does_not_hang() -> None:
    s = fs.FaultServer()
    s.start()
    s.route("/", fs.hang())
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(s.url, timeout=0.3)
    thread = s._thread
    s.stop()
    assert thread is not None
    assert not thread.is_alive()


def test_redirect_and_loop(server: fs.FaultServer) -> None:
    server.route("/a", fs.redirect("/b"))
    server.route("/b", fs.redirect("/a"))
    r = httpx.get(f"{server.url}/a")
    assert (r.status_code, r.headers["location"]) == (302, "/b")
    with pytest.raises(httpx.TooManyRedirects):
        httpx.get(f"{server.url}/a", follow_redirects=True)


def test_drip_sends_headers_then_trickles_body(server: fs.FaultServer) -> None:
    server.route("/d", fs.drip(b"abc", interval_s=1.0))
    with httpx.Client(timeout=0.2) as c, c.stream("GET", f"{server.url}/d") as r:
        assert r.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            r.read()


def test_drip_during_headers(server: fs.FaultServer) -> None:
    server.route("/d", fs.drip(b"abc", interval_s=1.0, headers_first=False))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.url}/d", timeout=0.2)


def test_reset_mid_body_is_a_transport_error(server: fs.FaultServer) -> None:
    server.route("/r", fs.reset_mid_body(total=10_000, send=1_000))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(f"{server.url}/r")


@pytest.mark.parametrize("behaviour", [fs.short_body(1000, 100), fs.close_after_headers()])
def test_short_bodies_are_protocol_errors(server: fs.FaultServer, behaviour: fs.Behaviour) -> None:
    server.route("/s", behaviour)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/s")


def test_close_immediately_and_garbage(server: fs.FaultServer) -> None:
    server.route("/c", fs.close_immediately())
    server.route("/g", fs.garbage())
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/c")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/g")


def test_huge_streams_exact_size(server: fs.FaultServer) -> None:
    server.route("/big", fs.huge(3 * 1024 * 1024 + 7))
    with httpx.stream("GET", f"{server.url}/big") as r:
        assert sum(len(b) for b in r.iter_raw()) == 3 * 1024 * 1024 + 7


def test_endless_keeps_going_until_client_leaves(server: fs.FaultServer) -> None:
    server.route("/e", fs.endless())
    got = 0
    with httpx.stream("GET", f"{server.url}/e") as r:
        assert r.headers["transfer-encoding"] == "chunked"
        for chunk in r.iter_raw():
            got += len(chunk)
            if got > 4 * 1024 * 1024:
                break
    assert got > 4 * 1024 * 1024


def test_gzip_bomb_is_small_and_inflates_exactly() -> None:
    size = 5 * (1 << 20) + 123
    bomb = fs.gzip_bomb_bytes(size)
    assert len(bomb) < 10_000
    assert gzip.decompress(bomb) == bytes(size)  # valid CRC and length trailer


def test_gzip_bomb_default_decodes_huge(server: fs.FaultServer) -> None:
    server.route("/z", fs.gzip_bomb())
    with httpx.stream("GET", f"{server.url}/z") as r:
        assert r.headers["content-encoding"] == "gzip"
        compressed = b"".join(r.iter_raw())  # raw: decoding here would allocate the whole bomb
    assert len(compressed) < 2_000_000
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    first = inflater.decompress(compressed, 50_000_000)
    assert len(first) == 50_000_000  # the cap bit, and far more is pending
    assert inflater.unconsumed_tail


def test_json_faults(server: fs.FaultServer) -> None:
    server.route("/broken", fs.broken_json())
    server.route("/nan", fs.nan_json())
    server.route("/deep", fs.deep_json(100_000))
    with httpx.Client(base_url=server.url) as c:
        with pytest.raises(json.JSONDecodeError):
            json.loads(c.get("/broken").text)
        with pytest.raises(ValueError, match="NaN"):
            json.loads(c.get("/nan").text, parse_constant=_reject)
        with pytest.raises(RecursionError):
            json.loads(c.get("/deep").text)


def _reject(name: str) -> object:
    raise ValueError(name)


def test_retry_after_delay_and_echo(server: fs.FaultServer) -> None:
    server.route("/t", fs.retry_after())
    server.route("/slow", fs.delay(0.05, fs.json({"ok": True})))
    server.route("/echo", fs.echo())
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/t")
        assert (r.status_code, r.headers["retry-after"]) == (429, "86400")
        assert c.get("/slow").json() == {"ok": True}
        assert c.get("/echo?q=1", headers={"X-A": "b"}).json()["headers"]["x-a"] == "b"


def test_tls_self_signed_fails_verification_unless_trusted() -> None:
    with fs.FaultServer(tls=True) as s:
        s.route("/", fs.json({"status": "ok"}))
        assert s.url.startswith("https://127.0.0.1:")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(s.url)
        assert httpx.get(s.url, verify=False).json() == {"status": "ok"}
        assert s.cert_path is not None
        trusted = ssl.create_default_context(cafile=s.cert_path)
        assert httpx.get(s.url, verify=trusted).status_code == 200


def test_refuse_for_refuses_then_rebinds_same_port(server: fs.FaultServer) -> None:
    server.route("/", fs.json({}))
    port = server.port
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/").status_code == 200  # leaves a pooled connection that must die too
        server.refuse_for(0.5)
        with pytest.raises(httpx.ConnectError):
            c.get("/")
        deadline = time.monotonic() + 10
        while server.healed_at is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.healed_at is not None
        assert server.port == port
        assert c.get("/").status_code == 200


def test_stop_listening_refuses_and_cuts_open_connections(server: fs.FaultServer) -> None:
    server.route("/hang", fs.hang())
    errors: list[BaseException] = []

    def hang_forever() -> None:
        try:
            httpx.get(f"{server.url}/hang", timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    t = threading.Thread(target=hang_forever)
    t.start()
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop_listening()
    t.join(10)  # well under the client's own 30 s timeout: the server cut it
    assert not t.is_alive()
    assert isinstance(errors[0], httpx.RemoteProtocolError)
    assert server.died_at is not None
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", server.port))
