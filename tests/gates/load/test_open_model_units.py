"""The open model's pure parts: the arrival clock, its split over workers, falling behind."""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_opsgate.gates.load.arrivals import (
    ArrivalSchedule,
    Stage,
    parse_rate,
    parse_stages,
    rate_option,
    stages_option,
)
from pytest_opsgate.gates.load.merge import SnapshotMerger
from pytest_opsgate.gates.load.outcome import Health, behind_reason, decide_load
from pytest_opsgate.gates.load.process import LoadRun, locust_command
from pytest_opsgate.gates.load.recorder import RequestRecorder
from pytest_opsgate.gates.load.settings import LoadSettings
from pytest_opsgate.slo import evaluate_all, parse_slo

rates = st.floats(min_value=0.5, max_value=500, allow_nan=False)
targets = st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=300))
stage_lists = st.lists(
    st.tuples(st.floats(min_value=0, max_value=20), targets),
    min_size=1,
    max_size=4,
)


def schedules() -> st.SearchStrategy[ArrivalSchedule]:
    constant = rates.map(ArrivalSchedule)
    staged = st.tuples(st.one_of(st.just(0.0), rates), stage_lists).filter(
        lambda pair: pair[0] > 0 or any(target > 0 for _d, target in pair[1])
    )
    ramps = staged.map(lambda p: ArrivalSchedule(p[0], tuple(Stage(d, t) for d, t in p[1])))
    return st.one_of(constant, ramps)


# ---- the clock


def test_rates_and_stages_parse_as_written() -> None:
    assert parse_rate("40") == parse_rate("40/s") == parse_rate("2400/m") == 40.0
    assert parse_stages("30s:50/s, 60s:200/s") == (Stage(30.0, 50.0), Stage(60.0, 200.0))
    for bad in ("fast", "-3/s", "40/h"):
        with pytest.raises(ValueError, match="not a rate"):
            parse_rate(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="DURATION:RATE"):
        stages_option("30s")
    with pytest.raises(argparse.ArgumentTypeError, match="never reaches a rate above 0"):
        stages_option("10s:0/s")
    with pytest.raises(argparse.ArgumentTypeError, match="above 0"):
        rate_option("0")


def test_a_constant_rate_spaces_arrivals_evenly_and_centred() -> None:
    schedule = ArrivalSchedule(40.0)
    times = [schedule.time_of(n) for n in range(4)]
    assert times == pytest.approx([0.0125, 0.0375, 0.0625, 0.0875])
    assert schedule.due_by(10.0) == 400
    assert schedule.due_by(0.0125) == 1


def test_stages_ramp_linearly_and_a_zero_rate_stage_is_a_pause() -> None:
    ramp = ArrivalSchedule(0.0, parse_stages("30s:50/s,60s:200/s"))
    assert ramp.rate_at(15) == pytest.approx(25.0)
    assert ramp.rate_at(60) == pytest.approx(125.0)
    assert ramp.cumulative(30) == pytest.approx(750.0)  # (0 + 50) / 2 * 30
    assert ramp.cumulative(90) == pytest.approx(750.0 + 7500.0)
    paused = ArrivalSchedule(0.0, parse_stages("10s:0/s,0s:10/s,10s:10/s"))
    first = paused.time_of(0)
    assert first is not None
    assert first > 10.0
    assert paused.due_by(10.0) == 0
    assert paused.due_by(20.0) == 100


@settings(max_examples=200, deadline=None)
@given(schedules(), st.integers(min_value=0, max_value=5000))
def test_arrival_times_rise_and_invert_the_cumulative_count(
    schedule: ArrivalSchedule, n: int
) -> None:
    at = schedule.time_of(n)
    if at is None:
        assert schedule.final_rate == 0
        return
    later = schedule.time_of(n + 1)
    assert later is None or later >= at
    assert schedule.cumulative(at) == pytest.approx(n + 0.5, rel=1e-6, abs=1e-6)
    assert schedule.due_by(at + 1e-9) >= n + 1


@settings(max_examples=200, deadline=None)
@given(schedules(), st.integers(min_value=1, max_value=7), st.floats(min_value=0, max_value=60))
def test_workers_split_the_one_schedule_exactly(
    schedule: ArrivalSchedule, workers: int, t: float
) -> None:
    due = schedule.due_by(t)
    # Worker k takes arrivals k, k + W, ...: its count by t is ceil((due - k) / W).
    shares = [max(0, math.ceil((due - k) / workers)) for k in range(workers)]
    assert sum(shares) == due
    assert max(shares) - min(shares) <= 1


# ---- two latencies


def test_the_recorder_keeps_service_and_corrected_latencies_apart() -> None:
    now = [100.0]
    recorder = RequestRecorder(corrected=True, clock=lambda: now[0], wall=lambda: 0.0)
    merger = SnapshotMerger()
    for index in range(100):
        now[0] = recorder.started + index / 50
        # A 1 s stall that a late start hid from the service time.
        late = 900.0 if index % 10 == 0 else 0.0
        recorder.record("GET", "/x", 5.0, True, corrected_ms=5.0 + late)
    merger.add("local", recorder.snapshot(now[0], final=True))
    service = merger.store().get("GET /x")
    corrected = merger.store(corrected=True).get("GET /x")
    assert service is not None
    assert corrected is not None
    assert service.histogram.percentile(95) == pytest.approx(5.0, rel=1e-3)
    assert corrected.histogram.percentile(95) == pytest.approx(905.0, rel=1e-3)
    assert (service.requests, corrected.requests) == (100, 100)
    points = merger.timeline()
    assert any(p["corrected_p95"] and p["corrected_p95"] > 900 for p in points)
    assert all(p["p95"] < 10 for p in points)


def test_a_closed_model_worker_cannot_be_read_as_corrected() -> None:
    recorder = RequestRecorder()
    recorder.record("GET", "/x", 5.0, True)
    merger = SnapshotMerger()
    merger.add("w1", recorder.snapshot(final=True))
    with pytest.raises(ValueError, match="sent no corrected latencies"):
        merger.store(corrected=True)
    with pytest.raises(ValueError, match="no corrected latencies in the closed model"):
        recorder.measured_store(corrected=True)


# ---- falling behind


def _figures(**counts: int) -> dict[str, int]:
    return {"scheduled": 1000, "started": 1000, **counts}


def test_a_generator_that_kept_its_schedule_is_not_behind() -> None:
    assert behind_reason(_figures(late_cap=10), 50, tolerance_s=0.1, limit=0.01) == (None, False)
    assert behind_reason(None, 50, tolerance_s=0.1, limit=0.01) == (None, False)


def test_falling_behind_is_an_error_and_says_why() -> None:
    text, generator = behind_reason(
        _figures(late_cap=30, late_generator=3, missed=8, missed_cap=8, started=992),
        50,
        tolerance_s=0.1,
        limit=0.01,
    )
    assert text is not None
    assert "fell behind by 4.1%: 41 of 1000 scheduled arrivals" in text
    assert "38 waited for one of the 50 in-flight slots, 3 were late because the generator" in text
    assert not generator  # a full cap: the target held the slots, the latencies stand
    passing = evaluate_all([parse_slo("p95 < 10s")], _store())
    failing = evaluate_all([parse_slo("p95 < 1ms")], _store())
    behind = Health(behind=text)
    assert decide_load(passing, behind, 100).verdict.value == "ERROR"
    assert decide_load(failing, behind, 100).verdict.value == "FAIL"
    # Late because the generator itself was: its latency failures are not trusted either.
    _text, generator = behind_reason(_figures(late_generator=40), 50, tolerance_s=0.1, limit=0.01)
    assert generator
    busy = Health(behind=text, behind_generator=True)
    assert decide_load(failing, busy, 100).verdict.value == "ERROR"


def _store() -> object:
    recorder = RequestRecorder()
    for index in range(50):
        recorder.record("GET", "/x", 5.0 + index, True)
    recorder.finish()
    return recorder.measured_store()


# ---- settings and the command line


def test_the_open_model_reaches_locust_as_arguments_and_no_users(tmp_path: Path) -> None:
    settings = LoadSettings(rate=40.0, stages=parse_stages("10s:80/s"), max_inflight=64)
    cmd = locust_command(LoadRun(tmp_path / "f.py", "http://127.0.0.1:1", settings, tmp_path))
    assert cmd[cmd.index("-u") + 1] == "0"
    assert cmd[cmd.index("--opsgate-rate") + 1] == "40"
    assert cmd[cmd.index("--opsgate-stages") + 1] == "10s:80/s"
    assert cmd[cmd.index("--opsgate-max-inflight") + 1] == "64"
    assert cmd[cmd.index("--opsgate-latency") + 1] == "corrected"
    closed = locust_command(LoadRun(tmp_path / "f.py", "http://x", LoadSettings(), tmp_path))
    assert "--opsgate-rate" not in closed


def test_arrivals_are_spread_not_bunched_by_a_random_start() -> None:
    # The dispatcher's clock is the schedule's: no jitter, no bursts at a constant rate.
    schedule = ArrivalSchedule(rng_rate := random.Random(3).uniform(5, 50))
    gaps = {
        round(schedule.time_of(n + 1) - schedule.time_of(n), 9)  # type: ignore[operator]
        for n in range(50)
    }
    assert gaps == {round(1 / rng_rate, 9)}


@given(
    start=st.sampled_from([0.0, 5.0, 40.0]),
    stages=st.lists(
        st.tuples(st.sampled_from([1.0, 2.5, 10.0]), st.sampled_from([0.0, 5.0, 20.0, 80.0])),
        max_size=4,
    ),
)
def test_the_peak_rate_is_reached_at_peak_s_and_not_before(
    start: float, stages: list[tuple[float, float]]
) -> None:
    # An early PASS waits for peak_s: before it, the load asked for has not been applied.
    try:
        schedule = ArrivalSchedule(start, tuple(Stage(d, r) for d, r in stages))
    except ValueError:
        return  # no rate above 0 anywhere
    peak = max([start, *(r for _d, r in stages)])
    assert schedule.rate_at(schedule.peak_s) == pytest.approx(peak)
    if schedule.peak_s > 0:
        assert schedule.rate_at(schedule.peak_s - 1e-3) < peak
