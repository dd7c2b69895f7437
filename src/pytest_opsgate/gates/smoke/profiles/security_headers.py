"""``security_headers``: HSTS (https only), an enforced CSP, nosniff, frame protection and
Referrer-Policy on each of the profile's paths."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..registry import Profile, ProfileCheck

if TYPE_CHECKING:
    import httpx

    from ..context import Context
    from ..spec import Credential
    from ..tables import Table

RULES = ("hsts", "csp", "nosniff", "frame", "referrer_policy")
HSTS_MIN_AGE = 15_552_000  # 180 days, the floor most scanners use


@dataclass(frozen=True)
class SecurityHeaders:
    """The settings of ``security_headers``."""

    paths: tuple[str, ...] = ("/",)
    hsts_min_age: int = HSTS_MIN_AGE
    allow_report_only: bool = False
    ignore: frozenset[str] = frozenset()
    credential: Credential | None = None
    optional: bool = False


def read(t: Table) -> SecurityHeaders:
    """Validate ``[security_headers]``."""
    return SecurityHeaders(
        paths=t.paths("paths", ("/",)),
        hsts_min_age=t.integer("hsts_min_age", HSTS_MIN_AGE, 0, 10 * 365 * 86400),
        allow_report_only=t.boolean("allow_report_only", False),
        ignore=frozenset(t.choices("ignore", RULES, ())),
        credential=t.credential("auth"),
        optional=t.boolean("optional", False),
    )


def checks(profile: SecurityHeaders) -> list[ProfileCheck]:
    """One item per path: ``security_headers GET /``."""
    return [
        ProfileCheck(
            f"GET {path.split('?', 1)[0]}",
            functools.partial(security_headers, profile=profile, path=path),
        )
        for path in profile.paths
    ]


PROFILE = Profile(
    name="security_headers",
    read=read,
    checks=checks,
    keys=("paths", "hsts_min_age", "allow_report_only", "ignore", "auth", "optional"),
    order=30,
    zero_config=("warn", SecurityHeaders()),
)

_REFERRER_POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "origin",
        "origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)


def security_headers(ctx: Context, profile: SecurityHeaders, path: str) -> list[str]:
    """Findings about the security headers of ``GET path``."""
    secret = None
    if profile.credential is not None:
        secret = ctx.secret(profile.credential.env, optional=profile.optional)
    response = ctx.send("GET", path, credential=profile.credential, secret=secret)
    return security_header_findings(ctx, profile, response)


def security_header_findings(
    ctx: Context, profile: SecurityHeaders, response: httpx.Response
) -> list[str]:
    """What a response lacks of HSTS, CSP, nosniff, frame protection and Referrer-Policy."""
    headers = response.headers
    findings: list[str] = []
    csp = headers.get("content-security-policy")
    report_only = headers.get("content-security-policy-report-only")
    if "hsts" not in profile.ignore:
        if response.url.scheme == "https":
            findings.extend(_hsts(headers.get("strict-transport-security"), profile.hsts_min_age))
        else:
            ctx.note("HSTS not checked: the target is plain http, where browsers ignore it")
    if "csp" not in profile.ignore and csp is None:
        if report_only is None:
            findings.append(
                "Content-Security-Policy is missing; send one, e.g. "
                "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'"
            )
        elif not profile.allow_report_only:
            findings.append(
                "Content-Security-Policy is only sent as Content-Security-Policy-Report-Only, "
                "which enforces nothing; enforce it, or set allow_report_only = true"
            )
    if "nosniff" not in profile.ignore:
        value = headers.get("x-content-type-options")
        if value is None:
            findings.append(
                "X-Content-Type-Options is missing; send X-Content-Type-Options: nosniff"
            )
        elif value.strip().lower() != "nosniff":
            findings.append(f"X-Content-Type-Options is {value!r}; the only value is nosniff")
    if "frame" not in profile.ignore:
        policies = [csp] + ([report_only] if profile.allow_report_only else [])
        ancestors = any(_has_directive(p, "frame-ancestors") for p in policies if p)
        xfo = (headers.get("x-frame-options") or "").strip().lower()
        if not ancestors and xfo not in ("deny", "sameorigin"):
            got = f" (X-Frame-Options is {xfo!r})" if xfo else ""
            findings.append(
                f"no frame protection{got}; send X-Frame-Options: DENY or a CSP "
                "frame-ancestors directive, or pages can be framed (clickjacking)"
            )
    if "referrer_policy" not in profile.ignore:
        findings.extend(_referrer_policy(headers.get("referrer-policy")))
    return findings


def _hsts(value: str | None, floor: int) -> list[str]:
    example = f"Strict-Transport-Security: max-age={floor}; includeSubDomains"
    if value is None:
        return [f"Strict-Transport-Security is missing on an https target; send {example}"]
    match = re.search(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?", value, re.IGNORECASE)
    if match is None:
        return [f"Strict-Transport-Security {value!r} has no max-age; send {example}"]
    age = int(match.group(1))
    if age < floor:
        return [
            f"Strict-Transport-Security max-age={age} is below the floor of {floor} s "
            f"(hsts_min_age); send {example}"
        ]
    return []


def _has_directive(policy: str, name: str) -> bool:
    return any(part.strip().lower().split(" ", 1)[0] == name for part in policy.split(";"))


def _referrer_policy(value: str | None) -> list[str]:
    if value is None:
        return ["Referrer-Policy is missing; send Referrer-Policy: strict-origin-when-cross-origin"]
    tokens = [token.strip().lower() for token in value.split(",") if token.strip()]
    known = [token for token in tokens if token in _REFERRER_POLICIES]
    if not known:
        return [
            f"Referrer-Policy {value!r} names no policy browsers know; use "
            "strict-origin-when-cross-origin"
        ]
    if known[-1] == "unsafe-url":
        return [
            "Referrer-Policy unsafe-url sends full URLs (paths and query strings) to other "
            "sites; use strict-origin-when-cross-origin"
        ]
    return []
