"""Strict reading of one TOML table: every error names the file, the section and the key."""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, NoReturn

from ...errors import GateUsageError
from ...measure.metrics import HTTP_METHODS
from .spec import Body, Credential, StatusSet

if TYPE_CHECKING:
    from collections.abc import Iterable

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_MISSING = object()


class ConfigError(GateUsageError):
    """Invalid smoke configuration; the message names file, section and key."""


class Table:
    """One TOML table being read; keys are consumed, leftovers are unknown keys."""

    def __init__(self, data: object, file: str, section: str) -> None:
        self.file = file
        self.section = section
        self.prefix = ""  # "tool.opsgate." in pyproject.toml, for section names in messages
        if not isinstance(data, dict):
            self.fail(f"must be a table, not {_type_name(data)}", key=None)
        self.data: dict[str, object] = dict(data)
        self._seen: set[str] = set()

    # errors

    def fail(self, problem: str, key: str | None) -> NoReturn:
        """Raise ConfigError naming file, section and key."""
        where = f"{self.file}: {self.section}" if self.section else self.file
        what = f"key {key!r} " if key is not None else ""
        raise ConfigError(f"{where}: {what}{problem}")

    def finish(self, known: Iterable[str], ignored: Iterable[str] = ()) -> None:
        """Reject keys nobody read, suggesting the closest known one."""
        allowed = sorted(set(known))
        for key in self.data:
            if key in self._seen or key in ignored:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"is unknown{hint}; valid keys are {', '.join(allowed)}", key)

    @property
    def seen(self) -> frozenset[str]:
        """The keys read so far, whether the table sets them or not."""
        return frozenset(self._seen)

    # typed getters

    def has(self, key: str) -> bool:
        """Whether the table sets ``key``."""
        return key in self.data

    def raw(self, key: str, default: object = None) -> object:
        """The value as TOML gave it."""
        self._seen.add(key)
        return self.data.get(key, default)

    def string(self, key: str, default: object = _MISSING) -> str:
        """A required (or defaulted) string."""
        value = self.raw(key, default)
        if value is _MISSING:
            self.fail("is required", key)
        if not isinstance(value, str):
            self.fail(f"must be a string, not {_type_name(value)}", key)
        return value

    def opt_string(self, key: str) -> str | None:
        """An optional non-empty string."""
        if not self.has(key):
            self.raw(key)
            return None
        value = self.string(key)
        if not value.strip():
            self.fail("must not be empty", key)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """A boolean (TOML true/false)."""
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, not {_type_name(value)}", key)
        return value

    def integer(self, key: str, default: object, low: int, high: int) -> int:
        """A whole number in [low, high]."""
        value = self.raw(key, default)
        if value is _MISSING:
            self.fail("is required", key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be a whole number, not {_type_name(value)}", key)
        if not low <= value <= high:
            self.fail(f"is {value}; use a number from {low} to {high}", key)
        return value

    def duration(self, key: str, default: float | None) -> float | None:
        """A duration with a unit (``"300ms"``, ``"30s"``), in seconds."""
        from ...slo.evaluate import parse_duration

        value = self.raw(key, _MISSING)
        if value is _MISSING:
            return default
        problem = f'must be a duration with a unit such as "500ms" or "30s", not {value!r}'
        if not isinstance(value, str) or not re.search(r"[a-zA-Z]\s*$", value):
            self.fail(problem, key)
        try:
            seconds = parse_duration(value)
        except ValueError:
            self.fail(problem, key)
        if seconds <= 0:
            self.fail(f"is {value!r}; a duration must be above 0", key)
        return seconds

    def string_list(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of non-empty strings (a single string counts as a list of one)."""
        value = self.raw(key, _MISSING)
        if value is _MISSING:
            return default
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            self.fail(f"must be a list of non-empty strings, not {value!r}", key)
        return tuple(items)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        """One of a fixed set of strings."""
        value = self.string(key, default)
        if value not in choices:
            self.fail(f"is {value!r}; use one of {', '.join(map(repr, choices))}", key)
        return value

    def choices(
        self, key: str, choices: tuple[str, ...], default: tuple[str, ...]
    ) -> tuple[str, ...]:
        """A list drawn from a fixed set of strings."""
        values = self.string_list(key, default)
        for value in values:
            if value not in choices:
                self.fail(f"holds {value!r}; use names from {', '.join(choices)}", key)
        return values

    def scalar_table(self, key: str, *, headers: bool = False) -> tuple[tuple[str, str], ...]:
        """A table of names to strings (numbers and booleans become strings unless headers)."""
        value = self.raw(key, _MISSING)
        if value is _MISSING:
            return ()
        if not isinstance(value, dict):
            self.fail(f'must be a table such as {{ name = "value" }}, not {_type_name(value)}', key)
        pairs: list[tuple[str, str]] = []
        for name, item in _flatten(value):
            if headers and not _HEADER_NAME.match(name):
                self.fail(f"holds {name!r}, which is not a header name", key)
            if isinstance(item, str):
                pairs.append((name, item))
            elif not headers and isinstance(item, (bool, int, float)):
                pairs.append((name, str(item).lower() if isinstance(item, bool) else str(item)))
            else:
                self.fail(f"gives {name!r} {_type_name(item)}; values must be strings", key)
        return tuple(pairs)

    def header_names(self, key: str) -> tuple[str, ...]:
        """A list of header names."""
        names = self.string_list(key)
        for name in names:
            if not _HEADER_NAME.match(name):
                self.fail(f"holds {name!r}, which is not a header name", key)
        return names

    def status(self, key: str, default: StatusSet) -> StatusSet:
        """A status, a status class ("2xx"), or a list of them."""
        value = self.raw(key, _MISSING)
        if value is _MISSING:
            return default
        try:
            return StatusSet.parse(value)
        except ValueError as exc:
            self.fail(str(exc), key)

    def method(self, key: str = "method", default: str = "GET") -> str:
        """An HTTP method, upper-cased."""
        value = self.string(key, default).upper()
        if value not in HTTP_METHODS:
            self.fail(f"is {value!r}; use an HTTP method such as GET or POST", key)
        return value

    def path(self, key: str = "path", default: object = _MISSING) -> str:
        """A request path starting with a slash."""
        value = self.string(key, default)
        if not value.startswith("/") or value.startswith("//") or any(c.isspace() for c in value):
            self.fail(
                f'is {value!r}; a path starts with / and has no spaces, e.g. "/api/items"', key
            )
        return value

    def paths(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """A list of request paths."""
        values = self.string_list(key, default)
        if not values:
            self.fail('is empty; give at least one path such as "/"', key)
        for value in values:
            if not value.startswith("/") or any(c.isspace() for c in value):
                self.fail(f"holds {value!r}; a path starts with / and has no spaces", key)
        return values

    def env_name(self, key: str) -> str:
        """The name of an environment variable."""
        value = self.string(key)
        if not _ENV_NAME.match(value):
            self.fail(f"is {value!r}, which is not an environment variable name", key)
        return value

    def credential(self, key: str) -> Credential | None:
        """A secret from ``env``, sent in a header, as ``Authorization: <scheme>`` or a query."""
        value = self.raw(key, None)
        if value is None:
            return None
        sub = Table(value, self.file, f"{self.section}: {key}")
        env = sub.env_name("env")
        header = sub.opt_string("header")
        scheme = sub.opt_string("scheme")
        query = sub.opt_string("query")
        sub.finish(("env", "header", "scheme", "query"))
        if sum(x is not None for x in (header, scheme, query)) != 1:
            self.fail(
                "needs env and exactly one of header, scheme or query, e.g. "
                '{ header = "X-Api-Key", env = "DEV_KEY" } or { scheme = "Bearer", env = "TOKEN" }',
                key,
            )
        if header is not None and not _HEADER_NAME.match(header):
            self.fail(f"names header {header!r}, which is not a header name", key)
        return Credential(env=env, header=header, scheme=scheme, query=query)

    def body(self) -> Body | None:
        """The request body from exactly one of ``json``, ``form`` or ``body``."""
        given = [k for k in ("json", "form", "body") if self.has(k)]
        if len(given) > 1:
            self.fail(f"and {given[1]!r} are both set; a request has one body", given[0])
        if not given:
            return None
        key = given[0]
        if key == "json":
            value = self.raw(key)
            _check_json(self, key, value)
            return Body("json", value)
        if key == "form":
            return Body("form", dict(self.scalar_table(key)))
        return Body("text", self.string(key))


def _flatten(table: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    # TOML turns `a.b = 1` into nested tables; dotted names are what the user meant.
    out: list[tuple[str, object]] = []
    for name, value in table.items():
        full = f"{prefix}{name}"
        if isinstance(value, dict):
            out.extend(_flatten(value, full + "."))
        else:
            out.append((full, value))
    return out


def flatten(table: dict[str, object]) -> list[tuple[str, object]]:
    """``{a = {b = 1}}`` -> ``[("a.b", 1)]``."""
    return _flatten(table)


def _check_json(table: Table, key: str, value: object) -> None:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return
    if isinstance(value, list):
        for item in value:
            _check_json(table, key, item)
        return
    if isinstance(value, dict):
        for item in value.values():
            _check_json(table, key, item)
        return
    table.fail(f"holds {_type_name(value)}, which JSON cannot carry; quote it as a string", key)


def check_json_value(table: Table, key: str, value: object) -> None:
    """Reject TOML values (dates, times) that have no JSON form."""
    _check_json(table, key, value)


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"
