"""``webhook_hmac``: a body signed with the shared secret is accepted; the same signature on a
tampered body, or no signature, is refused."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..registry import Profile, ProfileCheck
from ..spec import SUCCESS, Endpoint, StatusSet
from ..tables import check_json_value

if TYPE_CHECKING:
    from ..context import Context
    from ..tables import Table

CLIENT_ERROR = StatusSet(classes=frozenset({4}))
PAYLOAD = b'{"event": "opsgate.smoke", "id": 1}'
ALGORITHMS = ("sha1", "sha256", "sha384", "sha512")


@dataclass(frozen=True)
class WebhookHmac:
    """The settings of ``webhook_hmac``."""

    endpoint: Endpoint
    env: str
    header: str = "X-Signature"
    algorithm: str = "sha256"
    signature_format: str = "sha256={hex}"
    content_type: str = "application/json"
    payload: bytes = PAYLOAD
    accepted: StatusSet = SUCCESS
    refused: StatusSet = CLIENT_ERROR
    optional: bool = False


def read(t: Table) -> WebhookHmac:
    """Validate ``[webhook_hmac]``."""
    endpoint = Endpoint(t.method("method", "POST"), t.path())
    payload = PAYLOAD
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
        header=header,
        algorithm=t.choice("algorithm", ALGORITHMS, "sha256"),
        signature_format=signature_format,
        content_type=t.string("content_type", "application/json"),
        payload=payload,
        accepted=t.status("accepted", SUCCESS),
        refused=t.status("refused", CLIENT_ERROR),
        optional=t.boolean("optional", False),
    )


def checks(profile: WebhookHmac) -> list[ProfileCheck]:
    """One item: ``webhook_hmac POST /webhooks/incoming``."""
    return [ProfileCheck(str(profile.endpoint), functools.partial(webhook_hmac, profile=profile))]


PROFILE = Profile(
    name="webhook_hmac",
    read=read,
    checks=checks,
    keys=(
        *("method", "path", "env", "header", "algorithm", "format", "content_type"),
        *("payload", "accepted", "refused", "optional"),
    ),
    requires=("path", "env"),
    example='webhook_hmac = { path = "/webhooks/incoming", env = "WEBHOOK_SECRET" }',
    order=70,
    secret_envs=lambda profile: [profile.env],
)


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
