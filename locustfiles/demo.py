"""Load test of the demo service: a read-heavy API mix, judged by the SLOs below.

Run it through the gate:  pytest --gate=load --base-url http://127.0.0.1:8000
or with plain Locust:      locust -f locustfiles/demo.py --headless -u 10 -t 30s
Either way the opsgate extension (imported below) enforces ``SLOS`` and sets the exit
code: 0 pass, 1 an SLO failed, 11 the run could not measure.
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, between, task

import pytest_opsgate.gates.load.locust_ext  # noqa: F401  (exact-percentile SLOs, exit codes)

# Budgets per Locust request name; "error_rate" without a name covers every request.
SLOS = [
    "GET /api/items: p95 < 500ms",
    "GET /api/items/{id}: p95 < 300ms",
    "GET /api/public/items: p95 < 500ms",
    "GET /api/health/: p99 < 1s",
    "error_rate < 1%",
]

# The demo exempts its load-test key from rate limiting, as real services do.
API_KEY = os.environ.get("DEMO_LOAD_KEY", "demo-load-key")


class DemoReader(FastHttpUser):
    """A client browsing the catalogue."""

    host = "http://127.0.0.1:8000"
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.headers = {"X-Api-Key": API_KEY}
        # Every client checks health once, so even a short run measures that endpoint.
        self.health()

    @task(4)
    def list_items(self) -> None:
        self.client.get("/api/items?limit=20", headers=self.headers, name="/api/items")

    @task(4)
    def get_item(self) -> None:
        item_id = random.randint(1, 10)
        self.client.get(f"/api/items/{item_id}", headers=self.headers, name="/api/items/{id}")

    @task(2)
    def public_items(self) -> None:
        self.client.get("/api/public/items", name="/api/public/items")

    @task(1)
    def health(self) -> None:
        self.client.get("/api/health/", name="/api/health/")
