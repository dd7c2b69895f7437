"""The hooks pytest-opsgate adds, each used by a test plugin as a user's conftest would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer

TESTS = """
import pytest

@pytest.mark.gate("smoke")
def test_ok(gate_slo):
    gate_slo.sample("/api/health/", n=3).assert_slo("p95 < 10s")
"""

CONFTEST = """
import json

def pytest_opsgate_write_report(decision, record, out_dir):
    # Another output format: one line per SLO row, next to gate.json.
    rows = [{"slo": str(r.slo), "verdict": r.verdict, "test": r.test} for r in record.slo_results]
    (out_dir / "slos.jsonl").write_text("\\n".join(json.dumps(row) for row in rows))

def pytest_opsgate_verdict(decision):
    print(f"OBSERVED {decision.verdict.value} {int(decision.exit_code)}")
"""


def test_a_plugin_writes_its_own_report_and_observes_the_verdict(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(TESTS)
    pytester.makeconftest(CONFTEST)
    artifacts = pytester.path / "evidence"
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", f"--gate-artifacts={artifacts}", "-s"
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*OBSERVED PASS 0*"])
    rows = [json.loads(line) for line in (artifacts / "slos.jsonl").read_text().splitlines()]
    assert {row["slo"] for row in rows} == {
        "GET /api/health/: p95 < 10s",
        "GET /api/health/: error_rate < 1%",
    }
    assert all(
        row["test"] == "test_a_plugin_writes_its_own_report_and_observes_the_verdict.py::test_ok"
        for row in rows
    )
    # The built-in writers ran through the same hook.
    assert (artifacts / "gate.json").is_file()
    assert (artifacts / "gate.md").is_file()


def test_the_hooks_are_registered_with_one_line_docstrings(pytestconfig: pytest.Config) -> None:
    from pytest_opsgate import hookspecs

    names = [name for name in dir(hookspecs) if name.startswith("pytest_opsgate_")]
    assert sorted(names) == [
        "pytest_opsgate_smoke_profiles",
        "pytest_opsgate_verdict",
        "pytest_opsgate_write_report",
    ]
    for name in names:
        assert hasattr(pytestconfig.hook, name)
        assert getattr(hookspecs, name).__doc__


def test_each_run_has_a_redactor_of_its_own(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(TESTS)
    seen: list[int] = []

    class Probe:
        @pytest.hookimpl
        def pytest_opsgate_verdict(self, decision: object) -> None:
            from pytest_opsgate.run.state import get_state

            seen.append(get_state(self.config).redactor.secrets_registered())

        def pytest_configure(self, config: pytest.Config) -> None:
            self.config = config

    for number in range(2):
        env = f"SECRET_{number}"
        monkeypatch.setenv(env, f"s3cret-value-number-{number}")
        result = pytester.runpytest(
            "--gate=smoke", f"--base-url={demo.url}", f"--gate-secret-env={env}", plugins=[Probe()]
        )
        assert result.ret == 0
    # The second run knows only its own secret, not the first run's as well.
    assert seen == [1, 1]


def test_no_module_of_the_package_imports_pytest_internals() -> None:
    src = Path(__file__).resolve().parents[1] / "src" / "pytest_opsgate"
    offenders = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if "_pytest" in path.read_text().replace("pytest_opsgate", "")
    ]
    assert offenders == []
