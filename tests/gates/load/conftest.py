"""Fixtures of the load gate's tests: a project with a one-endpoint locustfile, and a server
that counts what it gets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gatekit import PING_LOCUSTFILE, CountingServer, add_locustfile

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytest project (an ini file for the rootdir) with ``locustfiles/ping.py``."""
    pytester.makeini("[pytest]\n")
    add_locustfile(pytester, "ping.py", PING_LOCUSTFILE)
    return pytester


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    """A loopback server answering every path, counting the requests per path."""
    server = CountingServer()
    yield server
    server.stop()
