"""Shared fixtures: the bundled demo service and hostile fault servers, all on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# Imported once here: pytester's in-process runs drop modules a run imported first, which
# would leave two copies of httpcore (and an unexpected exception type) behind.
import pytest_opsgate.http.client  # noqa: F401
from faultserver import FaultServer
from gatekit import Gate
from pytest_opsgate.demo import DemoServer, start_demo

if TYPE_CHECKING:
    from collections.abc import Iterator

TESTS_DIR = Path(__file__).parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))  # faultserver.py is a test-side module, not a package


# Plugins of the dev environment that gate runs under test do not need: Schemathesis's own
# pytest plugin costs about a second a start (the gate imports Schemathesis itself), and
# hypothesis's imports hypothesis at every terminal summary.
INNER_ADDOPTS = "-p no:schemathesis -p no:hypothesispytest"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, with the inner runs (in-process and subprocess) spared the dev plugins."""
    # pytester clears PYTEST_ADDOPTS for isolation; set it again for its runs only.
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_ADDOPTS)
    return pytester


_WORKER_TMP: list[tuple[Path, str | None]] = []

# A shell without job control starts a background command (`make test &`, `nohup ... &`) with
# SIGINT ignored, and an ignored signal stays ignored across exec: every Locust, pytest and
# served child the tests Ctrl-C would then shrug it off, as in a clean run started that way
# (three Ctrl-C tests failed). Python's own handler is reset to the default at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    # Each test process (each xdist worker, inside its controller's) gets a temporary folder
    # of its own: the restore tests look for leftover ``opsgate-restore-*`` folders, and
    # another worker's session server, a drill it is running right now, or a folder some
    # killed run left in /tmp would otherwise look like this process's leak.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not _WORKER_TMP:
        own = Path(tempfile.mkdtemp(prefix=f"opsgate-tests-{worker}-"))
        own.chmod(0o755)  # Postgres runs as the unprivileged postgres user and must reach it
        _WORKER_TMP.append((own, os.environ.get("TMPDIR")))
        os.environ["TMPDIR"] = str(own)
        tempfile.tempdir = None
    # pytest-playwright's soft-assertion scope cannot nest, which breaks in-process pytester
    # runs; this suite drives browsers only in subprocesses, so it does without the plugin
    # (make test also passes -p no:playwright).
    plugin = config.pluginmanager.get_plugin("playwright")
    if plugin is not None:
        config.pluginmanager.unregister(plugin)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _WORKER_TMP:
        own, previous = _WORKER_TMP.pop()
        if previous is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous
        tempfile.tempdir = None
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture
def gate(pytester: pytest.Pytester) -> Gate:
    """A gate run in a pytester project (see gatekit.Gate); modules may override it."""
    return Gate(pytester)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A fault server of this test's own on a loopback port (see faultserver.py)."""
    with FaultServer() as s:
        yield s


@pytest.fixture(scope="session")
def demo() -> Iterator[DemoServer]:
    """The demo service on a free loopback port, shared by the whole session (do not mutate)."""
    server = start_demo(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_demo() -> Iterator[DemoServer]:
    """A demo service of this test's own, free to switch faults on."""
    server = start_demo(port=0)
    try:
        yield server
    finally:
        server.stop()
