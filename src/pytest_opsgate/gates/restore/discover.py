"""Finding the backup to drill: a file, a directory-format dump, or the newest in a folder.

Accepted timestamps in a name (the last one in the name wins), each optionally followed by
``Z`` to mean UTC; without ``Z`` a timestamp is read as the gate machine's local time, the
way ``date +%Y%m%d_%H%M%S`` writes it:

- ``YYYYMMDD_HHMMSS``, ``YYYYMMDD-HHMMSS``, ``YYYYMMDDTHHMMSS`` and ``YYYYMMDDHHMMSS``
- ``YYYY-MM-DDTHH:MM:SS``, ``YYYY-MM-DDTHHMMSS``, ``YYYY-MM-DD_HH-MM-SS`` (``T``, ``_``,
  ``-`` or a space between date and time; ``:``, ``-`` or nothing between time fields)
- the same without seconds: ``YYYYMMDD_HHMM``, ``YYYYMMDDHHMM``, ``YYYY-MM-DDTHH:MM``
- a date alone: ``YYYYMMDD`` or ``YYYY-MM-DD`` (midnight)

In a folder, each candidate's time is its name's timestamp, else its modification time, and
the latest wins (ties: the later mtime, then the name). Hidden files, checksums, signatures,
manifests and logs, and partial downloads are not candidates (see ``IGNORED_SUFFIXES``); an
empty or broken file is one, so the drill fails on it instead of skipping to an older backup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .errors import DrillFailure

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "IGNORED_SUFFIXES",
    "Candidate",
    "choose_newest",
    "find_backup",
    "is_directory_dump",
    "timestamp_in_name",
]

IGNORED_SUFFIXES = (
    ".json", ".md5", ".sha1", ".sha256", ".sha512", ".sig", ".asc", ".log", ".txt", ".md",
    ".tmp", ".part", ".partial", ".inprogress",
)  # fmt: skip
_YEAR = r"(?P<y>(?:19[7-9]|2\d\d)\d)"
_TIME_SEP = r"[:\-]?"
_STAMP = re.compile(
    r"(?<!\d)(?:"
    rf"{_YEAR}(?P<m>\d\d)(?P<d>\d\d)[_\-T]?(?P<H>\d\d)(?P<M>\d\d)(?P<S>\d\d)?"
    rf"|(?P<y2>(?:19[7-9]|2\d\d)\d)-(?P<m2>\d\d)-(?P<d2>\d\d)[T_\- ](?P<H2>\d\d){_TIME_SEP}"
    rf"(?P<M2>\d\d)(?:{_TIME_SEP}(?P<S2>\d\d))?"
    rf"|(?P<y3>(?:19[7-9]|2\d\d)\d)-?(?P<m3>\d\d)-?(?P<d3>\d\d)"
    r")(?P<z>Z)?(?!\d)"
)


def timestamp_in_name(name: str) -> datetime | None:
    """The last valid timestamp in ``name`` as an aware datetime, or None (see module doc)."""
    found: datetime | None = None
    for match in _STAMP.finditer(name):
        parts = match.groupdict()
        year = parts["y"] or parts["y2"] or parts["y3"]
        month = parts["m"] or parts["m2"] or parts["m3"]
        day = parts["d"] or parts["d2"] or parts["d3"]
        hour = parts["H"] or parts["H2"] or "0"
        minute = parts["M"] or parts["M2"] or "0"
        second = parts["S"] or parts["S2"] or "0"
        try:
            naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        except ValueError:
            continue  # 20251399 is a number, not a date
        found = naive.replace(tzinfo=timezone.utc) if parts["z"] else naive.astimezone()
    return found


def is_directory_dump(path: Path) -> bool:
    """True for a ``pg_dump -Fd`` directory: it holds ``toc.dat``."""
    return path.is_dir() and (path / "toc.dat").is_file()


@dataclass(frozen=True)
class Candidate:
    """One backup in a folder, with the time it is ranked by and where that time came from."""

    path: Path
    time: datetime
    source: str  # "name" or "mtime"
    mtime: float


def _candidate(path: Path) -> Candidate:
    stat_path = path / "toc.dat" if path.is_dir() else path
    mtime = stat_path.stat().st_mtime
    stamp = timestamp_in_name(path.name)
    if stamp is not None:
        return Candidate(path, stamp, "name", mtime)
    return Candidate(path, datetime.fromtimestamp(mtime, tz=timezone.utc), "mtime", mtime)


def choose_newest(candidates: list[Candidate]) -> Candidate | None:
    """The latest candidate by time, then mtime, then name; None for an empty list."""
    return max(candidates, key=lambda c: (c.time, c.mtime, c.path.name), default=None)


def _is_candidate(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name.lower().endswith(IGNORED_SUFFIXES):
        return False
    return path.is_file() or is_directory_dump(path)


def find_backup(path: Path) -> Candidate:
    """The backup at ``path``: the file or dump directory itself, or a folder's newest.

    Raises :class:`DrillFailure` (a FAIL) when nothing is there.
    """
    if not path.exists():
        raise DrillFailure(
            f"no backup found: {path} does not exist; pass --gate-restore-from a backup file "
            "or the folder your backups are written to"
        )
    if path.is_file() or is_directory_dump(path):
        return _candidate(path)
    if not path.is_dir():
        raise DrillFailure(f"no backup found: {path} is neither a file nor a folder")
    candidates = [_candidate(child) for child in path.iterdir() if _is_candidate(child)]
    newest = choose_newest(candidates)
    if newest is None:
        raise DrillFailure(
            f"no backup found in {path}: looked for backup files (pg_dump plain, gzipped, "
            "custom or tar format, SQLite) and pg_dump directory dumps (a folder with "
            f"toc.dat), ignoring hidden files and {', '.join(IGNORED_SUFFIXES)}"
        )
    return newest
