"""Early decisions: false alarms stay within α however often we look; the evidence reads well."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_opsgate.measure.sequential import Outcome, SequentialSlo

RUNS = 1000  # simulated load runs per check
LOOKS = 100  # looks per run
BATCH = 50  # requests between looks: 5,000 requests a run


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(n, p) draw by inversion: one uniform per look instead of n."""
    u, k = rng.random(), 0
    term = (1 - p) ** n
    cdf = term
    while u > cdf and k < n:
        term *= (n - k) / (k + 1) * p / (1 - p)
        k += 1
        cdf += term
    return k


def first_outcomes(
    rng: random.Random, share: float, q: float, alpha: float
) -> tuple[int, int, list[int]]:
    """Simulate RUNS runs at a true ``share``: runs that ever failed early, ever passed early,
    and each run's violation counts at every look (for the naive test below)."""
    fails = passes = 0
    last: list[int] = []
    for _ in range(RUNS):
        slo = SequentialSlo(q, alpha=alpha)
        bad = total = 0
        failed = passed = False
        for _look in range(LOOKS):
            bad += binomial(rng, BATCH, share)
            total += BATCH
            # Both tests are watched to the end, so each false alarm counts once per run.
            evidence = slo.update(bad, total)
            failed = failed or evidence.outcome is Outcome.FAIL_EARLY
            passed = passed or evidence.secured >= 1 / alpha
        fails += failed
        passes += passed
        last.append(bad)
    return fails, passes, last


def slack(alpha: float) -> float:
    """Three binomial standard errors of a rate of α over RUNS runs."""
    return 3 * math.sqrt(alpha * (1 - alpha) / RUNS)


@pytest.mark.parametrize(("q", "alpha"), [(0.01, 0.02), (0.05, 0.1)])
def test_at_the_slo_boundary_neither_early_decision_exceeds_alpha(q: float, alpha: float) -> None:
    fails, passes, _ = first_outcomes(random.Random(2024), q, q, alpha)
    assert fails / RUNS <= alpha + slack(alpha)
    assert passes / RUNS <= alpha + slack(alpha)


def test_the_simulation_catches_a_test_that_peeks() -> None:
    """A fixed-sample z-test repeated at the same looks raises false alarms far above α."""
    rng, q, alpha = random.Random(2024), 0.05, 0.1
    z = NormalDist().inv_cdf(1 - alpha)
    alarms = 0
    for _ in range(RUNS):
        bad = total = 0
        alarm = False
        for _look in range(LOOKS):
            bad += binomial(rng, BATCH, q)
            total += BATCH
            alarm = alarm or (bad - q * total) / math.sqrt(total * q * (1 - q)) > z
        alarms += alarm
    assert alarms / RUNS > alpha + 3 * slack(alpha)


@pytest.mark.parametrize(
    ("share", "outcome"), [(0.03, Outcome.FAIL_EARLY), (0.002, Outcome.PASS_EARLY)]
)
def test_clear_cases_are_decided_early(share: float, outcome: Outcome) -> None:
    rng = random.Random(7)
    decided = []
    for _ in range(200):
        slo = SequentialSlo.for_percentile(99, early_pass=True)
        bad = total = 0
        for look in range(LOOKS):
            bad += binomial(rng, BATCH, share)
            total += BATCH
            evidence = slo.update(bad, total)
            if evidence.outcome is not Outcome.CONTINUE:
                decided.append((evidence.outcome, look))
                break
    assert len(decided) >= 190
    assert all(o is outcome for o, _look in decided)
    median_look = sorted(look for _o, look in decided)[len(decided) // 2]
    assert median_look < LOOKS // 2  # decided in the first half of the run


counts = st.integers(0, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(counts, st.sampled_from([0.001, 0.01, 0.05, 0.5]))
def test_more_violations_never_weaken_the_case_for_lost(case: tuple[int, int], q: float) -> None:
    bad, total = case
    fewer = SequentialSlo(q).update(max(0, bad - 1), total)
    more = SequentialSlo(q).update(bad, total)
    assert more.lost >= fewer.lost
    assert more.secured <= fewer.secured
    # Lost needs more violations than q allows and secured fewer, so never both.
    assert not (more.lost >= 50 and more.secured >= 50)
    if more.lost >= 50:
        assert bad > q * total
    if more.secured >= 50:
        assert bad < q * total


@given(counts)
def test_an_early_pass_is_only_given_when_asked_for(case: tuple[int, int]) -> None:
    bad, total = case
    assert SequentialSlo(0.01).update(bad, total).outcome is not Outcome.PASS_EARLY


def test_nothing_seen_is_no_evidence() -> None:
    evidence = SequentialSlo(0.01).update(0, 0)
    assert (evidence.outcome, evidence.lost, evidence.secured) == (Outcome.CONTINUE, 1.0, 1.0)


def test_a_decision_stands_once_made() -> None:
    slo = SequentialSlo.for_percentile(99, label="p99 < 800 ms")
    lost = slo.update(40, 1000)
    assert lost.outcome is Outcome.FAIL_EARLY
    assert lost.reason == (
        "p99 < 800 ms: 40 of 1000 requests (4 %) against it, 1 % allowed; the evidence that it "
        f"is lost reached 1/α = 50 (now {lost.lost:,.0f}), so it is lost with 98 % confidence: "
        "fail early"
    )
    later = slo.update(40, 100_000)  # far below 1 % now, but the test has already rejected
    assert later.outcome is Outcome.FAIL_EARLY
    assert later.lost < 1


def test_continue_says_how_far_each_side_is() -> None:
    evidence = SequentialSlo.for_error_rate(0.01, early_pass=True).update(2, 100)
    assert evidence.outcome is Outcome.CONTINUE
    assert evidence.reason.startswith("error_rate: 2 of 100 requests (2 %) against it, 1 % allowed")
    assert evidence.reason.endswith("that it holds, 1/α = 50 needed: continue")


def test_percentile_budgets_are_exact_shares() -> None:
    assert SequentialSlo.for_percentile(99.9).allowed_share == 0.001
    assert SequentialSlo.for_percentile(95).allowed_share == 0.05


@pytest.mark.parametrize(
    ("share", "message"),
    [(0.0, "cannot be decided early"), (1.0, "outside \\(0, 1\\)")],
)
def test_budgets_that_cannot_be_tested_are_refused(share: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequentialSlo(share)


def test_p100_is_refused() -> None:
    with pytest.raises(ValueError, match="judge it at the end"):
        SequentialSlo.for_percentile(100)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ((5, 100), (4, 200), "went backwards"),
        ((5, 100), (5, 90), "went backwards"),
        ((0, 0), (3, 2), "3 violations of 2 requests is impossible"),
    ],
)
def test_totals_must_be_running_totals(
    first: tuple[int, int], second: tuple[int, int], message: str
) -> None:
    slo = SequentialSlo(0.01)
    slo.update(*first)
    with pytest.raises(ValueError, match=message):
        slo.update(*second)
