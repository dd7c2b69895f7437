"""Read ``[prometheus]`` (opsgate.toml) or ``[tool.opsgate.prometheus]`` (pyproject) strictly.

::

    [prometheus]
    url = "http://prometheus:9090"      # or --gate-prom-url
    initial_delay = "30s"               # wait after the gate's traffic, for a scrape to happen
    interval = "30s"                    # between measurements (needed when count > 1)
    count = 3                           # measurements per SLO, as Argo Rollouts' analysis
    failure_limit = 0                   # an SLO fails when more measurements than this fail
    timeout = "10s"                     # total deadline of one query

    [prometheus.auth]                   # secrets come from the environment only
    bearer_env = "PROM_TOKEN"           # or user_env + password_env for basic auth
    headers_env = { "X-Scope-OrgID" = "PROM_TENANT" }

    [[prometheus.slo]]
    name = "api p99"
    query = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
    max = 0.05                          # and/or min, both inclusive (Flagger's thresholdRange)

Every error is a ``GateUsageError`` naming the file, the entry and the key.
"""

from __future__ import annotations

import base64
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import GateUsageError
from ..gates.smoke.tables import Table
from ..settings.parse import check_prometheus_url
from .grammar import SLO, VALUE_STAT, _plain, parse_duration

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "PROMETHEUS_METRIC",
    "PrometheusConfig",
    "PrometheusSLO",
    "check_prometheus_url",
    "load_prometheus_config",
]

PROMETHEUS_METRIC = "prometheus"  # SLO.metric and SLOResult.source of every Prometheus row
TOP_KEYS = ("url", "auth", "initial_delay", "interval", "count", "failure_limit", "timeout", "slo")
AUTH_KEYS = ("bearer_env", "user_env", "password_env", "headers_env")
SLO_KEYS = ("name", "query", "max", "min")
DEFAULT_TIMEOUT_S = 10.0
MAX_COUNT = 100
MAX_WAIT_S = 3600.0  # initial_delay + the intervals; longer is a typo, not an analysis
_NAME = re.compile(r"^[^\s:][^:\n]{0,99}$")


@dataclass(frozen=True)
class PrometheusSLO:
    """One ``[[prometheus.slo]]`` entry: a PromQL query and its inclusive range."""

    name: str
    query: str
    max: float | None
    min: float | None
    where: str  # "[[prometheus.slo]] #2 (api p99)", for messages

    def rows(self) -> tuple[SLO, ...]:
        """The SLO rows this entry reports: one per bound, ``<= max`` first, then ``>= min``."""
        bounds = [("<=", self.max), (">=", self.min)]
        return tuple(
            SLO(
                text=f"{self.name}: {self.query} {op} {_plain(budget)}",
                scope=self.name,
                metric=PROMETHEUS_METRIC,
                statistic=VALUE_STAT,
                op=op,
                budget=budget,
            )
            for op, budget in bounds
            if budget is not None
        )


@dataclass(frozen=True)
class PrometheusConfig:
    """The validated ``[prometheus]`` table; ``headers`` hold secrets from the environment."""

    url: str
    slos: tuple[PrometheusSLO, ...]
    initial_delay: float = 0.0
    interval: float = 0.0
    count: int = 1
    failure_limit: int = 0
    timeout: float = DEFAULT_TIMEOUT_S
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # for the redactor
    source: str = ""  # the file it came from, for messages

    @property
    def query_url(self) -> str:
        """The instant-query endpoint of the HTTP API."""
        return f"{self.url}/api/v1/query"

    def max_seconds(self) -> float:
        """An upper bound on the wall time of one evaluation (waits plus every query)."""
        waits = self.initial_delay + (self.count - 1) * self.interval
        return waits + self.count * len(self.slos) * self.timeout


def load_prometheus_config(
    table: Mapping[str, Any] | None,
    *,
    display: str,
    url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> PrometheusConfig | None:
    """Validate the opsgate table's ``prometheus`` key; None when neither it nor ``url`` is set.

    ``table`` is what ``gates.smoke.config.find_config`` returns (the whole opsgate.toml, or
    the ``[tool.opsgate]`` table of a pyproject.toml); ``url`` is ``--gate-prom-url`` and
    overrides the file. Environment variables named by ``[prometheus.auth]`` are read now,
    so a missing secret is a usage error before any request.
    """
    env = os.environ if environ is None else environ
    raw = (table or {}).get("prometheus")
    if raw is None and url is None:
        return None
    in_pyproject = display.endswith("pyproject.toml")
    prefix = "tool.opsgate." if in_pyproject else ""
    file = display or "the command line"
    if raw is None:
        raise GateUsageError(
            f"--gate-prom-url is set but {file} has no [{prefix}prometheus.slo] entries; add at "
            "least one SLO (name, query, max or min) or drop --gate-prom-url"
        )
    top = Table(raw, file, f"[{prefix}prometheus]")
    top.prefix = prefix
    base = url if url is not None else top.raw("url")
    if base is None:
        top.fail('is required (or pass --gate-prom-url), e.g. "http://prometheus:9090"', "url")
    if not isinstance(base, str):
        top.fail("must be a string", "url")
    try:
        base = check_prometheus_url(base)
    except ValueError as exc:
        where = "--gate-prom-url" if url is not None else None
        if where:
            raise GateUsageError(f"{where}: {exc}") from None
        top.fail(str(exc), "url")
    top.raw("url")
    count = top.integer("count", 1, 1, MAX_COUNT)
    failure_limit = top.integer("failure_limit", 0, 0, MAX_COUNT)
    if failure_limit >= count:
        top.fail(
            f"is {failure_limit} with count = {count}, so no SLO could ever fail; "
            "use a failure_limit below count",
            "failure_limit",
        )
    initial_delay = _seconds(top, "initial_delay", 0.0, allow_zero=True)
    interval = _seconds(top, "interval", 0.0, allow_zero=False)
    if count > 1 and not top.has("interval"):
        top.fail(f'is required when count = {count}, e.g. "30s"', "interval")
    if initial_delay + (count - 1) * interval > MAX_WAIT_S:
        top.fail(
            f"with initial_delay and count = {count}, the waits add up to more than "
            f"{MAX_WAIT_S / 60:g} minutes; shorten them",
            "interval" if count > 1 else "initial_delay",
        )
    timeout = _seconds(top, "timeout", DEFAULT_TIMEOUT_S, allow_zero=False)
    headers, secrets = _auth(top, env)
    slos = _slos(top)
    top.finish(TOP_KEYS)
    return PrometheusConfig(
        url=base,
        slos=slos,
        initial_delay=initial_delay,
        interval=interval,
        count=count,
        failure_limit=failure_limit,
        timeout=timeout,
        headers=headers,
        secrets=secrets,
        source=file,
    )


def _seconds(t: Table, key: str, default: float, *, allow_zero: bool) -> float:
    value = t.raw(key, None)
    if value is None:
        return default
    problem = f'must be a duration with a unit such as "500ms" or "30s", not {value!r}'
    if not isinstance(value, str) or not re.search(r"[a-zA-Z]\s*$", value):
        t.fail(problem, key)
    try:
        seconds = parse_duration(value)
    except ValueError:
        t.fail(problem, key)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        t.fail(f"is {value!r}; use a duration above 0", key)
    return seconds


def _auth(
    top: Table, env: Mapping[str, str]
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    raw = top.raw("auth", None)
    if raw is None:
        return (), ()
    t = Table(raw, top.file, f"[{top.prefix}prometheus.auth]")

    def secret(key: str) -> str:
        name = t.env_name(key)
        value = env.get(name, "")
        if not value:
            t.fail(f"names {name}, which is not set or empty; export {name} or drop the key", key)
        return value

    headers: list[tuple[str, str]] = []
    secrets: list[str] = []
    has_user, has_password = t.has("user_env"), t.has("password_env")
    if t.has("bearer_env") and (has_user or has_password):
        t.fail("and user_env/password_env are both set; use bearer or basic auth", "bearer_env")
    if has_user != has_password:
        t.fail("needs its partner: basic auth takes both user_env and password_env", "user_env")
    if t.has("bearer_env"):
        token = secret("bearer_env")
        headers.append(("Authorization", f"Bearer {token}"))
        secrets.append(token)
    if has_user:
        user, password = secret("user_env"), secret("password_env")
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers.append(("Authorization", f"Basic {pair}"))
        secrets.extend((password, pair))
    for header, name in t.scalar_table("headers_env", headers=True):
        if header.lower() == "authorization" and any(h == "Authorization" for h, _ in headers):
            t.fail("sets Authorization, which bearer_env or user_env already set", "headers_env")
        value = env.get(name, "")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name) or not value:
            t.fail(
                f"maps {header} to {name!r}, which is not a set environment variable", "headers_env"
            )
        headers.append((header, value))
        secrets.append(value)
    t.finish(AUTH_KEYS)
    return tuple(headers), tuple(secrets)


def _slos(top: Table) -> tuple[PrometheusSLO, ...]:
    raw = top.raw("slo", None)
    if not isinstance(raw, list) or not raw:
        top.fail(
            f"needs at least one entry: write each SLO under [[{top.prefix}prometheus.slo]] with "
            "name, query and max and/or min",
            "slo",
        )
    slos: list[PrometheusSLO] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw, 1):
        where = f"[[{top.prefix}prometheus.slo]] #{index}"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            where += f" ({item['name']})"
        t = Table(item, top.file, where)
        name = t.string("name").strip()
        if not _NAME.match(name):
            t.fail(f"is {name!r}; use up to 100 characters without ':' or line breaks", "name")
        if name in seen:
            t.fail(f"{name!r} is also the name of {seen[name]}; give each SLO its own name", "name")
        seen[name] = where
        query = t.string("query").strip()
        if not query:
            t.fail("is empty; write a PromQL query that returns one number", "query")
        high, low = _bound(t, "max"), _bound(t, "min")
        if high is None and low is None:
            t.fail("is missing: give max and/or min (both inclusive)", "max")
        if high is not None and low is not None and low > high:
            t.fail(f"{low:g} is above max {high:g}, so nothing could pass", "min")
        t.finish(SLO_KEYS)
        slos.append(PrometheusSLO(name, query, high, low, where))
    return tuple(slos)


def _bound(t: Table, key: str) -> float | None:
    value = t.raw(key, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        t.fail(f"must be a number in the query's units (0.05 for 50 ms), not {value!r}", key)
    if not math.isfinite(value):
        t.fail(f"is {value}; use a finite number", key)
    return float(value)
