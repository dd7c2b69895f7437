"""Smoke checks as pytest items: ``smoke::GET /api/items``, run through ``gate_client``."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from ...errors import GateError
from ...run.state import get_settings, get_state
from . import SmokeFindingWarning
from .context import CheckFailed, CheckSkipped, CheckUnmeasured, Context
from .plan import readiness_report

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ...http.client import GateClient
    from .plan import Planned

SUITE_NAME = "smoke"
source_key = pytest.StashKey[str]()  # the config file as shown in warnings


class SmokeSuite(pytest.Collector):
    """The parent of every declarative smoke item; it collects nothing by itself."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class SmokeItem(pytest.Function):
    """One declarative smoke check or profile run as a test."""

    planned: Planned

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


def make_items(
    session: pytest.Session, planned: list[Planned], source: Path | None
) -> list[SmokeItem]:
    """One item per planned check, under ``smoke::``, marked for the smoke gate."""
    suite = SmokeSuite.from_parent(
        session, name=SUITE_NAME, nodeid=SUITE_NAME, path=source or session.config.rootpath
    )
    items = []
    for entry in planned:
        item = SmokeItem.from_parent(suite, name=entry.label, callobj=_test_function(entry))
        item.planned = entry
        item.add_marker(pytest.mark.gate("smoke"))
        items.append(item)
    return items


def _test_function(entry: Planned) -> Callable[..., None]:
    def smoke_check(
        gate_client: GateClient, gate_target: dict[str, Any], request: pytest.FixtureRequest
    ) -> None:
        run_planned(entry, gate_client, gate_target, request.node)

    smoke_check.__doc__ = entry.label
    return smoke_check


def run_planned(
    entry: Planned, client: GateClient, target: dict[str, Any], item: pytest.Item
) -> None:
    """Run one planned check and turn its outcome into pass, fail, skip or warnings."""
    __tracebackhide__ = True
    settings = get_settings(item.config)
    redactor = client.redactor
    state = get_state(item.config)
    if state.readiness is not None:
        target = {**target, "path": state.readiness.path}
    if entry.run is None:
        outcome = _readiness(target, polled=settings.ready)
        if isinstance(outcome, CheckSkipped):
            pytest.skip(str(outcome))
        if isinstance(outcome, CheckFailed):
            pytest.fail(str(outcome), pytrace=False)
        item.add_report_section("call", "opsgate", outcome)
        return
    health_paths = [str(target["path"])] if target.get("path") else []
    health_paths += settings.ready_paths
    ctx = Context(
        client,
        base_url=settings.base_url or "",
        redactor=redactor,
        budget_s=entry.budget_s,
        min_samples=settings.min_samples,
        health_paths=health_paths,
    )
    findings: list[str] = []
    stopped: CheckSkipped | CheckFailed | None = None
    try:
        findings = entry.run(ctx)
    except (CheckSkipped, CheckFailed) as exc:
        stopped = exc  # raised below, outside this handler, so no chained traceback shows
    finally:
        state.slo_results.extend(replace(r, test=item.nodeid) for r in ctx.slo_results)
        if ctx.notes:
            item.add_report_section("call", "opsgate", "\n".join(ctx.notes))
    if isinstance(stopped, CheckSkipped):
        pytest.skip(redactor.redact_text(str(stopped)))
    if isinstance(stopped, CheckUnmeasured):
        # Nothing was sent: the deploy is not known to be broken, the gate could not tell.
        raise GateError(redactor.redact_text(str(stopped))) from None
    if stopped is not None:
        pytest.fail(redactor.redact_text(str(stopped)), pytrace=False)
    findings = [redactor.redact_text(finding) for finding in findings]
    if not findings:
        return
    if entry.mode == "fail":
        pytest.fail(findings_message(entry.label, findings), pytrace=False)
    source = item.config.stash.get(source_key, None)
    for finding in findings:
        warnings.warn_explicit(
            SmokeFindingWarning(f"{entry.label}: {finding}"),
            SmokeFindingWarning,
            filename=source or "(opsgate built-in smoke checks)",
            lineno=0,
        )


def findings_message(label: str, findings: list[str]) -> str:
    """The first finding on the first line (the summary shows it), the others below."""
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    rest = "".join(f"\n  - {finding}" for finding in findings[1:])
    return f"{label}: {findings[0]}{more}{rest}"


def _readiness(target: dict[str, Any], *, polled: bool) -> str | CheckSkipped | CheckFailed:
    try:
        return readiness_report(target, polled=polled)
    except (CheckSkipped, CheckFailed) as exc:
        return exc
