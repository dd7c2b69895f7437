"""Validation of the built-in profiles' tables: ``[rate_limit]``, ``[[auth]]``, ``cors = {...}``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...measure.metrics import HTTP_METHODS
from .spec import (
    CLIENT_ERROR,
    CSRF_REFUSED,
    DEFAULT_NEGATIVE_PATH,
    DEFAULT_PROBE_ORIGIN,
    HEALTH_FIELDS,
    HSTS_MIN_AGE,
    NOT_AUTHENTICATED,
    NOT_REFUSED,
    RATE_LIMIT_STYLES,
    SECURITY_HEADER_RULES,
    SUCCESS,
    UNAUTHORIZED,
    WEBHOOK_PAYLOAD,
    Auth,
    Cors,
    Csrf,
    Endpoint,
    HealthSchema,
    NegativeControl,
    RateLimit,
    SecurityHeaders,
    WebhookHmac,
)
from .tables import ConfigError, Table, check_json_value

if TYPE_CHECKING:
    from collections.abc import Callable

    from .spec import Mode, Profile

_MODES = ("fail", "warn", "off")
_HASH_ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")


def read_profiles(top: Table, name: str, *, cli: bool) -> list[Profile]:
    """The instances of one profile: a mode string, true, a table, or an array of tables."""
    section = f"[{top.prefix}{name}]"
    raw = top.raw(name, True)
    if cli and raw in (False, "off"):
        raw = True  # the command line asked for it by name
    if raw is False or raw == "off":
        return []
    if raw is True or isinstance(raw, str):
        if isinstance(raw, str) and raw not in _MODES:
            top.fail(f'is {raw!r}; use "fail", "warn", "off", true, false or a table', name)
        raw = {"mode": raw} if isinstance(raw, str) else {}
    tables = raw if isinstance(raw, list) else [raw]
    profiles: list[Profile] = []
    for number, item in enumerate(tables, 1):
        where = section if len(tables) == 1 else f"[[{top.prefix}{name}]] #{number}"
        t = Table(item, top.file, where)
        mode = t.choice("mode", _MODES, "fail")
        try:
            profile = _BUILDERS[name](t, "warn" if mode == "warn" else "fail")
        except _NeedsError as exc:
            if cli and not top.has(name):
                raise ConfigError(f"--gate-profile {name} {exc}") from None
            t.fail(str(exc), key=None)
        t.finish((*_PROFILE_KEYS[name], "mode"))
        if mode != "off":
            profiles.append(profile)
    return profiles


class _NeedsError(Exception):
    pass


def _needs(t: Table, keys: str, example: str) -> None:
    missing = [key for key in keys.split(",") if not t.has(key)]
    if missing:
        raise _NeedsError(
            f"needs {' and '.join(missing)}; configure the profile in opsgate.toml "
            f"(or [tool.opsgate] in pyproject.toml), e.g. {example}"
        )


def _endpoint(t: Table, key: str, value: object) -> Endpoint:
    if isinstance(value, str):
        method, _, path = value.strip().rpartition(" ")
        method = (method or "GET").upper()
        if method not in HTTP_METHODS or not path.startswith("/"):
            t.fail(f'holds {value!r}; name an endpoint as "/path" or "POST /path"', key)
        return Endpoint(method, path)
    sub = Table(value, t.file, f"{t.section}: {key}")
    endpoint = Endpoint(sub.method(), sub.path(), sub.body())
    sub.finish(("method", "path", "json", "form", "body"))
    return endpoint


def _security_headers(t: Table, mode: Mode) -> SecurityHeaders:
    return SecurityHeaders(
        mode=mode,
        paths=t.paths("paths", ("/",)),
        hsts_min_age=t.integer("hsts_min_age", HSTS_MIN_AGE, 0, 10 * 365 * 86400),
        allow_report_only=t.boolean("allow_report_only", False),
        ignore=frozenset(t.choices("ignore", SECURITY_HEADER_RULES, ())),
        credential=t.credential("auth"),
        optional=t.boolean("optional", False),
    )


def _rate_limit(t: Table, mode: Mode) -> RateLimit:
    burst = t.integer("burst", 0, 0, 10_000) or None
    return RateLimit(
        mode=mode,
        endpoint=Endpoint(t.method(), t.path("path", "/")),
        credential=t.credential("auth"),
        styles=t.choices("styles", RATE_LIMIT_STYLES, RATE_LIMIT_STYLES) or RATE_LIMIT_STYLES,
        require_all=t.choice("require", ("any", "all"), "any") == "all",
        burst=burst,
        burst_budget_s=t.duration("burst_budget", 30.0) or 30.0,
        require_retry_after=t.boolean("require_retry_after", True),
        optional=t.boolean("optional", False),
    )


def _auth(t: Table, mode: Mode) -> Auth:
    _needs(
        t,
        "endpoints,credential",
        '[auth] endpoints = ["GET /api/audit"], credential = { header = "X-Api-Key", '
        'env = "ADMIN_KEY" }',
    )
    raw = t.raw("endpoints")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        t.fail('is empty; name at least one endpoint such as "GET /api/audit"', "endpoints")
    credential = t.credential("credential")
    assert credential is not None
    return Auth(
        endpoints=tuple(_endpoint(t, "endpoints", item) for item in items),
        credential=credential,
        mode=mode,
        unauthenticated=t.status("unauthenticated", NOT_AUTHENTICATED),
        wrong=t.status("wrong", UNAUTHORIZED),
        accepted=t.status("accepted", SUCCESS),
        optional=t.boolean("optional", False),
    )


def _csrf(t: Table, mode: Mode) -> Csrf:
    _needs(t, "path", '[csrf] path = "/form", form = { name = "x" }')
    endpoint = Endpoint(t.method("method", "POST"), t.path(), t.body())
    token_cookie = t.opt_string("token_cookie")
    token_field = t.opt_string("token_field")
    token_header = t.opt_string("token_header")
    if token_cookie and not (token_field or token_header):
        t.fail("needs token_field or token_header, to send the token back", "token_cookie")
    if (token_field or token_header) and not token_cookie:
        t.fail(
            "is set, but token_cookie (where the token comes from) is not",
            "token_field" if token_field else "token_header",
        )
    return Csrf(
        endpoint=endpoint,
        mode=mode,
        refused=t.status("refused", CSRF_REFUSED),
        accepted=t.status("accepted", NOT_REFUSED),
        token_path=t.path("token_path", endpoint.path) if token_cookie else None,
        token_cookie=token_cookie,
        token_field=token_field,
        token_header=token_header,
    )


def _webhook_hmac(t: Table, mode: Mode) -> WebhookHmac:
    import json

    _needs(
        t,
        "path,env",
        '[webhook_hmac] path = "/webhooks/incoming", env = "WEBHOOK_SECRET"',
    )
    endpoint = Endpoint(t.method("method", "POST"), t.path())
    payload = WEBHOOK_PAYLOAD
    body = t.raw("payload", None)
    if isinstance(body, str):
        payload = body.encode()
    elif isinstance(body, dict):
        check_json_value(t, "payload", body)
        payload = json.dumps(body).encode()
    elif body is not None:
        t.fail("must be a string or a table (sent as JSON)", "payload")
    signature_format = t.string("format", "sha256={hex}")
    if "{hex}" not in signature_format and "{base64}" not in signature_format:
        t.fail(
            f'is {signature_format!r}; it needs {{hex}} or {{base64}}, e.g. "sha256={{hex}}"',
            "format",
        )
    header = t.string("header", "X-Signature")
    return WebhookHmac(
        endpoint=endpoint,
        env=t.env_name("env"),
        mode=mode,
        header=header,
        algorithm=t.choice("algorithm", _HASH_ALGORITHMS, "sha256"),
        signature_format=signature_format,
        content_type=t.string("content_type", "application/json"),
        payload=payload,
        accepted=t.status("accepted", SUCCESS),
        refused=t.status("refused", CLIENT_ERROR),
        optional=t.boolean("optional", False),
    )


def _cors(t: Table, mode: Mode) -> Cors:
    _needs(t, "origin", '[cors] origin = "https://app.example.com", paths = ["/api/items"]')
    origin = t.string("origin")
    if not re.match(r"^https?://[^/\s]+$", origin):
        t.fail(f"is {origin!r}; an origin is scheme://host[:port] with no path", "origin")
    probe = t.raw("probe_origin", DEFAULT_PROBE_ORIGIN)
    if probe is not False and not isinstance(probe, str):
        t.fail("must be an origin string, or false to skip the probe", "probe_origin")
    return Cors(
        origin=origin,
        mode=mode,
        paths=t.paths("paths", ("/",)),
        method=t.method(),
        request_headers=t.header_names("request_headers"),
        allow_credentials=t.boolean("allow_credentials", False),
        probe_origin=probe if isinstance(probe, str) else None,
    )


def _negative_control(t: Table, mode: Mode) -> NegativeControl:
    return NegativeControl(
        mode=mode,
        paths=t.paths("paths", (DEFAULT_NEGATIVE_PATH,)),
        method=t.method(),
        credential=t.credential("auth"),
        optional=t.boolean("optional", False),
    )


def _health_schema(t: Table, mode: Mode) -> HealthSchema:
    path = t.path("path", "") if t.has("path") else None
    return HealthSchema(
        mode=mode,
        path=path or None,
        require=t.choices("require", HEALTH_FIELDS, HEALTH_FIELDS),
    )


_BUILDERS: dict[str, Callable[[Table, Mode], Profile]] = {
    "security_headers": _security_headers,
    "rate_limit": _rate_limit,
    "auth": _auth,
    "csrf": _csrf,
    "webhook_hmac": _webhook_hmac,
    "cors": _cors,
    "negative_control": _negative_control,
    "health_schema": _health_schema,
}
_PROFILE_KEYS: dict[str, tuple[str, ...]] = {
    "security_headers": (
        "paths",
        "hsts_min_age",
        "allow_report_only",
        "ignore",
        "auth",
        "optional",
    ),
    "rate_limit": (
        "method",
        "path",
        "auth",
        "styles",
        "require",
        "burst",
        "burst_budget",
        "require_retry_after",
        "optional",
    ),
    "auth": ("endpoints", "credential", "unauthenticated", "wrong", "accepted", "optional"),
    "csrf": (
        "method",
        "path",
        "json",
        "form",
        "body",
        "refused",
        "accepted",
        "token_path",
        "token_cookie",
        "token_field",
        "token_header",
    ),
    "webhook_hmac": (
        "method",
        "path",
        "env",
        "header",
        "algorithm",
        "format",
        "content_type",
        "payload",
        "accepted",
        "refused",
        "optional",
    ),
    "cors": ("origin", "paths", "method", "request_headers", "allow_credentials", "probe_origin"),
    "negative_control": ("paths", "method", "auth", "optional"),
    "health_schema": ("path", "require"),
}
