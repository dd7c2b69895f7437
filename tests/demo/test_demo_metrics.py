"""The demo's /metrics: request metrics by route template, one registry per server."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pytest_opsgate.demo import DEV_KEY, DemoServer, start_demo


def counts(server: DemoServer, metric: str = "http_requests_total") -> dict[tuple[str, ...], float]:
    text = httpx.get(f"{server.url}/metrics").text
    return {
        (s.labels["handler"], s.labels["method"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == metric
    }


def test_requests_are_counted_by_route_template_method_and_status(fresh_demo: DemoServer) -> None:
    with httpx.Client(base_url=fresh_demo.url, headers={"X-Api-Key": DEV_KEY}) as client:
        for item in (1, 2, 3):
            client.get(f"/api/items/{item}")
        client.get("/api/public/items")
        client.get("/no/such/page/4711")
        client.delete("/healthz")
    found = counts(fresh_demo)
    assert found[("/api/items/{id}", "GET", "200")] == 3  # one series, not one per id
    assert found[("/api/public/items", "GET", "200")] == 1
    assert found[("unmatched", "GET", "404")] == 1
    assert found[("/healthz", "DELETE", "405")] == 1
    assert not any("4711" in handler for handler, _, _ in found)
    histogram = counts(fresh_demo, "http_request_duration_seconds_count")
    assert histogram[("/api/items/{id}", "GET", "200")] == 3


def test_scrapes_are_not_counted_and_servers_do_not_share_counts(fresh_demo: DemoServer) -> None:
    with start_demo(port=0) as other:
        httpx.get(f"{other.url}/healthz")
        httpx.get(f"{other.url}/metrics")
        assert counts(fresh_demo) == {}
        assert counts(other) == {("/healthz", "GET", "200"): 1}


def test_openmetrics_is_served_when_the_scraper_asks() -> None:
    with start_demo(port=0) as server:
        httpx.get(f"{server.url}/healthz")
        accept = "application/openmetrics-text; version=1.0.0"
        answer = httpx.get(f"{server.url}/metrics", headers={"Accept": accept})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    assert "http_request_duration_seconds_bucket{" in answer.text
