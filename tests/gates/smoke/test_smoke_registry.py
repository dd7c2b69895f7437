"""The profile registry: a plugin adds a profile through pytest_opsgate_smoke_profiles and it is
read, validated, planned and run like a built-in one; the built-ins are offered the same way;
what a profile tells users to write is valid TOML that configures it."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from hypothesis import given
from hypothesis import strategies as st

# In-process pytester runs drop modules a run imported first; importing the HTTP stack here
# keeps one httpx and httpcore, so their exception classes stay the same across runs.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import Behaviour, Exchange, FaultServer, json, text
from gatekit import run_smoke
from pytest_opsgate.errors import GateUsageError
from pytest_opsgate.gates.smoke.config import load_config
from pytest_opsgate.gates.smoke.options import BUILTIN_PROFILES
from pytest_opsgate.gates.smoke.plan import plan
from pytest_opsgate.gates.smoke.profiles import BUILTIN
from pytest_opsgate.gates.smoke.registry import Profile, ProfileCheck, validated_registry
from pytest_opsgate.gates.smoke.spec import StatusSet

# A user's conftest: a profile the gate does not ship, offered through the hook.
CONFTEST = """
import functools
from dataclasses import dataclass

from pytest_opsgate.gates.smoke.registry import Profile, ProfileCheck


@dataclass(frozen=True)
class CacheControl:
    paths: tuple = ("/",)
    directive: str = "no-store"


def read(t):
    return CacheControl(
        paths=t.paths("paths", ("/",)), directive=t.string("directive", "no-store")
    )


def cache_control(ctx, settings, path):
    value = ctx.send("GET", path).headers.get("cache-control", "")
    if settings.directive not in value:
        shown = value or "missing"
        return [f"GET {path}: Cache-Control is {shown!r}, without {settings.directive}"]
    ctx.note(f"GET {path}: Cache-Control {value}")
    return []


def checks(settings):
    return [
        ProfileCheck(f"GET {path}", functools.partial(cache_control, settings=settings, path=path))
        for path in settings.paths
    ]


CACHE_CONTROL = Profile(
    name="cache_control",
    read=read,
    checks=checks,
    keys=("paths", "directive"),
    requires=("paths",),
    example='cache_control = { paths = ["/api/items"] }',
)


def pytest_opsgate_smoke_profiles():
    return [CACHE_CONTROL]
"""

CACHE_ROUTES = {
    "/private": json({}, headers={"cache-control": "no-store"}),
    "/cached": json({}, headers={"cache-control": "public, max-age=60"}),
    "/": text("home", headers={"cache-control": "no-store"}),
}


def _serve(server: FaultServer) -> None:
    for path, behaviour in CACHE_ROUTES.items():
        server.route(path, behaviour)


def test_a_conftest_profile_runs_as_items_named_after_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    with FaultServer() as server:
        _serve(server)
        result = run_smoke(
            pytester,
            server.url,
            """
            negative_control = true
            [cache_control]
            paths = ["/private", "/cached"]
            """,
            "--no-gate-ready",
            "-v",
            "-rP",
        )
    result.stdout.fnmatch_lines(
        [
            "*opsgate: smoke config opsgate.toml (0 checks, profiles cache_control, "
            "negative_control)*",
            "smoke::negative_control PASSED*",
            "smoke::cache_control GET /private PASSED*",
            "smoke::cache_control GET /cached FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*cache_control GET /cached: GET /cached: Cache-Control is 'public, max-age=60', "
            "without no-store*",
        ]
    )
    result.stdout.fnmatch_lines(["*GET /private: Cache-Control no-store*"])
    assert result.ret == 1


def test_a_conftest_profile_in_warn_mode_and_from_the_command_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST)
    with FaultServer() as server:
        _serve(server)
        warned = run_smoke(
            pytester,
            server.url,
            '[cache_control]\npaths = ["/cached"]\nmode = "warn"\n',
            "--no-gate-ready",
            "-v",
        )
        # By name on the command line, its table gives the settings; without it, the
        # profile says what it needs, in TOML that can be pasted.
        pytester.makefile(".toml", opsgate="")
        needs = pytester.runpytest(
            "--gate=smoke", f"--base-url={server.url}", "--gate-profile=cache-control"
        )
    warned.stdout.fnmatch_lines(
        [
            "smoke::cache_control GET /cached PASSED*",
            "*SmokeFindingWarning: cache_control GET /cached: GET /cached: Cache-Control*",
            "*VERDICT: PASS (exit code 0)*",
        ]
    )
    assert needs.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--gate-profile cache_control needs paths; configure the profile in opsgate.toml"
        in needs.stderr.str()
    )
    assert 'e.g. cache_control = { paths = ["/api/items"] }\n' in needs.stderr.str()


def test_a_conftest_profile_runs_on_xdist_workers(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".toml", opsgate='[cache_control]\npaths = ["/private", "/", "/cached"]\n')
    with FaultServer() as server:
        _serve(server)
        result = pytester.runpytest_subprocess(
            "--gate=smoke", f"--base-url={server.url}", "--no-gate-ready", "-n", "2", "-rA"
        )
        requested = {path: len(server.requests_for(path)) for path in CACHE_ROUTES}
    result.stdout.fnmatch_lines_random(
        [
            "PASSED smoke::cache_control GET /private",
            "PASSED smoke::cache_control GET /",
            "FAILED smoke::cache_control GET /cached*",
        ]
    )
    assert requested == {"/private": 1, "/cached": 1, "/": 1}
    assert result.ret == 1


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            '[cache_control]\npaths = ["cached"]\n',
            "opsgate.toml: [cache_control]: key 'paths' holds 'cached'; a path starts with /",
        ),
        (
            '[cache_control]\npaths = ["/"]\ndirectiv = "no-cache"\n',
            "opsgate.toml: [cache_control]: key 'directiv' is unknown (did you mean "
            "'directive'?); valid keys are directive, mode, paths",
        ),
        (
            '[[cache_control]]\npaths = ["/"]\n[[cache_control]]\ndirective = 3\n',
            "opsgate.toml: [[cache_control]] #2: needs paths; configure the profile",
        ),
        ("cache_contrl = true\n", "key 'cache_contrl' is unknown (did you mean 'cache_control'?)"),
    ],
)
def test_a_conftest_profile_gets_the_strict_errors_of_a_builtin_one(
    pytester: pytest.Pytester, table: str, expected: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".toml", opsgate=table)
    result = pytester.runpytest("--gate=smoke", "--base-url=http://127.0.0.1:9", "--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in result.stderr.str()


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ("[AUTH]", "two smoke profiles are named 'auth'; rename one"),
        ("['cache_control']", "returned 'cache_control', which is not a smoke profile"),
        ("[CACHE_CONTROL, CACHE_CONTROL]", "two smoke profiles are named 'cache_control'"),
    ],
)
def test_a_plugin_cannot_offer_a_clash_or_something_else(
    pytester: pytest.Pytester, offered: str, expected: str
) -> None:
    pytester.makeconftest(
        CONFTEST.replace("return [CACHE_CONTROL]", f"return {offered}")
        + "\nfrom pytest_opsgate.gates.smoke.profiles.auth import PROFILE as AUTH\n"
    )
    result = pytester.runpytest("--gate=smoke", "--base-url=http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pytest_opsgate_smoke_profiles" in result.stderr.str()
    assert expected in result.stderr.str()


def test_an_unknown_profile_on_the_command_line_lists_the_plugins_ones_too(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest(
        "--gate=smoke", "--base-url=http://127.0.0.1:9", "--gate-profile=cache"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown smoke profile 'cache'; use one of security_headers, *, cache_control"]
    )


# --------------------------------------------------------------------------- registry rules


def _profile(**changes: object) -> Profile[object]:
    fields: dict[str, object] = {"name": "extra", "read": lambda t: None, "checks": lambda s: []}
    fields.update(changes)
    return Profile(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (_profile(name="Extra"), "profile name 'Extra' is not a lower-case TOML key"),
        (_profile(name="my-profile"), "profile name 'my-profile' is not a lower-case TOML key"),
        (_profile(name="checks"), "'checks' is a key opsgate.toml uses for something else"),
        (_profile(name="prometheus"), "'prometheus' is a key opsgate.toml uses"),
        (_profile(requires=("path",)), "requires path but gives no example"),
        (
            # The example the cors profile used to give: a table header and a key on one line.
            _profile(example='[extra] origin = "https://a.example", paths = ["/"]'),
            "the example of profile 'extra' ('[extra] origin = ",
        ),
        (_profile(example='other = { path = "/" }'), "does not set 'extra'"),
    ],
)
def test_the_registry_refuses_a_profile_it_could_not_serve(
    profile: Profile[object], expected: str
) -> None:
    with pytest.raises(GateUsageError) as info:
        validated_registry([*BUILTIN, profile])
    assert expected in str(info.value)


def test_the_builtin_profiles_are_the_eight_named_in_the_options() -> None:
    assert tuple(profile.name for profile in validated_registry(BUILTIN)) == BUILTIN_PROFILES


def test_a_profile_without_an_example_or_required_keys_is_accepted_and_planned() -> None:
    @dataclass(frozen=True)
    class Settings:
        path: str

    extra = Profile(
        name="extra",
        read=lambda t: Settings(t.path("path", "/x")),
        checks=lambda s: [ProfileCheck(f"GET {s.path}", lambda ctx: [])],
        order=5,
    )
    registry = validated_registry([*BUILTIN, extra])
    config = load_config(
        Path("opsgate.toml"),
        {"extra": True, "negative_control": True},
        display="opsgate.toml",
        registry=registry,
    )
    assert [item.label for item in plan(config, builtin=False)] == [
        "extra GET /x",
        "negative_control",
    ]


# --------------------------------------------------------------------------- suggested TOML


def _usage_error(data: dict[str, object], cli: tuple[str, ...] = ()) -> str:
    with pytest.raises(GateUsageError) as info:
        load_config(Path("opsgate.toml"), data, display="opsgate.toml", cli_profiles=cli)
    return str(info.value)


@pytest.mark.parametrize("profile", [p for p in BUILTIN if p.requires], ids=lambda p: p.name)
@pytest.mark.parametrize("asked", ["--gate-profile", "table"])
def test_the_toml_a_profile_suggests_parses_and_configures_it(
    profile: Profile[object], asked: str
) -> None:
    """Issue 17.12: cors suggested `[cors] origin = "...", paths = [...]`, which is not TOML."""
    if asked == "table":
        message = _usage_error({profile.name: {"mode": "fail"}})
        assert message.startswith(f"opsgate.toml: [{profile.name}]: needs ")
    else:
        message = _usage_error({}, cli=(profile.name,))
        assert message.startswith(f"--gate-profile {profile.name} needs ")
    suggested = message.split("e.g. ", 1)[1]
    data = tomllib.loads(suggested)  # raises on text that does not parse
    config = load_config(Path("opsgate.toml"), data, display="opsgate.toml")
    assert [used.profile.name for used in config.profiles] == [profile.name]


def test_the_cors_usage_error_suggests_one_valid_line() -> None:
    message = _usage_error({}, cli=("cors",))
    assert message.endswith(
        'e.g. cors = { origin = "https://app.example.com", paths = ["/api/items"] }'
    )


# --------------------------------------------------------------------------- auth's 403 hint

statuses = st.integers(100, 599)


@given(
    codes=st.frozensets(statuses, max_size=4),
    classes=st.frozensets(st.integers(1, 5), max_size=3),
)
def test_a_status_set_written_as_toml_reads_back_the_same(
    codes: frozenset[int], classes: frozenset[int]
) -> None:
    if not codes and not classes:
        return
    written = StatusSet(codes, classes)
    value = tomllib.loads(f"status = {written.toml()}")["status"]
    assert StatusSet.parse(value) == written


@dataclass
class KeyedEndpoint(Behaviour):
    """401 without a key, 403 for a key it does not know, 200 for the right one."""

    key: str

    async def serve(self, ex: Exchange) -> bool:
        given = ex.request.headers.get("x-api-key")
        status = 401 if given is None else 200 if given == self.key else 403
        return await ex.send(status, b'{"error": "no"}', {"content-type": "application/json"})


AUTH_TABLE = """
[auth]
endpoints = ["GET /api/reports"]
credential = { header = "X-Api-Key", env = "REPORTS_KEY" }
"""


def test_auth_refusing_an_unknown_key_with_403_names_the_key_and_the_line_that_accepts_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTS_KEY", "reports-key-4b1d9e")
    with FaultServer() as server:
        server.route("/api/reports", KeyedEndpoint("reports-key-4b1d9e"))
        refused = run_smoke(pytester, server.url, AUTH_TABLE, "--no-gate-ready")
        sent = [r.headers.get("x-api-key") for r in server.requests_for("/api/reports")]
        output = refused.stdout.str()
        hint = output.split("accept it with ", 1)[1].split(" in the auth profile's table")[0]
        accepted = run_smoke(
            pytester, server.url, AUTH_TABLE + f"{hint}\n", "--no-gate-ready", "-v"
        )
    made_up = sent[1]
    assert made_up is not None
    assert re.fullmatch("opsgate-wrong-[0-9a-f]{24}", made_up)
    assert (
        "GET /api/reports with a wrong credential (X-Api-Key from $REPORTS_KEY) answered 403, "
        "expected 401; the gate sent a made-up key (opsgate-wrong- and 24 hex digits) where "
        "$REPORTS_KEY goes; "
        "if 403 is how the service refuses it by design, accept it with wrong = [401, 403] in "
        "the auth profile's table" in output
    )
    assert "reports-key-4b1d9e" not in output
    assert refused.ret == 1
    # The suggested line is TOML the profile reads, and it makes the check pass.
    assert hint == "wrong = [401, 403]"
    accepted.stdout.fnmatch_lines(["smoke::auth GET /api/reports PASSED*"])
    assert accepted.ret == 0


def test_auth_says_nothing_about_accepting_a_2xx_for_a_wrong_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPORTS_KEY", "reports-key-4b1d9e")
    with FaultServer() as server:
        server.route("/api/reports", json({"reports": []}))
        result = run_smoke(pytester, server.url, textwrap.dedent(AUTH_TABLE), "--no-gate-ready")
    output = result.stdout.str()
    assert "with a wrong credential (X-Api-Key from $REPORTS_KEY) answered 200" in output
    assert "accept it with" not in output
    assert result.ret == 1


def test_the_readme_profile_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("**Adding a profile.**", 1)[1]
    conftest = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makeconftest(conftest)
    with FaultServer() as server:
        _serve(server)
        result = run_smoke(
            pytester,
            server.url,
            'cache_control = { paths = ["/private", "/cached"] }\n',
            "--no-gate-ready",
            "-v",
        )
    result.stdout.fnmatch_lines(
        [
            "smoke::cache_control GET /private PASSED*",
            "smoke::cache_control GET /cached FAILED*",
            "*GET /cached: Cache-Control is 'public, max-age=60'*",
        ]
    )
    assert result.ret == 1
