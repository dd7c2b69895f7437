"""Request and response values passed between the server and the demo's handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; script-src 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_ip: str
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Return a header by case-insensitive name."""
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        """Return the first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def cookies(self) -> dict[str, str]:
        """Return the request's cookies; a malformed Cookie header counts as none."""
        raw = self.header("cookie")
        if not raw:
            return {}
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    def form(self) -> dict[str, str]:
        """Return the url-encoded body as a dict of first values."""
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[0] for name, values in parsed.items()}


@dataclass
class Response:
    """Status, headers and body of one HTTP response."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Return `payload` as a JSON response that is never cached."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    extra = [("Cache-Control", "no-store"), *(headers or [])]
    return Response(status, body, "application/json", extra)


def error_response(status: int, error: str, detail: str | None = None) -> Response:
    """Return the demo's JSON error body `{"error": ..., "detail": ...}`."""
    payload: dict[str, Any] = {"error": error}
    if detail is not None:
        payload["detail"] = detail
    return json_response(status, payload)


def html_response(status: int, page: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """Return an HTML page that is never cached."""
    extra = [("Cache-Control", "no-store"), *(headers or [])]
    return Response(status, page.encode(), "text/html; charset=utf-8", extra)


def redirect(
    location: str, status: int = 302, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Return a redirect to a same-origin `location`."""
    return Response(status, b"", None, [("Location", location), *(headers or [])])


def set_cookie(name: str, value: str, *, max_age: int | None = None) -> tuple[str, str]:
    """Return a Set-Cookie header that scripts cannot read and other sites do not send."""
    expiry = "" if max_age is None else f"; Max-Age={max_age}"
    return ("Set-Cookie", f"{name}={value}; Path=/; HttpOnly; SameSite=Lax{expiry}")
