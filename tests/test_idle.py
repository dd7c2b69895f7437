"""No cost when idle: without --gate the plugin imports nothing heavy and builds no state.

In the manner of pytest-django's test_without_django_loaded: a plain pytest run in a
subprocess, once with the plugin and once with ``-p no:opsgate``, each writing the modules
it imported; the modules the plugin adds must hold none of the heavy dependencies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "hdrh",
    "httpx",
    "httpcore",
    "locust",
    "gevent",
    "playwright",
    "jsonschema",
    "psycopg",
    "prometheus_client",
    "schemathesis",
    "scipy",
)

CONFTEST = """
import json, os, sys

def pytest_sessionfinish(session):
    from pytest_opsgate.run.state import settings_key, state_key
    built = [key is not None and session.config.stash.get(key, None) is not None
             for key in (settings_key, state_key)]
    with open(os.environ["IDLE_OUT"], "w") as handle:
        json.dump({"modules": sorted(sys.modules), "built": built}, handle)
"""


def _plain_run(project: Path, out: Path, *args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**__import__("os").environ, "IDLE_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(json.loads(out.read_text()))


def test_a_plain_pytest_run_imports_nothing_heavy_and_builds_no_gate_state(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    with_plugin = _plain_run(tmp_path, tmp_path / "with.json")
    without = _plain_run(tmp_path, tmp_path / "without.json", "-p", "no:opsgate")
    added = set(with_plugin["modules"]) - set(without["modules"])  # type: ignore[arg-type]
    heavy = sorted(m for m in added if m.split(".")[0] in HEAVY)
    assert heavy == []
    assert any(m.startswith("pytest_opsgate") for m in added)  # the plugin was loaded
    assert with_plugin["built"] == [False, False]


@pytest.mark.parametrize("option", ["--gate-ready-timeout=5", "--gate-slo=p95 < 1s"])
def test_gate_options_without_gate_still_build_nothing(tmp_path: Path, option: str) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n")
    run = _plain_run(tmp_path, tmp_path / "out.json", option)
    assert run["built"] == [False, False]
    assert not any(m.split(".")[0] in ("hdrh", "httpx") for m in run["modules"])  # type: ignore[union-attr]
