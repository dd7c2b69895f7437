"""Early decisions in the load gate: sequential FAIL and PASS, and what must never pass early."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_opsgate.gates.load.early import EarlyJudge, certain_loss, violations
from pytest_opsgate.gates.load.outcome import judged_slos
from pytest_opsgate.gates.load.recorder import RequestRecorder
from pytest_opsgate.measure.metrics import MetricsStore
from pytest_opsgate.slo import parse_slo
from pytest_opsgate.slo.evaluate import evaluate_slo, resolve_stats


def store_of(samples: list[tuple[str, float, bool]]) -> MetricsStore:
    now = [0.0]
    recorder = RequestRecorder(clock=lambda: now[0], wall=lambda: 0.0)
    for index, (name, ms, ok) in enumerate(samples):
        now[0] = recorder.started + index / 1000
        recorder.record("GET", name, ms, ok)
    recorder.finish(now[0] + 1.0)
    return recorder.measured_store()


def fast(n: int, name: str = "/x", slow_every: int = 0, fail_every: int = 0) -> MetricsStore:
    return store_of(
        [
            (
                name,
                900.0 if slow_every and i % slow_every == 0 else 20.0,
                not (fail_every and i % fail_every == 0),
            )
            for i in range(n)
        ]
    )


def judge(*texts: str, early_pass: bool = True, min_samples: int = 1) -> EarlyJudge:
    slos = judged_slos([parse_slo(text) for text in texts])
    return EarlyJudge(slos, min_samples=min_samples, early_pass=early_pass)


def test_p95_below_a_budget_counts_the_samples_in_its_bucket_or_above() -> None:
    store = store_of([("/x", ms, True) for ms in (10.0, 300.0, 300.0, 301.0, 500.0)])
    stats = resolve_stats(parse_slo("GET /x: p95 < 300ms"), store)
    assert stats is not None
    assert violations(parse_slo("GET /x: p95 < 300ms"), stats) == (4, 5)
    assert violations(parse_slo("GET /x: p95 <= 300ms"), stats) == (2, 5)
    assert violations(parse_slo("GET /x: error_rate < 1%"), stats) == (0, 5)
    assert violations(parse_slo("GET /x: avg < 1s"), stats) is None


def test_a_lost_slo_stops_the_load_early_with_fail() -> None:
    early = judge("p95 < 300ms")
    decision = early.check(fast(400, slow_every=5))  # 20 % slow: p95 is lost
    assert decision is not None
    assert decision.outcome == "fail"
    assert decision.slo == "p95 < 300ms"
    assert "lost with 98 % confidence" in decision.reason
    assert early.lost_slo == "p95 < 300ms"


def test_statistics_that_only_grow_worse_are_lost_for_certain() -> None:
    store = fast(10, slow_every=9)
    stats = resolve_stats(parse_slo("max < 500ms"), store)
    assert stats is not None
    assert "already took" in (certain_loss(parse_slo("max < 500ms"), stats) or "")
    assert certain_loss(parse_slo("requests <= 5"), stats) is not None
    assert certain_loss(parse_slo("min > 30ms"), stats) is not None
    assert certain_loss(parse_slo("avg < 1ms"), stats) is None
    decision = judge("max < 500ms").check(store)
    assert decision is not None
    assert decision.outcome == "fail"


def test_held_slos_pass_early_only_when_asked() -> None:
    store = fast(3000)
    assert judge("p95 < 300ms", early_pass=False).check(store) is None
    decision = judge("p95 < 300ms").check(store)
    assert decision is not None
    assert decision.outcome == "pass"
    assert "all 2 SLOs are held" in decision.reason  # the SLO and its (run-wide) guard


# ---- attempts at a false early PASS


def test_a_fast_service_that_fails_its_error_rate_guard_never_passes_early() -> None:
    early = judge("p95 < 300ms")
    decisions = [early.check(fast(n, fail_every=20)) for n in (500, 1000, 3000)]
    assert all(d is None or d.outcome == "fail" for d in decisions)
    assert any(d is not None and d.outcome == "fail" for d in decisions)


def test_an_slo_with_no_early_form_holds_every_early_pass_back() -> None:
    store = fast(5000)
    assert judge("p95 < 300ms", "avg < 1s").check(store) is None
    assert judge("p95 < 300ms", "rps > 1").check(store) is None


def test_an_slo_on_an_endpoint_never_requested_holds_every_early_pass_back() -> None:
    assert judge("p95 < 300ms", "GET /y: p95 < 1s").check(fast(5000)) is None


def test_too_few_samples_for_the_verdict_hold_an_early_pass_back() -> None:
    store = fast(3000)
    assert judge("p95 < 300ms", min_samples=5000).check(store) is None
    passed = judge("p95 < 300ms", min_samples=2000).check(store)
    assert passed is not None
    assert passed.outcome == "pass"


def test_no_slo_at_all_never_passes_early() -> None:
    assert EarlyJudge([], early_pass=True).check(fast(5000)) is None


def test_a_service_exactly_on_its_budget_passes_early_at_most_alpha_of_the_time() -> None:
    # 5 % of requests at the budget or over it: p95 < 300ms is lost (by a hair), and an
    # early PASS is a false one. Checked every 300 requests, as a run looks every second.
    rng = random.Random(2024)
    runs, false_passes = 200, 0
    for _ in range(runs):
        early = EarlyJudge([parse_slo("p95 < 300ms")], early_pass=True)
        now = [0.0]
        recorder = RequestRecorder(clock=lambda now=now: now[0], wall=lambda: 0.0)
        for look in range(1, 11):
            for _request in range(300):
                recorder.record("GET", "/x", 400.0 if rng.random() < 0.05 else 20.0, True)
            now[0] = recorder.started + look  # one look a second, on closed bins
            recorder.tick()
            decision = early.check(recorder.measured_store())
            if decision is not None:
                false_passes += decision.outcome == "pass"
                break
    # alpha = 2 %: 4 of 200 expected at most; 12 or more would be p < 0.001 for a true 2 %.
    assert false_passes <= 11, false_passes


@pytest.mark.parametrize("budget", ["error_rate <= 100%", "p100 < 1s", "error_rate <= 0%"])
def test_slos_without_a_share_to_test_are_judged_at_the_end(budget: str) -> None:
    early = EarlyJudge([parse_slo(budget)], early_pass=True)
    assert early.check(fast(3000)) is None


@settings(max_examples=60, deadline=None)
@given(
    fast_n=st.integers(0, 2500),
    slow_n=st.integers(0, 300),
    failed_n=st.integers(0, 100),
    slow_ms=st.sampled_from([299.0, 300.0, 300.3, 450.0]),
    op=st.sampled_from(["<", "<="]),
)
def test_an_early_decision_never_contradicts_the_verdict_on_the_same_figures(
    fast_n: int, slow_n: int, failed_n: int, slow_ms: float, op: str
) -> None:
    # Spread evenly, so no prefix of the run differs from the whole; the store is judged
    # once, as the supervisor's last look before it stops the run would be.
    samples = [("/x", 20.0, True)] * fast_n + [("/x", slow_ms, True)] * slow_n
    samples += [("/x", 20.0, False)] * failed_n
    random.Random(fast_n * 7 + slow_n).shuffle(samples)
    if not samples:
        return
    store = store_of(samples)
    slos = judged_slos([parse_slo(f"GET /x: p95 {op} 300ms")])
    decision = EarlyJudge(slos, early_pass=True).check(store)
    verdicts = {slo.text: evaluate_slo(slo, store).verdict for slo in slos}
    if decision is not None and decision.outcome == "pass":
        assert set(verdicts.values()) == {"passed"}, verdicts  # never a false early PASS
    if decision is not None and decision.outcome == "fail":
        assert verdicts[decision.slo] == "failed", (decision, verdicts)


def test_requests_still_in_flight_count_against_an_early_pass() -> None:
    # Held on 2,000 fast answers, but 40 requests still unanswered could be 2 % slow ones:
    # a stop now would never measure them, so no early pass until they are too few to matter.
    judge = EarlyJudge(judged_slos([parse_slo("GET /x: p99 < 500ms")]), early_pass=True)
    assert judge.check(fast(2000), inflight=40) is None
    assert "40 request(s) still unanswered" in judge.unanswered
    decision = judge.check(fast(2000), inflight=1)
    assert decision is not None
    assert decision.outcome == "pass"
