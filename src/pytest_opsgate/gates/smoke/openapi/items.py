"""OpenAPI operations as smoke items: ``openapi::GET /api/items/{id} (getItem)``.

The document is read at collection (readiness has passed by then), so each operation becomes
an item of its own. A document that cannot be read becomes one ERROR item, never zero items.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from .... import settings as cfg
from ....errors import GateError
from ....run.state import get_settings, get_state
from .cases import PhaseBudget, outcome_message, run_operation, skip_reason, worker_share
from .document import DocumentError, load_document, read_text, request_base

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ....http.client import Exchange, GateClient
    from .config import OpenAPIConfig
    from .document import Document, Operation

SUITE_NAME = "openapi"


@dataclass
class Phase:
    """The loaded document and the budget every operation of this run draws from."""

    config: OpenAPIConfig
    budget: PhaseBudget
    document: Document | None = None
    problem: str | None = None  # the document could not be loaded
    exchanges: list[Exchange] = field(default_factory=list)  # fetching the document


phase_key = pytest.StashKey[Phase]()


class OpenAPISuite(pytest.Collector):
    """The parent of the OpenAPI items; it collects nothing by itself."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class OpenAPIItem(pytest.Function):
    """One operation of the OpenAPI document, checked as a smoke test."""

    operation: Operation | None = None

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


def load_phase(config: pytest.Config, openapi: OpenAPIConfig) -> Phase:
    """Read and parse the document now; a failure is kept for an ERROR item, not raised."""
    from ....http.client import GateClient, Timeouts
    from ..context import apply_credential

    settings = get_settings(config)
    phase = Phase(openapi, phase_budget(openapi, getattr(config, "workerinput", None)))
    base_url = settings.base_url or cfg.find_base_url(config) or ""
    if openapi.file is None and not base_url:
        phase.problem = f"{openapi.where}: the OpenAPI checks need a target; pass --base-url URL"
        return phase
    total = settings.request_timeout_s
    redactor = get_state(config).redactor
    headers: Any = {}
    credential = openapi.credential
    secret = os.environ.get(credential.env) if credential is not None else None
    if credential is not None and secret and not credential.query:
        import httpx

        headers = httpx.Headers()
        apply_credential(credential, secret, headers, [])
    client = GateClient(
        timeouts=Timeouts(connect=min(5.0, total), read=min(10.0, total), total=total),
        max_body_bytes=settings.max_body_bytes,
        verify=settings.verify,
        redactor=redactor,
    )
    try:
        with client:
            text = read_text(openapi, client, base_url, headers)
        source = redactor.redact_text(openapi.source)
        phase.document = load_document(openapi, text, source)
    except DocumentError as exc:
        phase.problem = redactor.redact_text(str(exc))
    phase.exchanges = list(client.exchanges)
    return phase


def phase_budget(openapi: OpenAPIConfig, workerinput: dict[str, Any] | None) -> PhaseBudget:
    """The phase's budget in this process: on an xdist worker, its share of the request cap.

    Each worker collects, fetches the document and runs its operations on its own, so
    without the split the run could send workers x max_requests.
    """
    position = xdist_position(workerinput)
    if position is None:
        return PhaseBudget(openapi.time_limit_s, openapi.max_requests)
    index, workers = position
    share = worker_share(openapi.max_requests, index, workers)
    return PhaseBudget(openapi.time_limit_s, share, workers=workers, run_cap=openapi.max_requests)


def xdist_position(workerinput: dict[str, Any] | None) -> tuple[int, int] | None:
    """(index, count) of this xdist worker ("gw2" of 4: (2, 4)); None outside xdist."""
    if not workerinput:
        return None
    workers = max(int(workerinput.get("workercount") or 1), 1)
    digits = str(workerinput.get("workerid", "")).removeprefix("gw")
    if not digits.isdigit() or int(digits) >= workers:
        return workers - 1, workers  # an id the split cannot place gets the smallest share
    return int(digits), workers


def make_openapi_items(
    session: pytest.Session, openapi: OpenAPIConfig, source: Path | None
) -> list[OpenAPIItem]:
    """One item per selected operation, or one ERROR item when the document is unusable."""
    phase = load_phase(session.config, openapi)
    session.config.stash[phase_key] = phase
    suite = OpenAPISuite.from_parent(
        session, name=SUITE_NAME, nodeid=SUITE_NAME, path=source or session.config.rootpath
    )
    items: list[OpenAPIItem] = []
    if phase.document is None:
        item = OpenAPIItem.from_parent(suite, name="document", callobj=_document_check(phase))
        item.add_marker(pytest.mark.gate("smoke"))
        return [item]
    for operation in phase.document.operations:
        item = OpenAPIItem.from_parent(
            suite, name=operation.label, callobj=_operation_check(phase, operation)
        )
        item.operation = operation
        item.add_marker(pytest.mark.gate("smoke"))
        items.append(item)
    return items


def _document_check(phase: Phase) -> Callable[..., None]:
    def openapi_document(request: pytest.FixtureRequest) -> None:
        __tracebackhide__ = True
        from ....fixtures import item_exchanges

        item_exchanges(request.node).extend(phase.exchanges)
        raise GateError(phase.problem or "the OpenAPI document could not be loaded")

    return openapi_document


def _operation_check(phase: Phase, operation: Operation) -> Callable[..., None]:
    def openapi_operation(gate_client: GateClient, request: pytest.FixtureRequest) -> None:
        __tracebackhide__ = True
        run_item(phase, operation, gate_client, request.node)

    openapi_operation.__doc__ = f"OpenAPI contract of {operation.label}"
    return openapi_operation


def run_item(phase: Phase, operation: Operation, client: GateClient, item: pytest.Item) -> None:
    """Check one operation: FAIL when the API breaks its document, ERROR when it cannot tell."""
    __tracebackhide__ = True
    openapi, document = phase.config, phase.document
    assert document is not None
    redactor = client.redactor
    reason = skip_reason(operation, openapi)
    if reason is not None:
        pytest.skip(reason)
    if operation.problem is not None:
        raise GateError(f"{operation.label}: {operation.problem}")
    secret = None
    if openapi.credential is not None:
        env = openapi.credential.env
        secret = os.environ.get(env, "")
        if not secret:
            state = "is empty" if env in os.environ else "is not set"
            raise GateError(
                f"{operation.label}: environment variable {env} {state}; export it "
                f"(auth of {openapi.where})"
            )
        redactor.register(secret)
    why = phase.budget.exhausted()
    if why is not None:
        raise GateError(f"{operation.label}: not checked: {why}")
    settings = get_settings(item.config)
    base = request_base(settings.base_url or str(client.base_url), document)
    result = run_operation(operation, openapi, client, base, phase.budget, secret)
    message = redactor.redact_text(outcome_message(operation, result))
    if result.problems:
        pytest.fail(message, pytrace=False)
    if result.errors or result.stopped:
        raise GateError(message)
    if result.sent == 0:
        raise GateError(f"{operation.label}: no request was sent, so nothing was checked")
    item.add_report_section(
        "call", "opsgate", f"{operation.label}: {result.sent} responses conform to the document"
    )
