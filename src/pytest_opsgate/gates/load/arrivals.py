"""The open model's clock: when each arrival is due, for a constant or ramping rate.

Pure arithmetic (no Locust). A schedule is a start rate and stages, as k6's
ramping-arrival-rate executor has them: each stage ramps the rate linearly from where the
previous one ended to its target over its duration (a 0 s stage jumps), and after the last
stage the rate stays at its target. ``"30s:50/s,60s:200/s"`` ramps from the start rate (0
unless ``--gate-load-rate`` gives one) to 50/s over 30 s, then to 200/s over 60 s.

Arrival ``n`` (from 0) is due at the moment the cumulative count of arrivals N(t) = ∫ rate
reaches n + 1/2, so a constant rate R puts arrival n at (n + 1/2) / R. Distributed, worker
k of W takes arrivals k, k + W, k + 2W...: together the workers keep exactly the one
schedule, whatever W is.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass

from ...settings.parse import parse_duration

__all__ = ["ArrivalSchedule", "Stage", "parse_rate", "parse_stages", "rate_option", "stages_option"]

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?:/\s*(s|sec|m|min))?\s*$", re.I)
_PER = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0}
# Slower than one arrival in about 17 minutes is not a load; it would also overflow the clock.
MIN_RATE = 0.001


def parse_rate(text: str) -> float:
    """Arrivals per second from ``"40"``, ``"40/s"`` or ``"2400/m"``."""
    match = _RATE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a rate; write arrivals per second, e.g. 40/s or 2400/m")
    value = float(match.group(1)) / _PER[(match.group(2) or "s").lower()]
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite rate")
    return value


@dataclass(frozen=True)
class Stage:
    """Ramp linearly to ``target`` arrivals per second over ``duration_s``."""

    duration_s: float
    target: float


def parse_stages(text: str) -> tuple[Stage, ...]:
    """``"30s:50/s,60s:200/s"`` as stages (see the module docstring)."""
    stages = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        duration, sep, rate = part.partition(":")
        if not sep:
            raise ValueError(
                f"stage {part.strip()!r} has no target; write DURATION:RATE, e.g. 30s:50/s"
            )
        seconds = parse_duration(duration.strip())
        if not seconds >= 0:
            raise ValueError(f"stage {part.strip()!r} has a negative duration")
        stages.append(Stage(seconds, parse_rate(rate)))
    if not stages:
        raise ValueError(f"{text!r} holds no stage; write e.g. 30s:50/s,60s:200/s")
    return tuple(stages)


def rate_option(text: str) -> float:
    """``--gate-load-rate`` type: arrivals per second above 0."""
    try:
        value = parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 arrivals per second")
    return value


def stages_option(text: str) -> tuple[Stage, ...]:
    """``--gate-load-stages`` type: at least one stage, some arrivals in it."""
    try:
        stages = parse_stages(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not any(stage.target > 0 for stage in stages):
        raise argparse.ArgumentTypeError(f"{text!r} never reaches a rate above 0")
    return stages


@dataclass(frozen=True)
class _Piece:
    """One stage in absolute terms: from ``start_s`` at ``rate0`` to ``rate1``."""

    start_s: float
    duration_s: float
    rate0: float
    rate1: float
    before: float  # arrivals due before it starts

    def count(self, tau: float) -> float:
        """Arrivals due within the first ``tau`` seconds of the piece."""
        if self.duration_s <= 0:
            return 0.0
        slope = (self.rate1 - self.rate0) / self.duration_s
        return self.rate0 * tau + slope * tau * tau / 2


@dataclass(frozen=True)
class ArrivalSchedule:
    """Arrival times of a constant rate (no stages) or of ramping stages after a start rate."""

    start_rate: float = 0.0
    stages: tuple[Stage, ...] = ()

    def __post_init__(self) -> None:
        rates = [self.start_rate, *(stage.target for stage in self.stages)]
        if any(not (math.isfinite(r) and (r == 0 or r >= MIN_RATE)) for r in rates):
            raise ValueError(f"rates must be 0 or at least {MIN_RATE:g} arrivals per second")
        if any(not (math.isfinite(st.duration_s) and st.duration_s >= 0) for st in self.stages):
            raise ValueError("stage durations must be finite and >= 0")
        if not any(r > 0 for r in rates):
            raise ValueError("a schedule needs a rate above 0 somewhere; pass e.g. 40/s")

    @property
    def stages_s(self) -> float:
        """The length of all stages together (0 without stages)."""
        return sum(piece.duration_s for piece in self._pieces())

    @property
    def final_rate(self) -> float:
        """The rate after the last stage."""
        return self.stages[-1].target if self.stages else self.start_rate

    @property
    def peak_s(self) -> float:
        """When the rate first reaches its highest value, in seconds from the start."""
        peak = max([self.start_rate, *(stage.target for stage in self.stages)])
        if self.start_rate >= peak:
            return 0.0
        for piece in self._pieces():
            if piece.rate1 >= peak:
                return piece.start_s + piece.duration_s
        return self.stages_s

    def _pieces(self) -> list[_Piece]:
        pieces = []
        start = before = 0.0
        rate = self.start_rate
        for stage in self.stages:
            # A stage shorter than a millisecond is a jump: its ramp would be too steep to use.
            duration = stage.duration_s if stage.duration_s >= 1e-3 else 0.0
            piece = _Piece(start, duration, rate, stage.target, before)
            pieces.append(piece)
            before += piece.count(duration)
            start += duration
            rate = stage.target
        return pieces

    def rate_at(self, t: float) -> float:
        """Arrivals per second at ``t`` seconds from the start."""
        for piece in self._pieces():
            if piece.duration_s > 0 and t < piece.start_s + piece.duration_s:
                share = max(0.0, t - piece.start_s) / piece.duration_s
                return piece.rate0 + (piece.rate1 - piece.rate0) * share
        return self.final_rate

    def cumulative(self, t: float) -> float:
        """Arrivals due in the first ``t`` seconds as a continuous count, N(t) = ∫ rate."""
        if t <= 0:
            return 0.0
        before = 0.0
        for piece in self._pieces():
            if t < piece.start_s + piece.duration_s:
                return piece.before + piece.count(t - piece.start_s)
            before = piece.before + piece.count(piece.duration_s)
        return before + self.final_rate * (t - self.stages_s)

    def due_by(self, t: float) -> int:
        """How many arrivals are due by ``t`` seconds (arrival n is due once N(t) >= n + 1/2)."""
        return max(0, math.floor(self.cumulative(t) + 0.5))

    def time_of(self, n: int) -> float | None:
        """When arrival ``n`` (from 0) is due, in seconds; None if the rate never gets there.

        Arrival n is due when N(t) reaches n + 1/2: a constant rate R puts it at (n + 1/2) / R,
        evenly spaced and centred, and a stage at 0/s is a pause with no arrival in it.
        """
        if n < 0:
            raise ValueError(f"arrival {n} is negative; arrivals count from 0")
        wanted = n + 0.5
        before = 0.0
        for piece in self._pieces():
            after = piece.before + piece.count(piece.duration_s)
            if wanted <= after and piece.duration_s > 0:
                return piece.start_s + _solve(piece, wanted - piece.before)
            before = after
        if self.final_rate <= 0:
            return None
        return self.stages_s + (wanted - before) / self.final_rate


def _solve(piece: _Piece, m: float) -> float:
    """The ``tau`` within ``piece`` at which ``m`` arrivals are due (m > 0)."""
    a = (piece.rate1 - piece.rate0) / (2 * piece.duration_s)
    b = piece.rate0
    # m = b tau + a tau^2; this form stays accurate when a is tiny or negative.
    disc = max(0.0, b * b + 4 * a * m)
    root = b + math.sqrt(disc)
    if root <= 0:
        return piece.duration_s
    return min(piece.duration_s, 2 * m / root)
