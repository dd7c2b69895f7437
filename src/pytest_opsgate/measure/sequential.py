"""Anytime-valid early decisions for the load gate: stop once an SLO is surely lost or surely held.

An SLO ``pXX < B`` holds when the share θ of requests that count against it (those at or over
B at the histogram's resolution; for ``<=``, those over B) is below q = (100 - XX) / 100, and
``error_rate < B`` when the share of failed requests is below q = B. The caller passes the
running totals, ``violations`` of ``total`` requests, to :meth:`SequentialSlo.update` as often
as it likes: every second, after every request, or whenever the data look interesting.

Two tests run on those totals, each with its own test martingale:

- lost:    H0 θ <= q against θ > q; ``fail_early`` once its evidence reaches 1/α;
- secured: H0 θ >= q against θ < q; ``pass_early`` once its evidence reaches 1/α.

The evidence is the average, over a grid of alternatives θ_j beyond q, of the likelihood
ratios L_j = (θ_j / q)^S ((1 - θ_j) / (1 - q))^(n - S), S violations in n requests. For any θ
in H0 each request multiplies L_j by a factor whose mean is at most 1, so each L_j and their
average is a nonnegative supermartingale starting at 1, and Ville's inequality bounds the
chance that it ever reaches 1/α by α. That is why looking often costs no false alarms: an SLO
that holds (θ <= q) fails early with probability at most α however often it is checked, and
one that is lost (θ >= q) passes early with probability at most α.

The grid holds the odds ratios 2^(j/2), j = 1..16 (up to 256x), and their inverses: a
discretised log-uniform prior that costs ln 16 = 2.8 nats for covering effects over two orders
of magnitude. For p99 at α = 0.02, a service with 3 % slow requests (θ = 3q) fails early after
about (ln 50 + 2.8) / KL(0.03 || 0.01) = 500 requests, and one with 0.2 % passes early after
about 1,500; benchmarks/judge_simulation.py measures both.

A decision, once made, stands: the test has rejected, and later data cannot undo that.
``fail_early`` outranks ``pass_early``, which is only returned when asked for
(``early_pass=True``, as ``--gate-load-early-pass`` would set).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Evidence", "Outcome", "SequentialSlo"]

_ODDS_RATIOS = [2 ** (j / 2) for j in range(1, 17)]


class Outcome(str, enum.Enum):
    """What the load gate should do now."""

    FAIL_EARLY = "fail_early"
    PASS_EARLY = "pass_early"
    CONTINUE = "continue"


@dataclass(frozen=True)
class Evidence:
    """One look: the outcome, the totals it saw, both statistics and a sentence."""

    outcome: Outcome
    violations: int
    total: int
    lost: float  # evidence (a likelihood ratio) that the SLO is lost; 1/α decides
    secured: float  # evidence that the SLO holds
    reason: str


def _pct(share: float) -> str:
    return f"{share * 100:.3g} %"


def _evidence(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


class SequentialSlo:
    """Early FAIL / PASS for one SLO stated as "the share of bad requests is below q"."""

    def __init__(
        self,
        allowed_share: float,
        *,
        alpha: float = 0.02,
        label: str = "the SLO",
        early_pass: bool = False,
    ) -> None:
        if not 0 < allowed_share < 1:
            raise ValueError(
                f"allowed share {allowed_share!r} is outside (0, 1); a p100 or zero-error SLO "
                "is lost by one request and cannot be decided early, so judge it at the end"
            )
        if not 0 < alpha < 1:
            raise ValueError(f"alpha {alpha!r} is outside (0, 1); use e.g. 0.02")
        self.allowed_share, self.alpha, self.label = allowed_share, alpha, label
        self.early_pass = early_pass
        q = allowed_share
        odds = q / (1 - q)

        def log_ratios(ratios: list[float]) -> list[tuple[float, float]]:
            thetas = [odds * r / (1 + odds * r) for r in ratios]
            return [(math.log(t / q), math.log((1 - t) / (1 - q))) for t in thetas]

        self._lost = log_ratios(_ODDS_RATIOS)
        self._secured = log_ratios([1 / r for r in _ODDS_RATIOS])
        self._threshold = math.log(1 / alpha)
        self._last = (0, 0)
        self._lost_seen = self._secured_seen = False

    @classmethod
    def for_percentile(
        cls, percentile: float, *, alpha: float = 0.02, label: str = "", early_pass: bool = False
    ) -> SequentialSlo:
        """For ``pXX < B``: at most (100 - XX) % of requests may reach B."""
        share = float((100 - Fraction(str(percentile))) / 100)
        return cls(share, alpha=alpha, label=label or f"p{percentile:g}", early_pass=early_pass)

    @classmethod
    def for_error_rate(
        cls, budget: float, *, alpha: float = 0.02, label: str = "", early_pass: bool = False
    ) -> SequentialSlo:
        """For ``error_rate < B``, B a fraction (0.01 for 1 %)."""
        return cls(budget, alpha=alpha, label=label or "error_rate", early_pass=early_pass)

    @staticmethod
    def _log_mean(terms: list[tuple[float, float]], bad: int, good: int) -> float:
        logs = [bad * a + good * b for a, b in terms]
        top = max(logs)
        return top + math.log(sum(math.exp(v - top) for v in logs) / len(logs))

    def holds_with(self, violations: int, total: int) -> bool:
        """Whether these totals alone would secure the SLO (no state changes): the early PASS
        asks it again with the requests still in flight counted as violations."""
        if not 0 <= violations <= total:
            return False
        log_secured = self._log_mean(self._secured, violations, total - violations)
        return log_secured >= self._threshold

    def update(self, violations: int, total: int) -> Evidence:
        """Take the running totals since the start of the run and say what to do."""
        last_bad, last_total = self._last
        if not 0 <= violations <= total:
            raise ValueError(
                f"{violations} violations of {total} requests is impossible; "
                "pass running totals with 0 <= violations <= total"
            )
        if violations < last_bad or total - violations < last_total - last_bad:
            raise ValueError(
                f"running totals went backwards ({last_bad} of {last_total}, now {violations} "
                f"of {total}); pass cumulative counts since the start of the run"
            )
        self._last = (violations, total)
        good = total - violations
        log_lost = self._log_mean(self._lost, violations, good)
        log_secured = self._log_mean(self._secured, violations, good)
        self._lost_seen = self._lost_seen or log_lost >= self._threshold
        self._secured_seen = self._secured_seen or log_secured >= self._threshold
        lost, secured = math.exp(min(log_lost, 700)), math.exp(min(log_secured, 700))
        seen = f"{violations} of {total} requests" + (
            f" ({_pct(violations / total)})" if total else ""
        )
        head = f"{self.label}: {seen} against it, {_pct(self.allowed_share)} allowed"
        bound = f"1/α = {1 / self.alpha:g}"
        if self._lost_seen:
            outcome = Outcome.FAIL_EARLY
            why = (
                f"the evidence that it is lost reached {bound} (now {_evidence(lost)}), so "
                f"it is lost with {_pct(1 - self.alpha)} confidence: fail early"
            )
        elif self._secured_seen and self.early_pass:
            outcome = Outcome.PASS_EARLY
            why = (
                f"the evidence that it holds reached {bound} (now {_evidence(secured)}), so "
                f"it holds with {_pct(1 - self.alpha)} confidence: pass early"
            )
        else:
            outcome = Outcome.CONTINUE
            why = (
                f"evidence {_evidence(lost)} that it is lost and {_evidence(secured)} that it "
                f"holds, {bound} needed: continue"
            )
        return Evidence(outcome, violations, total, lost, secured, f"{head}; {why}")
