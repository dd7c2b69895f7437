"""gate.prom and the Pushgateway push, against Debian's real prometheus-pushgateway."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import pytest

import faultserver as fs
import promstack
from pytest_opsgate.http.redact import Redactor
from pytest_opsgate.measure.metrics import MetricsStore
from pytest_opsgate.report.export import run_summary
from pytest_opsgate.report.gate_json import build_gate_json, load_schema
from pytest_opsgate.report.openmetrics import RunSummary, render, write_gate_prom
from pytest_opsgate.report.pushgateway import (
    PASSWORD_ENV,
    TOKEN_ENV,
    USER_ENV,
    push_run,
    pushgateway_headers,
)
from pytest_opsgate.report.record import RunRecord
from pytest_opsgate.slo import SLOResult, parse_slo
from pytest_opsgate.slo.baseline import compare, load_baseline, save_baseline
from pytest_opsgate.slo.prometheus_config import PrometheusSLO
from pytest_opsgate.verdict import Verdict

if TYPE_CHECKING:
    from collections.abc import Iterator

needs_binaries = pytest.mark.skipif(
    promstack.skip_without_binaries(),
    reason="needs Debian's prometheus-pushgateway (make test installs it)",
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def results(*, p95_ms: float, passed: bool) -> list[SLOResult]:
    latency = parse_slo("GET /api/items: p95 < 300ms")
    errors = parse_slo("error_rate < 1%")
    (prom,) = PrometheusSLO("api p99", "q", 0.05, None, "w").rows()
    return [
        SLOResult(latency, p95_ms, 40, "passed" if passed else "failed", "r", source="smoke"),
        SLOResult(errors, 0.0, 40, "passed", "r", source="smoke"),
        SLOResult(prom, None, 1, "error", "no data", source="prometheus"),
    ]


def summary(verdict: Verdict, *, at: float, p95_ms: float = 120.0) -> RunSummary:
    return RunSummary.build(
        verdict,
        12.5,
        results(p95_ms=p95_ms, passed=verdict is Verdict.PASS),
        {("smoke", "GET /api/items"): 40, ("smoke", "GET /api/health"): 3},
        finished_at=at,
    )


parse = promstack.parse_samples
value = promstack.sample_value


SLO_KEY = {"gate": "smoke", "scope": "GET /api/items", "statistic": "p95", "op": "<"}


# --------------------------------------------------------------------------- gate.prom


def test_gate_prom_parses_and_holds_the_run_in_base_units(tmp_path: Path) -> None:
    path = write_gate_prom(tmp_path, summary(Verdict.PASS, at=1_700_000_000.0))
    assert path == tmp_path / "gate.prom"
    assert os.listdir(tmp_path) == ["gate.prom"]  # written through a temp file, then renamed
    samples = parse(path.read_text())
    assert value(samples, "opsgate_verdict", verdict="PASS") == 1
    assert [value(samples, "opsgate_verdict", verdict=v) for v in ("FAIL", "ERROR")] == [0, 0]
    assert value(samples, "opsgate_duration_seconds") == 12.5
    assert value(samples, "opsgate_slo_measured", **SLO_KEY) == pytest.approx(0.12)  # seconds
    assert value(samples, "opsgate_slo_budget", **SLO_KEY) == pytest.approx(0.3)
    assert value(samples, "opsgate_slo_passed", **SLO_KEY) == 1
    assert value(samples, "opsgate_slo_budget", statistic="error_rate") == pytest.approx(0.01)
    unmeasured = {"gate": "prometheus", "scope": "api p99", "statistic": "value", "op": "<="}
    assert value(samples, "opsgate_slo_measured", **unmeasured) is None
    assert value(samples, "opsgate_slo_passed", **unmeasured) == 0
    assert value(samples, "opsgate_slo_budget", **unmeasured) == 0.05
    requests = value(
        samples, "opsgate_endpoint_requests_total", gate="smoke", scope="GET /api/items"
    )
    assert requests == 40
    assert value(samples, "opsgate_last_success_timestamp_seconds") == 1_700_000_000.0


@pytest.mark.parametrize("verdict", [Verdict.FAIL, Verdict.ERROR, Verdict.ABORTED])
def test_only_a_pass_carries_last_success(verdict: Verdict) -> None:
    samples = parse(render(summary(verdict, at=1.0)).decode())
    assert value(samples, "opsgate_last_success_timestamp_seconds") is None
    assert value(samples, "opsgate_verdict", verdict=verdict.value) == 1
    assert value(samples, "opsgate_verdict", verdict="PASS") == 0


def test_a_verdict_outside_the_enum_still_gets_its_one() -> None:
    samples = parse(render(RunSummary.build("INCONCLUSIVE", 1.0)).decode())
    assert value(samples, "opsgate_verdict", verdict="INCONCLUSIVE") == 1
    assert sum(v for (n, _), v in samples.items() if n == "opsgate_verdict") == 1


def test_gate_prom_replaces_the_previous_file(tmp_path: Path) -> None:
    write_gate_prom(tmp_path, summary(Verdict.PASS, at=5.0))
    write_gate_prom(tmp_path, summary(Verdict.FAIL, at=6.0))
    samples = parse((tmp_path / "gate.prom").read_text())
    assert value(samples, "opsgate_verdict", verdict="FAIL") == 1
    assert value(samples, "opsgate_last_success_timestamp_seconds") is None


# --------------------------------------------------------------------------- the Pushgateway


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Pushgateway on a free loopback port; gone, with its folder, afterwards."""
    server = promstack.start_pushgateway(tmp_path_factory.getbasetemp())
    pid = server.pid
    try:
        yield server.url
    finally:
        server.stop()
    assert not Path(f"/proc/{pid}").exists(), "the pushgateway outlived its fixture"
    assert not server.folder.exists()


scraped = promstack.gateway_samples


@needs_binaries
def test_a_pass_then_a_fail_keeps_the_earlier_last_success(pushgateway: str) -> None:
    instance = "pass-then-fail"
    assert (
        push_run(pushgateway, summary(Verdict.PASS, at=1_700_000_100.0), instance=instance) is None
    )
    after_pass = scraped(pushgateway)
    mine = {"job": "opsgate", "instance": instance}
    assert value(after_pass, "opsgate_verdict", verdict="PASS", **mine) == 1
    assert value(after_pass, "opsgate_slo_measured", **SLO_KEY, **mine) == pytest.approx(0.12)
    assert value(after_pass, "opsgate_slo_budget", **SLO_KEY, **mine) == pytest.approx(0.3)
    last = value(after_pass, "opsgate_last_success_timestamp_seconds", **mine)
    assert last == 1_700_000_100.0

    failed = summary(Verdict.FAIL, at=1_700_000_200.0, p95_ms=900.0)
    assert push_run(pushgateway, failed, instance=instance) is None
    after_fail = scraped(pushgateway)
    assert value(after_fail, "opsgate_verdict", verdict="FAIL", **mine) == 1
    assert value(after_fail, "opsgate_verdict", verdict="PASS", **mine) == 0
    assert value(after_fail, "opsgate_slo_passed", **SLO_KEY, **mine) == 0
    assert value(after_fail, "opsgate_slo_measured", **SLO_KEY, **mine) == pytest.approx(0.9)
    assert value(after_fail, "opsgate_last_success_timestamp_seconds", **mine) == last

    later = summary(Verdict.PASS, at=1_700_000_300.0)
    assert push_run(pushgateway, later, instance=instance) is None
    moved = value(scraped(pushgateway), "opsgate_last_success_timestamp_seconds", **mine)
    assert moved == 1_700_000_300.0


@needs_binaries
def test_rows_a_run_no_longer_has_leave_the_gateway(pushgateway: str) -> None:
    instance = "stale-rows"
    mine = {"job": "nightly", "instance": instance}
    assert (
        push_run(pushgateway, summary(Verdict.PASS, at=1.0), job="nightly", instance=instance)
        is None
    )
    assert value(scraped(pushgateway), "opsgate_slo_budget", **SLO_KEY, **mine) is not None
    empty = RunSummary.build(Verdict.ERROR, 0.4, finished_at=2.0)  # e.g. the target never got ready
    assert push_run(pushgateway, empty, job="nightly", instance=instance) is None
    samples = scraped(pushgateway)
    assert value(samples, "opsgate_slo_budget", **SLO_KEY, **mine) is None
    assert value(samples, "opsgate_endpoint_requests_total", **mine) is None
    assert value(samples, "opsgate_verdict", verdict="ERROR", **mine) == 1
    assert value(samples, "opsgate_last_success_timestamp_seconds", **mine) == 1.0


def test_an_unreachable_pushgateway_is_a_note_within_the_timeout() -> None:
    with promstack.refused_url() as url:
        started = time.monotonic()
        note = push_run(url, summary(Verdict.PASS, at=1.0), timeout=2.0)
    assert time.monotonic() - started < 2 * 2.0 + 5  # two pushes at most, with a margin
    assert note is not None
    assert note.startswith(f"run metrics not pushed to {url}: ")
    assert "cannot connect" in note


def test_a_hanging_pushgateway_is_cut_at_the_timeout() -> None:
    with fs.FaultServer() as server:
        server.route("/metrics/job/opsgate", fs.hang())
        started = time.monotonic()
        note = push_run(server.url, summary(Verdict.PASS, at=1.0), timeout=1.0)
        assert time.monotonic() - started < 2 * 1.0 + 5
    assert note is not None
    assert "total deadline 1 s exceeded" in note


def test_a_refused_push_is_a_note_quoting_the_gateway() -> None:
    with fs.FaultServer() as server:
        server.route("/metrics/job/opsgate", fs.text("pushed metrics are invalid", status=400))
        note = push_run(server.url, summary(Verdict.FAIL, at=1.0))
    assert note == (
        f"run metrics not pushed to {server.url}: PUT /metrics/job/opsgate: HTTP 400 "
        "pushed metrics are invalid"
    )


def test_bearer_auth_reaches_the_gateway_and_never_the_note() -> None:
    token = "push-secret-token-8c1d2e"
    redactor = Redactor()
    with fs.FaultServer() as server:
        server.route("/metrics/job/opsgate", fs.text(f"denied {token}", status=403))
        headers = pushgateway_headers({TOKEN_ENV: token})
        note = push_run(
            server.url, summary(Verdict.PASS, at=1.0), headers=headers, redactor=redactor
        )
        sent = server.requests[0]
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert sent.method == "PUT"
    assert note is not None
    assert "HTTP 403" in note
    assert token not in note


def test_basic_auth_from_the_environment() -> None:
    headers = pushgateway_headers({USER_ENV: "ci", PASSWORD_ENV: "pw-123456"})
    assert headers == (("Authorization", "Basic Y2k6cHctMTIzNDU2"),)
    assert pushgateway_headers({}) == ()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({USER_ENV: "ci"}, f"needs both {USER_ENV} and {PASSWORD_ENV}"),
        ({TOKEN_ENV: "t", USER_ENV: "u", PASSWORD_ENV: "p"}, "keep bearer or basic auth"),
    ],
)
def test_half_configured_auth_is_a_note_not_a_crash(env: dict[str, str], words: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name in (TOKEN_ENV, USER_ENV, PASSWORD_ENV):
            patch.delenv(name, raising=False)
        for name, text in env.items():
            patch.setenv(name, text)
        note = push_run("http://127.0.0.1:9", summary(Verdict.PASS, at=1.0))
    assert note is not None
    assert words in note


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("pushgateway:9091", "is not an http(s) URL"),
        ("http://u:p@pushgateway:9091", "carries credentials"),
        ("http://pushgateway:9091:9091", "has an invalid port"),
    ],
)
def test_a_bad_url_is_a_note(url: str, words: str) -> None:
    note = push_run(url, summary(Verdict.PASS, at=1.0))
    assert note is not None
    assert words in note


# --------------------------------------------------------------------------- from a run's record


def prometheus_record(tmp_path: Path, verdict: Verdict = Verdict.PASS) -> RunRecord:
    """A run's record with smoke traffic, a smoke SLO and Prometheus rows (one below zero)."""
    store = MetricsStore()
    for index in range(10):
        store.record("GET /api/items", 20.0 + index, ok=True, at=float(index))
    store.record("page /", 300.0, ok=True, at=0.0, metric="load")
    (p99,) = PrometheusSLO("api p99", "q", 0.05, None, "w").rows()
    (drift,) = PrometheusSLO("clock drift", "d", None, -0.5, "w").rows()
    started = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    return RunRecord(
        verdict=verdict,
        exit_code=0 if verdict is Verdict.PASS else 1,
        artifacts_dir=tmp_path,
        started_at=started,
        finished_at=started + timedelta(seconds=5),
        duration_s=5.0,
        gates=["smoke"],
        slo_results=[
            SLOResult(parse_slo("GET /api/items: p95 < 300ms"), 29.0, 10, "passed", "r",
                      source="smoke"),
            SLOResult(p99, 0.012, 1, "passed", "value 0.012 <= 0.05", source="prometheus"),
            SLOResult(drift, -0.25, 3, "passed", "value -0.25 >= -0.5", source="prometheus"),
        ],
        endpoints={"smoke": store},
    )  # fmt: skip


def test_gate_json_with_prometheus_rows_validates_and_a_latency_row_may_not_go_negative(
    tmp_path: Path,
) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    doc = build_gate_json(prometheus_record(tmp_path))
    validator.validate(doc)
    rows = {row["scope"]: row for row in doc["slos"]}
    assert (rows["clock drift"]["budget"], rows["clock drift"]["unit"]) == (-0.5, "value")
    assert rows["api p99"]["metric"] == "prometheus"
    assert rows["api p99"]["expression"] == "api p99: q <= 0.05"
    assert [b["expression"] for b in doc["error_budget"]] == ["GET /api/items: p95 < 300ms"]
    rows["GET /api/items"]["budget"] = -1.0  # only a Prometheus row has a query's own units
    assert not validator.is_valid(doc)


def test_a_baseline_saved_with_prometheus_rows_compares_endpoints_only(tmp_path: Path) -> None:
    record = prometheus_record(tmp_path)
    save_baseline(build_gate_json(record), tmp_path / "baseline.json")
    doc = load_baseline(tmp_path / "baseline.json")
    comparison = compare(doc, record.endpoints)
    assert comparison.coverage_errors(partial=False) == []
    assert comparison.passed
    assert {row.gate for row in comparison.rows} == {"smoke"}  # Prometheus rows are not compared


def test_the_export_of_a_record_counts_api_requests_and_scrubs_labels(tmp_path: Path) -> None:
    record = prometheus_record(tmp_path, Verdict.FAIL)
    record.slo_results[1].slo = PrometheusSLO("key sk-live-77aa33", "q", 1, None, "w").rows()[0]
    redactor = Redactor()
    redactor.register("sk-live-77aa33")
    record.redact = redactor.redact_text
    summary = run_summary(record)
    assert summary.verdict == "FAIL"
    assert summary.duration_seconds == 5.0
    assert summary.finished_at == record.finished_at.timestamp()
    assert [(e.gate, e.scope, e.requests) for e in summary.endpoints] == [
        ("smoke", "GET /api/items", 10)
    ]  # the page load is not a request
    text = render(summary).decode()
    assert "sk-live-77aa33" not in text
    samples = parse(text)
    assert value(samples, "opsgate_slo_budget", scope="clock drift", op=">=") == -0.5
    assert value(samples, "opsgate_slo_measured", scope="clock drift") == -0.25
    assert value(samples, "opsgate_last_success_timestamp_seconds") is None
