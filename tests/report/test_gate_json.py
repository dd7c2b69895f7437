"""gate.json (schema-valid, redacted, with error budgets and histograms) and gate.md."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_opsgate.measure.histogram import LatencyHistogram
from pytest_opsgate.measure.metrics import EndpointStats, MetricsStore
from pytest_opsgate.report.gate_json import (
    PhaseRecord,
    RunRecord,
    append_step_summary,
    build_gate_json,
    error_budget,
    load_schema,
    readiness_dict,
    render_gate_md,
    write_gate_json,
    write_gate_md,
)
from pytest_opsgate.run.state import TestOutcome as Outcome
from pytest_opsgate.slo import evaluate_slo, parse_slo
from pytest_opsgate.slo.baseline import compare
from pytest_opsgate.target.readiness import Attempt, ReadinessResult
from pytest_opsgate.target.stack import run_command
from pytest_opsgate.verdict import Verdict

SECRET = "sk-live-PLANTED-0123456789"
ITEMS = "GET /api/items"
ORDERS = "POST /api/orders"


def _redact(text: str) -> str:
    return text.replace(SECRET, "REDACTED")


def _load_store() -> MetricsStore:
    store = MetricsStore()
    for index in range(100):  # 95 fast, 5 slow; 2 failures
        store.record(ITEMS, 100.0 if index < 95 else 400.0, ok=index >= 2, at=index * 0.1)
    for index in range(40):
        store.record(ORDERS, 250.0, ok=True, at=index * 0.1)
    return store


def _e2e_store() -> MetricsStore:
    store = MetricsStore()
    for index in range(10):
        store.record("page /", 900.0 + index, ok=True, metric="load", at=float(index))
    return store


def _record(tmp_path: Path, **overrides: Any) -> RunRecord:
    load, e2e = _load_store(), _e2e_store()
    results = []
    for text in (
        "GET /api/items: p95 < 300ms",  # passes with exactly 5 % of samples above: budget 100 %
        "GET /api/items: error_rate < 5%",  # 2 % of 5 %: green
        "GET /api/items: error_rate < 3%",  # 2 % of 3 %: yellow
        "POST /api/orders: p95 < 200ms",  # fails
    ):
        results.append(dataclasses.replace(evaluate_slo(parse_slo(text), load), source="load"))
    page = evaluate_slo(parse_slo("page /: load p95 < 2s"), e2e)
    results.append(dataclasses.replace(page, source="e2e"))
    started = datetime(2026, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    artifacts = tmp_path / "gate-artifacts"
    logs = artifacts / "stack-logs.txt"
    commands = [
        run_command("start", f"echo starting with key {SECRET}", timeout_s=10, redact=_redact),
        run_command("logs", "echo 'app log line'; exit 0", timeout_s=10, output_path=logs),
    ]
    hooks = [
        run_command(
            "on-fail",
            'echo "rollback $OPSGATE_VERDICT"; exit 7',
            timeout_s=10,
            env={"OPSGATE_VERDICT": "FAIL"},
        ),
    ]
    readiness = ReadinessResult(
        url="http://127.0.0.1:8000/health",
        path="/health",
        waited_s=2.3456,
        attempts=[
            Attempt(1, "/health", 0.0, 503, 3.0, "not_ready", "503"),
            Attempt(2, "/health", 2.3, 200, 2.0, "ready", "ok"),
        ],
        version="1.4.2",
        body={"status": "ok"},
    )
    fields: dict[str, Any] = {
        "verdict": Verdict.FAIL,
        "exit_code": 1,
        "artifacts_dir": artifacts,
        "started_at": started,
        "finished_at": started + timedelta(seconds=42),
        "duration_s": 41.987654,
        "reasons": [f"SLO {results[3].slo.text}: {results[3].reason}"],
        "target_url": f"https://deploy:{SECRET}@staging.example.com:8443/app",
        "target_version": "1.4.2",
        "gates": ["smoke", "e2e", "load"],
        "readiness": readiness_dict(readiness),
        "phases": [
            PhaseRecord("smoke", Verdict.PASS, passed=3, duration_s=1.5),
            PhaseRecord("e2e", Verdict.FAIL, passed=1, failed=1, duration_s=10.0),
            PhaseRecord("load", None, skipped=1, skipped_reason="skipped: e2e failed"),
        ],
        "slo_results": results,
        "endpoints": {"load": load, "e2e": e2e},
        "tests": [
            Outcome("suites/smoke/test_api.py::test_health", "smoke", "passed"),
            {
                "nodeid": "suites/e2e/test_checkout.py::test_checkout",
                "gate": "e2e",
                "verdict": Verdict.FAIL,
                "reason": f"AssertionError: page redirected to /login?token={SECRET}\nmore",
                "duration_s": 3.2,
            },
        ],
        "commands": commands,
        "hooks": hooks,
        "artifacts": [logs, artifacts / "e2e" / "shot.png", tmp_path / "elsewhere.txt"],
        "html_report": artifacts / "report.html",
        "junit_xml": artifacts / "junit.xml",
        "redact": _redact,
    }
    fields.update(overrides)
    return RunRecord(**fields)


def _validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(load_schema()).validate(doc)


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_gate_json_of_a_realistic_run_validates(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    _validate(doc)
    assert doc["schema_version"] == 1
    assert doc["tool"]["name"] == "pytest-opsgate"
    assert doc["verdict"] == "FAIL"
    assert doc["exit_code"] == 1
    assert doc["started_at"] == "2026-05-01T12:00:00.000Z"
    assert doc["finished_at"] == "2026-05-01T12:00:42.000Z"
    assert doc["duration_s"] == 41.988
    assert doc["readiness"] == {
        "ready": True,
        "path": "/health",
        "waited_s": 2.346,
        "attempts": 2,
        "version": "1.4.2",
        "error": None,
    }


def test_gate_json_of_a_bare_aborted_run_validates(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    record = RunRecord(Verdict.ABORTED, 2, tmp_path, now, now, 0.0, reasons=["interrupted"])
    doc = build_gate_json(record)
    _validate(doc)
    assert doc["verdict"] == "ABORTED"


def test_schema_rejects_a_document_without_verdict(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    del doc["verdict"]
    with pytest.raises(jsonschema.ValidationError, match="'verdict' is a required property"):
        _validate(doc)


def test_schema_rejects_an_unknown_verdict(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    doc["verdict"] = "MOSTLY_PASS"
    with pytest.raises(jsonschema.ValidationError, match="MOSTLY_PASS"):
        _validate(doc)


def test_schema_rejects_a_missing_schema_version(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    bad = copy.deepcopy(doc)
    del bad["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(bad)


def test_target_url_loses_credentials_and_secrets_are_redacted(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    assert doc["target"]["url"] == "https://staging.example.com:8443/app"
    assert SECRET not in json.dumps(doc)
    assert "REDACTED" in doc["commands"][0]["output"]


def test_every_slo_is_listed_with_unit_and_verdict(tmp_path: Path) -> None:
    slos = build_gate_json(_record(tmp_path))["slos"]
    first = slos[0]
    assert first["expression"] == "GET /api/items: p95 < 300ms"
    assert first["gate"] == "load"
    assert first["scope"] == ITEMS
    assert first["statistic"] == "p95"
    assert first["op"] == "<"
    assert first["budget"] == 300.0
    assert first["unit"] == "ms"
    assert first["samples"] == 100
    assert first["verdict"] == "passed"
    assert slos[1]["unit"] == "ratio"
    assert slos[1]["measured"] == pytest.approx(0.02)
    assert slos[3]["verdict"] == "failed"
    assert slos[4]["metric"] == "load"


def test_endpoints_carry_stats_and_a_decodable_histogram(tmp_path: Path) -> None:
    endpoints = build_gate_json(_record(tmp_path))["endpoints"]
    items = next(e for e in endpoints if e["scope"] == ITEMS)
    assert items["gate"] == "load"
    assert items["requests"] == 100
    assert items["failures"] == 2
    assert items["error_rate"] == pytest.approx(0.02)
    assert items["rps"] == pytest.approx(100 / 9.9)
    histogram = LatencyHistogram.decode(items["histogram"])
    assert histogram.count == 100
    assert items["p95"] == histogram.percentile(95)
    assert items["p99"] == histogram.percentile(99)
    assert items["p50"] == pytest.approx(100.0, rel=0.001)
    assert items["max"] == pytest.approx(400.0, rel=0.001)
    page = next(e for e in endpoints if e["scope"] == "page /")
    assert (page["gate"], page["metric"]) == ("e2e", "load")


def test_error_budget_bands_follow_the_documented_definition(tmp_path: Path) -> None:
    budgets = {b["expression"]: b for b in build_gate_json(_record(tmp_path))["error_budget"]}
    latency = budgets["GET /api/items: p95 < 300ms"]
    assert latency["basis"] == "latency_tail"
    assert latency["allowed"] == pytest.approx(0.05)
    assert latency["observed"] == pytest.approx(0.05)
    assert latency["consumed"] == pytest.approx(1.0)
    assert latency["band"] == "red"
    green = budgets["GET /api/items: error_rate < 5%"]
    assert green["consumed"] == pytest.approx(0.4)
    assert green["band"] == "green"
    yellow = budgets["GET /api/items: error_rate < 3%"]
    assert yellow["consumed"] == pytest.approx(2 / 3)
    assert yellow["band"] == "yellow"
    assert budgets["POST /api/orders: p95 < 200ms"]["consumed"] == pytest.approx(20.0)
    assert budgets["page /: load p95 < 2s"]["consumed"] == 0.0


@pytest.mark.parametrize(
    ("consumed_percent", "band"), [(49, "green"), (50, "yellow"), (80, "yellow"), (81, "red")]
)
def test_band_edges(consumed_percent: int, band: str) -> None:
    store = MetricsStore()
    for index in range(10000):
        store.record(ITEMS, 10.0, ok=index >= consumed_percent)  # error rate = consumed % of 1 %
    result = evaluate_slo(parse_slo("error_rate < 1%"), store)
    entry = error_budget(result, None)
    assert entry is not None
    assert entry["band"] == band


@pytest.mark.parametrize("slow", [0, 4, 5, 6, 10])
@pytest.mark.parametrize("op", ["<", "<="])
def test_latency_budget_is_over_100_percent_exactly_when_the_slo_fails(slow: int, op: str) -> None:
    store = MetricsStore()
    for index in range(100):
        store.record(ITEMS, 300.0 if index < slow else 50.0, ok=True)  # 300 ms sits on B
    result = evaluate_slo(parse_slo(f"p95 {op} 300ms"), store)
    stats = store.total()
    entry = error_budget(result, stats)
    assert entry is not None
    assert (entry["consumed"] > 1.0) == (result.verdict == "failed")


def test_slos_without_an_error_budget_are_left_out() -> None:
    store = MetricsStore()
    for index in range(10):
        store.record(ITEMS, 10.0, ok=True, at=float(index))
    stats = store.get(ITEMS)
    for text in ("max < 1s", "avg < 1s", "rps > 0.1", "requests >= 1", "p95 > 1ms"):
        assert error_budget(evaluate_slo(parse_slo(text), store), stats) is None, text
    missing = evaluate_slo(parse_slo("GET /nope: p95 < 1s"), store)
    assert error_budget(missing, EndpointStats()) is None


def test_tests_commands_hooks_and_phases_are_recorded(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    assert [t["verdict"] for t in doc["tests"]] == ["PASS", "FAIL"]
    assert doc["phases"][2]["verdict"] == "SKIPPED"
    assert doc["phases"][2]["skipped_reason"] == "skipped: e2e failed"
    assert doc["commands"][1]["output_path"] == "stack-logs.txt"
    hook = doc["hooks"][0]
    assert hook["exit_code"] == 7
    assert "rollback FAIL" in hook["output"]


def test_artifact_paths_are_relative_inside_the_folder(tmp_path: Path) -> None:
    doc = build_gate_json(_record(tmp_path))
    assert doc["artifacts"] == [
        "stack-logs.txt",
        "e2e/shot.png",
        str(tmp_path / "elsewhere.txt"),
    ]
    assert doc["reports"] == {"html": "report.html", "junit_xml": "junit.xml", "markdown": None}


def test_baseline_comparison_is_embedded(tmp_path: Path) -> None:
    baseline_doc = build_gate_json(_record(tmp_path))
    slower = MetricsStore()
    for index in range(100):
        slower.record(ITEMS, 200.0 if index < 95 else 400.0, ok=True, at=float(index))
    comparison = compare(baseline_doc, {"load": slower})
    doc = build_gate_json(_record(tmp_path, baseline=comparison))
    _validate(doc)
    assert doc["baseline"]["passed"] is False
    assert doc["baseline"]["regressions"] >= 1


def test_write_gate_json_round_trips(tmp_path: Path) -> None:
    record = _record(tmp_path)
    path = record.artifacts_dir / "gate.json"
    written = write_gate_json(record, path)
    assert json.loads(path.read_text()) == written
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def test_gate_md_puts_the_verdict_first(tmp_path: Path) -> None:
    text = render_gate_md(_record(tmp_path))
    lines = text.splitlines()
    assert lines[0] == "# Gate verdict: FAIL"
    assert lines[2].startswith("**FAIL** · exit code 1")
    assert text.index("## SLOs") < text.index("## Endpoints") < text.index("## Error budget")


def test_gate_md_has_slo_endpoint_and_budget_tables(tmp_path: Path) -> None:
    text = render_gate_md(_record(tmp_path))
    assert "| gate | endpoint | statistic | measured | budget | samples | verdict |" in text
    assert "| load | POST /api/orders | p95 | 250 ms | < 200 ms | 40 | FAILED |" in text
    assert (
        "| load | GET /api/items | latency | 100 | 10.1/s | 2 % | 100 ms | 100 ms | 400 ms |"
        in text
    )
    assert "| load | `GET /api/items: error_rate < 3%` | 67 % | YELLOW |" in text
    assert "| load | `GET /api/items: error_rate < 5%` | 40 % | GREEN |" in text
    assert "| load | `POST /api/orders: p95 < 200ms` | 2000 % | RED |" in text


def test_gate_md_lists_failed_checks_with_one_line_reasons(tmp_path: Path) -> None:
    text = render_gate_md(_record(tmp_path))
    section = text.split("## Failed checks", 1)[1].split("##", 1)[0]
    assert "- suites/e2e/test_checkout.py::test_checkout (e2e): AssertionError: page" in section
    assert "more" not in section  # only the first line of a reason
    assert "- SLO POST /api/orders: p95 < 200ms (load): p95 250 ms is not < 200 ms" in section
    assert "test_health" not in section


def test_gate_md_shows_commands_hooks_and_links(tmp_path: Path) -> None:
    record = _record(tmp_path)
    md_path = record.artifacts_dir / "gate.md"
    text = write_gate_md(record, md_path)
    assert md_path.read_text() == text
    assert '| on-fail | hook | `echo "rollback $OPSGATE_VERDICT"; exit 7` | exit 7 |' in text
    assert "rollback FAIL" in text
    assert "- HTML report: [report.html](report.html)" in text
    assert "- [e2e/shot.png](e2e/shot.png)" in text
    assert SECRET not in text
    assert build_gate_json(record)["reports"]["markdown"] == "gate.md"


def test_gate_md_shows_the_baseline_table(tmp_path: Path) -> None:
    baseline_doc = build_gate_json(_record(tmp_path))
    slower = MetricsStore()
    for index in range(100):
        slower.record(ITEMS, 200.0, ok=True, at=float(index))
    record = _record(tmp_path, baseline=compare(baseline_doc, {"load": slower}))
    text = render_gate_md(record)
    section = text.split("## Baseline", 1)[1]
    assert (
        "| endpoint | baseline p50 / p95 / p99 (n) | now p50 / p95 / p99 (n) | decision |"
        in section
    )
    # The judge's sentence, with the figures it decided on.
    assert "- FAIL: GET /api/items (load) got slower by" in section
    assert "CI" in section
    assert "floor" in section
    assert "version 1.4.2" in section


def test_gate_md_escapes_table_breaking_text(tmp_path: Path) -> None:
    record = _record(tmp_path, reasons=["a | b <script>x</script>"])
    text = render_gate_md(record)
    assert "- a \\| b &lt;script>x&lt;/script>" in text


def test_step_summary_is_appended_only_when_set(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert append_step_summary("# Gate verdict: PASS", env={}) is None
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert append_step_summary("# Gate verdict: PASS", env=env) == summary
    assert summary.read_text() == "earlier step\n# Gate verdict: PASS\n"


def test_step_summary_stays_under_githubs_limit(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    append_step_summary("x" * 2_000_000, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.stat().st_size <= 1024 * 1024
    assert "cut to fit" in summary.read_text()


def test_readiness_dict_of_a_failed_wait() -> None:
    entry = readiness_dict(None, "connection refused at the deadline")
    assert entry["ready"] is False
    assert entry["error"] == "connection refused at the deadline"


DOCS = Path(__file__).resolve().parents[2] / "docs" / "gate-json.md"


def _schema_fields(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(node.get("properties", {}))
        for value in node.values():
            found |= _schema_fields(value)
    elif isinstance(node, list):
        for value in node:
            found |= _schema_fields(value)
    return found


def test_reference_documents_every_schema_field() -> None:
    text = DOCS.read_text()
    undocumented = sorted(name for name in _schema_fields(load_schema()) if f"`{name}`" not in text)
    assert undocumented == []


def test_reference_example_validates() -> None:
    example = DOCS.read_text().split("```json", 1)[1].split("```", 1)[0]
    _validate(json.loads(example))
