"""Built-in profiles about what every response should carry: security headers, rate limits,
a negative control and the health document's schema."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from ...target.health import NOT_READY_WORDS, READY_WORDS, normalise
from .context import CheckFailed, CheckSkipped, json_text, retry_after_seconds
from .spec import SUCCESS

if TYPE_CHECKING:
    import httpx

    from .context import Context
    from .spec import HealthSchema, NegativeControl, RateLimit, SecurityHeaders

# --------------------------------------------------------------------------- security headers

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


# --------------------------------------------------------------------------- rate limit

STYLE_HEADERS: dict[str, tuple[str, ...]] = {
    "x-ratelimit": ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"),
    "ratelimit": ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"),
    "ratelimit-policy": ("RateLimit", "RateLimit-Policy"),
}


def rate_limit_headers(ctx: Context, profile: RateLimit) -> list[str]:
    """Findings about the rate-limit headers of one response from the profile's endpoint."""
    endpoint = profile.endpoint
    secret = None
    if profile.credential is not None:
        secret = ctx.secret(profile.credential.env, optional=profile.optional)
    response = ctx.send(
        endpoint.method,
        endpoint.path,
        body=endpoint.body,
        credential=profile.credential,
        secret=secret,
        retry_429=False,  # a 429 carries the same headers, and is worth reading too
    )
    return rate_limit_findings(ctx, profile, response)


def rate_limit_findings(ctx: Context, profile: RateLimit, response: httpx.Response) -> list[str]:
    """Complete styles pass; with none complete, say what each style lacks."""
    headers = response.headers
    complete: list[str] = []
    partial: list[str] = []
    findings: list[str] = []
    for style in profile.styles:
        names = STYLE_HEADERS[style]
        present = [name for name in names if name in headers]
        if len(present) == len(names):
            complete.append(style)
            findings.extend(
                _counter_problems(headers, names) if style != "ratelimit-policy" else []
            )
        elif present:
            missing = [name for name in names if name not in headers]
            partial.append(f"{', '.join(present)} without {', '.join(missing)}")
    got = f"{profile.endpoint} -> {response.status_code}"
    if profile.require_all:
        for style in profile.styles:
            if style not in complete:
                wanted = ", ".join(STYLE_HEADERS[style])
                findings.append(f'{wanted} missing ({got}; require = "all")')
    elif not complete:
        styles = "; or ".join(", ".join(STYLE_HEADERS[s]) for s in profile.styles)
        found = f"; found only {'; '.join(partial)}" if partial else ""
        findings.append(
            f"no complete set of rate-limit headers ({got}{found}); send {styles}, so clients "
            "can slow down before they meet a 429"
        )
    if complete and partial:
        ctx.note(
            f"incomplete rate-limit headers besides {', '.join(complete)}: {'; '.join(partial)}"
        )
    return findings


def _counter_problems(headers: httpx.Headers, names: tuple[str, ...]) -> list[str]:
    values = {}
    problems = []
    for name in names:
        raw = headers[name].split(",")[0].strip()
        if not raw.isdigit():
            problems.append(f"{name} is {headers[name]!r}, not a whole number of seconds/requests")
        else:
            values[name] = int(raw)
    limit, remaining = (values.get(names[0]), values.get(names[1]))
    if limit is not None and remaining is not None and remaining > limit:
        problems.append(f"{names[1]} {remaining} is above {names[0]} {limit}")
    return problems


def rate_limit_burst(ctx: Context, profile: RateLimit) -> list[str]:
    """Send up to ``burst`` requests within ``burst_budget``; at least one must meet a 429."""
    endpoint = profile.endpoint
    burst = profile.burst or 0
    secret = None
    if profile.credential is not None:
        secret = ctx.secret(profile.credential.env, optional=profile.optional)

    def send() -> httpx.Response:
        return ctx.send(
            endpoint.method,
            endpoint.path,
            body=endpoint.body,
            credential=profile.credential,
            secret=secret,
            retry_429=False,
        )

    started = ctx.clock()
    deadline = started + min(profile.burst_budget_s, ctx.remaining())
    limited: httpx.Response | None = None
    sent = 0
    while sent < burst and ctx.clock() < deadline:
        response = send()
        sent += 1
        if response.status_code == 429:
            limited = response
            break
    took = ctx.clock() - started
    if limited is None:
        why = (
            ""
            if sent == burst
            else f" before the burst budget of {profile.burst_budget_s:g} s ran out"
        )
        raise ctx.fail(
            f"{endpoint}: {sent} requests in {took:.1f} s{why} met no 429; the endpoint is not "
            f"rate limited at this rate (burst = {burst})"
        )
    ctx.note(f"{endpoint}: 429 after {sent} requests in {took:.1f} s")
    raw = limited.headers.get("retry-after")
    if raw is None:
        if profile.require_retry_after:
            return [
                f"the 429 after {sent} requests has no Retry-After header, so clients cannot "
                "tell when to come back"
            ]
        return []
    wait, shown = retry_after_seconds(raw)
    left = deadline - ctx.clock()
    if wait > left:
        ctx.note(
            f"Retry-After {shown} is beyond the {left:.1f} s left of the burst budget; "
            "recovery not verified (raise burst_budget to verify it)"
        )
        return []
    ctx.sleep(wait)
    again = send()
    if again.status_code == 429:
        return [
            f"still 429 after waiting the {shown} s that Retry-After asked for; the header "
            "does not say when the limit lifts"
        ]
    ctx.note(f"recovered after waiting Retry-After {shown}: {again.status_code}")
    return []


# --------------------------------------------------------------------------- negative control


def negative_control(ctx: Context, profile: NegativeControl, path: str) -> list[str]:
    """A path that cannot exist must not answer 2xx."""
    secret = None
    if profile.credential is not None:
        secret = ctx.secret(profile.credential.env, optional=profile.optional)
    actual = path.replace("{random}", secrets.token_hex(8))
    response = ctx.send(profile.method, actual, credential=profile.credential, secret=secret)
    status = response.status_code
    if 200 <= status < 300:
        return [
            f"{profile.method} {actual} answered {status} for a path that cannot exist: the "
            "server answers every path (a catch-all route or SPA fallback), so a 2xx from a "
            "check proves nothing; answer 404 for unknown paths"
        ]
    ctx.note(f"{profile.method} {actual} -> {status}")
    return []


# --------------------------------------------------------------------------- health schema

# One table of health words for readiness and this profile (target/health.py).
HEALTHY = READY_WORDS
UNHEALTHY = NOT_READY_WORDS


def health_schema(ctx: Context, profile: HealthSchema) -> list[str]:
    """Findings about the health document's status/checks/version shape."""
    path = profile.path or _discover_health_path(ctx, profile)
    response = ctx.send("GET", path)
    if response.status_code not in SUCCESS:
        raise ctx.fail(
            f"GET {path}: status {response.status_code}, expected 2xx from the health "
            f"endpoint; response: {ctx.excerpt(response)}"
        )
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type.lower() and response.content.lstrip()[:1] not in (b"{", b"["):
        if profile.json_only:
            raise CheckSkipped(
                f"GET {path} answers {content_type or 'no content type'}, not "
                "JSON: no health schema to check"
            )
        raise ctx.fail(
            f"GET {path} answered {content_type or 'no content type'}, not a JSON "
            f"health document (status/checks/version); response: "
            f"{ctx.excerpt(response)}"
        )
    document = ctx.json_body(response)
    ctx.note(f"health document from GET {path}")
    return [f"GET {path}: {finding}" for finding in health_findings(document, profile.require)]


def _discover_health_path(ctx: Context, profile: HealthSchema) -> str:
    from ...target.readiness import DEFAULT_PATHS

    candidates = list(dict.fromkeys([*ctx.health_paths, *DEFAULT_PATHS]))
    for candidate in candidates:
        try:
            response = ctx.send("GET", candidate)
        except CheckFailed:
            continue
        if response.status_code in SUCCESS:
            return candidate
    message = (
        f"no health endpoint answered 2xx at {', '.join(candidates)}; set path in the "
        "health_schema profile or pass --gate-ready-path"
    )
    if profile.json_only:
        raise CheckSkipped(message)
    raise ctx.fail(message)


def health_findings(document: object, require: tuple[str, ...]) -> list[str]:
    """Every way a health document misses the status/checks/version schema."""
    if not isinstance(document, dict):
        return [
            f"the health body is {json_text(document)}, not an object with status, checks "
            "and version"
        ]
    findings: list[str] = []
    for name in require:
        if name not in document:
            findings.append(f"the health body has no {name!r} (required: {', '.join(require)})")
    status = document.get("status")
    if "status" in document and (not isinstance(status, str) or not status.strip()):
        findings.append(f"'status' is {json_text(status)}, not a word such as \"ok\"")
        status = None
    if "version" in document:
        version = document["version"]
        if isinstance(version, bool) or not isinstance(version, (str, int, float)) or version == "":
            findings.append(f"'version' is {json_text(version)}, not a version string")
    failing: list[str] = []
    if "checks" in document:
        checks = document["checks"]
        if not isinstance(checks, dict):
            findings.append(f"'checks' is {json_text(checks)}, not an object of named checks")
            checks = {}
        for name, check in checks.items():
            inner = check.get("status") if isinstance(check, dict) else check
            if not isinstance(inner, str):
                findings.append(f"checks.{name} has no status word (got {json_text(check)})")
            elif normalise(inner) in UNHEALTHY:
                failing.append(f"checks.{name} is {inner!r}")
    if isinstance(status, str) and normalise(status) in HEALTHY and failing:
        findings.append(
            f"'status' is {status!r} but {', '.join(failing)}: the summary hides a "
            "failing dependency"
        )
    return findings
