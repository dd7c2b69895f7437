"""Per-test evidence: files under the artifacts folder and extras for the pytest-html report."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import pytest

if TYPE_CHECKING:
    from pathlib import Path

ExtraKind = Literal["text", "json", "html", "image", "url", "video"]

_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slugify_nodeid(nodeid: str, limit: int = 120) -> str:
    """A file-system-safe folder name for a test, stable across runs and xdist workers."""
    slug = _SLUG_UNSAFE.sub("-", nodeid).strip("-.")
    if len(slug) > limit:
        import hashlib

        digest = hashlib.sha1(nodeid.encode()).hexdigest()[:10]
        slug = f"{slug[: limit - 11]}-{digest}"
    return slug or "test"


@dataclass
class Attachment:
    """One piece of evidence for a test, written as a file and shown in the HTML report."""

    name: str
    kind: ExtraKind
    path: Path | None = None
    content: str | None = None  # text/json/html content, or base64 for images
    mime: str | None = None


@dataclass
class ItemEvidence:
    """Evidence collected while a test runs; written only when the test does not pass."""

    attachments: list[Attachment] = field(default_factory=list)
    always: list[Attachment] = field(default_factory=list)  # attached whatever the outcome


evidence_key = pytest.StashKey[ItemEvidence]()


def item_evidence(item: pytest.Item) -> ItemEvidence:
    """The evidence record of a test, created on first use."""
    ev = item.stash.get(evidence_key, None)
    if ev is None:
        ev = ItemEvidence()
        item.stash[evidence_key] = ev
    return ev


def item_artifacts_dir(root: Path, nodeid: str) -> Path:
    """Where a test's files go: ``<artifacts>/<slug(nodeid)>/``."""
    return root / slugify_nodeid(nodeid)


def write_text(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` (already redacted by the caller) to ``directory/name``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def write_json(directory: Path, name: str, data: object) -> Path:
    """Write JSON (already redacted by the caller) to ``directory/name``."""
    return write_text(directory, name, json.dumps(data, indent=2, sort_keys=False, default=str))


def html_extra(att: Attachment) -> dict[str, Any] | None:
    """The pytest-html extra for an attachment, or None when there is nothing to show."""
    from pytest_html import extras

    extra: Any = None
    if att.kind == "image":
        content = att.content
        if content is None and att.path is not None:
            content = base64.b64encode(att.path.read_bytes()).decode()
        if content is not None:
            extra = extras.png(content, name=att.name)
    elif att.content is None:
        extra = None
    elif att.kind == "url":
        extra = extras.url(att.content, name=att.name)
    elif att.kind == "html":
        extra = extras.html(att.content)
    elif att.kind == "json":
        extra = extras.json(json.loads(att.content), name=att.name)
    else:
        extra = extras.text(att.content, name=att.name)
    return cast("dict[str, Any] | None", extra)
