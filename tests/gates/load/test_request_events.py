"""Every request event counts: one the gate cannot read is never a quiet PASS."""

from __future__ import annotations

import pytest

import faultserver as fs
from gatekit import SUBPROCESS_TIMEOUT, add_locustfile, gate_args, load_result
from pytest_opsgate.gates.load.outcome import Health, decide_load, record_errors_reason

# A client library reports its own check as a request, with an exception whose str() breaks.
UNPRINTABLE_LOCUSTFILE = """
import time

from locust import FastHttpUser, constant, task


class StockError(Exception):
    def __str__(self):
        raise RuntimeError("the client library cannot format its own error")


class Shopper(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def checkout(self):
        started = time.perf_counter()
        stock = self.client.get("/stock").json()
        self.environment.events.request.fire(
            request_type="CHECK",
            name="stock available",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            response=None,
            context={},
            exception=None if stock["left"] else StockError(),
        )
"""


def test_a_failure_whose_message_cannot_be_read_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    add_locustfile(pytester, "stock.py", UNPRINTABLE_LOCUSTFILE)
    with fs.FaultServer() as server:
        server.route("/stock", fs.json({"left": 0}))
        run = pytester.runpytest_subprocess(
            *gate_args(server.url, "--no-gate-ready", "--gate-run-time=3s", "--gate-users=2"),
            timeout=SUBPROCESS_TIMEOUT,
        )
    # Before the fix: PASS, exit 0: str() raised inside the gate's listener, Locust logged
    # it, and every failed check vanished from the gate's figures.
    assert run.ret == 1, run.stdout.str()
    result = load_result(pytester.path / "gate-artifacts", "stock.py")
    assert result["verdict"] == "fail"
    errors = {(e["scope"], e["error"]) for e in result["errors"]}
    assert ("stock available", "StockError: (its message could not be read)") in errors


def test_request_events_the_gate_could_not_count_make_the_run_an_error() -> None:
    health = Health(record_errors=record_errors_reason({"TypeError: unhashable type": 3}))
    decision = decide_load([], health, requests_total=100)
    assert decision.verdict.value == "ERROR"
    assert any("could not count 3 request event(s): 3x TypeError" in r for r in decision.reasons)


# A task that bounds a slow call with its own timeout; HttpSession lets gevent.Timeout
# through without a request event, so Locust's statistics never see the abandoned request.
OWN_TIMEOUT_LOCUSTFILE = """
import gevent
from locust import HttpUser, constant, task


class Shopper(HttpUser):
    wait_time = constant(0.05)

    @task
    def browse(self):
        self.client.get("/items")
        with gevent.Timeout(0.2, False):
            self.client.get("/recommendations")
"""


def test_a_request_abandoned_by_the_tasks_own_timeout_is_a_failure(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    add_locustfile(pytester, "shop.py", OWN_TIMEOUT_LOCUSTFILE)
    with fs.FaultServer() as server:
        server.route("/items", fs.json({"items": [1]}))
        server.route("/recommendations", fs.delay(2.0, fs.json({"items": []})))
        run = pytester.runpytest_subprocess(
            *gate_args(server.url, "--no-gate-ready", "--gate-run-time=3s", "--gate-users=2"),
            timeout=SUBPROCESS_TIMEOUT,
        )
    # Before the fix: PASS, exit 0, on GET /items alone; every recommendation was abandoned.
    assert run.ret == 1, run.stdout.str()
    result = load_result(pytester.path / "gate-artifacts", "shop.py")
    errors = {e["scope"]: e["error"] for e in result["errors"]}
    assert errors["GET /recommendations"].startswith(
        "no answer within the task's own gevent.Timeout"
    ), errors
