"""Wall time of the same browser tests through ``--gate=e2e`` and through plain pytest-playwright.

    python benchmarks/e2e_overhead.py [--runs 3] [--tests 3]   # 4 flows x --tests copies

Four modes run side by side against one demo service, interleaved, median of ``--runs``:

- ``plain``: pytest-playwright alone (opsgate disabled), its default retention (nothing kept).
- ``plain+retention``: pytest-playwright keeping what the gate keeps of a failed test
  (``--screenshot only-on-failure --tracing retain-on-failure``, and
  ``--video retain-on-failure`` only where Playwright's ffmpeg is installed, as the gate does).
  pytest-playwright takes that screenshot at every teardown and discards it on a pass.
- ``plain+tracing``: the same without ``--screenshot``: the options the gate presets, since it
  takes its failure screenshot itself, only when a test failed.
- ``gate``: ``--gate=e2e``: readiness, the presets, console/network listeners, navigation
  checks and Navigation Timing reads on every visit, page metrics.

The tests are identical; only a ``visit`` fixture differs: ``page.goto`` for plain runs,
``gate_page.visit`` for the gate. Both launch the same system Chromium with the same flags.

Every mode runs once before the timed runs, and all runs share one bytecode cache
(``PYTHONPYCACHEPREFIX``, with ``PYTHONDONTWRITEBYTECODE`` dropped): an installed package
ships compiled ``.pyc``, but an editable install under ``PYTHONDONTWRITEBYTECODE=1`` would
recompile every opsgate module on each gate run, a cost plain runs (which never import
opsgate) do not pay and users do not see.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pytest_opsgate.demo import start_demo
from pytest_opsgate.gates.e2e.browser import find_browser, launch_args, playwright_has

TESTS = """
    from playwright.sync_api import expect


    def test_home(visit, page, n):
        visit("/")
        expect(page.get_by_role("heading", name="Items")).to_be_visible()


    def test_list(visit, page, n):
        visit("/")
        expect(page.get_by_test_id("status")).to_have_attribute("data-state", "loaded")


    def test_add(visit, page, n):
        visit("/")
        expect(page.get_by_test_id("status")).to_have_attribute("data-state", "loaded")
        page.get_by_test_id("item-name").fill(f"bench {n}")
        page.get_by_test_id("item-price").fill("1.50")
        page.get_by_test_id("add-item-submit").click()
        expect(page.get_by_test_id("result")).to_have_text(f"Added bench {n}")


    def test_login_page(visit, page, n):
        visit("/login")
        expect(page.get_by_test_id("login-form")).to_be_visible()
"""

PLAIN_CONFTEST = """
    import pytest

    EXECUTABLE = {executable!r}
    ARGS = {args!r}


    @pytest.fixture(scope="session")
    def browser_type_launch_args(browser_type_launch_args):
        return {{**browser_type_launch_args, "executable_path": EXECUTABLE, "args": ARGS}}


    @pytest.fixture
    def visit(page):
        return page.goto
"""

GATE_CONFTEST = """
    import pytest


    @pytest.fixture
    def visit(gate_page):
        return gate_page.visit
"""


def _write_project(root: Path, conftest: str, tests_per_kind: int) -> None:
    suite = root / "suites" / "e2e"
    suite.mkdir(parents=True)
    (root / "conftest.py").write_text(textwrap.dedent(conftest))
    body = textwrap.dedent(TESTS)
    body += textwrap.dedent(
        f"""

        import pytest


        @pytest.fixture(params=range({tests_per_kind}))
        def n(request):
            return request.param
        """
    )
    (suite / "test_flows.py").write_text(body)


def _run(root: Path, args: list[str], pycache: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (pytest, Playwright's driver and Chromium) of one run."""
    dropped = ("PYTEST_ADDOPTS", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
        raise SystemExit(f"benchmark run failed: {' '.join(args)}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (median is shown)")
    parser.add_argument("--tests", type=int, default=3, help="parametrised copies of each flow")
    options = parser.parse_args()

    choice = find_browser(os.environ.get("OPSGATE_BROWSER_EXECUTABLE"))
    demo = start_demo(port=0)
    try:
        with tempfile.TemporaryDirectory(prefix="opsgate-e2e-bench-") as temp:
            plain_root, gate_root = Path(temp, "plain"), Path(temp, "gate")
            conftest = PLAIN_CONFTEST.format(executable=choice.executable, args=launch_args())
            _write_project(plain_root, conftest, options.tests)
            _write_project(gate_root, GATE_CONFTEST, options.tests)
            tracing = ["--tracing=retain-on-failure"]
            if playwright_has("ffmpeg"):  # the gate presets video only when it can record
                tracing.append("--video=retain-on-failure")
            retention = ["--screenshot=only-on-failure", *tracing]
            modes = {
                "plain": (plain_root, ["-p", "no:opsgate", f"--base-url={demo.url}"]),
                "plain+retention": (
                    plain_root,
                    ["-p", "no:opsgate", f"--base-url={demo.url}", *retention],
                ),
                "plain+tracing": (
                    plain_root,
                    ["-p", "no:opsgate", f"--base-url={demo.url}", *tracing],
                ),
                "gate": (gate_root, ["--gate=e2e", f"--base-url={demo.url}"]),
            }
            pycache = Path(temp, "pycache")
            times: dict[str, list[float]] = {mode: [] for mode in modes}
            cpus: dict[str, list[float]] = {mode: [] for mode in modes}
            for root, args in modes.values():  # warm Chromium's and Python's caches
                _run(root, args, pycache)
            for _ in range(options.runs):
                for mode, (root, args) in modes.items():
                    elapsed, cpu = _run(root, args, pycache)
                    times[mode].append(elapsed)
                    cpus[mode].append(cpu)
    finally:
        demo.stop()

    tests = 4 * options.tests
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    cpu_medians = {mode: statistics.median(values) for mode, values in cpus.items()}
    print(f"{tests} browser tests, {options.runs} runs per mode, browser {choice.describe()}")
    # CPU seconds are a steadier second opinion when other jobs share the machine's cores.
    print(f"{'mode':<17}{'median s':>9}{'cpu s':>8}  runs")
    for mode, values in times.items():
        shown = " ".join(f"{value:.2f}" for value in values)
        print(f"{mode:<17}{medians[mode]:>9.2f}{cpu_medians[mode]:>8.2f}  {shown}")
    for base in ("plain+retention", "plain+tracing", "plain"):
        wall = medians["gate"] / medians[base]
        cpu = cpu_medians["gate"] / cpu_medians[base]
        print(f"gate / {base:<16}= {wall:.3f} wall, {cpu:.3f} cpu")


if __name__ == "__main__":
    main()
