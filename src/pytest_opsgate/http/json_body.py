"""Strict JSON of a response body: NaN, Infinity, an empty body and deep nesting are errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .errors import InvalidJSON
from .exchange import NAME_EXTENSION
from .redact import Redactor

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_MAX_JSON_DEPTH", "parse_json"]

DEFAULT_MAX_JSON_DEPTH = 200


class _NonStandardConstant(ValueError):
    pass


def _reject_constant(name: str) -> object:
    raise _NonStandardConstant(name)


def _deeper_than(value: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(
    response: httpx.Response,
    *,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
    redactor: Redactor | None = None,
) -> object:
    """The body as strict JSON; InvalidJSON (a ValueError) names the request and the problem.

    Rejects syntax errors, an empty body, NaN/Infinity and nesting deeper than `max_depth`.
    """
    __tracebackhide__ = True
    redactor = redactor if redactor is not None else Redactor()
    try:
        request: httpx.Request | None = response.request
    except RuntimeError:  # a Response built by hand has no request
        request = None
    if request is None:
        label = "the response"
    else:
        name = request.extensions.get(NAME_EXTENSION)
        label = name if isinstance(name, str) and name else f"{request.method} {request.url.path}"
        label = redactor.redact_text(label)
    body = response.content
    content_type = response.headers.get("content-type", "")

    def invalid(problem: str) -> InvalidJSON:
        start = redactor.redact_body(
            body[:120].decode("utf-8", errors="replace"), content_type, complete=len(body) <= 120
        )
        return InvalidJSON(
            f"{label} returned {problem}; body starts with {start!r} "
            f"(status {response.status_code}, content-type {content_type or 'missing'})",
            request=request,
        )

    if not body.strip():
        raise invalid("an empty body where JSON was expected")
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise invalid(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except _NonStandardConstant as exc:
        raise invalid(f"{exc} in JSON, which is not valid JSON") from None
    except RecursionError:
        raise invalid(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # not UTF-8/16/32
        raise invalid(f"a body that is not JSON text ({exc})") from None
    if _deeper_than(value, max_depth):
        raise invalid(f"JSON nested deeper than {max_depth} levels")
    return value
