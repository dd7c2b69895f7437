"""Wall time of the same browser tests through ``--gate=e2e`` and through plain pytest-playwright.

    python benchmarks/e2e_overhead.py [--runs 3] [--tests 12]

Three modes run side by side against one demo service, interleaved, median of ``--runs``:

- ``plain``: pytest-playwright alone (opsgate disabled), its default retention (nothing kept).
- ``plain+retention``: pytest-playwright with the retention the gate presets
  (``--screenshot only-on-failure --tracing retain-on-failure``; video is off here because
  Playwright's ffmpeg is not installed).
- ``gate``: ``--gate=e2e``: readiness, the presets, console/network listeners, navigation
  checks and Navigation Timing reads on every visit, page metrics.

The tests are identical; only a ``visit`` fixture differs: ``page.goto`` for plain runs,
``gate_page.visit`` for the gate. Both launch the same system Chromium with the same flags.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pytest_opsgate.demo import start_demo
from pytest_opsgate.e2e.browser import find_browser, launch_args

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


def _run(root: Path, args: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
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
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-3000:] + completed.stderr[-3000:])
        raise SystemExit(f"benchmark run failed: {' '.join(args)}")
    return elapsed


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
            retention = ["--screenshot=only-on-failure", "--tracing=retain-on-failure"]
            modes = {
                "plain": (plain_root, ["-p", "no:opsgate", f"--base-url={demo.url}"]),
                "plain+retention": (
                    plain_root,
                    ["-p", "no:opsgate", f"--base-url={demo.url}", *retention],
                ),
                "gate": (gate_root, ["--gate=e2e", f"--base-url={demo.url}"]),
            }
            times: dict[str, list[float]] = {mode: [] for mode in modes}
            _run(*modes["plain"])  # warm the page cache of Chromium and Python
            for _ in range(options.runs):
                for mode, (root, args) in modes.items():
                    times[mode].append(_run(root, args))
    finally:
        demo.stop()

    tests = 4 * options.tests
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    print(f"{tests} browser tests, {options.runs} runs per mode, browser {choice.describe()}")
    print(f"{'mode':<17}{'median s':>9}  runs")
    for mode, values in times.items():
        shown = " ".join(f"{value:.2f}" for value in values)
        print(f"{mode:<17}{medians[mode]:>9.2f}  {shown}")
    print(f"gate / plain+retention = {medians['gate'] / medians['plain+retention']:.3f}")
    print(f"gate / plain           = {medians['gate'] / medians['plain']:.3f}")


if __name__ == "__main__":
    main()
