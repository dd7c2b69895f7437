"""Requests in flight: counted while they wait, reported when their user is killed unanswered."""

from __future__ import annotations

import gevent
import pytest

from pytest_opsgate.gates.load.inflight import InFlight


class Client:
    request_name = ""

    def request(self, method: str, url: str, name: str | None = None) -> str:
        gevent.sleep(60 if url.endswith("/hang") else 0)
        if url == "/boom":
            raise OSError("refused")
        return "answer"


@pytest.fixture
def tracked() -> tuple[InFlight, type[Client], list[tuple[str, str]]]:
    inflight = InFlight()
    killed: list[tuple[str, str]] = []
    inflight.on_killed = lambda method, name, _ms: killed.append((method, name))
    client = type("TrackedClient", (Client,), {})
    inflight.wrap(client)
    inflight.wrap(client)  # a second install changes nothing
    return inflight, client, killed


def test_answered_and_failed_requests_leave_nothing_in_flight(
    tracked: tuple[InFlight, type[Client], list[tuple[str, str]]],
) -> None:
    inflight, client, killed = tracked
    assert client().request("GET", "/ok") == "answer"
    with pytest.raises(OSError):
        client().request("GET", "/boom")
    assert (inflight.count(), killed) == (0, [])


def test_a_request_killed_unanswered_is_reported_under_its_name(
    tracked: tuple[InFlight, type[Client], list[tuple[str, str]]],
) -> None:
    inflight, client, killed = tracked
    users = [
        gevent.spawn(client().request, "GET", "/hang", "/items/[id]"),
        gevent.spawn(client().request, "POST", "http://host:1/hang"),
    ]
    gevent.sleep(0.01)
    assert inflight.count() == 2
    gevent.killall(users, block=True)
    assert inflight.count() == 0
    assert sorted(killed) == [("GET", "/items/[id]"), ("POST", "/hang")]
