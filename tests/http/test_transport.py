"""Shared TLS contexts of the bounded-HTTP core: one per trust store, never stale or widened."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

import faultserver as fs
from pytest_opsgate.http.client import GateClient
from pytest_opsgate.http.redact import Redactor
from pytest_opsgate.http.transport import tls_context

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def tls_server() -> Iterator[fs.FaultServer]:
    with fs.FaultServer(tls=True) as s:
        s.route("/health", fs.json({"status": "ok"}))
        yield s


def _status(url: str, verify: bool | str) -> int | str:
    """The status of GET /health, or the error message."""
    with GateClient(url, verify=verify, redactor=Redactor()) as client:
        try:
            return client.get("/health").status_code
        except httpx.HTTPError as exc:
            return str(exc)


def _context(client: httpx.Client) -> ssl.SSLContext:
    context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert isinstance(context, ssl.SSLContext)
    return context


def test_clients_of_one_trust_store_share_one_context() -> None:
    with (
        GateClient("http://127.0.0.1:9", redactor=Redactor()) as a,
        GateClient("http://127.0.0.1:9", redactor=Redactor()) as b,
    ):
        assert _context(a) is _context(b)
    assert tls_context(True) is tls_context(True)


def test_a_client_certificate_gets_a_context_of_its_own() -> None:
    cert, key = fs._self_signed_cert()
    # httpx loads cert= into the context it is given: the shared one must stay untouched.
    with pytest.warns(DeprecationWarning, match="cert"):
        client = GateClient("http://127.0.0.1:9", cert=(cert, key), redactor=Redactor())
    with client:
        assert _context(client) is not tls_context(True)


def test_a_ca_bundle_rewritten_in_place_is_a_new_trust_store(
    tls_server: fs.FaultServer, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    assert tls_server.cert_path is not None
    shutil.copyfile(tls_server.cert_path, bundle)
    assert _status(tls_server.url, str(bundle)) == 200
    unrelated, _key = fs._self_signed_cert.__wrapped__()  # a fresh pair, not the cached one
    try:
        shutil.copyfile(unrelated, bundle)
    finally:
        shutil.rmtree(Path(unrelated).parent)
    failed = _status(tls_server.url, str(bundle))
    assert isinstance(failed, str)
    assert "TLS verification failed" in failed


def test_ssl_cert_file_is_honoured_and_dropped_like_httpx_does(
    tls_server: fs.FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_server.cert_path is not None
    monkeypatch.setenv("SSL_CERT_FILE", tls_server.cert_path)
    assert _status(tls_server.url, True) == 200
    monkeypatch.delenv("SSL_CERT_FILE")
    failed = _status(tls_server.url, True)
    assert isinstance(failed, str)
    assert "TLS verification failed" in failed


def test_a_missing_ca_bundle_is_named_every_time(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    for _ in range(2):
        with pytest.raises(FileNotFoundError):
            tls_context(missing)
