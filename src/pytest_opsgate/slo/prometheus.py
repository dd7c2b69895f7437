"""SLOs judged by Prometheus: instant queries through the HTTP API, measured as Argo Rollouts does.

:func:`evaluate_prometheus` waits ``initial_delay``, then measures every SLO ``count`` times,
``interval`` apart, with ``GET /api/v1/query``. A measurement fails when its value is
outside the SLO's inclusive ``[min, max]``; the SLO fails when more than ``failure_limit``
measurements fail (Argo's ``failureLimit``). PromQL is never parsed here: Prometheus
answers, and the answer is checked strictly. Anything that is not exactly one finite number
is an error measurement, and one error measurement makes the SLO ERROR unless it already
FAILed (FAIL outranks ERROR): an empty vector, NaN, +/-Inf, several series, a scalar, matrix
or string result, an error answer, non-JSON, or an unreachable server. Once no SLO can pass
any more the remaining measurements are skipped, so an unreachable Prometheus costs one
connect timeout, not ``count`` of them.

Each entry gives one :class:`~pytest_opsgate.slo.SLOResult` per bound (``value <= max``,
``value >= min``) with ``source="prometheus"``, the worst measured value against that
bound, and ``samples`` = the number of measurements made.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from ..http.client import NAME_EXTENSION, GateClient, InvalidJSON, Timeouts
from .evaluate import SLOResult, Verdict, format_measure
from .prometheus_config import PROMETHEUS_METRIC, PrometheusConfig, PrometheusSLO

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..http.redact import Redactor
    from .grammar import SLO

__all__ = ["Measurement", "evaluate_prometheus", "measure", "open_client", "register_secrets"]

_MAX_SERIES_SHOWN = 3
_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Measurement:
    """One query's answer: a finite ``value``, or an ``error`` saying why there is none."""

    value: float | None = None
    error: str | None = None
    unreachable: bool = False  # Prometheus itself could not be reached: stop measuring


def register_secrets(config: PrometheusConfig, redactor: Redactor) -> None:
    """Make the auth values read from the environment secrets of the run."""
    for value in config.secrets:
        redactor.register(value)


def open_client(config: PrometheusConfig, redactor: Redactor | None = None) -> GateClient:
    """A bounded client for the Prometheus API: ``timeout`` per query, the auth headers set."""
    if redactor is not None:
        register_secrets(config, redactor)
    timeouts = Timeouts(
        connect=min(config.timeout, _CONNECT_TIMEOUT_S), read=config.timeout, total=config.timeout
    )
    return GateClient(timeouts=timeouts, headers=dict(config.headers), redactor=redactor)


def measure(client: GateClient, config: PrometheusConfig, slo: PrometheusSLO) -> Measurement:
    """Run one instant query and read exactly one finite number from the answer."""
    try:
        response = client.get(
            config.query_url,
            params={"query": slo.query},
            extensions={NAME_EXTENSION: f"prometheus {slo.name}"},
        )
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        return Measurement(
            error=f"Prometheus at {config.url} is unreachable ({_detail(exc)}); check the "
            "[prometheus] url or --gate-prom-url and that Prometheus is running",
            unreachable=True,
        )
    except httpx.HTTPError as exc:
        return Measurement(error=f"no answer from Prometheus at {config.url}: {_detail(exc)}")
    status = response.status_code
    if response.is_redirect:
        where = response.headers.get("location", "?")
        return Measurement(
            error=f"{config.query_url} answered {status} redirecting to {where}; point url at "
            "Prometheus itself (a login proxy in front needs [prometheus.auth])"
        )
    try:
        doc = client.json_of(response)
    except InvalidJSON:
        kind = response.headers.get("content-type") or "no content type"
        hint = (
            "check [prometheus.auth]"
            if status in (401, 403)
            else "is url Prometheus, not Grafana or a login page?"
        )
        return Measurement(error=f"HTTP {status} with a non-JSON answer ({kind}); {hint}")
    return _read_answer(doc, status)


def _read_answer(doc: object, status: int) -> Measurement:
    if not isinstance(doc, dict) or doc.get("status") not in ("success", "error"):
        return Measurement(error=f"HTTP {status} with JSON that is not a Prometheus API answer")
    if doc["status"] == "error" or status != 200:
        kind, text = doc.get("errorType", "unknown"), doc.get("error", "no message")
        return Measurement(error=f"Prometheus answered HTTP {status} {kind}: {text}")
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        return Measurement(error="the answer has no data.result list")
    result_type, result = data.get("resultType"), data["result"]
    if result_type == "scalar":
        return Measurement(
            error="the query returns a scalar, not an instant vector; query a metric "
            "(a literal such as 1 or scalar(...) measures nothing)"
        )
    if result_type == "matrix":
        return Measurement(
            error="the query returns a range vector (a [5m] selector without a function); "
            "wrap it in rate(...) or an *_over_time(...) function"
        )
    if result_type != "vector":
        return Measurement(error=f"the query returns a {result_type}, not an instant vector")
    if not result:
        return Measurement(
            error="no data: the query returned an empty vector (the metric does not exist, "
            "its labels match nothing, or nothing was scraped yet: raise initial_delay)"
        )
    if len(result) > 1:
        shown = ", ".join(_labels(item) for item in result[:_MAX_SERIES_SHOWN])
        more = f" and {len(result) - _MAX_SERIES_SHOWN} more" if len(result) > 3 else ""
        return Measurement(
            error=f"{len(result)} series where one was expected: {shown}{more}; aggregate "
            "them (sum, max, ...) or narrow the label matchers"
        )
    sample = result[0].get("value") if isinstance(result[0], dict) else None
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        if isinstance(result[0], dict) and "histogram" in result[0]:
            return Measurement(error="the series is a native histogram; use histogram_quantile")
        return Measurement(error="the series has no [timestamp, value] sample")
    try:
        value = float(sample[1])
    except ValueError:
        return Measurement(error=f"the value {sample[1]!r} is not a number")
    if math.isnan(value):
        return Measurement(
            error="the value is NaN (often 0/0: no traffic in the query's window, or no "
            "observations in a histogram)"
        )
    if math.isinf(value):
        return Measurement(
            error=f"the value is {sample[1]} (a division by zero, or a quantile above the "
            "highest finite histogram bucket)"
        )
    return Measurement(value=value)


def _labels(item: object) -> str:
    metric = item.get("metric") if isinstance(item, dict) else None
    if not isinstance(metric, dict):
        return "{?}"
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _detail(exc: Exception) -> str:
    # The client's message starts with the request label, which repeats what we say.
    text = str(exc) or type(exc).__name__
    return text.partition(": ")[2] or text


@dataclass
class _Tally:
    """The measurements of one SLO entry so far."""

    slo: PrometheusSLO
    limit: int
    values: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def taken(self) -> int:
        return len(self.values) + len(self.errors)

    def outside(self) -> int:
        return sum(1 for value in self.values if not self._within(value))

    def _within(self, value: float) -> bool:
        s = self.slo
        return (s.max is None or value <= s.max) and (s.min is None or value >= s.min)

    def can_pass(self) -> bool:
        return not self.errors and self.outside() <= self.limit

    def results(self, count: int) -> list[SLOResult]:
        """One row per bound; a bound that held passes even when the other one failed."""
        return [self._result(row, count) for row in self.slo.rows()]

    def _result(self, row: SLO, count: int) -> SLOResult:
        high = row.op == "<="
        broken = [v for v in self.values if (v > row.budget if high else v < row.budget)]
        worst = (max if high else min)(self.values) if self.values else None
        shown, budget = format_measure(row, worst), format_measure(row, row.budget)
        many = count > 1
        of = f" in {len(broken)} of {self.taken} measurements" if many else ""
        skipped = f", {count - self.taken} more skipped" if self.taken < count else ""
        if self.outside() > self.limit and broken:
            limit = f" (failure_limit {self.limit}{skipped})" if many else ""
            return self._row(
                row, worst, "failed", f"value {shown} is not {row.op} {budget}{of}{limit}"
            )
        if self.errors:
            first = self.errors[0]
            also = f" ({len(self.errors)} of {self.taken} measured{skipped})" if many else ""
            return self._row(row, None, "error", f"{first}{also}")
        reason = f"value {shown} {row.op} {budget}"
        if many:
            reason += f" (worst of {self.taken} measurements"
            reason += (
                f"; {len(broken)} outside, within failure_limit {self.limit})" if broken else ")"
            )
        return self._row(row, worst, "passed", reason)

    def _row(self, row: SLO, measured: float | None, verdict: Verdict, reason: str) -> SLOResult:
        return SLOResult(row, measured, self.taken, verdict, reason, source=PROMETHEUS_METRIC)


def evaluate_prometheus(
    config: PrometheusConfig,
    client_factory: Callable[[PrometheusConfig], GateClient] | None = None,
    *,
    redactor: Redactor | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[SLOResult]:
    """Measure every Prometheus SLO (module docstring) and return its rows, in config order.

    Bounded by ``config.max_seconds()``. Waits use ``sleep``, so KeyboardInterrupt or the
    exception a SIGTERM handler raises propagates out of them; the client is closed either way.
    """

    def open_default(c: PrometheusConfig) -> GateClient:
        return open_client(c, redactor)

    tallies = [_Tally(slo, config.failure_limit) for slo in config.slos]
    with (client_factory or open_default)(config) as client:
        start = clock()
        for round_index in range(config.count):
            _wait_until(start + config.initial_delay + round_index * config.interval, sleep, clock)
            for tally in tallies:
                found = measure(client, config, tally.slo)
                if found.unreachable:
                    # Every other query would wait for the same dead server.
                    for other in tallies:
                        if other.taken == round_index:
                            other.errors.append(found.error or "unreachable")
                    break
                if found.value is None:
                    tally.errors.append(found.error or "no value")
                else:
                    tally.values.append(found.value)
            if not any(tally.can_pass() for tally in tallies):
                break
    results = [row for tally in tallies for row in tally.results(config.count)]
    if redactor is not None:
        for result in results:
            result.reason = redactor.redact_text(result.reason)
    return results


def _wait_until(moment: float, sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
    while (left := moment - clock()) > 0:
        sleep(left)
