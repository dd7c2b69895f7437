"""The demo's own Prometheus metrics: what a real service exposes on /metrics.

``http_request_duration_seconds`` (histogram) and ``http_requests_total`` (counter), both
labelled by ``handler`` (the route template, so /api/items/7 and /api/items/8 share one
series), ``method`` and ``status``: the names the PromQL examples in the docs use. Each server
has its own registry, so several demo servers in one process keep separate counts. Scrapes
of /metrics are not counted, so an SLO over "all requests" reads the service's own traffic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

from pytest_opsgate.demo._http import Response

if TYPE_CHECKING:
    from pytest_opsgate.demo._app import DemoApp
    from pytest_opsgate.demo._auth import Role
    from pytest_opsgate.demo._http import Request
    from pytest_opsgate.demo._state import DemoState

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"  # no route: one series for every unknown path, not one per path
# Finer than the default below 25 ms, where the demo answers, so p99 interpolates usefully.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("handler", "method", "status")


class DemoMetrics:
    """One server's request metrics and their registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from reading the request to writing the response.",
            LABELS,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "http_requests", "Requests answered.", LABELS, registry=self.registry
        )

    def observe(self, app: DemoApp, method: str, path: str, status: int, seconds: float) -> None:
        """Count one answered request under its route template."""
        if path == METRICS_PATH:
            return
        found = app._resolve(path)  # the route table's own matching, so labels follow routes
        handler = found[0].template if found is not None else UNMATCHED
        labels = (handler, method, str(status))
        self.duration.labels(*labels).observe(seconds)
        self.requests.labels(*labels).inc()

    def exposition(self, accept: str | None) -> Response:
        """The registry in the format the scraper asked for (OpenMetrics or text 0.0.4)."""
        encode, content_type = choose_encoder(accept or "")
        return Response(200, encode(self.registry), content_type, [("Cache-Control", "no-store")])


def metrics_endpoint(state: DemoState, request: Request, role: Role | None) -> Response:
    """GET /metrics: the demo's request metrics for Prometheus to scrape."""
    return state.metrics.exposition(request.header("accept"))
