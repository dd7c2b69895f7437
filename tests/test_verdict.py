"""The verdict core: the decision table's invariants, checked on random evidence (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_opsgate.verdict import (
    SEVERITY,
    Evidence,
    ExitCode,
    PhaseEvidence,
    SLOEvidence,
    Verdict,
    decide,
    worst,
)

GATES = ("smoke", "e2e", "load", "restore")
counts = st.integers(min_value=0, max_value=3)

phases = st.builds(
    PhaseEvidence,
    gate=st.sampled_from(GATES),
    explicit=st.booleans(),
    passed=counts,
    failed=st.integers(0, 1),
    errors=st.integers(0, 1),
    skipped=counts,
    interrupted=st.integers(0, 1),
    not_run=st.none() | st.sampled_from(["smoke failed", "target not ready"]),
)
slos = st.builds(
    SLOEvidence,
    name=st.sampled_from(["p95 < 300ms", "error_rate < 1%", "GET /x: p99 <= 1s"]),
    state=st.sampled_from(["passed", "failed", "error", "inconclusive"]),
    successes=st.none() | st.integers(0, 40),
    min_samples=st.integers(1, 30),
)
texts = st.lists(st.sampled_from(["a", "b"]), max_size=2).map(tuple)
evidence = st.builds(
    Evidence,
    phases=st.lists(phases, max_size=4, unique_by=lambda p: p.gate).map(tuple),
    slos=st.lists(slos, max_size=4).map(tuple),
    collection_errors=texts,
    no_tests_collected=st.booleans(),
    signal=st.none() | st.just("SIGTERM"),
    not_ready=st.none() | st.just("refused"),
    failures=texts,
    errors=texts,
    inconclusive=texts,
)


clean_phases = st.builds(
    PhaseEvidence, gate=st.sampled_from(GATES), explicit=st.booleans(),
    passed=st.integers(1, 3), skipped=counts,
)  # fmt: skip
clean_slos = st.builds(
    SLOEvidence, name=st.just("p95 < 1s"), state=st.just("passed"),
    successes=st.none() | st.integers(20, 40), min_samples=st.integers(1, 20),
)  # fmt: skip
clean = st.builds(
    Evidence,
    phases=st.lists(clean_phases, min_size=1, max_size=4, unique_by=lambda p: p.gate).map(tuple),
    slos=st.lists(clean_slos, max_size=3).map(tuple),
)
defects = st.sampled_from(
    [
        {"collection_errors": ("boom",)},
        {"no_tests_collected": True},
        {"signal": "SIGTERM"},
        {"not_ready": "refused"},
        {"errors": ("worker lost",)},
        {"inconclusive": ("ci straddles the floor",)},
        {"failures": ("regression",)},
        {"slos": (SLOEvidence("p95 < 1s", "passed", successes=1, min_samples=5),)},
        {"slos": (SLOEvidence("p95 < 1s", "error"),)},
        {"phases": (PhaseEvidence("smoke", passed=2), PhaseEvidence("e2e"))},
        {"phases": (PhaseEvidence("smoke", passed=2, interrupted=1),)},
        {"phases": (PhaseEvidence("smoke", skipped=2),)},
        {"phases": ()},
    ]
)
near_clean = st.builds(lambda e, d: Evidence(**{**e.__dict__, **d}), clean, defects)
evidence = st.one_of(evidence, clean, near_clean)


def complete(e: Evidence) -> bool:
    """The README's definition of complete evidence, written independently of decide()."""
    return (
        bool(e.phases)
        and any(p.ran for p in e.phases)
        and all(p.ran > 0 for p in e.phases if p.explicit or p.present)
        and not any(p.failed or p.errors or p.interrupted for p in e.phases)
        and all(
            s.state == "passed" and (s.successes is None or s.successes >= s.min_samples)
            for s in e.slos
        )
        and not (e.collection_errors or e.no_tests_collected or e.signal or e.not_ready)
        and not (e.failures or e.errors or e.inconclusive)
    )


def definitely_failed(e: Evidence) -> bool:
    return (
        any(p.failed for p in e.phases)
        or any(s.state == "failed" for s in e.slos)
        or bool(e.failures)
    )


@settings(max_examples=600)
@given(evidence)
def test_pass_only_with_complete_evidence(e: Evidence) -> None:
    assert (decide(e).verdict is Verdict.PASS) == complete(e)


@settings(max_examples=600)
@given(evidence)
def test_any_definite_failure_is_fail(e: Evidence) -> None:
    assert (decide(e).verdict is Verdict.FAIL) == definitely_failed(e)


@settings(max_examples=600)
@given(evidence)
def test_exit_code_is_zero_only_for_pass_and_never_for_anything_else(e: Evidence) -> None:
    decision = decide(e)
    assert (decision.exit_code == 0) == (decision.verdict is Verdict.PASS)
    expected = {
        Verdict.PASS: {ExitCode.PASS},
        Verdict.FAIL: {ExitCode.FAIL},
        Verdict.ABORTED: {ExitCode.ABORTED},
        Verdict.ERROR: {ExitCode.ERROR, ExitCode.NOT_READY},
        Verdict.INCONCLUSIVE: {ExitCode.INCONCLUSIVE},
    }
    assert decision.exit_code in expected[decision.verdict]


@settings(max_examples=300)
@given(evidence)
def test_a_signal_aborts_unless_something_already_failed(e: Evidence) -> None:
    verdict = decide(e).verdict
    if e.signal and not definitely_failed(e):
        assert verdict is Verdict.ABORTED
    if verdict is Verdict.ABORTED:
        assert e.signal


@settings(max_examples=300)
@given(evidence)
def test_a_verdict_that_is_not_pass_always_says_why(e: Evidence) -> None:
    decision = decide(e)
    assert decision.passed or decision.reasons


@settings(max_examples=300)
@given(evidence, st.sampled_from(["phase_error", "slo_error", "collection", "failure", "signal"]))
def test_more_bad_evidence_never_makes_the_verdict_better(e: Evidence, bad: str) -> None:
    before = decide(e).verdict
    if bad == "phase_error":
        worse = Evidence(**{**e.__dict__, "phases": (*e.phases, PhaseEvidence("x", errors=1))})
    elif bad == "slo_error":
        worse = Evidence(**{**e.__dict__, "slos": (*e.slos, SLOEvidence("p95 < 1s", "error"))})
    elif bad == "collection":
        worse = Evidence(**{**e.__dict__, "collection_errors": ("boom",)})
    elif bad == "failure":
        worse = Evidence(**{**e.__dict__, "failures": ("regression",)})
    else:
        worse = Evidence(**{**e.__dict__, "signal": "SIGINT"})
    assert SEVERITY[decide(worse).verdict] >= SEVERITY[before]


@given(st.lists(st.sampled_from(list(Verdict))))
def test_worst_is_the_most_severe(verdicts: list[Verdict]) -> None:
    result = worst(verdicts)
    assert all(SEVERITY[result] >= SEVERITY[v] for v in verdicts)
    assert result in verdicts or (not verdicts and result is Verdict.PASS)


def test_the_decision_table_rows() -> None:
    smoke_ok = PhaseEvidence("smoke", passed=3)
    assert decide(Evidence(phases=(smoke_ok,))).verdict is Verdict.PASS
    # An explicitly selected gate with no test is never a pass...
    empty_e2e = PhaseEvidence("e2e")
    decision = decide(Evidence(phases=(smoke_ok, empty_e2e)))
    assert decision.exit_code == ExitCode.ERROR
    assert any("e2e: no test" in reason for reason in decision.reasons)
    # ...but under --gate=all an absent gate is only named.
    decision = decide(Evidence(phases=(smoke_ok, PhaseEvidence("e2e", explicit=False))))
    assert decision.verdict is Verdict.PASS
    assert decision.notes == ("e2e: absent (no test in this gate; --gate=all skips it)",)
    # A definite failure outranks what could not be measured.
    mixed = (PhaseEvidence("smoke", passed=1, failed=17), PhaseEvidence("load", errors=1))
    assert decide(Evidence(phases=mixed)).exit_code == ExitCode.FAIL
    # Not ready alone is exit 10; with any other error it is 11.
    not_ready = Evidence(phases=(PhaseEvidence("smoke", not_run="target not ready"),),
                         not_ready="refused")  # fmt: skip
    assert decide(not_ready).exit_code == ExitCode.NOT_READY
    # A latency SLO that passed on too few successful samples is not trusted.
    thin = SLOEvidence("p95 < 1s", "passed", successes=2, min_samples=20)
    decision = decide(Evidence(phases=(smoke_ok,), slos=(thin,)))
    assert decision.verdict is Verdict.ERROR
    assert "fewer than the 20 required" in decision.reasons[0]
    # A locustfile a signal stopped ran: it is named as stopped, never as a missing test.
    stopped = decide(Evidence(phases=(PhaseEvidence("load", interrupted=1),), signal="SIGINT"))
    assert stopped.verdict is Verdict.ABORTED
    assert "load: 1 stopped before a verdict" in stopped.reasons
    assert not any("no test" in r or "nothing ran" in r for r in stopped.reasons), stopped.reasons
    no_signal = decide(Evidence(phases=(PhaseEvidence("load", interrupted=1),)))
    assert no_signal.verdict is Verdict.ERROR  # still never a pass without a signal to blame
    # Collection errors and an empty collection are errors, not interruptions.
    assert decide(Evidence(phases=(smoke_ok,), collection_errors=("x",))).exit_code == 11
    assert decide(Evidence(no_tests_collected=True)).exit_code == 11
