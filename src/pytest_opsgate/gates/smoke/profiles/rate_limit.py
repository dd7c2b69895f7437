"""``rate_limit``: the rate-limit headers of one endpoint, and an opt-in burst that must meet a
429 whose Retry-After is honoured."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..context import retry_after_seconds
from ..registry import Profile, ProfileCheck
from ..spec import Endpoint

if TYPE_CHECKING:
    import httpx

    from ..context import Context
    from ..spec import Credential
    from ..tables import Table

STYLES = ("x-ratelimit", "ratelimit", "ratelimit-policy")
BURST_BUDGET_S = 30.0
ROOT = Endpoint("GET", "/")


@dataclass(frozen=True)
class RateLimit:
    """The settings of ``rate_limit``."""

    endpoint: Endpoint = ROOT
    credential: Credential | None = None
    styles: tuple[str, ...] = STYLES
    require_all: bool = False
    burst: int | None = None
    burst_budget_s: float = BURST_BUDGET_S
    require_retry_after: bool = True
    optional: bool = False


def read(t: Table) -> RateLimit:
    """Validate ``[rate_limit]``."""
    burst = t.integer("burst", 0, 0, 10_000) or None
    return RateLimit(
        endpoint=Endpoint(t.method(), t.path("path", "/")),
        credential=t.credential("auth"),
        styles=t.choices("styles", STYLES, STYLES) or STYLES,
        require_all=t.choice("require", ("any", "all"), "any") == "all",
        burst=burst,
        burst_budget_s=t.duration("burst_budget", BURST_BUDGET_S) or BURST_BUDGET_S,
        require_retry_after=t.boolean("require_retry_after", True),
        optional=t.boolean("optional", False),
    )


def checks(profile: RateLimit) -> list[ProfileCheck]:
    """The headers item, and the burst item (run last: it spends the limit others share)."""
    headers = functools.partial(rate_limit_headers, profile=profile)
    items = [ProfileCheck(str(profile.endpoint), headers)]
    if profile.burst:
        items.append(
            ProfileCheck(
                f"burst {profile.endpoint}",
                functools.partial(rate_limit_burst, profile=profile),
                last=True,
                min_budget_s=profile.burst_budget_s + 30.0,
            )
        )
    return items


PROFILE = Profile(
    name="rate_limit",
    read=read,
    checks=checks,
    keys=(
        *("method", "path", "auth", "styles", "require", "burst", "burst_budget"),
        *("require_retry_after", "optional"),
    ),
    order=40,
    zero_config=("warn", RateLimit()),
)

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
