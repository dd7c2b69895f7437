"""Public fixtures: ``gate_client``, ``gate_slo``, ``gate_target``."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from . import settings as cfg
from .run.state import get_settings, get_state

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from .http.client import Exchange, GateClient
    from .measure.sampling import GateSLO
    from .slo.evaluate import SLOResult

exchanges_key = pytest.StashKey[list["Exchange"]]()


def item_exchanges(item: pytest.Item) -> list[Exchange]:
    """The HTTP exchanges a test recorded; they become evidence when it fails."""
    return item.stash.setdefault(exchanges_key, [])


@pytest.fixture
def gate_client(request: pytest.FixtureRequest) -> Iterator[GateClient]:
    """An httpx client bound to the base URL that records every exchange as evidence."""
    config = request.config
    settings = get_settings(config)
    base_url = settings.base_url or cfg.find_base_url(config)
    if not base_url:
        raise pytest.UsageError("gate_client needs a target; pass --base-url URL")
    from .run.selection import traffic_label

    # Traffic is labelled by the test's own gate, whatever was selected, so baselines compare.
    store = get_state(config).store(traffic_label(request.node))
    exchanges = item_exchanges(request.node)

    from .measure.success import request_ok

    def on_exchange(exchange: Exchange) -> None:
        exchanges.append(exchange)
        # A sample's requests by its expected status; others fail on transport errors and
        # 5xx only, since a 4xx is often what a check asks for (401 on a wrong key).
        store.record(
            exchange.name, exchange.elapsed_ms, ok=request_ok(exchange.error, exchange.status)
        )

    with _client(config, base_url, on_exchange) as client:
        yield client


def _client(
    config: pytest.Config, base_url: str, on_exchange: Callable[[Exchange], None]
) -> GateClient:
    """A bounded, recording, redacting client on ``base_url`` with the run's settings."""
    from .http.client import GateClient, Timeouts

    settings = get_settings(config)
    total = settings.request_timeout_s
    return GateClient(
        base_url,
        timeouts=Timeouts(connect=min(5.0, total), read=min(10.0, total), total=total),
        max_body_bytes=settings.max_body_bytes,
        verify=settings.verify,
        redactor=get_state(config).redactor,
        on_exchange=on_exchange,
    )


@pytest.fixture
def gate_slo(gate_client: GateClient, request: pytest.FixtureRequest) -> Iterator[GateSLO]:
    """Latency sampling and SLO assertions (p50/p95/p99, error rate) through gate_client."""
    from .measure.sampling import GateSLO
    from .run.selection import traffic_label

    config = request.config
    state, settings = get_state(config), get_settings(config)
    nodeid, gate = request.node.nodeid, traffic_label(request.node)

    def keep(results: list[SLOResult]) -> None:
        # In-test SLOs are rows of the run's table like any other, named by their test.
        state.slo_results.extend(replace(r, source=gate, test=nodeid) for r in results)

    if settings.baseline_url is None:
        yield GateSLO(gate_client, settings.min_samples, on_results=keep)
        return
    baseline = state.baseline_store(gate)

    from .measure.success import request_ok

    def on_baseline(exchange: Exchange) -> None:
        ok = request_ok(exchange.error, exchange.status)
        baseline.record(exchange.name, exchange.elapsed_ms, ok=ok)

    with _client(config, settings.baseline_url, on_baseline) as mirror:
        yield GateSLO(gate_client, settings.min_samples, on_results=keep, mirror=mirror)


@pytest.fixture(scope="session")
def gate_target(pytestconfig: pytest.Config) -> dict[str, Any]:
    """What readiness learned of the target: url, version, seconds until ready."""
    state = get_state(pytestconfig)
    settings = get_settings(pytestconfig)
    info: dict[str, Any] = {"url": settings.display_url, "version": None, "ready_after_s": None}
    if state.readiness is not None:
        info.update(version=state.readiness.version, ready_after_s=state.readiness.waited_s)
    workerinput = getattr(pytestconfig, "workerinput", None)
    if workerinput and workerinput.get("opsgate_target"):
        info.update(workerinput["opsgate_target"])
    return info
