"""What a measurement is of: scopes (``GET /api/items``, ``page /checkout``) and metric names.

Light on purpose (no histograms): the SLO grammar parses scopes at option-parsing time.
"""

from __future__ import annotations

__all__ = [
    "HTTP_METHODS",
    "LATENCY",
    "METRICS",
    "PAGE_METRICS",
    "PAGE_PREFIX",
    "normalize_scope",
    "split_method",
]

LATENCY = "latency"
PAGE_METRICS = ("ttfb", "dcl", "load")
METRICS = (LATENCY, *PAGE_METRICS)
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"}
)
PAGE_PREFIX = "page "


def normalize_scope(scope: str) -> str:
    """Collapse whitespace, upper-case a leading HTTP method and lower-case a ``page`` prefix."""
    words = scope.split()
    if not words:
        raise ValueError("scope is empty; name an endpoint such as 'GET /api/items'")
    head = words[0]
    if len(words) > 1 and head.upper() in HTTP_METHODS:
        words[0] = head.upper()
    elif len(words) > 1 and head.lower() == "page":
        words[0] = "page"
    return " ".join(words)


def split_method(scope: str) -> tuple[str | None, str]:
    """``"GET /x"`` -> ``("GET", "/x")``; a scope without an HTTP method -> ``(None, scope)``."""
    head, _, rest = scope.partition(" ")
    if rest and head in HTTP_METHODS:
        return head, rest
    return None, scope
