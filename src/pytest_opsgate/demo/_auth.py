"""API keys, roles and the signatures the demo accepts."""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import TYPE_CHECKING

from pytest_opsgate.demo._options import WEBHOOK_SECRET, DemoOptions

if TYPE_CHECKING:
    from pytest_opsgate.demo._http import Request


class Role(enum.Enum):
    """Who a credential belongs to."""

    DEV = "dev"
    ADMIN = "admin"
    READONLY = "readonly"
    LOAD = "load"


READ = frozenset(Role)
WRITE = frozenset({Role.DEV, Role.ADMIN, Role.LOAD})
PREVIEW = frozenset({Role.DEV, Role.ADMIN})
ADMIN_ONLY = frozenset({Role.ADMIN})


def presented_credential(request: Request) -> str | None:
    """Return the key from `X-Api-Key` or `Authorization: Bearer`, if either is present."""
    key = request.header("x-api-key")
    if key:
        return key.strip()
    authorization = request.header("authorization") or ""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def role_of(credential: str, options: DemoOptions) -> Role | None:
    """Return the role whose key equals `credential`, comparing in constant time."""
    given = credential.encode("utf-8", "surrogateescape")
    keys = (
        (Role.DEV, options.dev_key),
        (Role.ADMIN, options.admin_key),
        (Role.READONLY, options.readonly_key),
        (Role.LOAD, options.load_key),
    )
    found = None
    # Compare against every key so the time taken does not say which one matched.
    for role, key in keys:
        if hmac.compare_digest(given, key.encode()):
            found = role
    return found


def webhook_signature(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Return the `X-Signature` header value the demo expects for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(header: str | None, body: bytes, secret: str) -> bool:
    """Check an `X-Signature: sha256=<hex>` header against `body` in constant time."""
    if not header:
        return False
    expected = webhook_signature(body, secret).encode()
    return hmac.compare_digest(expected, header.strip().lower().encode("utf-8", "replace"))


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Compare two non-empty tokens in constant time."""
    if not expected or not given:
        return False
    return hmac.compare_digest(
        expected.encode("utf-8", "replace"), given.encode("utf-8", "replace")
    )
