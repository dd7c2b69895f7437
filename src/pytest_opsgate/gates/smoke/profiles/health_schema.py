"""``health_schema``: the health document has the status/checks/version shape, and its status
does not hide a failing check."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ....target.health import NOT_READY_WORDS, READY_WORDS, normalise
from ..context import CheckFailed, CheckSkipped, json_text
from ..registry import Profile, ProfileCheck
from ..spec import SUCCESS

if TYPE_CHECKING:
    from ..context import Context
    from ..tables import Table

FIELDS = ("status", "checks", "version")


@dataclass(frozen=True)
class HealthSchema:
    """The settings of ``health_schema``."""

    path: str | None = None  # None: the readiness path, else the first health path that answers
    require: tuple[str, ...] = FIELDS
    json_only: bool = False  # built-in: a non-JSON health body is a skip, not a failure


def read(t: Table) -> HealthSchema:
    """Validate ``[health_schema]``."""
    path = t.path("path", "") if t.has("path") else None
    return HealthSchema(path=path or None, require=t.choices("require", FIELDS, FIELDS))


def checks(profile: HealthSchema) -> list[ProfileCheck]:
    """One item: ``health_schema``, or ``health_schema GET /path`` for a configured path."""
    label = "" if profile.path is None else f"GET {profile.path.split('?', 1)[0]}"
    return [ProfileCheck(label, functools.partial(health_schema, profile=profile))]


PROFILE = Profile(
    name="health_schema",
    read=read,
    checks=checks,
    keys=("path", "require"),
    order=10,
    # Without configuration only what readiness also needs: a status word, in JSON.
    zero_config=("fail", HealthSchema(require=("status",), json_only=True)),
)

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
    from ....target.readiness import DEFAULT_PATHS

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
