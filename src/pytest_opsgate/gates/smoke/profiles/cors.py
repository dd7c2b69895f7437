"""Built-in profiles about who may call what: auth, CSRF, webhook signatures and CORS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from contextlib import suppress
from typing import TYPE_CHECKING

import httpx

from .spec import SUCCESS, Body

if TYPE_CHECKING:
    from .context import Context
    from .spec import Auth, Cors, Csrf, Endpoint, WebhookHmac

_SIMPLE_METHODS = frozenset({"GET", "HEAD", "POST"})


def auth(ctx: Context, profile: Auth, endpoint: Endpoint) -> list[str]:
    """No credential is refused, a wrong one gets 401, the right one gets 2xx."""
    secret = ctx.secret(profile.credential.env, optional=profile.optional)
    how = profile.credential.describe()
    findings = []

    def call(value: str | None) -> httpx.Response:
        return ctx.send(
            endpoint.method,
            endpoint.path,
            body=endpoint.body,
            credential=profile.credential if value is not None else None,
            secret=value,
        )

    anonymous = call(None)
    if anonymous.status_code not in profile.unauthenticated:
        open_hint = ": the endpoint is open to anyone" if anonymous.status_code < 300 else ""
        findings.append(
            f"{endpoint} without a credential answered {anonymous.status_code}, expected "
            f"{profile.unauthenticated}{open_hint}; response: {ctx.excerpt(anonymous)}"
        )
    wrong = call("opsgate-wrong-" + secrets.token_hex(12))
    if wrong.status_code not in profile.wrong:
        findings.append(
            f"{endpoint} with a wrong credential ({how}) answered {wrong.status_code}, expected "
            f"{profile.wrong}; response: {ctx.excerpt(wrong)}"
        )
    right = call(secret)
    if right.status_code not in profile.accepted:
        findings.append(
            f"{endpoint} with the right credential ({how}) answered {right.status_code}, "
            f"expected {profile.accepted}; response: {ctx.excerpt(right)}"
        )
    return findings


def csrf(ctx: Context, profile: Csrf) -> list[str]:
    """A state-changing request without the token is refused; with the token it is accepted."""
    endpoint = profile.endpoint
    findings = []
    # The client holds no cookie yet, so this request carries no token of any kind.
    bare = ctx.send(endpoint.method, endpoint.path, body=endpoint.body)
    if bare.status_code not in profile.refused:
        findings.append(
            f"{endpoint} without a CSRF token answered {bare.status_code}, expected it refused "
            f"({profile.refused}): another site's form could make this request for a user"
        )
    if profile.token_cookie is None:
        return findings
    token_path = profile.token_path or endpoint.path
    ctx.send("GET", token_path)
    token = None
    with suppress(httpx.CookieConflict):
        token = ctx.client.cookies.get(profile.token_cookie)
    if not token:
        raise ctx.fail(
            f"GET {token_path} set no {profile.token_cookie} cookie, so the CSRF token could not "
            "be read; check token_path and token_cookie"
        )
    ctx.redactor.register(token)
    headers = [(profile.token_header, token)] if profile.token_header else []
    body = endpoint.body
    if profile.token_field:
        body = _with_field(body, profile.token_field, token)
    sent = ctx.send(endpoint.method, endpoint.path, headers=headers, body=body)
    if sent.status_code not in profile.accepted:
        findings.append(
            f"{endpoint} with the CSRF token answered {sent.status_code}, expected "
            f"{profile.accepted}; without this positive control the refusal above proves "
            f"nothing; response: {ctx.excerpt(sent)}"
        )
    return findings


def _with_field(body: Body | None, field: str, value: str) -> Body:
    if body is not None and body.kind == "json" and isinstance(body.value, dict):
        return Body("json", {**body.value, field: value})
    fields = dict(body.value) if body is not None and isinstance(body.value, dict) else {}
    fields[field] = value
    return Body("form", fields)


def signature(profile: WebhookHmac, secret: str, payload: bytes) -> str:
    """The signature header value for ``payload``, in the profile's format."""
    digest = hmac.new(secret.encode(), payload, getattr(hashlib, profile.algorithm)).digest()
    return profile.signature_format.replace("{hex}", digest.hex()).replace(
        "{base64}", base64.b64encode(digest).decode()
    )


def webhook_hmac(ctx: Context, profile: WebhookHmac) -> list[str]:
    """A signed body is accepted; the same signature on a tampered body, or none, is refused."""
    secret = ctx.secret(profile.env, optional=profile.optional)
    endpoint = profile.endpoint
    payload = profile.payload
    signed = signature(profile, secret, payload)
    ctx.redactor.register(signed)
    content_type = [("Content-Type", profile.content_type)]
    findings = []
    good = ctx.send(
        endpoint.method,
        endpoint.path,
        headers=[*content_type, (profile.header, signed)],
        body=payload,
    )
    if good.status_code not in profile.accepted:
        findings.append(
            f"{endpoint} refused a body signed with ${profile.env} ({profile.header}, "
            f"{profile.algorithm}, format {profile.signature_format!r}): {good.status_code}, "
            f"expected {profile.accepted}; check header, algorithm and format; response: "
            f"{ctx.excerpt(good)}"
        )
    # A trailing space keeps a JSON body valid, so only the signature can refuse it.
    tampered = ctx.send(
        endpoint.method,
        endpoint.path,
        headers=[*content_type, (profile.header, signed)],
        body=payload + b" ",
    )
    if tampered.status_code not in profile.refused:
        findings.append(
            f"{endpoint} accepted a tampered body carrying the original signature "
            f"({tampered.status_code}, expected {profile.refused}): the signature is not "
            "checked against the body"
        )
    unsigned = ctx.send(endpoint.method, endpoint.path, headers=content_type, body=payload)
    if unsigned.status_code not in profile.refused:
        findings.append(
            f"{endpoint} accepted a body with no {profile.header} header "
            f"({unsigned.status_code}, expected {profile.refused}): anyone can post to it"
        )
    return findings


def cors(ctx: Context, profile: Cors, path: str) -> list[str]:
    """A preflight from the configured origin is allowed; a foreign origin is not echoed."""
    method = profile.method
    headers = [("Origin", profile.origin), ("Access-Control-Request-Method", method)]
    if profile.request_headers:
        requested = ", ".join(name.lower() for name in profile.request_headers)
        headers.append(("Access-Control-Request-Headers", requested))
    response = ctx.send("OPTIONS", path, headers=headers)
    label = f"preflight OPTIONS {path} from {profile.origin}"
    findings = []
    if response.status_code not in SUCCESS:
        findings.append(f"{label} answered {response.status_code}, expected 2xx (200 or 204)")
    allow_origin = response.headers.get("access-control-allow-origin")
    if allow_origin is None:
        findings.append(
            f"{label}: Access-Control-Allow-Origin is missing, so browsers on "
            f"{profile.origin} cannot call {path}"
        )
    elif allow_origin not in (profile.origin, "*"):
        findings.append(
            f"{label}: Access-Control-Allow-Origin is {allow_origin!r}, not {profile.origin!r}"
        )
    elif allow_origin == "*" and profile.allow_credentials:
        findings.append(
            f"{label}: Access-Control-Allow-Origin is '*', which browsers refuse "
            "for requests with credentials; echo the origin"
        )
    methods = _tokens(response.headers.get("access-control-allow-methods"))
    if (methods or method not in _SIMPLE_METHODS) and not methods & {method.lower(), "*"}:
        shown = response.headers.get("access-control-allow-methods") or "missing"
        findings.append(f"{label}: Access-Control-Allow-Methods ({shown}) does not allow {method}")
    allowed = _tokens(response.headers.get("access-control-allow-headers"))
    for name in profile.request_headers:
        if name.lower() not in allowed and "*" not in allowed:
            shown = response.headers.get("access-control-allow-headers") or "missing"
            findings.append(
                f"{label}: Access-Control-Allow-Headers ({shown}) does not allow {name}"
            )
    if profile.allow_credentials:
        value = response.headers.get("access-control-allow-credentials", "")
        if value.strip().lower() != "true":
            findings.append(
                f"{label}: Access-Control-Allow-Credentials is {value or 'missing'}, expected true"
            )
    if profile.probe_origin:
        probe = ctx.send(
            "OPTIONS",
            path,
            headers=[("Origin", profile.probe_origin), ("Access-Control-Request-Method", method)],
        )
        if probe.headers.get("access-control-allow-origin") == profile.probe_origin:
            findings.append(
                f"OPTIONS {path}: Access-Control-Allow-Origin echoes any origin (it allowed "
                f"{profile.probe_origin}), so every site may call {path}; allow a fixed list"
            )
    return findings


def _tokens(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}
