"""Locust requests in per-second bins, and snapshots that merge exactly across workers.

A :class:`RequestRecorder` lives in every Locust process that runs users (the local
runner or a worker). Each request lands in the bin of the second it finished in; when a
bin closes, its histograms are added to the cumulative per-endpoint histograms if the bin
lies after the warmup, and the bin's merged histogram is kept (encoded) for the timeline.

In the open model each request has two latencies: the *service* time Locust measured from
the actual send, and the *corrected* one from the arrival's intended start (service time
plus how late the arrival started). The recorder keeps both, in histograms of their own;
in the closed model there is only the service time.

A snapshot is cumulative: the master keeps the latest one of each worker and merges them,
so a lost report costs nothing but timeline points, and the merged counts equal the sum
of what the workers sent. Nothing here imports Locust.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ...measure.histogram import LatencyHistogram
from ...measure.metrics import HTTP_METHODS, EndpointStats, MetricsStore, normalize_scope

if TYPE_CHECKING:
    from collections.abc import Callable

BIN_S = 1.0
SNAPSHOT_VERSION = 2
MAX_ERROR_KINDS = 50
MAX_SCOPE_CACHE = 10_000
# A target counts as down after this long of nothing but transport errors (no HTTP answer).
DOWN_AFTER_S = 2.0
DOWN_MIN_FAILURES = 3


def stats_name(name: str) -> str:
    """A request name without query string, fragment or credentials, safe for stats files."""
    text = str(name)
    if "://" in text:
        try:
            parts = urlsplit(text)
        except ValueError:
            return text.split("?", 1)[0].split("#", 1)[0]
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    if "?" in text or "#" in text:
        return text.split("?", 1)[0].split("#", 1)[0]
    return text


def transport_failure(exception: Any, response: Any) -> bool:
    """True when no HTTP answer arrived (refused, reset, timed out), not an HTTP error."""
    if exception is None:
        return False
    status = getattr(response, "status_code", None)
    return not status


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def error_text(exception: Any) -> str:
    """The failure as one short line; URLs (ids, query strings) would split it into many.

    An exception whose ``str()`` itself raises (a client library's bug) is still a failure,
    named by its type: losing the failure with its text would count the request as nothing.
    """
    try:
        detail = str(exception)
    except Exception:  # any str() failure: the type still names the failure
        detail = "(its message could not be read)"
    text = _URL.sub("<url>", f"{type(exception).__name__}: {detail}")
    return " ".join(text.split())[:300]


def recording_fire(
    original: Any,
    record: Callable[[Any, Any, Any, Any, Any], None],
    on_error: Callable[[BaseException], None],
) -> Any:
    """``events.request.fire`` that records each request itself, then calls ``original``.

    Every request passes here, so this is the gate's whole cost per request event: the
    name loses any query string, fragment or credentials (for every listener, Locust's
    statistics too), then ``record(request_type, name, response_time, exception,
    response)`` counts it directly, without a listener's dispatch (a ``**kwargs`` call per
    listener), then Locust's listeners run. Locust would only log an exception raised by a
    listener; one raised while recording goes to ``on_error``, because a request the gate
    did not count could hide a failure.
    """

    def fire(*, reverse: bool = False, **kwargs: Any) -> Any:
        name = kwargs.get("name")
        if name.__class__ is str and ("?" in name or "#" in name or "@" in name):
            kwargs["name"] = name = stats_name(name)
        try:
            record(
                kwargs.get("request_type"),
                name,
                kwargs.get("response_time"),
                kwargs.get("exception"),
                kwargs.get("response"),
            )
        except Exception as exc:  # any failure to count is the run's error
            on_error(exc)
        return original(reverse=reverse, **kwargs)

    return fire


def scope_of(request_type: str, name: str) -> str:
    """The SLO scope of a Locust request: ``"GET /api/items"``, or a custom client's name."""
    clean = stats_name(name).strip()
    head = clean.split(" ", 1)[0].upper() if clean else ""
    if head in HTTP_METHODS and " " in clean:
        return normalize_scope(clean)
    kind = str(request_type or "").strip()
    if not clean:
        return normalize_scope(kind or "request")
    # Only HTTP methods prefix a scope; a custom client's request name is the scope itself.
    if kind.upper() in HTTP_METHODS:
        return normalize_scope(f"{kind} {clean}")
    return normalize_scope(clean)


class _Acc:
    """Histograms (service, corrected) and counts of one scope, cumulative."""

    __slots__ = ("corrected", "failures", "hist", "requests")

    def __init__(self, corrected: bool) -> None:
        self.hist = LatencyHistogram()
        self.corrected = LatencyHistogram() if corrected else None
        self.requests = 0
        self.failures = 0


class _BinAcc:
    """One request name within one second: latencies as exact microseconds -> count.

    A dict increment costs a tenth of a histogram record; the histogram is fed once per
    distinct value when the second is over, with the same microseconds, so nothing is lost.
    """

    __slots__ = ("corrected", "failures", "requests", "values")

    def __init__(self, corrected: bool) -> None:
        self.values: dict[int, int] = {}
        self.corrected: dict[int, int] | None = {} if corrected else None
        self.requests = 0
        self.failures = 0


def _histogram(values: dict[int, int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    if values and min(values) < 0:  # a broken client's negative timing counts as 0 µs
        fixed: dict[int, int] = {}
        for us, count in values.items():
            fixed[max(0, us)] = fixed.get(max(0, us), 0) + count
        values = fixed
    hist.record_counts(values)
    return hist


def _micros(ms: float | None) -> int | None:
    if ms is None:
        return None
    try:
        return round(ms * 1000)
    except (ValueError, OverflowError, TypeError):
        return None  # NaN or infinity: a broken client timing, not a latency


@dataclass
class TransportState:
    """Transport failures (no HTTP answer at all): how a dead target shows."""

    down_since_s: float | None = None
    down_count: int = 0
    down_error: str = ""
    last_ok_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {
            "down_since_s": self.down_since_s,
            "down_count": self.down_count,
            "down_error": self.down_error,
            "last_ok_s": self.last_ok_s,
        }


@dataclass
class RequestRecorder:
    """Records requests of one Locust process (see the module docstring)."""

    warmup_s: float = 0.0
    corrected: bool = False  # the open model: keep latencies from the intended start too
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    started: float = 0.0
    started_wall: float = 0.0
    requests_total: int = 0
    finished_s: float | None = None
    transport: TransportState = field(default_factory=TransportState)
    _last_ok: float | None = None
    _scopes: dict[tuple[str, str], str] = field(default_factory=dict)
    _bin_index: int = 0
    _bin_end: float = 0.0  # when the current bin's second is over (clock time)
    _bin: dict[tuple[str, str], _BinAcc] = field(default_factory=dict)
    _measured: dict[str, _Acc] = field(default_factory=dict)
    _pending: list[list[Any]] = field(default_factory=list)
    _errors: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    @property
    def warmup_bins(self) -> int:
        """Whole bins left out of the measurement (the warmup rounded up to seconds)."""
        return max(0, math.ceil(self.warmup_s / BIN_S - 1e-9))

    def reset(self) -> None:
        """Forget everything and start the clock: a new test starts."""
        self.started = self.clock()
        self.started_wall = self.wall()
        self.requests_total = 0
        self.finished_s = None
        self.transport = TransportState()
        self._last_ok = None
        self._scopes = {}
        self._bin_index = 0
        self._bin_end = self.started + BIN_S
        self._bin = {}
        self._measured = {}
        self._pending = []
        self._errors = {}

    def record(
        self,
        request_type: str,
        name: str,
        response_time_ms: float | None,
        ok: bool,
        *,
        error: str | None = None,
        transport_error: bool = False,
        now: float | None = None,
        corrected_ms: float | None = None,
    ) -> None:
        """Count one finished request; ``transport_error`` means no HTTP answer arrived.

        ``corrected_ms`` is the open model's latency from the intended start (ignored in the
        closed model).
        """
        # The hot path of every request: a dict increment and a few stores, no calls that
        # are not needed (a call costs as much as the increment).
        if self.finished_s is not None:
            return
        t = self.clock() if now is None else now
        if t >= self._bin_end:
            self.tick(t)
        key = (request_type, name)
        acc = self._bin.get(key)
        if acc is None:
            acc = self._bin[key] = _BinAcc(self.corrected)
        if response_time_ms is not None:
            try:
                us = round(response_time_ms * 1000)
            except (ValueError, OverflowError, TypeError):
                pass  # NaN or infinity: a broken client timing, not a latency
            else:
                values = acc.values
                values[us] = values.get(us, 0) + 1
        corrected = acc.corrected
        if corrected is not None:
            cus = _micros(corrected_ms)
            if cus is not None:
                corrected[cus] = corrected.get(cus, 0) + 1
        acc.requests += 1
        self.requests_total += 1
        if ok:
            self._last_ok = t
            if self.transport.down_since_s is not None:
                self.transport.down_since_s = None
                self.transport.down_count = 0
            return
        self._record_failure(acc, request_type, name, t, error, transport_error)

    def _record_failure(
        self,
        acc: _BinAcc,
        request_type: str,
        name: str,
        t: float,
        error: str | None,
        transport_error: bool,
    ) -> None:
        acc.failures += 1
        self._count_error(self._scope(request_type, name), error or "failed")
        rel = t - self.started
        if transport_error:
            if self.transport.down_since_s is None:
                self.transport.down_since_s = rel
                self.transport.down_error = (error or "no response")[:300]
            self.transport.down_count += 1
        else:
            self.transport.down_since_s = None
            self.transport.down_count = 0

    def _scope(self, request_type: str, name: str) -> str:
        key = (request_type, name)
        scope = self._scopes.get(key)
        if scope is None:
            scope = scope_of(request_type, name)
            if len(self._scopes) < MAX_SCOPE_CACHE:
                self._scopes[key] = scope
        return scope

    def _count_error(self, scope: str, error: str) -> None:
        key = (scope, error[:200])
        if key in self._errors or len(self._errors) < MAX_ERROR_KINDS:
            self._errors[key] = self._errors.get(key, 0) + 1
        else:
            other = (scope, "(other errors)")
            self._errors[other] = self._errors.get(other, 0) + 1

    def _close_bin(self) -> None:
        if not self._bin:
            return
        total = LatencyHistogram()
        total_corrected = LatencyHistogram() if self.corrected else None
        requests = failures = 0
        measured = self._bin_index >= self.warmup_bins
        for (request_type, name), acc in self._bin.items():
            hist = _histogram(acc.values)
            corrected = None if acc.corrected is None else _histogram(acc.corrected)
            total.merge(hist)
            if total_corrected is not None and corrected is not None:
                total_corrected.merge(corrected)
            requests += acc.requests
            failures += acc.failures
            if measured:
                scope = self._scope(request_type, name)
                cumulative = self._measured.get(scope)
                if cumulative is None:
                    cumulative = self._measured[scope] = _Acc(self.corrected)
                cumulative.hist.merge(hist)
                if cumulative.corrected is not None and corrected is not None:
                    cumulative.corrected.merge(corrected)
                cumulative.requests += acc.requests
                cumulative.failures += acc.failures
        encoded_corrected = None if total_corrected is None else total_corrected.encode()
        self._pending.append(
            [self._bin_index, requests, failures, total.encode(), encoded_corrected]
        )
        self._bin = {}

    def tick(self, now: float | None = None) -> None:
        """Close the current bin once its second is over."""
        if self.finished_s is not None:
            return
        t = self.clock() if now is None else now
        index = int((t - self.started) // BIN_S)
        if index > self._bin_index:
            self._close_bin()
            self._bin_index = index
            self._bin_end = self.started + (index + 1) * BIN_S

    def finish(self, now: float | None = None) -> None:
        """The test stopped: close the last, partial bin; later requests are ignored."""
        if self.finished_s is not None:
            return
        t = self.clock() if now is None else now
        self._close_bin()
        self.finished_s = max(0.0, t - self.started)

    def window_s(self, now: float | None = None) -> float:
        """Seconds covered by the measured (post-warmup, closed-bin) data."""
        if self.finished_s is not None:
            end = self.finished_s
        else:
            t = self.clock() if now is None else now
            end = int((t - self.started) // BIN_S) * BIN_S
        return max(0.0, end - self.warmup_bins * BIN_S)

    def measured_store(self, now: float | None = None, *, corrected: bool = False) -> MetricsStore:
        """Post-warmup requests of closed bins, per scope, with the measured window set.

        ``corrected`` picks the latencies from the intended start (the open model).
        """
        if corrected and not self.corrected:
            raise ValueError("no corrected latencies in the closed model; ask for service times")
        window = self.window_s(now)
        store = MetricsStore()
        for scope, acc in self._measured.items():
            hist = acc.corrected if corrected and acc.corrected is not None else acc.hist
            stats = EndpointStats(hist, acc.requests, acc.failures, window)
            store.add(scope, stats)
            store.set_window(scope, window)
        store.set_window(None, window)
        return store

    def _transport_dict(self) -> dict[str, Any]:
        if self._last_ok is not None:
            self.transport.last_ok_s = round(self._last_ok - self.started, 3)
        return self.transport.to_dict()

    def snapshot(
        self,
        now: float | None = None,
        *,
        final: bool = False,
        extra: dict[str, Any] | None = None,
        plain: bool = True,
    ) -> dict[str, Any]:
        """Cumulative state plus the bins closed since the previous snapshot.

        ``plain`` makes it plain data for a message to the master; without it (the local
        runner, whose merger lives in the same process) the stores stay objects, which
        spares encoding and decoding every histogram every second.
        """
        t = self.clock() if now is None else now
        if final:
            self.finish(t)
        else:
            self.tick(t)
        bins, self._pending = self._pending, []
        service = self.measured_store(t)
        corrected = self.measured_store(t, corrected=True) if self.corrected else None
        snap: dict[str, Any] = {
            "v": SNAPSHOT_VERSION,
            "store": service.to_dict() if plain else service,
            "corrected": corrected.to_dict() if plain and corrected is not None else corrected,
            "bins": bins,
            "elapsed_s": round(t - self.started, 3),
            "started_wall": self.started_wall,
            "warmup_s": self.warmup_bins * BIN_S,
            "requests_total": self.requests_total,
            "transport": self._transport_dict(),
            "errors": [[scope, error, count] for (scope, error), count in self._errors.items()],
            "final": self.finished_s is not None,
        }
        if extra:
            snap.update(extra)
        return snap
