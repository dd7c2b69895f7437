"""OpenAPI contract checks in the smoke gate: Schemathesis generates and judges, the gate's
client sends; the demo conforms, a drifted server FAILs per operation, the phase is bounded."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from faultserver import FaultServer, json
from pytest_opsgate.demo import DEV_KEY
from pytest_opsgate.demo._openapi import openapi_document
from pytest_opsgate.errors import GateUsageError
from pytest_opsgate.gates.smoke.config import load_config
from pytest_opsgate.gates.smoke.openapi.cases import PhaseBudget, worker_share
from pytest_opsgate.gates.smoke.openapi.config import matches
from pytest_opsgate.gates.smoke.openapi.items import xdist_position

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

# Operations of the demo's document: the GETs are sent in examples mode, the POSTs skipped.
DEMO_GETS = [
    "GET /api/health (getHealth)",
    "GET /healthz (getLiveness)",
    "GET /ready (getReadiness)",
    "GET /api/items (listItems)",
    "GET /api/items/{id} (getItem)",
    "GET /api/public/items (listPublicItems)",
    "GET /api/audit (listAuditEvents)",
]
DEMO_POSTS = [
    "POST /api/items (createItem)",
    "POST /api/public/items (createPublicItem)",
    "POST /api/preview (issuePreviewToken)",
    "POST /api/webhooks/incoming (receiveWebhook)",
    "POST /api/session/logout (logout)",
]
SENTINEL = "sntl-openapi-5e81c0d2a4"


def statuses(output: str) -> dict[str, str]:
    """nodeid -> PASSED/FAILED/SKIPPED/ERROR from the -v progress lines."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(openapi::.*?) (PASSED|FAILED|SKIPPED|ERROR)\b", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _config(data: dict[str, object], option: str | None = None, tmp: Path | None = None):
    source = (tmp or Path.cwd()) / "opsgate.toml"
    return load_config(
        source, data, display="opsgate.toml", openapi_option=option, invocation_dir=tmp
    )


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"url": "/openapi.json", "modes": "fuzz"},
            "[openapi]: key 'modes' is unknown (did you mean 'mode'?)",
        ),
        ({"url": "openapi.json"}, "[openapi]: key 'url' is 'openapi.json'; give an absolute URL"),
        ({"url": "/o.json", "path": "o.json"}, "key 'url' and 'path' are both set"),
        ({}, "[openapi]: key 'url' is missing"),
        (
            {"url": "/o.json", "mode": "chaos"},
            "key 'mode' is 'chaos'; use one of 'examples', 'fuzz'",
        ),
        (
            {"url": "/o.json", "max_examples": 5},
            "key 'max_examples' applies to mode = \"fuzz\" only",
        ),
        ({"url": "/o.json", "mode": "fuzz", "max_examples": 0}, "key 'max_examples' is 0"),
        ({"url": "/o.json", "time_limit": 30}, "key 'time_limit' must be a duration"),
        ({"url": "/o.json", "max_requests": "many"}, "key 'max_requests' must be a whole number"),
        ({"url": "/o.json", "auth": {"env": "KEY"}}, "key 'auth' needs env and exactly one of"),
        ({"path": "missing.yaml"}, "key 'path' is 'missing.yaml', and"),
    ],
)
def test_openapi_table_errors_name_file_and_key(
    table: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(GateUsageError) as excinfo:
        _config({"openapi": table}, tmp=tmp_path)
    assert str(excinfo.value).startswith("opsgate.toml: [openapi]: key ")
    assert message in str(excinfo.value)


def test_openapi_table_reads_every_key(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text("openapi: 3.0.3\n")
    smoke = _config(
        {
            "openapi": {
                "path": "api.yaml",
                "include": ["/api/*"],
                "exclude": "deleteItem",
                "auth": {"header": "X-Api-Key", "env": "API_KEY"},
                "mode": "fuzz",
                "max_examples": 25,
                "time_limit": "90s",
                "max_requests": 500,
            }
        },
        tmp=tmp_path,
    )
    openapi = smoke.openapi
    assert openapi is not None
    assert openapi.file == tmp_path / "api.yaml"
    assert (openapi.include, openapi.exclude) == (("/api/*",), ("deleteItem",))
    assert (openapi.mode, openapi.max_examples) == ("fuzz", 25)
    assert (openapi.time_limit_s, openapi.max_requests) == (90.0, 500)
    assert smoke.env_names() == ["API_KEY"]


def test_the_option_alone_configures_the_phase_and_replaces_the_tables_url(
    tmp_path: Path,
) -> None:
    alone = _config({}, option="https://api.example.com/openapi.json", tmp=tmp_path).openapi
    assert alone is not None
    assert alone.url == "https://api.example.com/openapi.json"
    (tmp_path / "spec.json").write_text("{}")
    replaced = _config(
        {"openapi": {"url": "/openapi.json", "mode": "fuzz"}}, option="spec.json", tmp=tmp_path
    ).openapi
    assert replaced is not None
    assert (replaced.file, replaced.url, replaced.mode) == (tmp_path / "spec.json", None, "fuzz")
    assert _config({}, option="/openapi.json", tmp=tmp_path).openapi.url == "/openapi.json"
    with pytest.raises(GateUsageError, match=r"--gate-openapi nope\.yaml: no such file"):
        _config({}, option="nope.yaml", tmp=tmp_path)


def test_no_openapi_table_no_phase() -> None:
    assert _config({"checks": [{"path": "/"}]}).openapi is None


def test_include_and_exclude_match_path_globs_operation_ids_and_method_paths() -> None:
    assert matches("getItem", "GET", "/api/items/{id}", "getItem")
    assert matches("/api/items*", "GET", "/api/items/{id}", None)
    assert matches("get /api/items/{id}", "GET", "/api/items/{id}", None)
    assert not matches("POST /api/items/{id}", "GET", "/api/items/{id}", None)
    assert not matches("getitem", "GET", "/api/items/{id}", "getItem")
    assert not matches("/api/items", "GET", "/api/items/{id}", None)


@given(
    limit=st.integers(1, 20),
    steps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=40),
    time_limit=st.floats(0.5, 30, allow_nan=False),
)
def test_the_phase_budget_never_lets_a_request_past_its_cap_or_its_time_limit(
    limit: int, steps: list[float], time_limit: float
) -> None:
    now = [0.0]
    budget = PhaseBudget(time_limit, limit, clock=lambda: now[0])
    granted = 0
    for step in steps:
        allowed = budget.take() is None
        if allowed:
            granted += 1
            assert now[0] < time_limit
        else:
            assert budget.exhausted() is not None  # once refused, refused for good
        now[0] += step
    assert granted <= limit
    assert budget.sent == granted


# --------------------------------------------------------------------------- end to end


def _project(pytester: pytest.Pytester, table: str) -> None:
    pytester.makefile(".toml", opsgate=textwrap.dedent(table))


def _run(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--gate=smoke",
        f"--base-url={url}",
        "-p",
        "no:cacheprovider",
        "-rA",
        "-v",
        f"--gate-artifacts={pytester.path / 'evidence'}",
        *args,
    )


def test_the_demo_conforms_to_its_document_one_item_per_operation(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_DEV_KEY", DEV_KEY)
    _project(
        pytester,
        """
        [openapi]
        url = "/openapi.json"
        auth = { header = "X-Api-Key", env = "DEMO_DEV_KEY" }
        """,
    )
    result = _run(pytester, demo.url)
    found = statuses(result.stdout.str())
    assert found == {
        **{f"openapi::{label}": "PASSED" for label in DEMO_GETS},
        **{f"openapi::{label}": "SKIPPED" for label in DEMO_POSTS},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*OpenAPI /openapi.json (examples)*", "*VERDICT: PASS*"])
    assert result.ret == 0


def test_fuzz_mode_sends_every_method_a_bounded_number_of_times(
    pytester: pytest.Pytester, fresh_demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_DEV_KEY", DEV_KEY)
    _project(
        pytester,
        """
        [openapi]
        url = "/openapi.json"
        include = ["/api/items*", "/api/public/items"]
        auth = { header = "X-Api-Key", env = "DEMO_DEV_KEY" }
        mode = "fuzz"
        max_examples = 3
        """,
    )
    before = _count_items(fresh_demo)
    result = _run(pytester, fresh_demo.url)
    found = statuses(result.stdout.str())
    assert found == {
        "openapi::GET /api/items (listItems)": "PASSED",
        "openapi::POST /api/items (createItem)": "PASSED",
        "openapi::GET /api/items/{id} (getItem)": "PASSED",
        "openapi::GET /api/public/items (listPublicItems)": "PASSED",
        "openapi::POST /api/public/items (createPublicItem)": "PASSED",
    }, result.stdout.str()
    created = _count_items(fresh_demo) - before
    # One example and at most three generated bodies per POST operation.
    assert 2 <= created <= 8
    assert result.ret == 0


def _count_items(demo: DemoServer) -> int:
    return int(httpx.get(f"{demo.url}/api/public/items?limit=1").json()["count"])


def _drifted(server: FaultServer) -> None:
    """The demo's document, served by an API that broke it twice."""
    item = {"id": "1", "name": "Anvil", "price": 129.0, "created_at": "2026-01-01T00:00:00+00:00"}
    server.route("/openapi.json", json(openapi_document()))
    server.route("/api/health", json({"status": "ok", "checks": {}, "version": "1"}))
    server.route("/healthz", json({"status": "ok"}))  # JSON where text/plain is documented
    server.route("/ready", json({"status": "ready"}))
    server.route("/api/items", json({"items": [item], "count": 1, "limit": 10, "offset": 0}))
    server.route("/api/public/items", json({"items": [], "count": 0, "limit": 10, "offset": 0}))
    server.route("/api/items/1", json(item))  # an integer id answered as a string
    server.route(
        "/api/items/999999", json({"error": f"no item; key {SENTINEL} was fine"}, status=500)
    )
    server.route("/api/audit", json({"events": []}))


def test_F40_a_drifted_api_fails_naming_each_operation_and_keeps_its_key_secret(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAPI_KEY", SENTINEL)
    _project(
        pytester,
        """
        [openapi]
        url = "/openapi.json"
        auth = { header = "X-Api-Key", env = "OPENAPI_KEY" }
        """,
    )
    started = time.time()
    with FaultServer() as server:
        _drifted(server)
        result = _run(
            pytester, server.url, "--no-gate-ready", "--html=report.html", "--self-contained-html"
        )
        sent = server.requests_for("/api/items/1")
    output = result.stdout.str() + result.stderr.str()
    found = statuses(result.stdout.str())
    assert found["openapi::GET /api/items (listItems)"] == "FAILED"
    assert found["openapi::GET /api/items/{id} (getItem)"] == "FAILED"
    assert found["openapi::GET /healthz (getLiveness)"] == "FAILED"
    assert found["openapi::GET /api/health (getHealth)"] == "PASSED"
    assert found["openapi::GET /api/audit (listAuditEvents)"] == "PASSED"
    # Each failure names its operation, the request and what Schemathesis found wrong.
    assert "GET /api/items/{id} (getItem): 2 of 2 responses break the OpenAPI document" in output
    assert "GET /api/items/999999 -> 500" in output
    assert "Server error" in output
    assert 'Response violates schema: "1" is not of type "integer"' in output
    assert "Undocumented Content-Type" in output
    result.stdout.fnmatch_lines(["*VERDICT: FAIL (exit code 1)*"])
    assert result.ret == 1
    # The key really went out, so finding it nowhere below means it was redacted.
    assert sent
    assert sent[0].headers["x-api-key"] == SENTINEL
    evidence = list((pytester.path / "evidence").rglob("exchanges.txt"))
    assert any("GET /api/items/999999" in path.read_text() for path in evidence)
    written = [
        path
        for path in pytester.path.rglob("*")
        if path.is_file() and path.suffix != ".toml" and path.stat().st_mtime >= started - 1
    ]
    assert {"report.html", "gate.json", "exchanges.txt"} <= {path.name for path in written}
    for path in written:
        assert SENTINEL.encode() not in path.read_bytes(), f"the key is in {path}"
    assert SENTINEL not in output


def test_the_request_cap_ends_the_phase_in_error_never_a_pass(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    _project(
        pytester,
        """
        [openapi]
        url = "/openapi.json"
        include = ["/api/public/items", "/api/health", "/healthz", "/ready"]
        max_requests = 2
        """,
    )
    result = _run(pytester, demo.url)
    found = statuses(result.stdout.str())
    assert list(found.values()).count("PASSED") == 2, result.stdout.str()
    assert list(found.values()).count("FAILED") == 2
    result.stdout.fnmatch_lines(
        ["*not checked: the OpenAPI phase reached its cap of 2 requests (max_requests)*"]
    )
    result.stdout.fnmatch_lines(["*VERDICT: ERROR (exit code 11)*"])
    assert result.ret == 11


@given(cap=st.integers(1, 100_000), workers=st.integers(1, 64))
def test_the_request_cap_split_over_xdist_workers_adds_up_to_the_cap(
    cap: int, workers: int
) -> None:
    shares = [worker_share(cap, index, workers) for index in range(workers)]
    assert sum(shares) == cap
    assert max(shares) - min(shares) <= 1
    assert min(shares) >= 0


def test_each_xdist_worker_finds_its_place_in_the_split() -> None:
    assert xdist_position(None) is None
    assert xdist_position({"workerid": "gw2", "workercount": 4}) == (2, 4)
    # An id the split cannot place gets the smallest share, so the sum stays within the cap.
    assert xdist_position({"workerid": "node-a", "workercount": 3}) == (2, 3)
    assert xdist_position({"workerid": "gw7", "workercount": 2}) == (1, 2)


def _six_operations(server: FaultServer) -> list[str]:
    """A document of six GET operations, each answered as documented."""
    paths = [f"/api/things/{n}" for n in range(1, 7)]
    ok = {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "things", "version": "1"},
        "paths": {
            path: {"get": {"operationId": f"getThing{n}", "responses": ok}}
            for n, path in enumerate(paths, 1)
        },
    }
    server.route("/openapi.json", json(document))
    for path in paths:
        server.route(path, json({"ok": True}))
    return paths


def _summary(output: str) -> dict[str, str]:
    """nodeid -> outcome from the -rA short summary (xdist prints no plain -v lines)."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(PASSED|FAILED|ERROR|SKIPPED) (openapi::\S.*?)(?: - .*)?$", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_request_cap_holds_for_the_whole_run_under_xdist(
    pytester: pytest.Pytester, workers: str
) -> None:
    """Issue 16: every xdist worker held the whole cap, so -n 2 could send twice max_requests."""
    _project(pytester, '[openapi]\nurl = "/openapi.json"\nmax_requests = 4\n')
    with FaultServer() as server:
        paths = _six_operations(server)
        result = _run(pytester, server.url, "--no-gate-ready", "-n", workers)
        sent = sum(len(server.requests_for(path)) for path in paths)
        fetched = len(server.requests_for("/openapi.json"))
    found = _summary(result.stdout.str())
    assert len(found) == 6, result.stdout.str()
    # Six operations of one request each, a cap of four: four checked, two ERROR, never PASS.
    assert list(found.values()).count("PASSED") == sent
    assert sent == 4 if workers == "0" else sent <= 4
    assert result.ret == 11
    result.stdout.fnmatch_lines(["*VERDICT: ERROR (exit code 11)*"])
    if workers == "0":
        result.stdout.fnmatch_lines(["*reached its cap of 4 requests (max_requests)*"])
        assert fetched == 1
    else:
        # Six operations over two workers: one of them holds three, one more than its share.
        result.stdout.fnmatch_lines(
            [
                "*this xdist worker used up its share of the OpenAPI phase's cap (2 of the 4 "
                "requests of max_requests, split over 2 workers)*"
            ]
        )
        assert fetched == 2  # each worker reads the document; fetches are not in the cap


def test_the_time_limit_ends_the_phase_in_error_within_its_bound(
    pytester: pytest.Pytester, fresh_demo: DemoServer
) -> None:
    fresh_demo.options.latency_ms = 700  # every API answer takes 0.7 s
    _project(
        pytester,
        """
        [openapi]
        url = "/openapi.json"
        include = ["/api/public/items", "/api/items/{id}"]
        time_limit = "1s"
        """,
    )
    started = time.monotonic()
    result = _run(pytester, fresh_demo.url)
    elapsed = time.monotonic() - started
    result.stdout.fnmatch_lines(["*ran out of its 1 s time limit (time_limit)*"])
    result.stdout.fnmatch_lines(["*VERDICT: ERROR (exit code 11)*"])
    assert result.ret == 11
    assert elapsed < 60  # bounded: start-up plus the limit plus one request, not every request


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (None, "the OpenAPI document http://127.0.0.1:*/openapi.json answered 404"),
        (json({"hello": "world"}), "*is not an OpenAPI document Schemathesis can read*"),
    ],
)
def test_an_unusable_document_is_one_error_item_not_zero_items(
    pytester: pytest.Pytester, route: object, message: str
) -> None:
    _project(pytester, '[openapi]\nurl = "/openapi.json"\n')
    with FaultServer() as server:
        server.route("/healthz", json({"status": "ok"}))
        if route is not None:
            server.route("/openapi.json", route)  # type: ignore[arg-type]
        result = _run(pytester, server.url, "--no-gate-ready")
    # pytest calls it failed; its verdict, from the GateError, is ERROR.
    assert statuses(result.stdout.str()) == {"openapi::document": "FAILED"}
    result.stdout.fnmatch_lines([f"*{message}*", "*VERDICT: ERROR (exit code 11)*"])
    assert result.ret == 11


def test_an_include_that_matches_nothing_is_an_error(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    _project(pytester, '[openapi]\nurl = "/openapi.json"\ninclude = ["getItems"]\n')
    result = _run(pytester, demo.url)
    result.stdout.fnmatch_lines(["*include 'getItems' matches no operation*"])
    assert result.ret == 11


def test_a_missing_key_variable_is_an_error_naming_it(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAPI_MISSING_KEY", raising=False)
    _project(
        pytester,
        """
        [openapi]
        url = "/openapi.json"
        include = ["getHealth"]
        auth = { scheme = "Bearer", env = "OPENAPI_MISSING_KEY" }
        """,
    )
    result = _run(pytester, demo.url)
    result.stdout.fnmatch_lines(
        ["*environment variable OPENAPI_MISSING_KEY is not set; export it*"]
    )
    assert result.ret == 11


def test_without_schemathesis_the_phase_is_a_usage_error_naming_the_install(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    # As if it were not installed (its own pytest plugin, an entry point, is kept out too).
    pytester.makeconftest("import sys\nsys.modules['schemathesis'] = None\n")
    _project(pytester, '[openapi]\nurl = "/openapi.json"\n')
    result = pytester.runpytest_subprocess(
        "-p", "no:schemathesis", "--gate=smoke", f"--base-url={demo.url}", "--no-gate-ready"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*[[]openapi[]] in opsgate.toml asks for OpenAPI checks, which need Schemathesis;"
            " run pip install 'pytest-opsgate[[]openapi[]]'*"
        ]
    )


IMPORT_PROBE = """
    import sys
    import pytest

    @pytest.mark.gate("smoke")
    def test_probe(gate_client):
        assert gate_client.get("/healthz").status_code == 200
        print("schemathesis imported:", "schemathesis" in sys.modules)
"""


@pytest.mark.parametrize("with_openapi", [False, True])
def test_a_smoke_run_imports_schemathesis_only_when_the_phase_is_configured(
    demo: DemoServer, tmp_path: Path, with_openapi: bool
) -> None:
    (tmp_path / "test_probe.py").write_text(textwrap.dedent(IMPORT_PROBE))
    table = '[openapi]\nurl = "/openapi.json"\ninclude = ["getHealth"]\n' if with_openapi else ""
    (tmp_path / "opsgate.toml").write_text(table + '[[checks]]\npath = "/healthz"\n')
    # Schemathesis's own pytest plugin (an entry point) would import it in any run.
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:schemathesis", "-p", "no:cacheprovider",
            "-p", "no:playwright", "--gate=smoke", f"--base-url={demo.url}", "-s",
            # The probe runs last, after the OpenAPI items when there are any.
            "-p", "no:randomly", f"--gate-artifacts={tmp_path / 'evidence'}",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"schemathesis imported: {with_openapi}" in proc.stdout
