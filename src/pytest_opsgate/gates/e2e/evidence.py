"""Evidence of a failed browser test: console, failed requests, final URL, and the
screenshot, trace and video pytest-playwright kept, moved out of reach of ``--output`` cleanup.

pytest-playwright 0.10 attaches its own artifacts to the pytest-html report (screenshot,
"Trace" link, video) and lists them in ``report.user_properties`` as ``playwright_<kind>``.
Each is scrubbed (traces), copied under the gate's artifacts folder, and its existing report
extra is pointed at the copy, so it shows once and survives the next xdist worker's deletion
of ``--output``.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...report.attachments import Attachment, write_text
from .session import PLAYWRIGHT_PROPERTY_PREFIX
from .trace_scrub import is_storage_state, scrub_trace

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pytest

    from ...http.redact import Redactor
    from .page import ContextWatcher


def failure_attachments(watchers: Sequence[ContextWatcher], folder: Path) -> list[Attachment]:
    """Console errors, failed requests and the final URL of a failed test, written to ``folder``."""
    attachments: list[Attachment] = []
    console = [line for watcher in watchers for line in watcher.console_errors]
    dropped = sum(watcher.dropped for watcher in watchers)
    if console:
        text = "\n".join(console)
        if dropped:
            text += f"\n({dropped} more console errors or failed requests not kept)"
        path = write_text(folder, "console-errors.txt", text + "\n")
        attachments.append(Attachment("Console errors", "text", path=path, content=text))
    failed = [request.line() for watcher in watchers for request in watcher.failed_requests]
    if failed:
        text = "\n".join(failed)
        path = write_text(folder, "failed-requests.txt", text + "\n")
        attachments.append(Attachment("Failed requests", "text", path=path, content=text))
    final_url = next((url for url in (w.final_url() for w in watchers) if url), None)
    if final_url:
        path = write_text(folder, "final-url.txt", final_url + "\n")
        attachments.append(Attachment("Final URL", "url", path=path, content=final_url))
    return attachments


def failure_screenshots(
    watchers: Sequence[ContextWatcher], folder: Path, *, full_page: bool, html_dir: Path | None
) -> list[Attachment]:
    """A PNG of every open page of a failed test, named as pytest-playwright names them.

    Linked from the report when it has a folder of its own (``html_dir``), embedded otherwise.
    """
    from playwright.sync_api import Error

    pages = [page for watcher in watchers for page in watcher.pages if not page.is_closed()]
    attachments: list[Attachment] = []
    for page in pages:
        path = _free_name(folder, f"test-failed-{len(attachments) + 1}.png")
        folder.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(path), type="png", timeout=5000, full_page=full_page)
        except Error:  # a crashed or closing page; the other evidence still tells the story
            continue
        link = report_link(path, html_dir) if html_dir is not None else None
        attachments.append(Attachment("Screenshot", "image", path=path, content=link))
    return attachments


def html_report_dir(config: pytest.Config) -> Path | None:
    """The folder of the ``--html`` report, resolved the way pytest-html resolves it."""
    html_path = getattr(config.option, "htmlpath", None)
    if not html_path:
        return None
    return Path(
        config.invocation_params.dir, Path(os.path.expandvars(html_path)).expanduser()
    ).parent


def report_link(path: Path, html_dir: Path) -> str:
    """A link to ``path`` from the report, as pytest-playwright writes it."""
    try:
        relative = os.path.relpath(path, html_dir)
    except ValueError:  # another drive on Windows
        return path.as_uri()
    return urllib.parse.quote(Path(relative).as_posix())


def playwright_artifacts(report: pytest.TestReport, start_dir: Path) -> list[tuple[str, Path]]:
    """``(kind, absolute path)`` of the artifacts pytest-playwright kept for this report."""
    found: list[tuple[str, Path]] = []
    for name, value in report.user_properties:
        if isinstance(name, str) and name.startswith(PLAYWRIGHT_PROPERTY_PREFIX):
            path = Path(str(value))
            found.append((name[len(PLAYWRIGHT_PROPERTY_PREFIX) :], start_dir / path))
    return found


def _free_name(folder: Path, name: str) -> Path:
    candidate = folder / name
    stem, suffix = os.path.splitext(name)
    index = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{index}{suffix}"
        index += 1
    return candidate


@dataclass
class AdoptedArtifacts:
    """Copies made for one test, and what scrubbing found."""

    copies: list[Path] = field(default_factory=list)
    removed_storage_states: list[Path] = field(default_factory=list)
    passwords_scrubbed: int = 0


def adopt_playwright_artifacts(
    report: pytest.TestReport,
    *,
    start_dir: Path,
    folder: Path,
    redactor: Redactor,
    html_dir: Path | None,
) -> AdoptedArtifacts:
    """Scrub, copy to ``folder`` and relink every artifact pytest-playwright attached."""
    adopted = AdoptedArtifacts()
    extras: list[dict[str, Any]] = list(getattr(report, "extras", []) or [])
    output_folders: set[Path] = set()
    for kind, source in playwright_artifacts(report, start_dir):
        if not source.is_file():
            continue
        output_folders.add(source.parent)
        if kind == "trace":
            adopted.passwords_scrubbed += scrub_trace(source, redactor).passwords
        folder.mkdir(parents=True, exist_ok=True)
        copy = _free_name(folder, source.name)
        shutil.copy2(source, copy)
        adopted.copies.append(copy)
        if html_dir is not None:
            old, new = report_link(source, html_dir), report_link(copy, html_dir)
            for extra in extras:
                if isinstance(extra, dict) and extra.get("content") == old:
                    extra["content"] = new
    if html_dir is not None:
        report.extras = extras  # type: ignore[attr-defined]
    for output_folder in output_folders:
        for candidate in output_folder.glob("*.json"):
            if is_storage_state(candidate):
                candidate.unlink()
                adopted.removed_storage_states.append(candidate)
    return adopted
