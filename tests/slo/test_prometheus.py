"""Prometheus SLOs against a real Prometheus (Debian's binary) scraping a real demo server."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import faultserver as fs
import promstack
from pytest_opsgate.demo import DemoServer, start_demo
from pytest_opsgate.http.client import GateClient
from pytest_opsgate.http.redact import Redactor
from pytest_opsgate.slo import SLOResult, format_slo_table
from pytest_opsgate.slo.prometheus import _read_answer, evaluate_prometheus, open_client
from pytest_opsgate.slo.prometheus_config import (
    PrometheusConfig,
    PrometheusSLO,
    load_prometheus_config,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.skipif(
    promstack.skip_without_binaries(),
    reason="needs Debian's prometheus and prometheus-pushgateway (make test installs them)",
)

P99 = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"
ITEMS = promstack.ITEMS


@pytest.fixture(scope="session")
def scraped_demo() -> Iterator[DemoServer]:
    """A demo server of its own, for Prometheus to scrape."""
    server = start_demo(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack(
    scraped_demo: DemoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[promstack.Traffic]:
    """A real Prometheus scraping the demo every second; the series exist before any test."""
    parent = tmp_path_factory.getbasetemp()
    server = promstack.start_prometheus([f"127.0.0.1:{scraped_demo.port}"], parent)
    pid = server.pid
    try:
        traffic = promstack.Traffic(scraped_demo.url, server.url)
        # A counter's first scrape is its baseline: rate() sees only later increases.
        traffic.send(1)
        yield traffic
    finally:
        server.stop()
    assert not Path(f"/proc/{pid}").exists(), "prometheus outlived its fixture"
    assert not server.folder.exists()


@pytest.fixture
def prometheus(stack: promstack.Traffic) -> str:
    """The Prometheus URL, with fresh demo traffic in its last minute of data."""
    stack.send(20)
    return stack.prometheus_url


def config(url: str, *slos: PrometheusSLO, **kwargs: Any) -> PrometheusConfig:
    return PrometheusConfig(url=url.rstrip("/"), slos=slos, **kwargs)


def slo(
    query: str, *, high: float | None = None, low: float | None = None, name: str = "s"
) -> PrometheusSLO:
    return PrometheusSLO(name, query, high, low, f"[[prometheus.slo]] ({name})")


def only(results: list[SLOResult]) -> SLOResult:
    assert len(results) == 1, results
    return results[0]


# --------------------------------------------------------------------------- real Prometheus


def test_p99_over_the_demos_own_metrics_passes(prometheus: str) -> None:
    result = only(evaluate_prometheus(config(prometheus, slo(P99, high=0.5, name="p99"))))
    assert result.verdict == "passed", result.reason
    assert result.measured is not None
    assert 0 < result.measured <= 0.5
    assert (result.samples, result.source, result.slo.scope) == (1, "prometheus", "p99")
    assert result.slo.op == "<="
    assert result.slo.budget == 0.5
    assert "value" in format_slo_table([result])


def test_an_impossible_budget_fails_naming_the_value(prometheus: str) -> None:
    results = evaluate_prometheus(config(prometheus, slo(P99, high=1e-9, low=1e-12)))
    high, low = results
    assert high.verdict == "failed"
    assert "is not <= 0.000000001" in high.reason
    assert high.measured is not None
    assert high.measured > 1e-9
    assert low.verdict == "passed"  # the bound that held is not blamed


def test_a_minimum_the_value_is_below_fails(prometheus: str) -> None:
    rate = f'sum(rate(http_requests_total{{handler="{ITEMS}"}}[1m]))'
    result = only(evaluate_prometheus(config(prometheus, slo(rate, low=1e6))))
    assert result.verdict == "failed"
    assert "is not >= 1000000" in result.reason


def test_a_metric_that_does_not_exist_is_error_no_data(prometheus: str) -> None:
    query = "histogram_quantile(0.99, sum by (le) (rate(no_such_metric_seconds_bucket[1m])))"
    result = only(evaluate_prometheus(config(prometheus, slo(query, high=1.0))))
    assert result.verdict == "error"
    assert result.measured is None
    assert result.reason.startswith("no data: the query returned an empty vector")


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("vector(0) / vector(0)", "the value is NaN"),
        ("vector(1) / vector(0)", "the value is +Inf"),
        ("vector(-1) / vector(0)", "the value is -Inf"),
        ("1", "returns a scalar"),
        ("http_requests_total[1m]", "returns a range vector"),
        ('"text"', "returns a string"),
        (
            "sum(rate(http_requests_total[1m]",
            "Prometheus answered HTTP 400 bad_data: invalid parameter",
        ),
    ],
)
def test_an_answer_that_is_not_one_finite_number_is_error(
    prometheus: str, query: str, words: str
) -> None:
    results = evaluate_prometheus(config(prometheus, slo(query, high=1e12, low=-1e12)))
    assert [r.verdict for r in results] == ["error", "error"]
    assert all(words in r.reason and r.measured is None for r in results), results


def test_several_series_is_error_naming_their_labels(prometheus: str) -> None:
    query = 'sum by (handler) (http_requests_total{handler=~"/healthz|/api/public/items"})'
    result = only(evaluate_prometheus(config(prometheus, slo(query, high=1e12))))
    assert result.verdict == "error"
    assert result.reason.startswith("2 series where one was expected: ")
    assert '{handler="/api/public/items"}' in result.reason
    assert '{handler="/healthz"}' in result.reason


def test_measurements_repeat_every_interval(prometheus: str) -> None:
    cfg = config(prometheus, slo(P99, high=0.5), count=3, interval=0.2, failure_limit=0)
    sent: list[float] = []

    def factory(c: PrometheusConfig) -> GateClient:
        client = open_client(c)
        client.on_exchange = lambda exchange: sent.append(exchange.elapsed_ms or 0.0)
        return client

    result = only(evaluate_prometheus(cfg, factory))
    assert result.verdict == "passed"
    assert result.samples == 3
    assert "worst of 3 measurements" in result.reason
    assert len(sent) == 3  # the schedule itself is checked on a fake clock below


# --------------------------------------------------------------------- unreachable, odd servers


def test_an_unreachable_prometheus_is_error_after_one_measurement_within_the_bound() -> None:
    with promstack.refused_url() as url:
        cfg = config(
            url, slo("up", high=1), slo("up", high=2, name="t"), count=3, interval=30.0, timeout=2.0
        )
        started = time.monotonic()
        results = evaluate_prometheus(cfg)
        took = time.monotonic() - started
    assert took < cfg.max_seconds() - 2 * cfg.interval  # no wait for the next round happened
    assert [r.verdict for r in results] == ["error", "error"]
    assert all(r.samples == 1 for r in results)
    assert f"Prometheus at {url} is unreachable" in results[0].reason
    assert "--gate-prom-url" in results[0].reason


def test_a_prometheus_that_never_answers_is_error_within_its_timeout() -> None:
    with fs.FaultServer() as server:
        server.route("/api/v1/query", fs.hang())
        cfg = config(server.url, slo("up", high=1), timeout=1.0)
        started = time.monotonic()
        result = only(evaluate_prometheus(cfg))
        assert time.monotonic() - started < cfg.max_seconds() + 5  # margin for a loaded machine
    assert result.verdict == "error"
    assert "total deadline 1 s exceeded" in result.reason


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (
            fs.text("<html>login</html>", content_type="text/html"),
            "HTTP 200 with a non-JSON answer (text/html; charset=utf-8)",
        ),
        (fs.text("denied", status=401), "HTTP 401 with a non-JSON answer"),
        (fs.json({"error": "not found"}, status=404), "JSON that is not a Prometheus API answer"),
        (fs.redirect("/login"), "redirecting to /login"),
        (
            fs.json(
                {"status": "error", "errorType": "timeout", "error": "query timed out"}, status=503
            ),
            "HTTP 503 timeout: query timed out",
        ),
    ],
)
def test_a_server_that_is_not_a_healthy_prometheus_is_error(
    behaviour: fs.Behaviour, words: str
) -> None:
    with fs.FaultServer() as server:
        server.route("/api/v1/query", behaviour)
        result = only(evaluate_prometheus(config(server.url, slo("up", high=1))))
    assert result.verdict == "error"
    assert words in result.reason


def vector(value: str, **labels: str) -> fs.Behaviour:
    sample = {"metric": labels, "value": [1.0, value]}
    return fs.json({"status": "success", "data": {"resultType": "vector", "result": [sample]}})


def test_auth_headers_reach_prometheus_and_never_a_reason() -> None:
    token = "prom-secret-token-4f9a7c"
    env = {"PROM_TOKEN": token, "TENANT": "team-a-tenant"}
    table = {
        "prometheus": {
            "url": "http://x",
            "auth": {"bearer_env": "PROM_TOKEN", "headers_env": {"X-Scope-OrgID": "TENANT"}},
            "slo": [{"name": "s", "query": "up", "max": 1}],
        }
    }
    with fs.FaultServer() as server:
        server.route(
            "/api/v1/query",
            fs.json(
                {"status": "error", "errorType": "bad_data", "error": f"echo {token}"}, status=400
            ),
        )
        cfg = load_prometheus_config(table, display="opsgate.toml", url=server.url, environ=env)
        assert cfg is not None
        result = only(evaluate_prometheus(cfg, redactor=Redactor()))
        seen = server.requests[0].headers
    assert seen["authorization"] == f"Bearer {token}"
    assert seen["x-scope-orgid"] == "team-a-tenant"
    assert result.verdict == "error"
    assert token not in result.reason
    assert "echo" in result.reason
    assert token not in repr(cfg)


# --------------------------------------------------------------------------- repeated measurements


class FakeTime:
    """A clock that only moves when the engine sleeps: waits are recorded, not spent."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


def scripted(
    values: list[fs.Behaviour], cfg_slo: PrometheusSLO, **kwargs: Any
) -> tuple[list[SLOResult], FakeTime, int]:
    fake = FakeTime()
    with fs.FaultServer() as server:
        server.route("/api/v1/query", fs.sequence(values))
        cfg = config(server.url, cfg_slo, **kwargs)
        results = evaluate_prometheus(cfg, sleep=fake.sleep, clock=fake.clock)
        return results, fake, len(server.requests)


def test_initial_delay_then_count_measurements_interval_apart() -> None:
    values = [vector("0.01"), vector("0.02"), vector("0.03")]
    results, fake, sent = scripted(
        values, slo("q", high=0.1), initial_delay=5.0, interval=2.0, count=3
    )
    result = only(results)
    assert fake.waits == [5.0, 2.0, 2.0]
    assert sent == 3
    assert result.verdict == "passed"
    assert result.measured == 0.03
    assert result.samples == 3


def test_failure_limit_counts_measurements_out_of_range() -> None:
    values = [vector("0.01"), vector("0.2"), vector("0.01")]
    strict, _, _ = scripted(values, slo("q", high=0.1), interval=1.0, count=3, failure_limit=0)
    assert only(strict).verdict == "failed"
    # The second measurement settles it: the third is skipped.
    assert only(strict).reason == (
        "value 0.2 is not <= 0.1 in 1 of 2 measurements (failure_limit 0, 1 more skipped)"
    )
    lenient, _, _ = scripted(values, slo("q", high=0.1), interval=1.0, count=3, failure_limit=1)
    assert only(lenient).verdict == "passed"
    assert only(lenient).measured == 0.2
    assert "1 outside, within failure_limit 1" in only(lenient).reason


def test_both_bounds_add_up_to_the_failure_limit_as_argo_counts() -> None:
    values = [vector("0.5"), vector("0.001")]  # one above max, one below min
    results, _, _ = scripted(
        values, slo("q", high=0.1, low=0.01), interval=1.0, count=2, failure_limit=1
    )
    assert [r.verdict for r in results] == ["failed", "failed"]
    assert [r.measured for r in results] == [0.5, 0.001]


def test_an_error_measurement_makes_the_slo_error_and_stops_early() -> None:
    empty = fs.json({"status": "success", "data": {"resultType": "vector", "result": []}})
    results, fake, sent = scripted(
        [empty, vector("0.01")], slo("q", high=0.1), interval=1.0, count=3
    )
    assert only(results).verdict == "error"
    assert sent == 1
    assert fake.waits == []
    assert "no data" in only(results).reason


def test_fail_outranks_an_error_in_a_later_measurement() -> None:
    empty = fs.json({"status": "success", "data": {"resultType": "vector", "result": []}})
    results, _, sent = scripted([vector("0.5"), empty], slo("q", high=0.1), interval=1.0, count=3)
    assert only(results).verdict == "failed"
    assert sent == 1


def test_an_interrupt_during_a_wait_propagates_and_closes_the_client() -> None:
    clients: list[GateClient] = []

    def factory(c: PrometheusConfig) -> GateClient:
        clients.append(open_client(c))
        return clients[-1]

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    with fs.FaultServer() as server:
        server.route("/api/v1/query", vector("0.01"))
        cfg = config(server.url, slo("q", high=1), initial_delay=30.0)
        with pytest.raises(KeyboardInterrupt):
            evaluate_prometheus(cfg, factory, sleep=interrupted)
        assert server.requests == []
    assert clients[0].is_closed


# --------------------------------------------------------------------------- the answer reader


def test_a_round_trip_through_to_dict_keeps_the_row() -> None:
    (slo_row,) = slo("q", high=0.05).rows()
    result = SLOResult(slo_row, 0.01, 1, "passed", "ok", source="prometheus")
    assert SLOResult.from_dict(result.to_dict()) == result
    assert str(slo_row) == "s: value <= 0.05"
    assert slo_row.text == "s: q <= 0.05"


finite = st.floats(allow_nan=False, allow_infinity=False)
labels = st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=2)
samples = st.fixed_dictionaries(
    {
        "metric": labels,
        "value": st.tuples(
            finite,
            st.one_of(
                st.text(max_size=8), finite.map(repr), st.sampled_from(["NaN", "+Inf", "-Inf"])
            ),
        ).map(list),
    }
)
answers = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["success", "error", "ok"]),
        "data": st.fixed_dictionaries(
            {
                "resultType": st.sampled_from(["vector", "scalar", "matrix", "string"]),
                "result": st.lists(samples, max_size=3),
            }
        ),
    }
)


@given(answers, st.sampled_from([200, 400, 503]))
def test_only_one_finite_sample_of_a_successful_vector_gives_a_value(
    doc: dict[str, Any], status: int
) -> None:
    found = _read_answer(doc, status)
    result = doc["data"]["result"]
    one_finite = (
        status == 200 and doc["status"] == "success" and doc["data"]["resultType"] == "vector"
        and len(result) == 1 and _finite(result[0]["value"][1])
    )  # fmt: skip
    assert (found.value is not None) == one_finite
    assert (found.error is None) == one_finite
    if one_finite:
        assert found.value == float(result[0]["value"][1])


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
