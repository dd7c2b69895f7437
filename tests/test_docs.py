"""The README is the reference: every option the plugin registers is documented there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
    for code, word in ((0, "PASS"), (1, "FAIL"), (2, "ABORTED"), (10, "not ready"), (11, "ERROR")):
        assert re.search(rf"\| {word} \| {code} \|", README), (word, code)
