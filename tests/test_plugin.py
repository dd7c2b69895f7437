"""The core plugin through pytester: selection, base URL, readiness exit codes, verdicts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from faultserver import FaultServer, json, text

if TYPE_CHECKING:
    from pytest_opsgate.demo import DemoServer


SMOKE_TESTS = """
    import pytest

    @pytest.mark.gate("smoke")
    def test_smoke_marked(gate_client):
        assert gate_client.get("/api/health/").status_code == 200

    @pytest.mark.gate("load")
    def test_load_marked():
        pass

    def test_unmarked():
        pass
"""


def test_without_gate_the_plugin_changes_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_marked():
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert "VERDICT" not in result.stdout.str()
    assert "opsgate: target" not in result.stdout.str()
    assert result.ret == 0


def test_gate_selects_by_marker_and_deselects_with_reason(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(SMOKE_TESTS)
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(
        [
            "*DESELECTED*test_load_marked*not in --gate=smoke (belongs to load)*",
            "*DESELECTED*test_unmarked*mark it @pytest.mark.gate*",
            "*VERDICT: PASS (exit code 0)*",
        ]
    )
    assert result.ret == 0


def test_suites_folder_puts_tests_in_a_gate(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.mkpydir("suites")
    smoke = pytester.mkpydir("suites/smoke")
    e2e = pytester.mkpydir("suites/e2e")
    (smoke / "test_health.py").write_text("def test_up(gate_client):\n    gate_client.get('/')\n")
    (e2e / "test_page.py").write_text("def test_page():\n    pass\n")
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}")
    result.assert_outcomes(passed=1, deselected=1)


def test_unknown_gate_is_a_usage_error_naming_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--gate=smoek", "--base-url=http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown gate 'smoek'*valid gates are smoke, e2e, load, restore and all*"]
    )


def test_gate_without_base_url_says_how_to_pass_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PYTEST_BASE_URL", "BASE_URL", "PLAYWRIGHT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--gate=smoke")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gate=smoke needs a target; pass --base-url URL*"])


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000:8000", "http://127.0.0.1:http"])
def test_base_url_with_a_bad_port_is_a_usage_error_not_an_internal_error(
    pytester: pytest.Pytester, url: str
) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--gate=smoke", f"--base-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--base-url http://127.0.0.1... has an invalid port; pass one*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_only_the_restore_gate_runs_without_a_target(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PYTEST_BASE_URL", "BASE_URL", "PLAYWRIGHT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--gate=restore,smoke", "--gate-restore-from=backups")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gate=restore,smoke needs a target; pass --base-url URL*"])
    alone = pytester.runpytest("--gate=restore", "--gate-restore-from=backups", "--collect-only")
    assert alone.ret != pytest.ExitCode.USAGE_ERROR, alone.stderr.str()
    alone.stdout.fnmatch_lines(["opsgate: target (none)", "*<RestoreItem backups>*"])


@pytest.mark.parametrize("env_name", ["BASE_URL", "PLAYWRIGHT_BASE_URL"])
def test_base_url_from_pipeline_environment_variables(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch, env_name: str
) -> None:
    monkeypatch.delenv("PYTEST_BASE_URL", raising=False)
    monkeypatch.setenv(env_name, demo.url)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_target(base_url, gate_client):
            assert base_url == gate_client.base_url.join("/").__str__().rstrip("/")
            assert gate_client.get("/healthz").status_code == 200
        """
    )
    result = pytester.runpytest("--gate=smoke")
    result.assert_outcomes(passed=1)


def test_degraded_target_exits_10_with_a_message_that_says_degraded(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.gate('smoke')\ndef test_x():\n    pass\n")
    with FaultServer() as server:
        server.route(
            "/api/health/",
            json({"status": "degraded", "checks": {"db": {"status": "ok"}}}),
        )
        started = time.monotonic()
        result = pytester.runpytest(
            "--gate=smoke", f"--base-url={server.url}", "--gate-ready-timeout=1.5"
        )
        elapsed = time.monotonic() - started
    assert result.ret == 10
    output = result.stdout.str() + result.stderr.str()
    assert "degraded" in output
    assert "not ready" in output
    assert " passed" not in output  # no test ran
    assert elapsed < 1.5 + 10  # bounded by the readiness timeout


def test_ready_expect_and_explicit_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.gate('smoke')\ndef test_x():\n    pass\n")
    with FaultServer() as server:
        server.route("/status", json({"status": "degraded", "version": "1.2.3"}))
        result = pytester.runpytest(
            "--gate=smoke",
            f"--base-url={server.url}",
            "--gate-ready-path=/status",
            '--gate-ready-expect=status in ["ok", "degraded"]',
        )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ready after*version 1.2.3*"])


def test_a_version_never_served_stops_before_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.gate('smoke')\ndef test_x():\n    pass\n")
    with FaultServer() as server:
        server.route("/healthz", json({"status": "ok", "version": "1.0.0"}))
        result = pytester.runpytest(
            "--gate=smoke",
            f"--base-url={server.url}",
            "--gate-expect-version=2.0.0",
            "--gate-ready-timeout=1",
        )
    assert result.ret == 10
    assert "still serving 1.0.0, want 2.0.0" in result.stdout.str() + result.stderr.str()


def test_no_test_in_gate_is_error_not_pass(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.makepyfile("def test_unmarked():\n    pass\n")
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}")
    assert result.ret == 11
    result.stdout.fnmatch_lines(
        ["*smoke: no test, check or locustfile in this gate*", "*VERDICT: ERROR*"]
    )


def test_gate_slo_over_gate_client_traffic(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_many(gate_client):
            for _ in range(5):
                gate_client.get("/healthz")
        """
    )
    passing = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", "--gate-slo=GET /healthz: p95 < 10s"
    )
    assert passing.ret == 0
    passing.stdout.fnmatch_lines(["*GET /healthz*p95*PASSED*"])
    failing = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", "--gate-slo=GET /healthz: p95 < 0.001ms"
    )
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(["*GET /healthz*p95*FAILED*", "*VERDICT: FAIL*"])


def test_slo_on_an_endpoint_never_requested_is_error(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.gate('smoke')\n"
        "def test_x(gate_client):\n    gate_client.get('/healthz')\n"
    )
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={demo.url}", "--gate-slo=GET /api/never: p95 < 1s"
    )
    assert result.ret == 11
    result.stdout.fnmatch_lines(["*VERDICT: ERROR*"])


def test_bad_slo_expression_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--gate-slo=p95 < 300", "--base-url=http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_failed_test_leaves_exchanges_in_html_and_artifacts(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_items_need_key(gate_client):
            response = gate_client.get("/api/items", headers={"X-Api-Key": "wrong-key-1234"})
            assert response.status_code == 200
        """
    )
    artifacts = pytester.path / "evidence"
    result = pytester.runpytest(
        "--gate=smoke",
        f"--base-url={demo.url}",
        f"--gate-artifacts={artifacts}",
        "--html=report.html",
    )
    assert result.ret == 1
    dumps = list(artifacts.rglob("exchanges.txt"))
    assert len(dumps) == 1
    dump = dumps[0].read_text()
    assert "GET" in dump
    assert "/api/items" in dump
    assert "401" in dump
    assert "wrong-key-1234" not in dump
    report = (pytester.path / "report.html").read_text()
    assert "HTTP exchanges" in report
    assert "Verdict: FAIL" in report
    assert "wrong-key-1234" not in report


def test_gate_slo_fixture_sample_and_assert(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        def test_fast(gate_slo):
            sample = gate_slo.sample("/healthz", n=10)
            assert sample.count == 10
            assert sample.error_rate == 0
            assert sample.p(50) <= sample.p(95)
            sample.assert_slo("p95 < 10s", "error_rate < 1%")

        @pytest.mark.gate("smoke")
        def test_breach(gate_slo):
            gate_slo.sample("/healthz", n=5).assert_slo("p50 < 0.001ms")
        """
    )
    result = pytester.runpytest("--gate=smoke", f"--base-url={demo.url}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*SLO breached*", "*GET /healthz*p50*FAILED*"])


def test_xdist_merges_histograms_on_the_controller(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.gate("smoke")
        @pytest.mark.parametrize("n", range(4))
        def test_hit(gate_client, n):
            for _ in range(5):
                gate_client.get("/healthz")
        """
    )
    result = pytester.runpytest(
        "-n", "2", "--gate=smoke", f"--base-url={demo.url}", "--gate-slo=GET /healthz: p95 < 10s"
    )
    result.assert_outcomes(passed=4)
    # 4 tests x 5 requests, merged from both workers into one histogram
    result.stdout.fnmatch_lines(["*GET /healthz*p95*20*PASSED*"])


def test_smoke_run_imports_no_playwright_locust_or_gevent(demo: DemoServer, tmp_path) -> None:
    (tmp_path / "test_smoke.py").write_text(
        textwrap.dedent(
            """
            import sys
            import pytest

            @pytest.mark.gate("smoke")
            def test_no_heavy_imports(gate_client):
                gate_client.get("/healthz")
                heavy = [m for m in ("playwright", "locust", "gevent") if m in sys.modules]
                assert heavy == []
            """
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:playwright",
            "-p",
            "no:cacheprovider",
            "--gate=smoke",
            f"--base-url={demo.url}",
            str(tmp_path / "test_smoke.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_text_route_helper_is_usable(pytester: pytest.Pytester) -> None:
    """HTML on the health path is not ready (F7) — the run stops with exit 10."""
    pytester.makepyfile("import pytest\n\n@pytest.mark.gate('smoke')\ndef test_x():\n    pass\n")
    with FaultServer() as server:
        server.route("/healthz", text("<html>login</html>", content_type="text/html"))
        result = pytester.runpytest(
            "--gate=smoke",
            f"--base-url={server.url}",
            "--gate-ready-path=/healthz",
            "--gate-ready-timeout=1",
        )
    assert result.ret == 10
    assert "text/html" in result.stdout.str() + result.stderr.str()


PHASED_TESTS = """
    import pytest

    @pytest.mark.gate("e2e")
    def test_e2e_flow():
        pass

    @pytest.mark.gate("smoke")
    def test_smoke_check():
        assert {smoke_ok}
"""


def test_failed_smoke_phase_skips_later_phases_with_reason(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makepyfile(PHASED_TESTS.format(smoke_ok=False))
    result = pytester.runpytest("--gate=smoke,e2e", f"--base-url={demo.url}", "-rs")
    result.assert_outcomes(failed=1, skipped=1)
    # smoke runs first although it is defined second
    result.stdout.fnmatch_lines(["*test_smoke_check*", "*SKIPPED*not run: smoke failed*"])
    assert result.ret == 1


def test_keep_going_runs_every_phase(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.makepyfile(PHASED_TESTS.format(smoke_ok=False))
    result = pytester.runpytest("--gate=smoke,e2e", f"--base-url={demo.url}", "--gate-keep-going")
    result.assert_outcomes(failed=1, passed=1)


def test_sigterm_aborts_with_exit_2(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.makepyfile(
        """
        import os, signal, pytest

        @pytest.mark.gate("smoke")
        def test_cancelled():
            os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    result = pytester.runpytest_subprocess("--gate=smoke", f"--base-url={demo.url}")
    assert result.ret == 2
    result.stdout.fnmatch_lines(["*VERDICT: ABORTED (exit code 2)*"])


def test_hung_test_is_stopped_and_judged_error(pytester: pytest.Pytester, demo: DemoServer) -> None:
    pytester.makepyfile(
        """
        import time, pytest

        @pytest.mark.gate("smoke")
        def test_hangs():
            time.sleep(120)

        @pytest.mark.gate("smoke")
        def test_after_it():
            pass
        """
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--gate=smoke", f"--base-url={demo.url}", "--gate-test-timeout=1"
    )
    assert time.monotonic() - started < 60  # bounded by the 1 s limit, not the 120 s sleep
    assert result.ret == 11
    result.stdout.fnmatch_lines(
        ["*test_hangs still running after --gate-test-timeout=1s*", "*VERDICT: ERROR*"]
    )
    result.assert_outcomes(failed=1, passed=1)


def test_demo_started_degraded_exits_10_within_the_timeout(tmp_path) -> None:
    """Issue 2's acceptance run: the real demo process with --degraded, the real gate."""
    port_file = tmp_path / "port"
    demo_command = [sys.executable, "-m", "pytest_opsgate.demo", "--port", "0", "--degraded"]
    demo_proc = subprocess.Popen(
        [*demo_command, "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        (tmp_path / "test_smoke.py").write_text(
            "import pytest\n\n@pytest.mark.gate('smoke')\ndef test_x():\n    pass\n"
        )
        started = time.monotonic()
        gate_command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--gate=smoke"]
        proc = subprocess.run(
            [*gate_command, f"--base-url={url}", "--gate-ready-timeout=2", "test_smoke.py"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        elapsed = time.monotonic() - started
    finally:
        demo_proc.terminate()
        demo_proc.wait(timeout=10)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 10, output
    assert "degraded" in output
    assert elapsed < 2 + 45  # the readiness timeout plus start-up, not a hang


def test_plain_pytest_start_loads_only_light_modules() -> None:
    """Without --gate the plugin costs an import of a few small modules, nothing heavy."""
    code = (
        "import sys, pytest, pytest_opsgate.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('hdrh', 'httpx', 'httpcore', 'playwright', 'locust', 'gevent')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
