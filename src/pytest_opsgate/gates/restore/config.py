"""The restore gate's settings: its options and the ``[restore]`` table, read strictly.

::

    [restore]                          # [tool.opsgate.restore] in a pyproject.toml
    from = "backups/"                  # --gate-restore-from; paths are relative to this file
    dsn_env = "RESTORE_DSN"            # the environment variable holding the DSN (a secret)
    expect = ["orders: rows >= 1000", "restore_time < 10m"]
    manifest = "backups/latest.manifest.json"
    tolerance = "5%"
    max_age = "26h"
    timeout = "10m"
    then = "python manage.py migrate --check"
    then_timeout = "5m"                # default: --gate-cmd-timeout
    bindir = "/usr/lib/postgresql/16/bin"

    [[restore.sql]]                    # read-only; the first column of the first row
    name = "every order has a customer"
    query = "SELECT count(*) FROM orders WHERE customer_id NOT IN (SELECT id FROM customers)"
    expect = "0"                       # or ">= 1", "!= 0", "< 10"

The table lives in the file the smoke gate reads (``--gate-config``, ``opsgate.toml``,
``[tool.opsgate]``), found the same way. Precedence, for each setting: the command line,
``OPSGATE_RESTORE_...``, the ini key, then the table, then the default. Expectations add
up: the table's and every ``--gate-restore-expect`` are all judged. Every mistake is a
:class:`~pytest_opsgate.errors.GateUsageError` naming the flag or the key and the fix,
before anything runs; a DSN's password never appears in one.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import settings as cfg
from ...errors import GateUsageError

if TYPE_CHECKING:
    import pytest

    from ...slo.grammar import SLO
    from ..smoke.tables import Table
    from .spec import DrillSpec

__all__ = ["TABLE_KEYS", "RestoreSetup", "load_restore", "restore_configured"]

TABLE_KEYS = (
    "from", "dsn_env", "expect", "manifest", "tolerance", "max_age", "timeout", "then",
    "then_timeout", "bindir", "sql",
)  # fmt: skip
SQL_KEYS = ("name", "query", "expect")
_EXAMPLES = {"tolerance": "5%"}
_SQL_EXPECT = re.compile(r"\s*(==|!=|<=|>=|<|>|=)?\s*(\S.*?)\s*", re.S)


@dataclass
class RestoreSetup:
    """The validated drill and where its settings came from, for messages and the header."""

    spec: DrillSpec
    source_origin: str  # "--gate-restore-from" or "opsgate.toml [restore] from"
    config_file: str | None  # the file the [restore] table came from
    expectation_count: int  # expectations, manifest, max age and SQL checks asked for


@dataclass(frozen=True)
class _Found:
    display: str  # the file as shown in messages
    folder: Path  # relative paths in the table start here
    prefix: str  # "tool.opsgate." in a pyproject.toml
    table: dict[str, Any] | None


def _display(path: Path, rootdir: Path) -> str:
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)


def _find(config: pytest.Config) -> _Found | None:
    """The ``[restore]`` table of the run's opsgate config file, as the smoke gate finds it."""
    from ..smoke.config import find_config

    invocation = Path(config.invocation_params.dir)
    rootdir = Path(config.rootpath)
    arg_dirs = []
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        path = path if path.is_absolute() else invocation / path
        arg_dirs.append(path if path.is_dir() else path.parent)
    found = find_config(cfg.option_value(config, "config") or None, rootdir, arg_dirs, invocation)
    if found is None:
        return None
    source, data = found
    display = _display(source, rootdir)
    table = data.get("restore") if isinstance(data, dict) else None
    prefix = "tool.opsgate." if source.name == "pyproject.toml" else ""
    return _Found(display, source.parent, prefix, table)


def restore_configured(config: pytest.Config) -> bool:
    """True when ``--gate-restore-from`` is given or the config file has a ``[restore]`` table.

    Any ``[restore]`` table counts, so ``--gate=all`` validates it: a typo such as ``form =``
    is a usage error, never a drill silently left out.
    """
    if cfg.option_value(config, "restore-from"):
        return True
    found = _find(config)
    return found is not None and found.table is not None


def _path(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else base / path


def _option(config: pytest.Config, name: str) -> Any:
    """An option's value from the command line, environment or ini; None when none sets it."""
    value = cfg.option_value(config, name, None)
    return None if value in (None, "", []) else value


class _Reader:
    """Reads one setting from its option, else the table, naming either in errors."""

    def __init__(self, config: pytest.Config, found: _Found | None) -> None:
        from ..smoke.tables import Table

        self.config = config
        self.invocation = Path(config.invocation_params.dir)
        self.found = found
        raw = found.table if found is not None else None
        self.table: Table | None = None
        if found is not None and raw is not None:
            self.table = Table(raw, found.display, f"[{found.prefix}restore]")
            self.table.prefix = found.prefix

    def where(self, key: str) -> str:
        assert self.found is not None
        return f"{self.found.display} [{self.found.prefix}restore] {key}"

    def has(self, key: str) -> bool:
        return self.table is not None and self.table.has(key)

    def path(self, option: str, key: str) -> tuple[Path | None, str]:
        given = _option(self.config, option)
        if given is not None:
            return _path(str(given), self.invocation), f"--gate-{option}"
        if self.table is None or not self.has(key):
            return None, ""
        assert self.found is not None
        text = self.table.opt_string(key)
        assert text is not None
        return _path(text, self.found.folder), self.where(key)

    def text(self, option: str, key: str) -> str | None:
        given = _option(self.config, option)
        if given is not None:
            return str(given)
        if self.table is None:
            return None
        return self.table.opt_string(key)

    def duration(self, option: str, key: str) -> float | None:
        """Seconds from the option, else the table's duration with a unit (``"26h"``)."""
        given = _option(self.config, option)
        if given is not None or self.table is None:
            return None if given is None else float(given)
        return self.table.duration(key, None)

    def parsed(self, option: str, key: str, parse: Any) -> Any:
        """A value the option's own parser reads; the table gives it as text or a number."""
        given = _option(self.config, option)
        if given is not None or self.table is None or not self.has(key):
            return given
        raw = self.table.raw(key)
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            self.table.fail(f"must be a string such as {_EXAMPLES[key]!r}", key)
        try:
            return parse(str(raw))
        except argparse.ArgumentTypeError as exc:
            self.table.fail(str(exc), key)


def _expectations(reader: _Reader) -> list[SLO]:
    from ...slo.grammar import SLOSyntaxError
    from .expect import parse_restore_expect

    slos: list[SLO] = []
    if reader.table is not None:
        for text in reader.table.string_list("expect"):
            try:
                slos.append(parse_restore_expect(text))
            except SLOSyntaxError as exc:
                reader.table.fail(str(exc), "expect")
    slos.extend(_option(reader.config, "restore-expect") or [])
    return list(dict.fromkeys(slos))  # the same expectation twice is judged once


def _sql_checks(reader: _Reader) -> list[Any]:
    from ..smoke.tables import Table
    from .checks import SqlCheck

    if reader.table is None or not reader.has("sql"):
        return []
    raw = reader.table.raw("sql")
    prefix = reader.table.prefix
    if not isinstance(raw, list) or not raw:
        reader.table.fail(
            f"must hold [[{prefix}restore.sql]] entries, each with query and expect", "sql"
        )
    checks = []
    for index, item in enumerate(raw, 1):
        t = Table(item, reader.table.file, f"[[{prefix}restore.sql]] #{index}")
        name = t.opt_string("name") or ""
        query = t.string("query").strip()
        if not query:
            t.fail("is empty; write a read-only query whose first value is checked", "query")
        expect = t.raw("expect")
        if isinstance(expect, bool) or not isinstance(expect, (str, int, float)):
            t.fail('is required: the value to expect, e.g. "0", ">= 1" or "!= 0"', "expect")
        if not _SQL_EXPECT.fullmatch(str(expect)):
            t.fail(f"is {expect!r}; write a value, with ==, !=, <, <=, > or >= before it", "expect")
        t.finish(SQL_KEYS)
        checks.append(SqlCheck(query, str(expect).strip(), name.strip()))
    return checks


def _dsn(reader: _Reader) -> tuple[str | None, str]:
    import os

    given = _option(reader.config, "restore-dsn")
    if given is not None:
        return str(given), "--gate-restore-dsn"
    if reader.table is None or not reader.has("dsn_env"):
        return None, ""
    name = reader.table.env_name("dsn_env")
    value = os.environ.get(name, "").strip()
    if not value:
        reader.table.fail(
            f"names {name}, which is not set or empty; export {name} with the DSN, or drop "
            "the key to restore into a throwaway local server",
            "dsn_env",
        )
    return value, f"{reader.where('dsn_env')} ({name})"


def _check_dsn(dsn: str, origin: str) -> None:
    from .endpoint import Endpoint
    from .errors import DrillError

    try:
        Endpoint.from_dsn(dsn)
    except DrillError as exc:  # its message never holds the password
        message = str(exc)
        if origin != "--gate-restore-dsn":
            message = message.replace("--gate-restore-dsn", origin, 1)
        raise GateUsageError(message) from None


def load_restore(config: pytest.Config) -> RestoreSetup | None:
    """The validated drill of this run, or None when no backup is given."""
    from .options import tolerance
    from .spec import DrillSpec

    found = _find(config)
    reader = _Reader(config, found)
    source, source_origin = reader.path("restore-from", "from")
    if source is None:
        if reader.table is not None:
            reader.table.raw("from")
            reader.table.finish(TABLE_KEYS)  # a typo beside a missing "from" is named first
        return None
    dsn, dsn_origin = _dsn(reader)
    if dsn is not None:
        _check_dsn(dsn, dsn_origin)
    expectations = _expectations(reader)
    manifest, _ = reader.path("restore-manifest", "manifest")
    bindir, bindir_origin = reader.path("restore-bindir", "bindir")
    if bindir is not None and not bindir.is_dir():
        raise GateUsageError(
            f"{bindir_origin} {bindir} is not a folder; pass the folder holding initdb, "
            "pg_ctl, postgres, psql and pg_restore (e.g. /usr/lib/postgresql/16/bin), or "
            "leave it out to find them"
        )
    max_age = reader.duration("restore-max-age", "max_age")
    timeout = reader.duration("restore-timeout", "timeout")
    share = reader.parsed("restore-tolerance", "tolerance", tolerance)
    then = reader.text("restore-then", "then")
    then_timeout = None
    if reader.table is not None:
        then_timeout = reader.table.duration("then_timeout", None)
    sql_checks = _sql_checks(reader)
    if reader.table is not None:
        reader.table.finish(TABLE_KEYS)
    if share is not None and manifest is None:
        given = "--gate-restore-tolerance" if _option(config, "restore-tolerance") else "tolerance"
        raise GateUsageError(
            f"{given} is set but no manifest is given; pass --gate-restore-manifest (or "
            "[restore] manifest) with the row counts written at backup time, or drop it"
        )
    spec = DrillSpec(
        source=source,
        dsn=dsn,
        expectations=expectations,
        manifest=manifest,
        manifest_tolerance=0.05 if share is None else share,
        max_age_s=max_age,
        sql_checks=sql_checks,
        then=then,
        then_timeout_s=then_timeout or cfg.option_value(config, "cmd-timeout"),
        timeout_s=600.0 if timeout is None else timeout,
        bindir=bindir,
    )
    asked = len(expectations) + len(sql_checks) + (manifest is not None) + (max_age is not None)
    return RestoreSetup(
        spec=spec,
        source_origin=source_origin,
        config_file=found.display if found is not None and found.table is not None else None,
        expectation_count=asked,
    )
