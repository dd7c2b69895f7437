"""A locustfile task that raises is a broken check, never a quiet PASS."""

from __future__ import annotations

import pytest

import faultserver as fs
from gatekit import SUBPROCESS_TIMEOUT, add_locustfile, gate_args, load_result

# The deploy broke the cart: 200 with an empty list. The task cannot go on to checkout.
CHECKOUT_LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Shopper(FastHttpUser):
    wait_time = constant(0.05)

    @task
    def checkout(self):
        item = self.client.get("/cart").json()["items"][0]
        self.client.post("/checkout", json=item)
"""


def test_a_task_that_raises_on_every_run_is_never_a_pass(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    add_locustfile(pytester, "shop.py", CHECKOUT_LOCUSTFILE)
    with fs.FaultServer() as server:
        server.route("/cart", fs.json({"items": []}))
        server.route("/checkout", fs.json({"ok": True}))
        run = pytester.runpytest_subprocess(
            *gate_args(server.url, "--no-gate-ready", "--gate-run-time=4s", "--gate-users=2"),
            timeout=SUBPROCESS_TIMEOUT,
        )
    # Before the fix: PASS, exit 0, on the GET /cart answers alone; checkout never ran.
    assert run.ret == 11, run.stdout.str()
    result = load_result(pytester.path / "gate-artifacts", "shop.py")
    assert result["verdict"] == "error"
    run.stdout.fnmatch_lines(
        ["*the locustfile's tasks raised * exception(s), so the load did not run as written*"]
    )
    run.stdout.fnmatch_lines(["*IndexError: list index out of range (shop.py:*"])
