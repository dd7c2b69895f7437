"""The README is the reference: every option the plugin registers is documented there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

README = (Path(__file__).parent.parent / "README.md").read_text()


def _registered_options() -> set[str]:
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:playwright", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    group = help_text.split("deployment gate (pytest-opsgate):", 1)[1]
    group = re.split(r"\n\S[^\n]*:\n", group, maxsplit=1)[0]
    return set(re.findall(r"^\s+(--(?:no-)?gate[\w-]*)", group, re.MULTILINE))


def test_every_option_is_in_the_readme() -> None:
    options = _registered_options()
    assert len(options) > 40
    missing = sorted(option for option in options if f"`{option}" not in README)
    assert missing == []


def test_readme_leads_with_the_two_setup_commands() -> None:
    first_block = README.split("```", 2)[1]
    assert "make demo" in first_block
    assert "make test" in first_block


def test_exit_codes_are_documented() -> None:
    codes = ((0, "PASS"), (1, "FAIL"), (2, "ABORTED"), (10, "not ready"), (11, "ERROR"))
    for code, word in (*codes, (12, "INCONCLUSIVE")):
        assert re.search(rf"\| {word} \| {code} \|", README), (word, code)


def test_the_readme_option_tables_are_the_generated_ones() -> None:
    from pytest_opsgate.settings.readme import render_option_tables

    # Edit src/pytest_opsgate/settings/table.py, then paste `python -m pytest_opsgate.settings`.
    assert render_option_tables() in README


def test_every_option_has_an_ini_key_and_an_environment_variable() -> None:
    from pytest_opsgate.settings.table import OPTIONS

    for option in OPTIONS:
        if option.name == "gate":
            assert option.cli_only
            continue
        assert not option.cli_only, option.name
        assert option.ini == "opsgate_" + option.name.replace("-", "_")
        assert f"`{option.ini}`" in README


def _quick_start_blocks(kind: str) -> list[str]:
    section = README.split("## Quick start for a real service", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_quick_start_code_runs_against_the_demo(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (code,) = _quick_start_blocks("python")
    first_line = code.splitlines()[0]
    path = first_line.removeprefix("# ").split(" ", 1)[0]
    assert path == "suites/smoke/test_api.py"
    target = pytester.path / path
    target.parent.mkdir(parents=True)
    target.write_text(code)
    monkeypatch.setenv("DEV_KEY", demo.options.dev_key)
    (commands,) = _quick_start_blocks("console")
    command = next(line for line in commands.splitlines() if line.startswith("pytest "))
    args = [arg.replace("https://staging.example.com", demo.url) for arg in command.split()[1:]]
    result = pytester.runpytest(*args)
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)
    # The sample's p95 and its guard are rows of the run's table, under the test's name.
    result.stdout.fnmatch_lines(["*GET /api/items*p95*PASSED*test_list_is_fast*"])
