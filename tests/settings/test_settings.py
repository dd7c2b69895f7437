"""The one options table: precedence, flags from files, errors that name where a value came from."""

from __future__ import annotations

import pytest

from pytest_opsgate.settings.table import BY_NAME, OPTIONS

PROBE = """
import json
import pytest

def pytest_opsgate_verdict(decision):
    pass

@pytest.fixture(scope="session")
def seen(pytestconfig):
    from pytest_opsgate.run.state import get_settings
    s = get_settings(pytestconfig)
    return {"timeout": s.ready_timeout_s, "keep_going": s.keep_going, "verify": s.verify,
            "slos": [slo.text for slo in s.slos], "min": s.min_samples}

@pytest.mark.gate("smoke")
def test_probe(seen):
    print("SEEN " + json.dumps(seen))
"""


def _seen(result: pytest.RunResult) -> dict[str, object]:
    import json

    line = next(line for line in result.outlines if "SEEN " in line)
    return dict(json.loads(line.split("SEEN ", 1)[1]))


def _run(pytester: pytest.Pytester, url: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "--gate=smoke", f"--base-url={url}", "-s", "-p", "no:cacheprovider", *args
    )


def test_command_line_beats_environment_beats_ini_beats_default(
    pytester: pytest.Pytester, demo: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = demo.url  # type: ignore[attr-defined]
    pytester.makepyfile(PROBE)
    assert _seen(_run(pytester, url))["timeout"] == BY_NAME["ready-timeout"].default
    pytester.makeini("[pytest]\nopsgate_ready_timeout = 40\nopsgate_keep_going = true\n")
    assert _seen(_run(pytester, url)) | {} == {
        "timeout": 40.0, "keep_going": True, "verify": True, "slos": [], "min": 1,
    }  # fmt: skip
    monkeypatch.setenv("OPSGATE_READY_TIMEOUT", "50s")
    assert _seen(_run(pytester, url))["timeout"] == 50.0
    assert _seen(_run(pytester, url, "--gate-ready-timeout=1m"))["timeout"] == 60.0


def test_flags_and_lists_come_from_the_ini_file_too(
    pytester: pytest.Pytester, demo: object
) -> None:
    pytester.makepyfile(PROBE)
    pytester.makeini(
        "[pytest]\nopsgate_insecure = yes\nopsgate_slo =\n    p95 < 1s\n    error_rate < 5%\n"
    )
    seen = _seen(_run(pytester, demo.url))  # type: ignore[attr-defined]
    assert seen["verify"] is False
    assert seen["slos"] == ["p95 < 1s", "error_rate < 5%"]


@pytest.mark.parametrize(
    ("where", "setting", "words"),
    [
        ("ini", "opsgate_min_samples = zero", "ini option opsgate_min_samples: 'zero' is not"),
        ("env", "OPSGATE_KEEP_GOING=maybe", "environment variable OPSGATE_KEEP_GOING: 'maybe'"),
        ("env", "OPSGATE_SLO=p95 <", "environment variable OPSGATE_SLO: invalid SLO"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_where_it_came_from(
    pytester: pytest.Pytester,
    demo: object,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    setting: str,
    words: str,
) -> None:
    pytester.makepyfile(PROBE)
    if where == "ini":
        pytester.makeini(f"[pytest]\n{setting}\n")
    else:
        name, _, value = setting.partition("=")
        monkeypatch.setenv(name, value)
    result = _run(pytester, demo.url)  # type: ignore[attr-defined]
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


def test_the_table_names_every_option_once() -> None:
    names = [option.name for option in OPTIONS]
    assert len(names) == len(set(names))
    flags = [option.flag for option in OPTIONS]
    assert len(flags) == len(set(flags))
    assert all(f.startswith(("--gate", "--no-gate")) for f in flags)
