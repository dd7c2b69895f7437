"""The planted-secret test across every gate: no file a failing ``--gate=all`` run wrote holds one.

One run of smoke, E2E and load against the demo, failing in every phase on purpose so that
every kind of failure evidence is written (HTTP exchanges, screenshots, traces, Locust
reports), with a sentinel secret planted in each way a secret reaches a gate: a header
(a smoke check's credential from the environment, and a ``gate_client`` header), a query
string (a check's path, and failing and passing requests of a Locust ``HttpUser`` and a
``FastHttpUser``), a cookie (``gate_client``'s and the browser's), a Basic-auth password, an
environment variable registered with ``--gate-secret-env``, and a password typed into the
demo's login form. Then every file under the artifacts folder, the HTML report, the JUnit
XML, pytest-playwright's ``--output`` folder (zip members included) and the captured output
is searched for each sentinel, raw, URL-encoded and base64-encoded at any byte alignment (a
secret inside a longer base64 string, as in a Basic-auth header). Each channel has a sentinel
of its own, so a leak names its way out; only the environment variable is registered, so
the other channels test the redaction that needs no registration (sensitive names, typed
passwords).
"""

from __future__ import annotations

import base64
import io
import json
import re
import textwrap
import zipfile
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import pytest

from gatekit import Gate, assert_verdict

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

SENTINEL = "opsgate-sentinel-7f3a9c"
# ":" gives each secret a URL-encoded form that differs from the raw one.
SECRETS = {
    "smoke check header": f"{SENTINEL}:check-header",
    "gate_client header": f"{SENTINEL}:client-header",
    "check query string": f"{SENTINEL}:check-query",
    "locustfile query string": f"{SENTINEL}:load-query",
    "HttpUser failing query string": f"{SENTINEL}:http-user-query",
    "gate_client cookie": f"{SENTINEL}:client-cookie",
    "browser cookie": f"{SENTINEL}:browser-cookie",
    "basic auth password": f"{SENTINEL}:basic-password",
    "registered environment variable": f"{SENTINEL}:secret-env",
    "typed password": f"{SENTINEL}:typed-password",
}
ENVIRONMENT = {
    "CHECK_API_KEY": SECRETS["smoke check header"],
    "CLIENT_TOKEN": SECRETS["gate_client header"],
    "LOAD_TOKEN": SECRETS["locustfile query string"],
    "HTTP_USER_TOKEN": SECRETS["HttpUser failing query string"],
    "CLIENT_COOKIE": SECRETS["gate_client cookie"],
    "BROWSER_COOKIE": SECRETS["browser cookie"],
    "BASIC_PASSWORD": SECRETS["basic auth password"],
    "DEPLOY_NOTE": SECRETS["registered environment variable"],
    "E2E_PASSWORD": SECRETS["typed password"],
}

SMOKE_CHECKS = f"""
    [[checks]]
    name = "items with the deploy key"
    path = "/api/items"
    auth = {{ header = "X-Api-Key", env = "CHECK_API_KEY" }}

    [[checks]]
    name = "public items with a token in the query"
    path = "/api/public/items?token={SECRETS["check query string"]}"
    status = 201
"""

SMOKE_TEST = """
    import os

    import pytest

    @pytest.mark.gate("smoke")
    def test_client_headers(gate_client):
        note = os.environ["DEPLOY_NOTE"]
        response = gate_client.get(
            "/api/items",
            headers={"Authorization": f"Bearer {os.environ['CLIENT_TOKEN']}", "X-Build-Note": note},
        )
        print(f"build note {note}")
        gate_client.get("/api/items", cookies={"session_id": os.environ["CLIENT_COOKIE"]})
        gate_client.get("/api/items", auth=("deploy-user", os.environ["BASIC_PASSWORD"]))
        assert response.status_code == 200, f"the build with note {note} was refused"
"""

E2E_TEST = """
    import os

    import pytest
    from playwright.sync_api import expect

    pytestmark = pytest.mark.gate("e2e")

    @pytest.fixture
    def browser_context_args(browser_context_args):
        headers = {"X-Build-Note": os.environ["DEPLOY_NOTE"]}
        return {**browser_context_args, "extra_http_headers": headers}

    def test_login_with_the_wrong_password(gate_page, page, base_url):
        cookie = {"name": "session", "value": os.environ["BROWSER_COOKIE"], "url": base_url}
        page.context.add_cookies([cookie])
        gate_page.visit("/login")
        page.get_by_test_id("username").fill("sentinel-user")
        page.get_by_test_id("password").fill(os.environ["E2E_PASSWORD"])
        page.get_by_test_id("login-submit").click()
        expect(page.get_by_test_id("greeting")).to_have_text(
            "Signed in as sentinel-user", timeout=2000
        )
"""

LOCUSTFILE = """
    import os

    from locust import FastHttpUser, HttpUser, constant, task

    class Leaky(FastHttpUser):
        wait_time = constant(0.1)

        def on_start(self):
            print(f"build note {os.environ['DEPLOY_NOTE']}")

        @task
        def leak(self):
            token = os.environ["LOAD_TOKEN"]
            note = {"X-Build-Note": os.environ["DEPLOY_NOTE"]}
            self.client.get(f"/api/public/items?token={token}", headers=note)
            self.client.get(f"/api/missing?token={token}")

    class LeakyRequests(HttpUser):
        wait_time = constant(0.1)

        @task
        def leak(self):
            token = os.environ["HTTP_USER_TOKEN"]
            self.client.get(f"/api/missing?access_token={token}&page=2")
            self.client.get(f"/api/public/items?signature={token}")
"""


FILL = ("before", "fill")


def encoded_forms(secret: str) -> set[str]:
    """The forms a secret is searched in: raw, URL-encoded, and base64 at each of the three
    byte alignments a secret can have inside a longer base64 string (``user:secret``)."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"x" * shift + raw).decode()
            # Characters that depend on the secret's bytes alone: not the first group when
            # bytes come before it, nor the last group, which mixes in what comes after.
            forms.add(text[4 if shift else 0 : -4])
    return forms


def leaks_in(name: str, data: bytes) -> list[str]:
    """``where: channel`` for every secret form in ``data``, searching zip members too."""
    found = []
    # Percent-encoding may come in either case; every sentinel is lower case.
    lowered = data.lower()
    for channel, secret in SECRETS.items():
        if any(form.lower().encode() in lowered for form in encoded_forms(secret)):
            found.append(f"{name}: {channel}")
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                found += leaks_in(f"{name}!{member}", archive.read(member))
    return found


def test_a_secret_planted_in_every_gate_reaches_no_file_and_no_output(
    pytester: pytest.Pytester, fresh_demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # no compiled copies of the sources
    pytester.makeini("[pytest]\n")
    pytester.makefile(".toml", opsgate=textwrap.dedent(SMOKE_CHECKS))
    pytester.makepyfile(test_smoke=SMOKE_TEST, test_e2e=E2E_TEST)
    (pytester.path / "locustfiles").mkdir()
    (pytester.path / "locustfiles" / "leaky.py").write_text(textwrap.dedent(LOCUSTFILE))
    sources = {path for path in pytester.path.rglob("*") if path.is_file()}

    gate = Gate(pytester)
    run = gate.run(
        fresh_demo.url,
        "--gate-keep-going",
        "--gate-secret-env=DEPLOY_NOTE",
        "--gate-run-time=2s",
        "--gate-users=2",
        "--html=report.html",
        "--junitxml=junit.xml",
        "--output=pw-output",
        "-rA",
        gate="all",
        subprocess=True,
    )
    assert_verdict(run, "FAIL", 1)
    verdicts = {t["nodeid"]: t["verdict"] for t in run.report["tests"]}
    assert verdicts == {
        "smoke::GET /api/items": "FAIL",
        "smoke::GET /api/public/items": "FAIL",
        "test_smoke.py::test_client_headers": "FAIL",
        "test_e2e.py::test_login_with_the_wrong_password[chromium]": "FAIL",
        "locustfiles/leaky.py::load": "FAIL",
    }

    written = {path for path in pytester.path.rglob("*") if path.is_file()} - sources
    names = {path.relative_to(pytester.path).as_posix() for path in written}
    # Every kind of evidence was written, so finding no secret in it means something.
    for expected in (
        r"report\.html",
        r"junit\.xml",
        r"evidence-1/gate\.(json|md)",
        r"evidence-1/smoke-GET-api-items/exchanges\.(txt|json)",
        r"evidence-1/smoke-GET-api-public-items/exchanges\.(txt|json)",
        r"evidence-1/test_smoke\.py-test_client_headers/exchanges\.(txt|json)",
        r"evidence-1/test_e2e\.py-test_login_with_the_wrong_password-chromium/trace\.zip",
        r"evidence-1/test_e2e\.py-test_login_with_the_wrong_password-chromium/.*\.png",
        r"pw-output/.*/trace\.zip",
        r"evidence-1/locustfiles-leaky\.py-load/locust(\.html|\.log|_stats\.csv|_failures\.csv)",
        r"evidence-1/locustfiles-leaky\.py-load/opsgate-result\.json",
    ):
        assert any(re.fullmatch(expected, name) for name in names), (expected, sorted(names))

    # The secrets went out, and what was kept of them says [REDACTED].
    evidence = run.artifacts
    check_key = (evidence / "smoke-GET-api-items" / "exchanges.txt").read_text()
    assert "x-api-key: [REDACTED]" in check_key
    assert "401" in check_key
    check_query = (evidence / "smoke-GET-api-public-items" / "exchanges.txt").read_text()
    assert "token=[REDACTED]" in check_query
    client = (evidence / "test_smoke.py-test_client_headers" / "exchanges.txt").read_text()
    assert "authorization: [REDACTED]" in client
    assert "x-build-note: [REDACTED]" in client
    assert "build note [REDACTED]" in run.output  # the test's captured print
    folder = evidence / "test_e2e.py-test_login_with_the_wrong_password-chromium"
    with zipfile.ZipFile(folder / "trace.zip") as archive:
        events = [json.loads(line) for line in archive.read("trace.trace").splitlines()]
    fills = [e["params"]["value"] for e in events if (e.get("type"), e.get("method")) == FILL]
    assert fills == ["sentinel-user", "[REDACTED]"]
    assert "cookie: [REDACTED]" in client
    load = evidence / "locustfiles-leaky.py-load"
    assert "build note [REDACTED]" in (load / "locust.log").read_text()
    # A failing HttpUser request names its URL, query included, in Locust's failures.
    failures = (load / "locust_failures.csv").read_text()
    assert "/api/missing?access_token=[REDACTED]&page=2" in failures
    assert json.loads((load / "opsgate-result.json").read_text())["requests_total"] > 0

    leaks = [leak for path in sorted(written) for leak in leaks_in(str(path), path.read_bytes())]
    assert leaks == []
    assert leaks_in("captured output", run.output.encode()) == []
