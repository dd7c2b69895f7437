"""``gate_slo``: send a burst of requests, read the figures, assert SLOs over them."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import httpx

from ..slo.evaluate import (
    SLOResult,
    evaluate_slo,
    format_slo_table,
    parse_duration,
    parse_slo,
    with_guards,
)
from .metrics import MetricsStore
from .success import expected_status, expecting

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..http.client import GateClient
    from .metrics import EndpointStats


class SampleSet:
    """Latency and error figures of ``count`` requests to one endpoint."""

    def __init__(
        self,
        name: str,
        store: MetricsStore,
        errors: list[str],
        min_samples: int,
        on_results: Callable[[list[SLOResult]], None] | None = None,
    ) -> None:
        self.name = name
        self._store = store
        self.errors = errors
        self._min_samples = min_samples
        self._on_results = on_results

    @property
    def stats(self) -> EndpointStats:
        """Histogram and counts of the sample."""
        stats = self._store.get(self.name)
        assert stats is not None
        return stats

    @property
    def count(self) -> int:
        """Requests sent."""
        return self.stats.requests

    @property
    def error_rate(self) -> float:
        """Fraction of requests that failed or answered an unexpected status."""
        return self.stats.failures / self.stats.requests if self.stats.requests else 1.0

    def p(self, percentile: float) -> float:
        """Nearest-rank percentile of latency in milliseconds."""
        return self.stats.histogram.percentile(percentile)

    def evaluate(self, *expressions: str) -> list[SLOResult]:
        """Evaluate SLO expressions over this sample without raising.

        A latency expression brings its error-rate guard (``error_rate < 1%`` unless an
        ``error_rate`` expression is given), so fast failures cannot pass a p95.
        """
        slos = [parse_slo(text if ":" in text else f"{self.name}: {text}") for text in expressions]
        return [
            evaluate_slo(slo, self._store, min_samples=self._min_samples)
            for slo in with_guards(slos)
        ]

    def assert_slo(self, *expressions: str) -> list[SLOResult]:
        """Raise AssertionError with an SLO table when any expression is breached.

        Every result, passed or not, also becomes a row of the run's SLO table (gate.json,
        gate.md, JUnit, the HTML summary) under the asserting test's name.
        """
        __tracebackhide__ = True
        results = self.evaluate(*expressions)
        if self._on_results is not None:
            self._on_results(results)
        bad = [r for r in results if not r.passed]
        if bad:
            from ..errors import InsufficientSamplesError

            table = format_slo_table(results)
            detail = "".join(f"\n  {error}" for error in self.errors[:5])
            errors = f"\nfailed requests:{detail}" if detail else ""
            # The first line is what one-line summaries show: make it carry the numbers.
            first = next((r for r in bad if r.verdict == "failed"), bad[0])
            headline = f"{first.scope_label} {first.reason}"
            if all(r.verdict == "error" for r in bad):
                raise InsufficientSamplesError(
                    f"SLO could not be measured: {headline}\n{table}{errors}"
                )
            raise AssertionError(f"SLO breached: {headline}\n{table}{errors}")
        return results

    def __repr__(self) -> str:
        if not self.count:
            return f"<SampleSet {self.name} empty>"
        return (
            f"<SampleSet {self.name} n={self.count} p50={self.p(50):.1f}ms "
            f"p95={self.p(95):.1f}ms error_rate={self.error_rate:.2%}>"
        )


class GateSLO:
    """The ``gate_slo`` fixture: sampling and latency assertions through ``gate_client``."""

    def __init__(
        self,
        client: GateClient,
        min_samples: int = 1,
        on_results: Callable[[list[SLOResult]], None] | None = None,
        mirror: GateClient | None = None,
    ) -> None:
        self._client = client
        self._min_samples = min_samples
        self._on_results = on_results
        # --gate-baseline-url: every sample also goes to the baseline target, interleaved,
        # so time-of-day noise hits both alike (the mirror client records its own traffic).
        self._mirror = mirror

    def sample(
        self,
        path: str,
        n: int = 20,
        method: str = "GET",
        *,
        name: str | None = None,
        expect_status: int | Sequence[int] | None = None,
        interval: float = 0.0,
        **request_kwargs: Any,
    ) -> SampleSet:
        """Send ``n`` requests and return their figures; transport errors count as failures."""
        if n < 1:
            raise ValueError(f"gate_slo.sample needs n >= 1, got {n}")
        from ..http.client import NAME_EXTENSION

        label = name or f"{method.upper()} {path.split('?', 1)[0]}"
        extensions = dict(request_kwargs.pop("extensions", None) or {})
        extensions.setdefault(NAME_EXTENSION, label)
        store = MetricsStore()
        errors: list[str] = []
        # The run's and the baseline's recorders judge these requests by the same rule.
        with expecting(expect_status):
            for index in range(n):
                if self._mirror is not None and index % 2 == 1:
                    self._send_mirror(method, path, extensions, request_kwargs)
                started = time.perf_counter()
                try:
                    response = self._client.request(
                        method, path, extensions=extensions, **request_kwargs
                    )
                except httpx.HTTPError as exc:
                    store.record(label, None, ok=False)
                    errors.append(f"#{index + 1}: {exc}")
                else:
                    elapsed_ms = (time.perf_counter() - started) * 1000.0
                    ok = expected_status(response.status_code, expect_status)
                    store.record(label, elapsed_ms, ok=ok)
                    if not ok:
                        errors.append(f"#{index + 1}: {label} -> {response.status_code}")
                if self._mirror is not None and index % 2 == 0:
                    self._send_mirror(method, path, extensions, request_kwargs)
                if interval and index + 1 < n:
                    time.sleep(interval)
        return SampleSet(label, store, errors, self._min_samples, self._on_results)

    def _send_mirror(
        self, method: str, path: str, extensions: dict[str, Any], kwargs: dict[str, Any]
    ) -> None:
        assert self._mirror is not None
        # A failure is recorded by the mirror client as a failed request of the baseline.
        with contextlib.suppress(httpx.HTTPError):
            self._mirror.request(method, path, extensions=extensions, **kwargs)

    def assert_latency(self, response: httpx.Response, budget: str) -> float:
        """Fail when one response took longer than ``budget`` (e.g. ``"300ms"``)."""
        __tracebackhide__ = True
        limit_ms = parse_duration(budget) * 1000.0
        elapsed_ms = response.elapsed.total_seconds() * 1000.0
        if elapsed_ms > limit_ms:
            request = response.request
            raise AssertionError(
                f"{request.method} {request.url.path} took {elapsed_ms:.1f} ms, "
                f"over the {budget} budget (status {response.status_code})"
            )
        return elapsed_ms
