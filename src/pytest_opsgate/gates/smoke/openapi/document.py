"""Load the OpenAPI document (through the gate's client or from disk) and list its operations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from ....errors import GateError

if TYPE_CHECKING:
    from ....http.client import Exchange, GateClient
    from .config import OpenAPIConfig


class DocumentError(GateError):
    """The document could not be read or is not OpenAPI: nothing could be checked (ERROR)."""


@dataclass(frozen=True)
class Operation:
    """One operation of the document, as one smoke item sees it."""

    method: str  # upper case
    path: str  # the template as written in the document: /api/items/{id}
    operation_id: str | None
    api: Any = field(default=None, compare=False, repr=False)  # schemathesis.APIOperation
    problem: str | None = None  # why Schemathesis cannot generate requests for it

    @property
    def label(self) -> str:
        """``GET /api/items/{id} (getItem)``: the item's name."""
        named = f" ({self.operation_id})" if self.operation_id else ""
        return f"{self.method} {self.path}{named}"


@dataclass
class Document:
    """The loaded document: its operations (selected ones only) and where requests go."""

    source: str
    schema: Any  # schemathesis.BaseSchema
    operations: list[Operation]
    base_path: str  # from the document's servers, e.g. "/v1" ("" for none)
    exchanges: list[Exchange] = field(default_factory=list)  # fetching the document


def document_url(config: OpenAPIConfig, base_url: str) -> str:
    """The absolute URL of a document named by URL or by a path on the target."""
    assert config.url is not None
    if config.url.startswith(("http://", "https://")):
        return config.url
    return base_url.rstrip("/") + config.url


def on_target(url: str, base_url: str) -> bool:
    """Whether ``url`` has the target's origin (credentials may go there)."""
    a, b = httpx.URL(url), httpx.URL(base_url)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def read_text(
    config: OpenAPIConfig, client: GateClient, base_url: str, headers: httpx.Headers
) -> str:
    """The document's text, from disk or fetched through ``client`` (bounded and recorded)."""
    if config.file is not None:
        try:
            return config.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DocumentError(
                f"{config.where}: cannot read the OpenAPI document {config.file} ({exc}); "
                "fix the path"
            ) from None
    url = document_url(config, base_url)
    shown = client.redactor.redact_url(url)
    try:
        response = client.get(url, headers=headers if on_target(url, base_url) else None)
    except httpx.HTTPError as exc:
        raise DocumentError(
            f"{config.where}: cannot fetch the OpenAPI document {shown}: {exc}"
        ) from None
    if response.status_code != 200:
        excerpt = " ".join(response.text[:200].split())
        raise DocumentError(
            f"{config.where}: the OpenAPI document {shown} answered {response.status_code} "
            f"({client.redactor.redact_text(excerpt)!r}); check url and auth"
        )
    return response.text


def load_document(config: OpenAPIConfig, text: str, source: str) -> Document:
    """Parse the text with Schemathesis and list the operations include/exclude keep."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig
    from schemathesis.core.result import Ok

    try:
        # An explicit config: a schemathesis.toml lying in the project must not change the gate.
        schema = schemathesis.openapi.from_file(text, config=SchemathesisConfig())
    except Exception as exc:  # Schemathesis raises LoaderError, YAML errors, and more
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DocumentError(
            f"{config.where}: {source} is not an OpenAPI document Schemathesis can read: {first}"
        ) from None
    everything: list[Operation] = []
    try:
        results = list(schema.get_all_operations())
    except Exception as exc:
        raise DocumentError(f"{config.where}: {source}: cannot list operations: {exc}") from None
    for result in results:
        if isinstance(result, Ok):
            api = result.ok()
            operation = Operation(
                api.method.upper(), api.path, schema.get_operation_id(api) or None, api
            )
        else:
            error = result.err()
            method = str(getattr(error, "method", "") or "?").upper()
            path = str(getattr(error, "path", "") or "?")
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            operation = Operation(method, path, None, None, f"the document is invalid: {first}")
        everything.append(operation)
    operations = [o for o in everything if config.selects(o.method, o.path, o.operation_id)]
    unmatched = [
        pattern
        for pattern in config.include
        if not any(_named(pattern, operation) for operation in everything)
    ]
    if unmatched:
        known = ", ".join(operation.label for operation in everything[:8]) or "none"
        raise DocumentError(
            f"{config.where}: include {unmatched[0]!r} matches no operation of {source}; "
            f"fix the pattern (a path glob, an operationId or 'GET /path'); operations: {known}"
        )
    if not operations:
        raise DocumentError(
            f"{config.where}: no operation of {source} is left to check; "
            "the document has none, or exclude removes them all"
        )
    base_path = str(getattr(schema, "base_path", "/") or "/").rstrip("/")
    return Document(source, schema, operations, base_path)


def _named(pattern: str, operation: Operation) -> bool:
    from .config import matches

    return matches(pattern, operation.method, operation.path, operation.operation_id)


def request_base(base_url: str, document: Document) -> str:
    """Where operation paths go: the target plus the document's server path (once)."""
    base = base_url.rstrip("/")
    if document.base_path and not httpx.URL(base).path.rstrip("/").endswith(document.base_path):
        return base + document.base_path
    return base
