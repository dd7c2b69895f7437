"""The load gate's pure parts: recording, merging, early abort, verdicts, options, charts."""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_opsgate.errors import GateUsageError
from pytest_opsgate.gates.load.conclude import Ending, build_result
from pytest_opsgate.gates.load.merge import SnapshotMerger
from pytest_opsgate.gates.load.options import bind_address, positive_float, worker_count
from pytest_opsgate.gates.load.outcome import AbortWatch, Health, decide_load, judged_slos
from pytest_opsgate.gates.load.process import LoadRun, ProgressTail, locust_command
from pytest_opsgate.gates.load.recorder import (
    RequestRecorder,
    error_text,
    recording_fire,
    scope_of,
    stats_name,
    transport_failure,
)
from pytest_opsgate.gates.load.result import (
    CpuFigures,
    LoadResult,
    ModelFigures,
    ResultFormatError,
    StopRecord,
    WorkerFigures,
)
from pytest_opsgate.gates.load.settings import LoadSettings, check_load_target, is_loopback_host
from pytest_opsgate.slo import evaluate_all, parse_slo


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recorder(warmup_s: float = 0.0) -> tuple[RequestRecorder, FakeClock]:
    clock = FakeClock()
    return RequestRecorder(warmup_s=warmup_s, clock=clock, wall=lambda: 0.0), clock


# ---- names and scopes


def test_stats_names_never_keep_query_strings_or_credentials() -> None:
    assert stats_name("/api/items?token=s3cret&x=1") == "/api/items"
    assert stats_name("/a#frag") == "/a"
    assert stats_name("https://user:pw@example.com:8443/p?q=1") == "https://example.com:8443/p"


def test_the_request_event_reaches_every_listener_with_a_clean_name() -> None:
    seen: list[dict[str, object]] = []
    recorded: list[tuple[object, ...]] = []

    def fire(*, reverse: bool = False, **kwargs: object) -> None:
        seen.append(kwargs)

    def record(*args: object) -> None:
        recorded.append(args)

    recording_fire(fire, record, pytest.fail)(
        request_type="GET", name="/a?token=s3cret", response_time=1.0
    )
    assert seen == [{"request_type": "GET", "name": "/a", "response_time": 1.0}]
    assert recorded == [("GET", "/a", 1.0, None, None)]


def test_a_request_event_the_gate_cannot_count_is_an_error_and_still_reaches_locust() -> None:
    seen: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def fire(*, reverse: bool = False, **kwargs: object) -> None:
        seen.append(kwargs)

    def record(*_args: object) -> None:
        raise TypeError("response_time is 'fast'")

    recording_fire(fire, record, errors.append)(request_type="GET", name="/a", response_time="fast")
    assert [str(e) for e in errors] == ["response_time is 'fast'"]
    assert seen == [{"request_type": "GET", "name": "/a", "response_time": "fast"}]


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def test_transport_failures_are_those_without_an_http_answer() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert transport_failure(refused, _Response(0))
    assert transport_failure(refused, None)
    assert not transport_failure(RuntimeError("500"), _Response(500))
    assert not transport_failure(None, _Response(200))


def test_error_texts_drop_urls_so_ids_and_query_strings_do_not_split_them() -> None:
    text = error_text(RuntimeError("URL http://h:1/api/items/7?token=s3cret: code=500"))
    assert text == "RuntimeError: URL <url> code=500"


def test_scopes_prefix_http_methods_only() -> None:
    assert scope_of("GET", "/api/items?limit=5") == "GET /api/items"
    assert scope_of("get", "GET /api/items/{id}") == "GET /api/items/{id}"
    assert scope_of("CPU", "burn") == "burn"
    assert scope_of("grpc", "Greeter/SayHello") == "Greeter/SayHello"


# ---- recording


def test_warmup_bins_are_kept_out_of_the_measurement() -> None:
    rec, clock = recorder(warmup_s=1.5)  # rounded up to two whole seconds
    for second in range(4):
        clock.now = rec.started + second + 0.5
        rec.record("GET", "/x", 100.0 * (second + 1), ok=True)
    rec.finish(rec.started + 4.0)
    stats = rec.measured_store().get("GET /x")
    assert stats is not None
    assert stats.requests == 2
    assert stats.histogram.min() == pytest.approx(300.0, rel=1e-3)
    assert rec.window_s() == pytest.approx(2.0)
    assert rec.requests_total == 4


def test_merged_snapshots_equal_one_recorder_fed_every_sample() -> None:
    rng = random.Random(7)
    samples = [
        (rng.choice(["/a", "/b"]), rng.lognormvariate(3, 1), rng.random() > 0.1)
        for _ in range(3000)
    ]
    whole, clock_w = recorder()
    parts = [recorder(), recorder()]
    merger = SnapshotMerger()
    for index, (name, ms, ok) in enumerate(samples):
        at = whole.started + index / 1000
        clock_w.now = at
        whole.record("GET", name, ms, ok)
        part, clock = parts[index % 2]
        clock.now = part.started + index / 1000
        part.record("GET", name, ms, ok)
        if index % 700 == 0:  # reports arrive mid-run; the latest one replaces the previous
            merger.add(f"w{index % 2}", part.snapshot(clock.now))
    for number, (part, clock) in enumerate(parts):
        merger.add(f"w{number}", part.snapshot(clock.now, final=True))
    whole.finish()
    expected = whole.measured_store()
    merged = merger.store()
    for scope in ("GET /a", "GET /b"):
        ours, theirs = merged.get(scope), expected.get(scope)
        assert ours is not None
        assert theirs is not None
        assert ours.requests == theirs.requests
        assert ours.failures == theirs.failures
        assert ours.histogram == theirs.histogram
    assert merger.requests_total() == sum(merger.worker_requests().values()) == 3000
    assert sum(point["requests"] for point in merger.timeline()) == 3000


def test_progress_percentiles_are_the_last_seconds_merged_and_stay_so_when_asked_again() -> None:
    rec, clock = recorder()
    merger = SnapshotMerger()
    for second in range(8):
        for ms in range(1, 101):
            clock.now = rec.started + second + ms / 1000
            rec.record("GET", "/x", ms * (second + 1) / 10, ok=True)
        clock.now = rec.started + second + 1
        merger.add("local", rec.snapshot(clock.now))
        expected = sorted(
            ms * (s + 1) / 10 for s in range(max(0, second - 2), second + 1) for ms in range(1, 101)
        )
        want = expected[math.ceil(0.95 * len(expected)) - 1]
        for _ in range(2):  # the second answer comes from the decoded bins kept
            got = merger.recent_percentile(95.0)
            assert got is not None
            assert got == pytest.approx(want, rel=1e-3)


def test_transport_failures_mark_the_target_down_with_its_time() -> None:
    rec, clock = recorder()
    merger = SnapshotMerger()
    clock.now = rec.started + 0.5
    rec.record("GET", "/x", 5.0, ok=True)
    for step in range(10):
        clock.now = rec.started + 1.2 + step * 0.25
        rec.record("GET", "/x", 0.3, ok=False, error="ConnectionRefusedError", transport_error=True)
    merger.add("local", rec.snapshot(clock.now))
    down = merger.target_down(at_end=False)
    assert down is not None
    assert down["at_s"] == pytest.approx(1.2)
    assert down["last_success_s"] == pytest.approx(0.5)
    assert "ConnectionRefused" in down["error"]


def test_an_http_error_answer_is_not_a_dead_target() -> None:
    rec, clock = recorder()
    merger = SnapshotMerger()
    for step in range(20):
        clock.now = rec.started + step * 0.25
        rec.record("GET", "/x", 3.0, ok=False, error="500")
    merger.add("local", rec.snapshot(clock.now, final=True))
    assert merger.target_down(at_end=True) is None


# ---- early abort and verdicts


def store_with(requests: int, failures: int, window_s: float) -> object:
    rec, clock = recorder()
    for index in range(requests):
        clock.now = rec.started + index * window_s / requests
        rec.record("GET", "/x", 10.0, ok=index >= failures)
    rec.finish(rec.started + window_s)
    return rec.measured_store()


def test_error_rate_aborts_only_when_the_budget_can_no_longer_be_met() -> None:
    watch = AbortWatch([parse_slo("error_rate < 1%")])
    # 5 % errors after 4 s of a 10 s run: even perfect remaining traffic, at twice the
    # current rate, ends above 1 %.
    hopeless = store_with(400, 20, 4.0)
    assert "even if every remaining request succeeded" in (watch.check(hopeless, 4.0, 6.0) or "")
    # The same errors early in a long run could still be diluted below the budget.
    assert watch.check(hopeless, 4.0, 60.0) is None


def test_the_grace_period_rule_is_gone_so_abort_watch_only_projects_error_rates() -> None:
    watch = AbortWatch([parse_slo("p95 < 5ms [abort]")])
    slow = store_with(100, 0, 2.0)
    assert watch.check(slow, 10.0, 5.0) is None  # the early decisions judge latency now


def test_verdict_order() -> None:
    results = evaluate_all([parse_slo("p95 < 5ms")], store_with(100, 0, 2.0))  # type: ignore[arg-type]

    def verdict(results: list[Any], health: Health, sent: int) -> tuple[str, int]:
        decision = decide_load(results, health, sent)
        return decision.verdict.value, int(decision.exit_code)

    assert verdict(results, Health(), 100) == ("FAIL", 1)
    # A saturated generator made the latency: its failures are not trusted (F26).
    assert verdict(results, Health(saturated="cpu"), 100) == ("ERROR", 11)
    assert verdict([], Health(), 0) == ("ERROR", 11)
    down = Health(target_down={"at_s": 1.0, "error": "refused"})
    assert verdict(results, down, 100) == ("FAIL", 1)
    missing = evaluate_all([parse_slo("GET /nope: p95 < 1s")], store_with(10, 0, 1.0))  # type: ignore[arg-type]
    assert verdict(missing, Health(), 10) == ("ERROR", 11)
    # Partial data is never judged: a signal aborts, a lost report or a short run is an error.
    passing = evaluate_all([parse_slo("p95 < 1s")], store_with(100, 0, 2.0))  # type: ignore[arg-type]
    assert verdict(passing, Health(), 100) == ("PASS", 0)
    assert verdict(passing, Health(interrupted="SIGINT"), 100) == ("ABORTED", 2)
    assert verdict(passing, Health(late_workers=["w1"]), 100) == ("ERROR", 11)
    assert verdict(passing, Health(ended_early="stopped at 6 s of 30 s"), 100) == ("ERROR", 11)


# ---- the typed result


def test_the_typed_result_round_trips_through_json_and_refuses_other_versions(
    tmp_path: Path,
) -> None:
    rec, clock = recorder()
    merger = SnapshotMerger()
    for index in range(200):
        clock.now = rec.started + index / 100
        rec.record("GET", "/x", 5.0 + index % 7, ok=index % 50 != 0, error="500")
    merger.add("local", rec.snapshot(clock.now, final=True))
    store = merger.store()
    health = Health()
    results = evaluate_all(judged_slos([parse_slo("GET /x: p95 < 1s")]), store)
    decision = decide_load(results, health, merger.requests_total())
    ending = Ending(
        locust_version="2.x",
        role="local",
        host="http://127.0.0.1:1",
        started=rec.started,
        started_wall=1.0,
        stopped=clock.now,
        now=clock.now,
        run_time_s=2,
        warmup_s=0,
        users=3,
        peak_users=3,
        abort=StopRecord("slo", "lost", 1.5),
        cpu=CpuFigures(max_percent=12.5),
        workers=WorkerFigures(),
        model=ModelFigures(),
        requests_total=merger.requests_total(),
        errors=merger.errors(),
        timeline=merger.timeline(),
    )
    result = build_result(ending, store, results, health, decision)
    path = tmp_path / "opsgate-result.json"
    path.write_text(result.to_json())
    back = LoadResult.read(path)
    assert back == result
    assert (back.verdict, back.exit_code, back.status) == ("fail", 1, "aborted")
    assert back.store().get("GET /x") == store.get("GET /x")
    assert back.total() is not None
    assert back.total().requests == 200  # type: ignore[union-attr]
    data = json.loads(path.read_text())
    with pytest.raises(ResultFormatError, match="must run the same pytest-opsgate"):
        LoadResult.from_dict({**data, "format": "opsgate-load-result/1"})
    with pytest.raises(ResultFormatError, match="abort is str"):
        LoadResult.from_dict({**data, "abort": "soon"})
    path.write_text("{")
    with pytest.raises(ResultFormatError, match="not JSON"):
        LoadResult.read(path)


# ---- settings, options, command line


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "a.localhost"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "example.com", "localhost.example.com", "0.0.0.0"])
def test_other_hosts_are_refused_unless_allowed(host: str) -> None:
    assert not is_loopback_host(host)
    with pytest.raises(GateUsageError, match="--gate-allow-host"):
        check_load_target(f"http://{host}:8000", ())
    check_load_target(f"http://{host}:8000", (host,))


def test_option_types() -> None:
    assert worker_count("3") == 3
    assert worker_count("auto") >= 1
    assert bind_address("0.0.0.0:5557") == ("0.0.0.0", 5557)
    assert positive_float("2.5") == 2.5
    for convert, text in ((worker_count, "x"), (bind_address, "5557"), (positive_float, "0")):
        with pytest.raises(argparse.ArgumentTypeError):
            convert(text)


def test_locust_command_carries_slos_and_distribution(tmp_path: Path) -> None:
    settings = LoadSettings(
        users=7, run_time_s=2.5, slos=(parse_slo("GET /x: p95 < 1s"),), workers=2, warmup_s=1
    )
    cmd = locust_command(LoadRun(tmp_path / "f.py", "http://127.0.0.1:1", settings, tmp_path))
    joined = " ".join(cmd)
    assert "-u 7" in joined
    assert "-t 3s" in joined
    assert "--processes 2" in joined
    assert cmd[cmd.index("--opsgate-slo") + 1] == "GET /x: p95 < 1s"
    assert cmd[cmd.index("--master-bind-port") + 1] == cmd[cmd.index("--master-port") + 1]


def test_progress_tail_returns_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    tail = ProgressTail(path)
    assert tail.read() == []
    path.write_text('{"t": 1}\n{"t": 2')
    assert tail.read() == [{"t": 1}]
    with path.open("a") as handle:
        handle.write("}\n")
    assert tail.read() == [{"t": 2}]


def test_the_worst_case_stop_fits_the_five_seconds_faults_md_allows() -> None:
    # F28: SIGINT and STOP_WAIT_S, then SIGKILL and at most KILL_WAIT_S to reap the group,
    # noticed within one poll of the signal.
    from pytest_opsgate.gates.load.process import KILL_WAIT_S, POLL_S, STOP_WAIT_S

    assert STOP_WAIT_S + KILL_WAIT_S + 2 * POLL_S <= 5.0


def test_adding_workers_stores_equals_merging_them() -> None:
    from pytest_opsgate.gates.load.merge import _added
    from pytest_opsgate.measure.metrics import MetricsStore

    rng = random.Random(11)
    stores = []
    for worker in range(3):
        rec, clock = recorder()
        for index in range(400):
            clock.now = rec.started + index / 100
            rec.record("GET", rng.choice(["/a", "/b"]), rng.uniform(1, 50), rng.random() > 0.05)
        rec.finish(rec.started + 4.0 + worker)
        stores.append(rec.measured_store())
    merged = MetricsStore()
    for store in stores:
        merged.merge(store)
    added = _added(stores)
    assert added.scopes() == merged.scopes()
    for scope in merged.scopes():
        assert added.get(scope) == merged.get(scope)
    assert added.total() == merged.total()


SIGINT_DURING_FINISH = """
import os, signal, sys, time
from pytest_opsgate.gates.load.locust_ext import sigint_ignored

before = signal.getsignal(signal.SIGINT)
with sigint_ignored():
    os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while the verdict is written
    time.sleep(0.2)
    print("verdict written", flush=True)
assert signal.getsignal(signal.SIGINT) is before
os.kill(os.getpid(), signal.SIGINT)  # afterwards Ctrl-C works again
time.sleep(5)
print("not reached", flush=True)
"""


def test_a_second_sigint_while_the_verdict_is_written_does_not_lose_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SIGINT_DURING_FINISH],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "verdict written" in done.stdout, done.stderr
    assert "KeyboardInterrupt" in done.stderr  # the handler came back after the block
    assert "not reached" not in done.stdout
