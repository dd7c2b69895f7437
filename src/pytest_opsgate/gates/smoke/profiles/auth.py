"""``auth``: without a credential an endpoint refuses, with a wrong one it answers 401, and with
the right one (from the environment) it answers 2xx."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ....measure.metrics import HTTP_METHODS
from ..registry import Profile, ProfileCheck
from ..spec import SUCCESS, Endpoint, StatusSet
from ..tables import Table

if TYPE_CHECKING:
    import httpx

    from ..context import Context
    from ..spec import Credential

NOT_AUTHENTICATED = StatusSet(frozenset({401, 403}))
UNAUTHORIZED = StatusSet(frozenset({401}))
# The made-up credential starts so, to be found in the service's logs; the value itself is
# redacted like any credential the client sends.
WRONG_KEY_PREFIX = "opsgate-wrong-"


@dataclass(frozen=True)
class Auth:
    """The settings of ``auth``."""

    endpoints: tuple[Endpoint, ...]
    credential: Credential
    unauthenticated: StatusSet = NOT_AUTHENTICATED
    wrong: StatusSet = UNAUTHORIZED
    accepted: StatusSet = SUCCESS
    optional: bool = False


def read(t: Table) -> Auth:
    """Validate ``[auth]`` (the registry has checked that endpoints and credential are set)."""
    raw = t.raw("endpoints")
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        t.fail('is empty; name at least one endpoint such as "GET /api/audit"', "endpoints")
    credential = t.credential("credential")
    assert credential is not None
    return Auth(
        endpoints=tuple(_endpoint(t, "endpoints", item) for item in items),
        credential=credential,
        unauthenticated=t.status("unauthenticated", NOT_AUTHENTICATED),
        wrong=t.status("wrong", UNAUTHORIZED),
        accepted=t.status("accepted", SUCCESS),
        optional=t.boolean("optional", False),
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


def checks(profile: Auth) -> list[ProfileCheck]:
    """One item per endpoint: ``auth GET /api/audit``."""
    return [
        ProfileCheck(str(endpoint), functools.partial(auth, profile=profile, endpoint=endpoint))
        for endpoint in profile.endpoints
    ]


PROFILE = Profile(
    name="auth",
    read=read,
    checks=checks,
    keys=("endpoints", "credential", "unauthenticated", "wrong", "accepted", "optional"),
    requires=("endpoints", "credential"),
    example=(
        'auth = { endpoints = ["GET /api/audit"], credential = { header = "X-Api-Key", '
        'env = "ADMIN_KEY" } }'
    ),
    order=50,
)


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
            f"{profile.unauthenticated}{open_hint}"
            f"{_accept_hint('unauthenticated', profile.unauthenticated, anonymous.status_code)}"
            f"; response: {ctx.excerpt(anonymous)}"
        )
    made_up = WRONG_KEY_PREFIX + secrets.token_hex(12)
    wrong = call(made_up)
    if wrong.status_code not in profile.wrong:
        findings.append(
            f"{endpoint} with a wrong credential ({how}) answered {wrong.status_code}, expected "
            f"{profile.wrong}; the gate sent a made-up key ({WRONG_KEY_PREFIX} and 24 hex "
            f"digits) where ${profile.credential.env} goes"
            f"{_accept_hint('wrong', profile.wrong, wrong.status_code)}"
            f"; response: {ctx.excerpt(wrong)}"
        )
    right = call(secret)
    if right.status_code not in profile.accepted:
        findings.append(
            f"{endpoint} with the right credential ({how}) answered {right.status_code}, "
            f"expected {profile.accepted}; response: {ctx.excerpt(right)}"
        )
    return findings


def _accept_hint(key: str, expected: StatusSet, status: int) -> str:
    """For a refusal in another 4xx (403 for an unknown key): the line that accepts it."""
    if not 400 <= status < 500:
        return ""
    return (
        f"; if {status} is how the service refuses it by design, accept it with "
        f"{key} = {expected.with_code(status).toml()} in the auth profile's table"
    )
