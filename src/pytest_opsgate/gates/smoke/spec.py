"""What the smoke gate was asked to check: declarative checks, the profiles in use, and the
values both are made of (statuses, credentials, bodies, endpoints). Pure data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from ...slo.evaluate import SLO
    from .openapi.config import OpenAPIConfig
    from .registry import ConfiguredProfile, Profile

BodyKind = Literal["json", "form", "text"]

DEFAULT_BUDGET_S = 60.0

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

    def with_code(self, code: int) -> StatusSet:
        """This set, also accepting ``code``."""
        return StatusSet(self.codes | {code}, self.classes)

    def toml(self) -> str:
        """The set as a TOML value that :meth:`parse` reads back: ``[401, 403]`` or ``"2xx"``."""
        parts = [str(c) for c in sorted(self.codes)] + [f'"{c}xx"' for c in sorted(self.classes)]
        return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"


SUCCESS = StatusSet(classes=frozenset({2}))


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


@dataclass
class SmokeConfig:
    """Everything the smoke gate read from opsgate.toml / [tool.opsgate] and its options."""

    source: Path | None = None
    checks: list[Check] = field(default_factory=list)
    profiles: list[ConfiguredProfile[Any]] = field(default_factory=list)
    builtin: bool | None = None  # builtin_checks; None: only without configuration and tests
    disabled: set[str] = field(default_factory=set)  # profiles turned "off" (built-in too)
    budget_s: float = DEFAULT_BUDGET_S
    openapi: OpenAPIConfig | None = None  # [openapi] / --gate-openapi: contract checks
    registry: tuple[Profile[Any], ...] = ()  # every profile this run offers, built-in first

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
            names.extend(profile.secret_envs())
        if self.openapi is not None and self.openapi.credential is not None:
            names.append(self.openapi.credential.env)
        return list(dict.fromkeys(names))
