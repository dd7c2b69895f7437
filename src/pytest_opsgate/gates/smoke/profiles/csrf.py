"""``csrf``: a state-changing request without the CSRF token is refused; with the token (read
from a cookie, sent back in a field or a header) it is accepted."""

from __future__ import annotations

import functools
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ..registry import Profile, ProfileCheck
from ..spec import Body, Endpoint, StatusSet

if TYPE_CHECKING:
    from ..context import Context
    from ..tables import Table

REFUSED = StatusSet(frozenset({400, 403, 419, 422}))
NOT_REFUSED = StatusSet(classes=frozenset({2, 3}))


@dataclass(frozen=True)
class Csrf:
    """The settings of ``csrf``."""

    endpoint: Endpoint
    refused: StatusSet = REFUSED
    accepted: StatusSet = NOT_REFUSED
    token_path: str | None = None
    token_cookie: str | None = None
    token_field: str | None = None
    token_header: str | None = None


def read(t: Table) -> Csrf:
    """Validate ``[csrf]``: the token's cookie and where it goes back are set together."""
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
    if t.has("token_path") and not token_cookie:
        t.fail("is set, but token_cookie (the cookie it sets) is not", "token_path")
    return Csrf(
        endpoint=endpoint,
        refused=t.status("refused", REFUSED),
        accepted=t.status("accepted", NOT_REFUSED),
        token_path=t.path("token_path", endpoint.path) if token_cookie else None,
        token_cookie=token_cookie,
        token_field=token_field,
        token_header=token_header,
    )


def checks(profile: Csrf) -> list[ProfileCheck]:
    """One item: ``csrf POST /form``."""
    return [ProfileCheck(str(profile.endpoint), functools.partial(csrf, profile=profile))]


PROFILE = Profile(
    name="csrf",
    read=read,
    checks=checks,
    keys=(
        *("method", "path", "json", "form", "body", "refused", "accepted"),
        *("token_path", "token_cookie", "token_field", "token_header"),
    ),
    requires=("path",),
    example='csrf = { path = "/form", form = { name = "x" } }',
    order=60,
)


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
