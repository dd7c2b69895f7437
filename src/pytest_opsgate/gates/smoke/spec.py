"""What the smoke gate was asked to check: declarative checks and built-in profiles (pure data)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path

    from ...slo.evaluate import SLO
    from .openapi.config import OpenAPIConfig

Mode = Literal["fail", "warn"]
BodyKind = Literal["json", "form", "text"]

PROFILE_NAMES = (
    "security_headers",
    "rate_limit",
    "auth",
    "csrf",
    "webhook_hmac",
    "cors",
    "negative_control",
    "health_schema",
)
RATE_LIMIT_STYLES = ("x-ratelimit", "ratelimit", "ratelimit-policy")
SECURITY_HEADER_RULES = ("hsts", "csp", "nosniff", "frame", "referrer_policy")
HEALTH_FIELDS = ("status", "checks", "version")
HSTS_MIN_AGE = 15_552_000  # 180 days, the floor most scanners use
DEFAULT_BUDGET_S = 60.0
DEFAULT_NEGATIVE_PATH = "/opsgate-negative-control-{random}"
DEFAULT_PROBE_ORIGIN = "https://opsgate-cors-probe.invalid"

_STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)


@dataclass(frozen=True)
class StatusSet:
    """Acceptable HTTP statuses: exact codes and whole classes such as ``2xx``."""

    codes: frozenset[int] = frozenset()
    classes: frozenset[int] = frozenset()

    def __contains__(self, status: object) -> bool:
        if not isinstance(status, int):
            return False
        return status in self.codes or status // 100 in self.classes

    @classmethod
    def parse(cls, value: object) -> StatusSet:
        """Read ``200``, ``"2xx"`` or a list of them; ValueError names the bad part."""
        items = value if isinstance(value, list) else [value]
        if not items:
            raise ValueError('is an empty list; give at least one status such as 200 or "2xx"')
        codes: set[int] = set()
        classes: set[int] = set()
        for item in items:
            if isinstance(item, bool):
                raise ValueError(f'holds {item!r}, which is not a status; use 200 or "2xx"')
            if isinstance(item, int):
                if not 100 <= item <= 599:
                    raise ValueError(f"holds {item}, outside the HTTP statuses 100-599")
                codes.add(item)
                continue
            match = _STATUS_CLASS.match(item) if isinstance(item, str) else None
            if match is None:
                raise ValueError(f'holds {item!r}, which is not a status; use 200 or "2xx"')
            classes.add(int(match.group(1)))
        return cls(frozenset(codes), frozenset(classes))

    def __str__(self) -> str:
        parts = [f"{c}xx" for c in sorted(self.classes)] + [str(c) for c in sorted(self.codes)]
        return parts[0] if len(parts) == 1 else "one of " + ", ".join(parts)


SUCCESS = StatusSet(classes=frozenset({2}))
CLIENT_ERROR = StatusSet(classes=frozenset({4}))
NOT_AUTHENTICATED = StatusSet(frozenset({401, 403}))
UNAUTHORIZED = StatusSet(frozenset({401}))
CSRF_REFUSED = StatusSet(frozenset({400, 403, 419, 422}))
NOT_REFUSED = StatusSet(classes=frozenset({2, 3}))
WEBHOOK_PAYLOAD = b'{"event": "opsgate.smoke", "id": 1}'


@dataclass(frozen=True)
class Credential:
    """A secret read from the environment and where the request carries it."""

    env: str
    header: str | None = None  # sent as-is in this header
    scheme: str | None = None  # sent as ``Authorization: <scheme> <value>``
    query: str | None = None  # sent as a query parameter

    def describe(self) -> str:
        """Where the credential goes, without its value: ``X-Api-Key from $DEV_KEY``."""
        if self.header:
            where = self.header
        elif self.scheme:
            where = f"Authorization: {self.scheme}"
        else:
            where = f"query parameter {self.query}"
        return f"{where} from ${self.env}"


@dataclass(frozen=True)
class Body:
    """A request body: JSON value, form fields, or raw text."""

    kind: BodyKind
    value: object


@dataclass(frozen=True)
class Check:
    """One declarative request and what its response must look like."""

    label: str  # the item name: "GET /api/items" or "GET /api/items (admin)"
    where: str  # for messages: "checks[2]"
    method: str
    path: str
    name: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    body: Body | None = None
    credential: Credential | None = None
    status: StatusSet = SUCCESS
    content_type: str | None = None
    json_has: tuple[str, ...] = ()
    json_equals: tuple[tuple[str, object], ...] = ()
    headers_has: tuple[str, ...] = ()
    headers_match: tuple[tuple[str, re.Pattern[str]], ...] = ()
    body_contains: str | None = None
    latency_ms: float | None = None
    repeat: int = 1
    slos: tuple[SLO, ...] = ()
    optional: bool = False
    follow_redirects: bool = False
    budget_s: float = DEFAULT_BUDGET_S

    @property
    def expects_json(self) -> bool:
        """Whether the response body has to be parsed as JSON."""
        return bool(self.json_has or self.json_equals)


@dataclass(frozen=True)
class Endpoint:
    """A method, a path and an optional body, as profiles name them: ``POST /api/preview``."""

    method: str
    path: str
    body: Body | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path.split('?', 1)[0]}"


@dataclass(frozen=True)
class SecurityHeaders:
    """``security_headers``: HSTS (https only), CSP, nosniff, frame protection, Referrer-Policy."""

    mode: Mode = "fail"
    paths: tuple[str, ...] = ("/",)
    hsts_min_age: int = HSTS_MIN_AGE
    allow_report_only: bool = False
    ignore: frozenset[str] = frozenset()
    credential: Credential | None = None
    optional: bool = False


@dataclass(frozen=True)
class RateLimit:
    """``rate_limit``: the headers on one endpoint, and an opt-in burst that must meet a 429."""

    mode: Mode = "fail"
    endpoint: Endpoint = Endpoint("GET", "/")
    credential: Credential | None = None
    styles: tuple[str, ...] = RATE_LIMIT_STYLES
    require_all: bool = False
    burst: int | None = None
    burst_budget_s: float = 30.0
    require_retry_after: bool = True
    optional: bool = False


@dataclass(frozen=True)
class Auth:
    """``auth``: no credential -> refused, wrong credential -> 401, right credential -> 2xx."""

    endpoints: tuple[Endpoint, ...]
    credential: Credential
    mode: Mode = "fail"
    unauthenticated: StatusSet = NOT_AUTHENTICATED
    wrong: StatusSet = UNAUTHORIZED
    accepted: StatusSet = SUCCESS
    optional: bool = False


@dataclass(frozen=True)
class Csrf:
    """``csrf``: a state-changing request without the token is refused; with it, accepted."""

    endpoint: Endpoint
    mode: Mode = "fail"
    refused: StatusSet = CSRF_REFUSED
    accepted: StatusSet = NOT_REFUSED
    token_path: str | None = None
    token_cookie: str | None = None
    token_field: str | None = None
    token_header: str | None = None


@dataclass(frozen=True)
class WebhookHmac:
    """``webhook_hmac``: a signed body is accepted; a tampered or unsigned one refused."""

    endpoint: Endpoint
    env: str
    mode: Mode = "fail"
    header: str = "X-Signature"
    algorithm: str = "sha256"
    signature_format: str = "sha256={hex}"
    content_type: str = "application/json"
    payload: bytes = WEBHOOK_PAYLOAD
    accepted: StatusSet = SUCCESS
    refused: StatusSet = CLIENT_ERROR
    optional: bool = False


@dataclass(frozen=True)
class Cors:
    """``cors``: a preflight from the configured origin gets the expected Access-Control-*."""

    origin: str
    mode: Mode = "fail"
    paths: tuple[str, ...] = ("/",)
    method: str = "GET"
    request_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    probe_origin: str | None = DEFAULT_PROBE_ORIGIN


@dataclass(frozen=True)
class NegativeControl:
    """``negative_control``: a path that cannot exist must not answer 2xx (catch-all servers)."""

    mode: Mode = "fail"
    paths: tuple[str, ...] = (DEFAULT_NEGATIVE_PATH,)
    method: str = "GET"
    credential: Credential | None = None
    optional: bool = False


@dataclass(frozen=True)
class HealthSchema:
    """``health_schema``: the health body has the status/checks/version shape."""

    mode: Mode = "fail"
    path: str | None = None  # None: the readiness path, else the first health path that answers
    require: tuple[str, ...] = HEALTH_FIELDS
    json_only: bool = False  # built-in: a non-JSON health body is a skip, not a failure


Profile = (
    SecurityHeaders | RateLimit | Auth | Csrf | WebhookHmac | Cors | NegativeControl | HealthSchema
)


@dataclass
class SmokeConfig:
    """Everything the smoke gate read from opsgate.toml / [tool.opsgate] and its options."""

    source: Path | None = None
    checks: list[Check] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    builtin: bool | None = None  # builtin_checks; None: only without configuration and tests
    disabled: set[str] = field(default_factory=set)  # profiles turned "off" (built-in too)
    budget_s: float = DEFAULT_BUDGET_S
    openapi: OpenAPIConfig | None = None  # [openapi] / --gate-openapi: contract checks

    @property
    def configured(self) -> bool:
        """True when a file or an option asked for something."""
        return self.source is not None or bool(self.checks or self.profiles or self.openapi)

    def env_names(self) -> list[str]:
        """Environment variables holding secrets, in order of appearance."""
        names: list[str] = []
        for check in self.checks:
            if check.credential is not None:
                names.append(check.credential.env)
        for profile in self.profiles:
            credential = getattr(profile, "credential", None)
            if isinstance(credential, Credential):
                names.append(credential.env)
            if isinstance(profile, WebhookHmac):
                names.append(profile.env)
        if self.openapi is not None and self.openapi.credential is not None:
            names.append(self.openapi.credential.env)
        return list(dict.fromkeys(names))
