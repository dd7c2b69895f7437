"""The next request of a redirect: method and body per RFC 9110, credentials kept at home.

httpx drops only Authorization when a redirect leaves the origin; here every header the
`Redactor` deems sensitive (API keys, cookies, tokens) is dropped too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .exchange import NAME_EXTENSION

if TYPE_CHECKING:
    from .redact import Redactor

__all__ = ["redirect_request", "same_origin"]


def redirect_request(
    request: httpx.Request,
    response: httpx.Response,
    *,
    label: str,
    redactor: Redactor,
    cookies: httpx.Cookies,
) -> httpx.Request:
    """The request that follows `response`'s Location; RemoteProtocolError if it is invalid."""
    location = response.headers["Location"]
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL:
        raise httpx.RemoteProtocolError(
            f"{label}: invalid Location header in a {response.status_code} redirect",
            request=request,
        ) from None
    if url.scheme and not url.host:
        url = url.copy_with(host=request.url.host)
    if url.is_relative_url:
        url = request.url.join(url)
    method = request.method
    if response.status_code in (302, 303) and method != "HEAD":
        method = "GET"
    if response.status_code == 301 and method == "POST":
        method = "GET"
    # Same origin keeps an explicit Cookie header; jar cookies, if any, replace it below.
    headers = httpx.Headers(request.headers)
    home = same_origin(url, request.url)
    if not home:
        # httpx drops only Authorization; API keys, cookies and tokens must not leak either.
        for name in list(headers.keys()):
            if redactor.is_sensitive_name(name):
                del headers[name]
        headers["Host"] = url.netloc.decode("ascii")
    keep_body = method == request.method or method != "GET"
    if not keep_body:
        for name in ("Content-Length", "Transfer-Encoding", "Content-Type"):
            headers.pop(name, None)
    extensions = {k: v for k, v in request.extensions.items() if k != NAME_EXTENSION}
    jar = cookies if home else None
    try:
        content = request.content if keep_body else b""
    except httpx.RequestNotRead:  # a streamed upload is replayed from its stream
        return httpx.Request(
            method, url, headers=headers, cookies=jar, stream=request.stream,
            extensions=extensions,
        )  # fmt: skip
    return httpx.Request(
        method, url, headers=headers, cookies=jar, content=content, extensions=extensions
    )


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    """Same scheme, host and (default-filled) port."""
    return _origin(a) == _origin(b)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port
