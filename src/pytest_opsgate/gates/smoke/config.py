"""Find and validate the smoke configuration: ``opsgate.toml`` or ``[tool.opsgate]``.

Errors are raised before any request is sent and name the file, the section and the key.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import GateUsageError
from .registry import read_profile
from .spec import DEFAULT_BUDGET_S, SUCCESS, Check, SmokeConfig
from .tables import ConfigError, Table, check_json_value, flatten

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .openapi.config import OpenAPIConfig
    from .registry import Profile

CONFIG_FILE = "opsgate.toml"
# Tables other readers take from the same file; the smoke gate leaves them alone.
RESERVED_KEYS = ("e2e", "load", "restore", "prometheus")
SMOKE_KEYS = ("checks", "builtin_checks", "budget", "openapi")  # besides the profiles' names
CHECK_KEYS = (
    *("name", "method", "path", "headers", "query", "json", "form", "body", "auth"),
    *("status", "content_type", "json_has", "json_equals", "headers_has", "headers_match"),
    *("body_contains", "latency", "repeat", "slo", "optional", "follow_redirects", "budget"),
)


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: is not valid TOML ({exc}); fix the syntax") from None
    return data


def find_config(
    explicit: str | None, rootdir: Path, arg_dirs: Sequence[Path], invocation_dir: Path
) -> tuple[Path, dict[str, Any]] | None:
    """The config file and its opsgate table, from the most specific place.

    Order: --gate-config; opsgate.toml in a folder named on the command line; opsgate.toml in
    the rootdir; [tool.opsgate] in the rootdir's pyproject.toml; suites/smoke/opsgate.toml.
    """
    if explicit:
        path = Path(explicit)
        if not path.is_absolute():
            path = invocation_dir / path
        if not path.is_file():
            raise GateUsageError(
                f"--gate-config {explicit} does not exist; pass the path of an opsgate.toml "
                "or of a pyproject.toml with a [tool.opsgate] table"
            )
        data = _load_toml(path)
        if path.name == "pyproject.toml":
            table = data.get("tool", {}).get("opsgate")
            if table is None:
                raise GateUsageError(
                    f"--gate-config {explicit} has no [tool.opsgate] table; add one or pass "
                    "an opsgate.toml"
                )
            return path, table
        return path, data
    folders = list(dict.fromkeys(arg_dirs))
    for folder in folders:
        if folder != rootdir and (folder / CONFIG_FILE).is_file():
            return folder / CONFIG_FILE, _load_toml(folder / CONFIG_FILE)
    candidate = rootdir / CONFIG_FILE
    pyproject = rootdir / "pyproject.toml"
    table = _load_toml(pyproject).get("tool", {}).get("opsgate") if pyproject.is_file() else None
    if candidate.is_file():
        if table is not None:
            raise GateUsageError(
                f"{candidate} and {pyproject} [tool.opsgate] both configure opsgate; "
                "keep one of them"
            )
        return candidate, _load_toml(candidate)
    if table is not None:
        return pyproject, table
    # The shipped layout: tests of a gate live under suites/<gate>/.
    for folder in [rootdir, *folders]:
        for candidate in (
            folder / "suites" / "smoke" / CONFIG_FILE,
            folder / "smoke" / CONFIG_FILE,
        ):
            if candidate.is_file() and (candidate.parent.parent.name == "suites"):
                return candidate, _load_toml(candidate)
    return None


def load_config(
    source: Path | None,
    data: dict[str, Any] | None,
    *,
    display: str,
    cli_profiles: Sequence[str] = (),
    openapi_option: str | None = None,
    invocation_dir: Path | None = None,
    registry: Sequence[Profile[Any]] | None = None,
) -> SmokeConfig:
    """Validate the opsgate table (``data``), --gate-profile and --gate-openapi.

    ``registry`` is every profile on offer (default: the built-in ones).
    """
    if registry is None:
        from .profiles import BUILTIN

        registry = BUILTIN
    names = [profile.name for profile in registry]
    for name in cli_profiles:
        if name not in names:
            raise GateUsageError(
                f"--gate-profile: unknown smoke profile {name!r}; use one of {', '.join(names)}"
            )
    in_pyproject = display.endswith("pyproject.toml")
    top = Table(data or {}, display, "[tool.opsgate]" if in_pyproject else "")
    top.prefix = "tool.opsgate." if in_pyproject else ""
    config = SmokeConfig(source=source, registry=tuple(registry))
    builtin = top.raw("builtin_checks", "auto")
    if builtin not in ("auto", True, False):
        top.fail(f'is {builtin!r}; use true, false or "auto"', "builtin_checks")
    config.builtin = None if builtin == "auto" else bool(builtin)
    config.budget_s = top.duration("budget", DEFAULT_BUDGET_S) or DEFAULT_BUDGET_S
    config.checks = _checks(top, config.budget_s)
    for profile in registry:
        name = profile.name
        if top.has(name) or name in cli_profiles:
            found = read_profile(top, profile, cli=name in cli_profiles)
            config.profiles.extend(found)
            if not found:
                config.disabled.add(name)
    if top.has("openapi") or openapi_option:
        config.openapi = _openapi(top, source, openapi_option, invocation_dir or Path.cwd())
    top.finish((*SMOKE_KEYS, *names), ignored=RESERVED_KEYS)
    return config


def _openapi(
    top: Table, source: Path | None, option: str | None, invocation_dir: Path
) -> OpenAPIConfig:
    from .openapi.config import OpenAPIConfig, read_openapi, with_option

    if top.has("openapi"):
        base_dir = source.parent if source is not None else None
        openapi = read_openapi(top, base_dir=base_dir, option_given=bool(option))
    else:
        openapi = OpenAPIConfig(where="--gate-openapi")
    return with_option(openapi, option, invocation_dir) if option else openapi


# --------------------------------------------------------------------------- checks


def _checks(top: Table, budget_s: float) -> list[Check]:
    raw = top.raw("checks", [])
    if not isinstance(raw, list):
        top.fail(
            f"must be an array of tables: write each check under [[{top.prefix}checks]]", "checks"
        )
    checks = [_check(top, index, item, budget_s) for index, item in enumerate(raw, 1)]
    by_endpoint: dict[str, list[Check]] = {}
    for check in checks:
        by_endpoint.setdefault(check.label, []).append(check)
    labelled: list[Check] = []
    seen: dict[str, Check] = {}
    for check in checks:
        label = check.label
        if len(by_endpoint[check.label]) > 1 and check.name:
            label = f"{check.label} ({check.name})"
        if label in seen:
            top.fail(
                f"{seen[label].where} and {check.where} are both {label}; give them different "
                'names (name = "...") so each gets its own test id',
                "checks",
            )
        check = _relabel(check, label)
        seen[label] = check
        labelled.append(check)
    return labelled


def _relabel(check: Check, label: str) -> Check:
    from dataclasses import replace

    from ...slo.evaluate import parse_slo

    # The expression after the last colon is the user's; the scope is the check's final id.
    slos = tuple(parse_slo(f"{label}: {slo.text.rpartition(':')[2].strip()}") for slo in check.slos)
    return replace(check, label=label, slos=slos)


def _check(top: Table, index: int, item: object, budget_s: float) -> Check:
    where = f"[[{top.prefix}checks]] #{index}"
    if isinstance(item, dict) and isinstance(item.get("path"), str):
        method = str(item.get("method", "GET")).upper()
        where_label = f"{where} ({method} {item['path'].split('?', 1)[0]})"
    else:
        where_label = where
    t = Table(item, top.file, where_label)
    method = t.method()
    path = t.path()
    label = f"{method} {path.split('?', 1)[0]}"
    name = t.opt_string("name")
    if name is not None and ("::" in name or "[" in name):
        t.fail(f"is {name!r}; a name may not contain '::' or '['", "name")
    headers = t.scalar_table("headers", headers=True)
    query = t.scalar_table("query")
    body = t.body()
    credential = t.credential("auth")
    status = t.status("status", SUCCESS)
    content_type = t.opt_string("content_type")
    json_has = t.string_list("json_has")
    for dotted in json_has:
        _check_dotted(t, "json_has", dotted)
    json_equals = _json_equals(t)
    headers_has = t.header_names("headers_has")
    headers_match = _headers_match(t)
    body_contains = t.opt_string("body_contains")
    latency = t.duration("latency", None)
    repeat = t.integer("repeat", 1, 1, 10_000)
    slos = _check_slos(t, label)
    check = Check(
        label=label,
        where=where,
        method=method,
        path=path,
        name=name,
        headers=headers,
        query=query,
        body=body,
        credential=credential,
        status=status,
        content_type=content_type,
        json_has=json_has,
        json_equals=json_equals,
        headers_has=headers_has,
        headers_match=headers_match,
        body_contains=body_contains,
        latency_ms=None if latency is None else latency * 1000.0,
        repeat=repeat,
        slos=slos,
        optional=t.boolean("optional", False),
        follow_redirects=t.boolean("follow_redirects", False),
        budget_s=t.duration("budget", budget_s) or budget_s,
    )
    t.finish(CHECK_KEYS)
    return check


def _check_dotted(t: Table, key: str, dotted: str) -> None:
    if any(not part for part in dotted.split(".")):
        t.fail(
            f'holds {dotted!r}; a field path is names joined by dots, e.g. "checks.db.status"', key
        )


def _json_equals(t: Table) -> tuple[tuple[str, object], ...]:
    value = t.raw("json_equals", None)
    if value is None:
        return ()
    if not isinstance(value, dict):
        t.fail(
            'must be a table of field paths to values, e.g. { "checks.db.status" = "ok" }',
            "json_equals",
        )
    pairs = flatten(value)
    for dotted, expected in pairs:
        _check_dotted(t, "json_equals", dotted)
        check_json_value(t, "json_equals", expected)
    return tuple(pairs)


def _headers_match(t: Table) -> tuple[tuple[str, re.Pattern[str]], ...]:
    pairs = t.scalar_table("headers_match", headers=True)
    compiled = []
    for name, pattern in pairs:
        try:
            compiled.append((name, re.compile(pattern)))
        except re.error as exc:
            t.fail(
                f"gives {name!r} the pattern {pattern!r}, which is not a regular expression "
                f"({exc})",
                "headers_match",
            )
    return tuple(compiled)


def _check_slos(t: Table, scope: str) -> tuple[Any, ...]:
    from ...slo.evaluate import SLOSyntaxError, parse_slo

    slos = []
    for text in t.string_list("slo"):
        if ":" in text:
            t.fail(
                f"holds {text!r}: a check's SLO takes no scope; it covers this check's own "
                'requests, e.g. "p95 < 300ms"',
                "slo",
            )
        try:
            slo = parse_slo(f"{scope}: {text}")
        except SLOSyntaxError as exc:
            problem = exc.problem
            t.fail(f'holds {text!r}: {problem}; e.g. "p95 < 300ms" or "error_rate < 1%"', "slo")
        if slo.is_page:
            t.fail(
                f"holds {text!r}, a page timing; a smoke check measures requests "
                "(p95, max, error_rate, ...)",
                "slo",
            )
        slos.append(slo)
    return tuple(slos)
