"""``cors``: a preflight from the configured origin gets the expected Access-Control-* headers,
and a foreign origin is not echoed back."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..registry import Profile, ProfileCheck
from ..spec import SUCCESS

if TYPE_CHECKING:
    from ..context import Context
    from ..tables import Table

PROBE_ORIGIN = "https://opsgate-cors-probe.invalid"
_SIMPLE_METHODS = frozenset({"GET", "HEAD", "POST"})


@dataclass(frozen=True)
class Cors:
    """The settings of ``cors``."""

    origin: str
    paths: tuple[str, ...] = ("/",)
    method: str = "GET"
    request_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    probe_origin: str | None = PROBE_ORIGIN


def read(t: Table) -> Cors:
    """Validate ``[cors]``."""
    origin = t.string("origin")
    if not re.match(r"^https?://[^/\s]+$", origin):
        t.fail(f"is {origin!r}; an origin is scheme://host[:port] with no path", "origin")
    probe = t.raw("probe_origin", PROBE_ORIGIN)
    if probe is not False and not isinstance(probe, str):
        t.fail("must be an origin string, or false to skip the probe", "probe_origin")
    return Cors(
        origin=origin,
        paths=t.paths("paths", ("/",)),
        method=t.method(),
        request_headers=t.header_names("request_headers"),
        allow_credentials=t.boolean("allow_credentials", False),
        probe_origin=probe if isinstance(probe, str) else None,
    )


def checks(profile: Cors) -> list[ProfileCheck]:
    """One item per path: ``cors OPTIONS /api/items``."""
    return [
        ProfileCheck(
            f"OPTIONS {path.split('?', 1)[0]}", functools.partial(cors, profile=profile, path=path)
        )
        for path in profile.paths
    ]


PROFILE = Profile(
    name="cors",
    read=read,
    checks=checks,
    keys=("origin", "paths", "method", "request_headers", "allow_credentials", "probe_origin"),
    requires=("origin",),
    example='cors = { origin = "https://app.example.com", paths = ["/api/items"] }',
    order=80,
)


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
