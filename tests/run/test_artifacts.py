"""F42: the evidence folder holds only this run's files; an earlier run's are moved aside."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_opsgate.errors import GateUsageError
from pytest_opsgate.run.artifacts import fresh_artifacts_dir

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_opsgate.demo import DemoServer

FAILING = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_client):
    assert gate_client.get("/api/items").status_code == 200  # no key: 401
"""
PASSING = """
import pytest

@pytest.mark.gate("smoke")
def test_items(gate_client):
    assert gate_client.get("/api/public/items").status_code == 200
"""


def test_F42_a_pass_after_a_failure_leaves_no_stale_failure_evidence(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    artifacts = pytester.path / "gate-artifacts"
    pytester.makepyfile(test_api=FAILING)
    failed = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}")
    assert failed.ret == 1
    stale = artifacts / "test_api.py-test_items" / "exchanges.txt"
    assert stale.is_file()
    pytester.makepyfile(test_api=PASSING)
    passed = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}")
    assert passed.ret == 0
    files = sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*") if p.is_file())
    assert files == [".opsgate-run", "gate.json", "gate.md", "gate.prom"]
    moved = pytester.path / "gate-artifacts.previous"
    assert (moved / "test_api.py-test_items" / "exchanges.txt").is_file()
    passed.stdout.fnmatch_lines(["*previous run's evidence was moved to*gate-artifacts.previous*"])


def test_a_folder_that_is_not_a_runs_evidence_is_never_moved(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my own file")
    with pytest.raises(GateUsageError, match=r"holds files but no gate\.json"):
        fresh_artifacts_dir(folder)
    assert (folder / "notes.txt").read_text() == "my own file"
    assert fresh_artifacts_dir(tmp_path / "new") is None
    assert (tmp_path / "new").is_dir()


def test_load_under_xdist_is_refused_rather_than_mixed(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    (pytester.path / "locustfiles").mkdir()
    (pytester.path / "locustfiles" / "x.py").write_text("from locust import User\n")
    result = pytester.runpytest("--gate=smoke,load", f"--base-url={demo.url}", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gate=load does not run under xdist (-n)*"])
