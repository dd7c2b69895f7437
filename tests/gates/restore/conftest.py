"""A session-scoped throwaway Postgres with a small shop database, and real pg_dump backups of it.

Backups (made once per session with the real pg_dump, named with the current time):
plain SQL, gzipped plain, custom, gzipped custom, directory and tar format; plus a truncated
gzip, an empty file, a 3-day-old custom dump and a manifest written at backup time.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from restorekit import SHOP_ROWS, SHOP_SQL, PgServer

from pytest_opsgate.gates.restore.server import LocalServer, find_server_binaries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@pytest.fixture(autouse=True)
def drill_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Each test's drills make their temporary folders here, and only here.

    Under /tmp and traversable, so the ``postgres`` user can use it; private to the test, so
    "nothing left behind" (``restorekit.leftover_*``) sees this test's drills and not the
    session servers of other xdist workers or the drills of tests running beside it.
    """
    tmp_path_factory.getbasetemp()  # pytest's own temporary root is fixed before the switch
    folder = Path(tempfile.mkdtemp(prefix="opsgate-test-tmp-", dir="/tmp"))
    folder.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))  # in-process drills
    monkeypatch.setenv("TMPDIR", str(folder))  # drills in subprocesses
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    """A throwaway Postgres for the session (skips when the server binaries are missing)."""
    try:
        binaries = find_server_binaries()
    except Exception as error:
        pytest.skip(f"Postgres server binaries missing: {error}")
    server = LocalServer(binaries)
    try:
        admin = server.start()
        yield PgServer(server, admin)
    finally:
        server.stop()


@dataclass
class Backups:
    """Paths of the session's backups of the shop database."""

    folder: Path
    plain: Path
    plain_gz: Path
    custom: Path
    custom_gz: Path
    directory: Path
    tar: Path
    truncated_gz: Path
    empty: Path
    stale: Path
    manifest: Path


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d_%H%M%S")


@pytest.fixture(scope="session")
def backups(pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Backups:
    """The shop database, dumped with the real pg_dump in every format (see module doc)."""
    pg.psql("CREATE DATABASE shop")
    pg.psql(SHOP_SQL, dbname="shop")
    folder = tmp_path_factory.mktemp("backups")
    stamp = _stamp(datetime.now() - timedelta(minutes=5))
    shop = pg.admin.for_database("shop").conninfo()
    pg_dump = pg.server.binaries.tool("pg_dump")
    if not os.access(pg_dump, os.X_OK):
        pg_dump = shutil.which("pg_dump") or "pg_dump"

    def dump(name: str, *args: str) -> Path:
        path = folder / name
        subprocess.run([pg_dump, "-d", shop, "-f", str(path), *args], check=True, timeout=120)
        return path

    def gz(source: Path, name: str) -> Path:
        target = folder / name
        target.write_bytes(gzip.compress(source.read_bytes()))
        return target

    plain = dump(f"shop_{stamp}.sql")
    custom = dump(f"shop_{stamp}.dump", "-Fc")
    data = gz(plain, f"shop_{stamp}.sql.gz").read_bytes()
    truncated = folder / f"shop_{stamp}_truncated.sql.gz"
    truncated.write_bytes(data[: len(data) // 2])
    empty = folder / f"shop_{stamp}_empty.sql"
    empty.touch()
    stale = folder / f"shop_{_stamp(datetime.now() - timedelta(days=3))}.dump"
    shutil.copyfile(custom, stale)
    manifest = folder / f"shop_{stamp}.manifest.json"
    manifest.write_text(json.dumps(SHOP_ROWS))
    return Backups(
        folder=folder, plain=plain, plain_gz=folder / f"shop_{stamp}.sql.gz", custom=custom,
        custom_gz=gz(custom, f"shop_{stamp}.dump.gz"), directory=dump(f"shop_{stamp}.dir", "-Fd"),
        tar=dump(f"shop_{stamp}.tar", "-Ft"), truncated_gz=truncated, empty=empty, stale=stale,
        manifest=manifest,
    )  # fmt: skip


@pytest.fixture
def one_backup(tmp_path: Path) -> Callable[..., Path]:
    """Put copies of backups into a fresh folder: ``one_backup(path, ...)`` -> the folder."""

    def make(*paths: Path) -> Path:
        for path in paths:
            if path.is_dir():
                shutil.copytree(path, tmp_path / path.name)
            else:
                shutil.copy2(path, tmp_path / path.name)
        return tmp_path

    return make
