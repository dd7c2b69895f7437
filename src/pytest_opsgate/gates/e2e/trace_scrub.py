"""Scrub secrets out of a Playwright ``trace.zip`` in place (pure: no Playwright import).

A trace holds every request header, cookie, form body and typed value, the DOM of each
action with input values, response bodies, and the test's own source. Two kinds of
secret are removed from all of it:

- Registered secrets (``--gate-secret-env``, the smoke config, values the redactor derived
  from sensitive headers): every occurrence in every text member, in each encoded form the
  redactor knows (raw, URL-encoded, base64, JSON-escaped).
- Typed passwords, without registration: any value that a DOM snapshot shows inside an
  ``<input type=password>``, and the text of any ``fill``/``type`` action whose target was one.
  Such values are registered with the redactor, so they are also scrubbed from whatever is
  written after the trace. If the trace has no DOM snapshots the target of a typing action
  cannot be known, and every typed value is treated as a password (fail closed).

Structure-aware passes also hide values by name: sensitive headers and query parameters,
every cookie value, sensitive form fields and JSON keys in request/response bodies.
The trace keeps its layout, so the trace viewer still opens it.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...http.redact import REDACTED

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ...http.redact import Redactor

# Actions whose parameter is text typed into the page, and that parameter's name.
TYPING_ACTIONS = {
    "fill": "value",
    "type": "text",
    "pressSequentially": "text",
    "keyboardType": "text",
    "keyboardInsertText": "text",
    "insertText": "text",
}
VALUE_ATTRIBUTES = ("__playwright_value_", "value")
TARGET_ATTRIBUTE = "__playwright_target__"
# Never secrets, and large: skipping them keeps the rewrite fast.
BINARY_SUFFIXES = (".jpeg", ".jpg", ".png", ".webp", ".gif", ".webm", ".mp4", ".woff", ".woff2")
BODY_TYPES = ("json", "x-www-form-urlencoded", "text/plain")


@dataclass
class ScrubResult:
    """What a scrub changed, for the run's notes (never the secrets themselves)."""

    members: int = 0
    changed: list[str] = field(default_factory=list)
    passwords: int = 0


@dataclass
class _Findings:
    passwords: set[str] = field(default_factory=set)
    typed: dict[str, str] = field(default_factory=dict)  # callId -> typed text
    password_calls: set[str] = field(default_factory=set)
    has_snapshots: bool = False
    body_types: dict[str, str] = field(default_factory=dict)  # member name -> mime type


def _events(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            yield event


def _is_password_input(attrs: dict[str, Any]) -> bool:
    return str(attrs.get("type", "")).lower() == "password"


def _attribute_dicts(node: Any) -> Iterator[dict[str, Any]]:
    # Snapshot DOM: [tag, {attrs}, ...children], text nodes, and [[i, j]] back-references.
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
        elif isinstance(current, list):
            stack.extend(current)


def _discover(text: str, found: _Findings) -> None:
    for event in _events(text):
        kind = event.get("type")
        if kind == "before":
            method = str(event.get("method", ""))
            param = TYPING_ACTIONS.get(method)
            params = event.get("params")
            if param and isinstance(params, dict) and isinstance(params.get(param), str):
                found.typed[str(event.get("callId"))] = params[param]
        elif kind == "frame-snapshot":
            found.has_snapshots = True
            snapshot = event.get("snapshot") or {}
            for attrs in _attribute_dicts(snapshot.get("html")):
                if not _is_password_input(attrs):
                    continue
                for attribute in VALUE_ATTRIBUTES:
                    value = attrs.get(attribute)
                    if isinstance(value, str) and value:
                        found.passwords.add(value)
                if TARGET_ATTRIBUTE in attrs:
                    found.password_calls.add(str(snapshot.get("callId")))
        elif kind == "resource-snapshot":
            for message in _messages(event.get("snapshot") or {}):
                body = message.get("postData") or message.get("content") or {}
                mime = str(body.get("mimeType", "")).lower()
                member = body.get("_file") or (
                    f"resources/{body['_sha1']}" if body.get("_sha1") else None
                )
                if member and any(kind_ in mime for kind_ in BODY_TYPES):
                    found.body_types[str(member)] = mime


def _messages(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in (snapshot.get("request"), snapshot.get("response")) if isinstance(m, dict)]


def _redact_pairs(pairs: Any, redactor: Redactor, *, everything: bool = False) -> None:
    if not isinstance(pairs, list):
        return
    named = [p for p in pairs if isinstance(p, dict) and "name" in p and "value" in p]
    for pair in named:
        name, value = str(pair["name"]), str(pair["value"])
        if everything:
            # As a Cookie header, so credential-like values are learnt for the text pass.
            redactor.redact_headers([("cookie", f"{name}={value}")])
            pair["value"] = REDACTED
        elif redactor.is_sensitive_name(name):
            redactor.redact_headers([(name, value)])
            pair["value"] = REDACTED


def _redact_cookie_lists(obj: dict[str, Any], redactor: Redactor) -> None:
    for key, value in obj.items():
        if key == "cookies":
            _redact_pairs(value, redactor, everything=True)
        elif isinstance(value, dict):
            _redact_cookie_lists(value, redactor)


def _redact_network(snapshot: dict[str, Any], redactor: Redactor) -> None:
    request = snapshot.get("request")
    if isinstance(request, dict) and isinstance(request.get("url"), str):
        request["url"] = redactor.redact_url(request["url"])
    for message in _messages(snapshot):
        _redact_pairs(message.get("headers"), redactor)
        _redact_pairs(message.get("cookies"), redactor, everything=True)
        _redact_pairs(message.get("queryString"), redactor)
        post = message.get("postData")
        if isinstance(post, dict):
            _redact_pairs(post.get("params"), redactor)
            if isinstance(post.get("text"), str):
                post["text"] = redactor.redact_body(post["text"], str(post.get("mimeType", "")))
        if isinstance(message.get("redirectURL"), str) and message["redirectURL"]:
            message["redirectURL"] = redactor.redact_url(message["redirectURL"])


def _redact_event(event: dict[str, Any], found: _Findings, redactor: Redactor) -> dict[str, Any]:
    kind = event.get("type")
    if kind == "resource-snapshot" and isinstance(event.get("snapshot"), dict):
        _redact_network(event["snapshot"], redactor)
    elif kind == "before" and isinstance(event.get("params"), dict):
        params = event["params"]
        param = TYPING_ACTIONS.get(str(event.get("method", "")))
        if param and isinstance(params.get(param), str) and params[param] in found.passwords:
            params[param] = REDACTED
        _redact_pairs(params.get("headers"), redactor)
        if isinstance(params.get("url"), str):
            params["url"] = redactor.redact_url(params["url"])
        _redact_cookie_lists(params, redactor)
        event["params"] = redactor.redact_json(params)
    elif kind == "after" and isinstance(event.get("result"), dict):
        # storageState() and cookies() return every cookie of the context.
        _redact_cookie_lists(event["result"], redactor)
        event["result"] = redactor.redact_json(event["result"])
    elif kind == "context-options" and isinstance(event.get("options"), dict):
        _redact_cookie_lists(event["options"], redactor)
        event["options"] = redactor.redact_json(event["options"])
    elif kind == "frame-snapshot" and isinstance(event.get("snapshot"), dict):
        for attrs in _attribute_dicts(event["snapshot"].get("html")):
            if _is_password_input(attrs):
                for attribute in VALUE_ATTRIBUTES:
                    if attrs.get(attribute):
                        attrs[attribute] = REDACTED
    return event


def _redact_line(line: str, found: _Findings, redactor: Redactor) -> str:
    try:
        event = json.loads(line)
    except ValueError:
        return line
    if not isinstance(event, dict):
        return line
    redacted = _redact_event(json.loads(line), found, redactor)
    if redacted == event:
        return line  # untouched lines keep their bytes
    return json.dumps(redacted, ensure_ascii=False, separators=(",", ":"))


def _is_event_log(name: str) -> bool:
    return name.endswith((".trace", ".network"))


def _decode(data: bytes) -> str:
    # surrogateescape: valid UTF-8 around a secret decodes normally, other bytes round-trip.
    return data.decode("utf-8", errors="surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def scrub_trace(path: Path, redactor: Redactor) -> ScrubResult:
    """Rewrite ``path`` (a Playwright trace zip) without secrets; typed passwords get registered."""
    result = ScrubResult()
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        contents = {info.filename: archive.read(info) for info in infos}
    result.members = len(infos)

    found = _Findings()
    for name, data in contents.items():
        if _is_event_log(name):
            _discover(_decode(data), found)
    typed_passwords = {
        text
        for call, text in found.typed.items()
        if call in found.password_calls or not found.has_snapshots
    }
    found.passwords |= {value for value in typed_passwords if value}
    result.passwords = len(found.passwords)
    for password in found.passwords:
        redactor.register(password)

    # First the structured pass (it teaches the redactor header and cookie values), then
    # the text pass over every member, so a value learnt late is still found early on.
    staged: dict[str, str] = {}
    for name, data in contents.items():
        if name.lower().endswith(BINARY_SUFFIXES):
            continue
        text = _decode(data)
        if _is_event_log(name):
            lines = [_redact_line(line, found, redactor) for line in text.splitlines()]
            text = "\n".join(lines) + ("\n" if text.endswith("\n") else "")
        elif name in found.body_types:
            text = redactor.redact_body(text, found.body_types[name])
        staged[name] = text
    for name, text in staged.items():
        new = _encode(redactor.redact_text(text))
        if new != contents[name]:
            contents[name] = new
            result.changed.append(name)

    if result.changed:
        _rewrite(path, infos, contents)
    return result


def _rewrite(path: Path, infos: list[zipfile.ZipInfo], contents: dict[str, bytes]) -> None:
    fd, temp = tempfile.mkstemp(prefix=".scrub-", suffix=".zip", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for info in infos:
                clone = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                clone.compress_type = zipfile.ZIP_DEFLATED
                clone.external_attr = info.external_attr
                out.writestr(clone, contents[info.filename])
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def is_storage_state(path: Path) -> bool:
    """Whether a file is a Playwright storage state (cookies and local storage of a login)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(4 * 1024 * 1024))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "cookies" in data and "origins" in data
