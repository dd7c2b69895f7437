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


def test_silence_is_the_wait_with_no_request_ending_meanwhile() -> None:
    now = [100.0]
    inflight = InFlight(clock=lambda: now[0])
    assert inflight.silent_s() == 0.0  # nothing waits: no silence
    first = inflight.begin("GET", "/a")
    now[0] = 104.0
    assert inflight.silent_s() == 4.0  # waiting since it was sent, nothing ended
    second = inflight.begin("GET", "/b")
    now[0] = 105.0
    inflight.end(second)  # an answer: the target is alive
    now[0] = 107.0
    assert inflight.silent_s() == 2.0
    inflight.end(first)
    assert inflight.silent_s() == 0.0


def test_a_hang_is_every_process_silent_under_load() -> None:
    from pytest_opsgate.gates.load.merge import SnapshotMerger

    merger = SnapshotMerger()
    merger.add("a", {"requests_total": 50, "inflight": 2, "silent_s": 12.0, "elapsed_s": 30.0})
    merger.add("b", {"requests_total": 40, "inflight": 0, "silent_s": 0.0, "elapsed_s": 30.0})
    assert merger.target_hung(10.0) is None  # b still gets answers
    merger.add("b", {"requests_total": 40, "inflight": 3, "silent_s": 11.0, "elapsed_s": 30.0})
    hung = merger.target_hung(10.0)
    assert hung is not None
    assert (hung["at_s"], hung["failures"]) == (19.0, 5)
    assert merger.target_hung(15.0) is None
