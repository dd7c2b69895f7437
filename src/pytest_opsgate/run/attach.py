"""Per-test evidence at report time: HTTP exchanges and attachments, once, redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..fixtures import exchanges_key
from ..report.attachments import Attachment, item_evidence

if TYPE_CHECKING:
    from pathlib import Path

    from ..http.redact import Redactor
    from .state import GateState

_failed_key = pytest.StashKey[bool]()
_exchanges_written_key = pytest.StashKey[bool]()
_seen_key = pytest.StashKey[set[int]]()


def attach_evidence(
    item: pytest.Item, report: pytest.TestReport, state: GateState, root: Path
) -> None:
    """Write a failed test's exchanges and attachments under ``root`` and show them in HTML."""
    from ..report.attachments import html_extra, item_artifacts_dir, write_json, write_text

    evidence = item_evidence(item)
    failed = report.failed or bool(item.stash.get(_failed_key, False))
    if report.failed:
        item.stash[_failed_key] = True
    exchanges = item.stash.get(exchanges_key, [])
    folder = item_artifacts_dir(root, item.nodeid)
    pending: list[Attachment] = []
    if report.when in ("teardown", "call"):
        pending.extend(a for a in evidence.always if not _seen(item, a))
        if failed:
            pending.extend(a for a in evidence.attachments if not _seen(item, a))
    if failed and exchanges and not item.stash.get(_exchanges_written_key, False):
        item.stash[_exchanges_written_key] = True
        text = "\n\n".join(exchange.format() for exchange in exchanges)
        write_json(folder, "exchanges.json", [exchange.to_dict() for exchange in exchanges])
        path = write_text(folder, "exchanges.txt", text)
        state.add_artifact(path)
        state.add_artifact(folder / "exchanges.json")
        pending.append(Attachment(name="HTTP exchanges", kind="text", path=path, content=text))
    extras = list(getattr(report, "extras", []))
    for attachment in pending:
        _mark_seen(item, attachment)
        if attachment.path is not None:
            state.add_artifact(attachment.path)
        extra = html_extra(attachment)
        if extra is not None:
            extras.append(extra)
    report.extras = extras  # type: ignore[attr-defined]


def _seen(item: pytest.Item, attachment: Attachment) -> bool:
    return id(attachment) in item.stash.get(_seen_key, set())


def _mark_seen(item: pytest.Item, attachment: Attachment) -> None:
    item.stash.setdefault(_seen_key, set()).add(id(attachment))


def redact_report(report: pytest.TestReport, redactor: Redactor | None) -> None:
    """Scrub registered secrets from tracebacks and captured output before anything prints."""
    if redactor is None or not redactor.secrets_registered():
        return
    if report.longrepr is not None:
        text = str(report.longrepr)
        scrubbed = redactor.redact_text(text)
        if scrubbed != text:
            report.longrepr = scrubbed
    report.sections = [(title, redactor.redact_text(body)) for title, body in report.sections]


def one_line(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The first useful line of why a test or collector did not pass."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:300]
    text = str(report.longrepr or "").strip()
    # pytest marks the error line of a traceback with a leading "E   ".
    return text.splitlines()[-1].removeprefix("E ").strip()[:300] if text else ""
