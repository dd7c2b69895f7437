"""What a request and its answer looked like: an `Exchange`, redacted when it is captured.

`capture` turns one hop (request, response or none, the body read so far, an error) into an
`Exchange` whose headers, URL and body excerpts went through the run's `Redactor` before the
object exists, so nothing downstream ever holds a secret.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from .redact import Redactor
    from .transport import Body

__all__ = ["EXCERPT_CHARS", "NAME_EXTENSION", "Exchange", "capture", "request_label"]

NAME_EXTENSION = "opsgate_name"
EXCERPT_CHARS = 2048

_REDACT_LOOKAHEAD = 4096  # secrets straddling the excerpt end are still matched whole


@dataclass
class Exchange:
    """One recorded request/response, redacted at capture time."""

    method: str
    url: str
    path: str
    name: str  # "GET /api/items" unless overridden through NAME_EXTENSION
    status: int | None = None
    elapsed_ms: float | None = None  # send start to body fully read, monotonic clock
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    request_body: str = ""  # excerpt of at most EXCERPT_CHARS characters
    response_body: str = ""
    error: str | None = None
    truncated: bool = False  # an excerpt was cut or the body was not read to its end
    started_at: str = ""  # ISO wall time, for humans only

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    def format(self) -> str:
        """A curl -v style text block."""
        took = "" if self.elapsed_ms is None else f"  {self.elapsed_ms:.1f} ms"
        lines = [f"* {self.name}  {self.started_at}{took}", f"> {self.method} {self.url}"]
        lines += [f"> {k}: {v}" for k, v in self.request_headers.items()]
        if self.request_body:
            lines += [">", self.request_body]
        if self.status is not None:
            lines.append(f"< {self.status} {httpx.codes.get_reason_phrase(self.status)}".rstrip())
            lines += [f"< {k}: {v}" for k, v in self.response_headers.items()]
            if self.response_body:
                lines += ["<", self.response_body]
        if self.error:
            lines.append(f"! {self.error}")
        return "\n".join(lines)


def request_label(request: httpx.Request, redactor: Redactor) -> str:
    """`GET /path` (redacted), or the name given through NAME_EXTENSION."""
    name = request.extensions.get(NAME_EXTENSION)
    if isinstance(name, str) and name:
        return redactor.redact_text(name)
    return f"{request.method} {redactor.redact_text(request.url.path)}"


def capture(
    redactor: Redactor,
    request: httpx.Request,
    response: httpx.Response | None,
    body: Body,
    started: float,
    started_at: str,
    error: str | None,
) -> Exchange:
    """The redacted record of one hop; `body` is what was read of the response, maybe cut."""
    r = redactor
    # Headers and URL first: their secrets get registered before any body is scrubbed.
    request_headers = _redact_headers(r, request.headers)
    response_headers = _redact_headers(r, response.headers) if response is not None else {}
    url = r.redact_url(str(request.url))
    try:
        sent_body: bytes | None = request.content
    except httpx.RequestNotRead:
        sent_body = None
    if sent_body is None:
        request_excerpt, request_cut = "[streamed request body, not captured]", False
    else:
        content_type = request.headers.get("content-type", "")
        request_excerpt, request_cut = excerpt(r, sent_body, content_type, complete=True)
    response_excerpt, response_cut = "", False
    if response is not None:
        content_type = response.headers.get("content-type", "")
        response_excerpt, response_cut = excerpt(r, body.data, content_type, complete=error is None)
    return Exchange(
        method=request.method,
        url=url,
        path=r.redact_text(request.url.path),
        name=request_label(request, r),
        status=response.status_code if response is not None else None,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        request_headers=request_headers,
        response_headers=response_headers,
        request_body=request_excerpt,
        response_body=response_excerpt,
        error=error,
        truncated=request_cut or response_cut or body.capped,
        started_at=started_at,
    )


def excerpt(
    redactor: Redactor, data: bytes, content_type: str, *, complete: bool
) -> tuple[str, bool]:
    """At most EXCERPT_CHARS of redacted text, and whether anything was left out."""
    if not data:
        return "", not complete
    if b"\x00" in data[:EXCERPT_CHARS]:
        return f"[{len(data):,} bytes of binary data]", not complete
    json_like = "json" in content_type.lower() or data.lstrip()[:1] in (b"{", b"[")
    # JSON is scrubbed whole (a sensitive key may sit anywhere); other text only near the
    # excerpt, so a capped multi-MiB body is never copied into one big string.
    whole_json = json_like and complete
    window = data if whole_json else data[: (EXCERPT_CHARS + _REDACT_LOOKAHEAD) * 4]
    text = window.decode(_charset(content_type), errors="replace")
    cut = len(window) < len(data)
    if not whole_json and len(text) > EXCERPT_CHARS + _REDACT_LOOKAHEAD:
        text, cut = text[: EXCERPT_CHARS + _REDACT_LOOKAHEAD], True
    whole = complete and not cut
    scrubbed = redactor.redact_body(text, content_type, complete=whole)
    if len(scrubbed) <= EXCERPT_CHARS and whole:
        return scrubbed, False
    shown = scrubbed[:EXCERPT_CHARS]
    hidden = (
        max(len(data) - len(shown.encode()), 0)
        if not whole
        else len(scrubbed[EXCERPT_CHARS:].encode())
    )
    rest = "" if complete else "; the rest was not read"
    return f"{shown}...[truncated {hidden:,} bytes{rest}]", True


def _redact_headers(redactor: Redactor, headers: httpx.Headers) -> dict[str, str]:
    # httpx decodes header bytes with an encoding it detects from those bytes, so the raw
    # pairs identify the decoded ones; decoding is skipped for a block seen before.
    return redactor.redact_header_block(tuple(headers.raw), headers.multi_items)


@functools.lru_cache(maxsize=64)
def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            name = value.strip().strip('"')
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"
