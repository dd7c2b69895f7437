"""Smoke configuration: discovery, strict validation, and usage errors before any request."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# In-process pytester runs drop modules a run imported first; importing the HTTP stack here
# keeps one httpx and httpcore, so their exception classes stay the same across runs.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import FaultServer, json
from pytest_opsgate.errors import GateUsageError
from pytest_opsgate.gates.smoke.config import find_config, load_config
from pytest_opsgate.gates.smoke.plan import plan
from pytest_opsgate.gates.smoke.profiles.auth import Auth
from pytest_opsgate.gates.smoke.profiles.rate_limit import RateLimit
from pytest_opsgate.gates.smoke.profiles.security_headers import SecurityHeaders
from pytest_opsgate.gates.smoke.spec import Credential, StatusSet


def _load(text: str, cli: tuple[str, ...] = ()) -> object:
    import tomllib

    data = tomllib.loads(textwrap.dedent(text))
    return load_config(Path("opsgate.toml"), data, display="opsgate.toml", cli_profiles=cli)


def _error(text: str, cli: tuple[str, ...] = ()) -> str:
    with pytest.raises(GateUsageError) as info:
        _load(text, cli)
    return str(info.value)


# --------------------------------------------------------------------------- valid configuration


def test_a_check_reads_every_field() -> None:
    config = _load(
        """
        [[checks]]
        name = "items"
        method = "post"
        path = "/api/items?limit=5"
        headers = { Accept = "application/json" }
        query = { offset = 0, verbose = true }
        json = { name = "x", price = 1.5 }
        auth = { header = "X-Api-Key", env = "DEV_KEY" }
        status = [200, "3xx"]
        content_type = "application/json"
        json_has = ["items", "items.0.id"]
        json_equals = { "checks.db.status" = "ok", count = 3 }
        headers_has = ["X-RateLimit-Limit"]
        headers_match = { Cache-Control = "no-(store|cache)" }
        body_contains = "items"
        latency = "250ms"
        repeat = 5
        slo = ["p95 < 300ms", "error_rate < 1%"]
        optional = true
        follow_redirects = true
        budget = "20s"
        """
    )
    (check,) = config.checks  # type: ignore[attr-defined]
    assert check.label == "POST /api/items"
    assert check.query == (("offset", "0"), ("verbose", "true"))
    assert check.body.kind == "json"
    assert check.credential == Credential(env="DEV_KEY", header="X-Api-Key")
    assert [200 in check.status, 302 in check.status, 201 in check.status] == [True, True, False]
    assert check.json_equals == (("checks.db.status", "ok"), ("count", 3))
    assert check.latency_ms == 250.0
    assert [slo.scope for slo in check.slos] == ["POST /api/items", "POST /api/items"]
    assert (check.optional, check.follow_redirects, check.budget_s) == (True, True, 20.0)


def test_dotted_keys_written_bare_become_field_paths() -> None:
    config = _load(
        """
        [[checks]]
        path = "/health"
        json_equals = { checks.db.status = "ok" }
        """
    )
    assert config.checks[0].json_equals == (("checks.db.status", "ok"),)  # type: ignore[attr-defined]


def test_two_checks_on_one_endpoint_get_their_names_in_the_id() -> None:
    config = _load(
        """
        [[checks]]
        path = "/api/audit"
        [[checks]]
        name = "dev key refused"
        path = "/api/audit"
        status = 403
        [[checks]]
        path = "/api/items"
        name = "unique endpoint keeps a short id"
        """
    )
    labels = [check.label for check in config.checks]  # type: ignore[attr-defined]
    assert labels == ["GET /api/audit", "GET /api/audit (dev key refused)", "GET /api/items"]


def test_profiles_take_a_mode_word_true_or_a_table() -> None:
    config = _load(
        """
        security_headers = "warn"
        negative_control = true
        health_schema = false
        [rate_limit]
        path = "/api/items"
        burst = 10
        [[auth]]
        endpoints = ["/api/audit", "POST /api/preview"]
        credential = { scheme = "Bearer", env = "ADMIN_TOKEN" }
        wrong = [401, 403]
        """
    )
    kinds = {type(p.settings).__name__: p.settings for p in config.profiles}  # type: ignore[attr-defined]
    modes = {p.profile.name: p.mode for p in config.profiles}  # type: ignore[attr-defined]
    assert modes["security_headers"] == "warn"
    assert kinds["RateLimit"].burst == 10
    auth = kinds["Auth"]
    assert isinstance(auth, Auth)
    assert [str(e) for e in auth.endpoints] == ["GET /api/audit", "POST /api/preview"]
    assert 403 in auth.wrong
    assert "HealthSchema" not in kinds
    assert config.disabled == {"health_schema"}  # type: ignore[attr-defined]


def test_command_line_profile_without_a_table_uses_defaults() -> None:
    config = _load("", cli=("security_headers", "rate_limit"))
    assert [p.settings for p in config.profiles] == [SecurityHeaders(), RateLimit()]  # type: ignore[attr-defined]


def test_item_names_are_deterministic_and_bursts_run_last() -> None:
    config = _load(
        """
        negative_control = true
        [rate_limit]
        path = "/api/items"
        burst = 5
        [security_headers]
        paths = ["/", "/login"]
        [[checks]]
        path = "/api/items"
        """
    )
    labels = [item.label for item in plan(config, builtin=True)]  # type: ignore[arg-type]
    assert labels == [
        "readiness",
        "GET /api/items",
        "health_schema",
        "negative_control",
        "security_headers GET /",
        "security_headers GET /login",
        "rate_limit GET /api/items",
        "rate_limit burst GET /api/items",
    ]
    assert labels == [item.label for item in plan(config, builtin=True)]  # type: ignore[arg-type]


def test_status_sets() -> None:
    assert 204 in StatusSet.parse("2xx")
    assert str(StatusSet.parse([401, 403])) == "one of 401, 403"
    for bad in ([], [True], [99], ["2XX0"], ["ok"]):
        with pytest.raises(ValueError, match="status"):
            StatusSet.parse(bad)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[checks]]\npath = "/api/items"\nstauts = 200\n',
            "opsgate.toml: [[checks]] #1 (GET /api/items): key 'stauts' is unknown "
            "(did you mean 'status'?)",
        ),
        (
            '[[checks]]\npath = "/a"\n[[checks]]\npath = "/b"\nrepeat = "ten"\n',
            "opsgate.toml: [[checks]] #2 (GET /b): key 'repeat' must be a whole number, "
            "not the string 'ten'",
        ),
        (
            '[[checks]]\npath = "/a"\nslo = ["p95 < 300"]\n',
            "opsgate.toml: [[checks]] #1 (GET /a): key 'slo' holds 'p95 < 300': the budget 300 "
            "has no unit",
        ),
        (
            '[[checks]]\npath = "/a"\nslo = ["GET /b: p95 < 3s"]\n',
            "key 'slo' holds 'GET /b: p95 < 3s': a check's SLO takes no scope",
        ),
        (
            '[[checks]]\npath = "/a"\nstatus = [200, 700]\n',
            "opsgate.toml: [[checks]] #1 (GET /a): key 'status' holds 700, outside the HTTP "
            "statuses 100-599",
        ),
        (
            '[[checks]]\npath = "/a"\nstatus = "ok"\n',
            "key 'status' holds 'ok', which is not a status",
        ),
        ('[[checks]]\npath = "api/items"\n', "key 'path' is 'api/items'; a path starts with /"),
        ('[[checks]]\nmethod = "FETCH"\npath = "/a"\n', "key 'method' is 'FETCH'"),
        (
            '[[checks]]\npath = "/a"\nauth = { header = "X-Api-Key" }\n',
            "opsgate.toml: [[checks]] #1 (GET /a): auth: key 'env' is required",
        ),
        (
            '[[checks]]\npath = "/a"\nauth = { env = "K", header = "X", scheme = "Bearer" }\n',
            "key 'auth' needs env and exactly one of header, scheme or query",
        ),
        (
            '[[checks]]\npath = "/a"\njson = {}\nform = {}\n',
            "key 'json' and 'form' are both set; a request has one body",
        ),
        (
            '[[checks]]\npath = "/a"\nheaders_match = { X-Id = "([" }\n',
            "key 'headers_match' gives 'X-Id' the pattern '([', which is not a regular expression",
        ),
        (
            '[[checks]]\npath = "/a"\nlatency = "fast"\n',
            "key 'latency' must be a duration with a unit",
        ),
        ('[[checks]]\npath = "/a"\nlatency = 300\n', "key 'latency' must be a duration"),
        ("[checks]\npath = '/a'\n", "key 'checks' must be an array of tables"),
        (
            "sercurity_headers = true\n",
            "opsgate.toml: key 'sercurity_headers' is unknown (did you mean 'security_headers'?)",
        ),
        ('security_headers = "loud"\n', "key 'security_headers' is 'loud'; use \"fail\""),
        (
            "[rate_limit]\nburst = -1\n",
            "opsgate.toml: [rate_limit]: key 'burst' is -1; use a number from 0 to 10000",
        ),
        (
            '[rate_limit]\nstyles = ["x-ratelimit", "github"]\n',
            "[rate_limit]: key 'styles' holds 'github'",
        ),
        ('[auth]\nendpoints = ["/a"]\n', "[auth]: needs credential; configure the profile"),
        ("[webhook_hmac]\npath = '/hook'\nenv = 'S'\nformat = 'sha256=<hex>'\n", "{hex}"),
        ("[cors]\norigin = 'localhost:3000'\n", "[cors]: key 'origin' is 'localhost:3000'"),
        (
            "[csrf]\npath = '/form'\ntoken_cookie = 'csrftoken'\n",
            "needs token_field or token_header",
        ),
        ("[[checks]]\npath = '/a'\n[[checks]]\npath = '/a'\n", "are both GET /a; give them"),
        ("builtin_checks = 'often'\n", "key 'builtin_checks' is 'often'"),
    ],
)
def test_invalid_configuration_names_file_section_and_key(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_command_line_profile_that_needs_settings_says_which() -> None:
    message = _error("", cli=("webhook_hmac",))
    assert message.startswith("--gate-profile webhook_hmac needs path and env;")
    assert "[webhook_hmac]" in message


def test_pyproject_sections_are_named_as_written() -> None:
    import tomllib

    data = tomllib.loads('[[tool.opsgate.checks]]\npath = "/a"\nrepet = 2\n')
    with pytest.raises(GateUsageError) as info:
        load_config(
            Path("pyproject.toml"),
            data["tool"]["opsgate"],
            display="pyproject.toml",
        )
    assert "pyproject.toml: [[tool.opsgate.checks]] #1 (GET /a): key 'repet' is unknown" in str(
        info.value
    )


def test_reserved_tables_of_other_gates_are_left_alone() -> None:
    config = _load("[load]\nusers = 10\n[e2e]\npages = ['/']\n")
    assert config.checks == []  # type: ignore[attr-defined]
    assert config.profiles == []  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- discovery


def _found(found: tuple[Path, object] | None) -> Path | None:
    return None if found is None else found[0]


def test_discovery_order(tmp_path: Path) -> None:
    root = tmp_path / "project"
    suite = root / "suites" / "smoke"
    suite.mkdir(parents=True)
    (suite / "opsgate.toml").write_text("negative_control = true\n")
    assert _found(find_config(None, root, [root], root)) == suite / "opsgate.toml"
    (root / "pyproject.toml").write_text("[tool.opsgate]\nhealth_schema = true\n")
    found = find_config(None, root, [root], root)
    assert _found(found) == root / "pyproject.toml"
    assert found is not None
    assert found[1] == {"health_schema": True}
    # A folder named on the command line wins over the rootdir.
    assert _found(find_config(None, root, [suite], root)) == suite / "opsgate.toml"
    (root / "opsgate.toml").write_text("")
    with pytest.raises(GateUsageError, match="both configure opsgate; keep one of them"):
        find_config(None, root, [root], root)


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(GateUsageError, match=r"--gate-config nope\.toml does not exist"):
        find_config("nope.toml", tmp_path, [], tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(GateUsageError, match=r"has no \[tool.opsgate\] table"):
        find_config("pyproject.toml", tmp_path, [], tmp_path)


def test_broken_toml_is_a_usage_error_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "opsgate.toml").write_text("[[checks]]\npath = /a\n")
    with pytest.raises(GateUsageError, match=r"opsgate.toml: is not valid TOML \(.*line 2"):
        find_config(None, tmp_path, [], tmp_path)


# --------------------------------------------------------------------------- through pytest


def test_invalid_config_stops_pytest_before_any_request(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", opsgate='[[checks]]\npath = "/api/items"\nslo = ["p95 < fast"]\n')
    with FaultServer() as server:
        server.route("/api/health/", json({"status": "ok"}))
        result = pytester.runpytest("--gate=smoke", f"--base-url={server.url}")
        requests = list(server.requests)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "opsgate.toml: [[checks]] #1 (GET /api/items): key 'slo' holds 'p95 < fast'"
        in result.stderr.str()
    )
    assert requests == []


def test_gate_config_option_and_pyproject_table(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.opsgate]\nnegative_control = "warn"\n')
    pytester.mkdir("elsewhere")
    (pytester.path / "elsewhere" / "checks.toml").write_text("[[checks]]\npath = '/a'\n")
    result = pytester.runpytest(
        "--gate=smoke",
        "--base-url=http://127.0.0.1:9",
        "--co",
        "-q",
        "--gate-config=elsewhere/checks.toml",
    )
    result.stdout.fnmatch_lines(["smoke::GET /a"])
    assert "negative_control" not in result.stdout.str()
    result = pytester.runpytest("--gate=smoke", "--base-url=http://127.0.0.1:9", "--co", "-q")
    result.stdout.fnmatch_lines(["smoke::negative_control", "1 test collected*"])


def test_unknown_profile_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        "--gate=smoke", "--base-url=http://127.0.0.1:9", "--gate-profile=xss"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown smoke profile 'xss'; use one of security_headers*"])
