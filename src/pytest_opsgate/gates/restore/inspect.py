"""What a backup is, read from its content: format, size, sha256, and whether it is whole.

One streaming pass over the file hashes it, and for gzip also decompresses it (in memory,
chunk by chunk) so a truncated or corrupt gzip is a FAIL before any restore starts. For
plain SQL it also checks pg_dump's completion line (a dump cut at a statement boundary
would otherwise restore half a database with exit 0) and refuses ``\\connect``, which would
send the restore into another database than the ephemeral one.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import DrillError, DrillFailure

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BackupInfo", "inspect_backup", "sniff"]

GZIP_MAGIC = b"\x1f\x8b"
CUSTOM_MAGIC = b"PGDMP"
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_HEADER = b"-- PostgreSQL database dump"
PG_DUMP_TRAILER = b"-- PostgreSQL database dump complete"
_CHUNK = 1 << 20
_TAIL = 4096


@dataclass(frozen=True)
class BackupInfo:
    """The backup as found: where, what format, how big, its sha256."""

    path: Path
    format: str  # plain, custom, tar, directory or sqlite
    compressed: bool  # gzip around the format
    size: int  # bytes on disk (a directory: all its files)
    sha256: str  # of the bytes on disk (a directory: of its files' names and hashes)
    uncompressed_size: int | None
    from_pg_dump: bool  # plain SQL with pg_dump's header

    @property
    def format_label(self) -> str:
        """``custom``, ``plain (gzip)``, ``directory``..."""
        return f"{self.format} (gzip)" if self.compressed else self.format

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields."""
        return {
            "path": str(self.path),
            "format": self.format,
            "compressed": self.compressed,
            "size": self.size,
            "sha256": self.sha256,
            "uncompressed_size": self.uncompressed_size,
        }


def sniff(head: bytes) -> str | None:
    """The format the first bytes say (after any gzip layer), or None for unknown content."""
    if head.startswith(CUSTOM_MAGIC):
        return "custom"
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # a multibyte character cut at the end is fine
            return None
    return "plain" if head.strip() else None


class _PlainScan:
    """Watches plain SQL go by: keeps its tail and finds ``\\connect`` outside COPY data."""

    def __init__(self) -> None:
        self.tail = b""
        self.partial = b""
        self.in_copy = False
        self.connect_line: bytes | None = None

    def feed(self, data: bytes) -> None:
        self.tail = (self.tail + data)[-_TAIL:]
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > _TAIL:  # a huge COPY row: only a line's ends are ever looked at
            self.partial = self.partial[:64] + b"..." + self.partial[-64:]
        for line in lines:
            if self.in_copy:
                self.in_copy = line.rstrip(b"\r") != b"\\."
            elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                self.in_copy = True
            elif self.connect_line is None and line.startswith((b"\\connect", b"\\c ")):
                self.connect_line = line[:200]


def _unknown(path: Path, head: bytes) -> DrillFailure:
    if not head:
        return DrillFailure(f"the backup {path} is empty (0 bytes)")
    shown = head[:16].hex(" ")
    return DrillFailure(
        f"the backup {path} is not a format the drill knows (first bytes {shown}); expected "
        "gzip, a pg_dump custom/tar/directory dump (PGDMP), SQL text or a SQLite database"
    )


def _read_all(stream: BinaryIO, on_chunk: Any) -> None:
    while chunk := stream.read(_CHUNK):
        on_chunk(chunk)


def _inspect_file(path: Path) -> BackupInfo:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        head = raw.read(4096)
        raw.seek(0)
        compressed = head.startswith(GZIP_MAGIC)
        if not compressed:
            fmt = sniff(head)
            if fmt is None:
                raise _unknown(path, head)
            scan = _PlainScan()

            def plain_chunk(chunk: bytes) -> None:
                digest.update(chunk)
                if fmt == "plain":
                    scan.feed(chunk)

            _read_all(raw, plain_chunk)
            size = path.stat().st_size
            if fmt == "plain":
                _check_plain(path, head, scan)
            return BackupInfo(path, fmt, False, size, digest.hexdigest(), size, _from_pg_dump(head))
        hashing = _HashingReader(raw, digest)
        inner_head = b""
        inner_size = 0
        scan = _PlainScan()
        try:
            with gzip.GzipFile(fileobj=hashing, mode="rb") as unzipped:  # type: ignore[call-overload]
                while chunk := unzipped.read(_CHUNK):
                    if len(inner_head) < 4096:
                        inner_head = (inner_head + chunk)[:4096]
                    inner_size += len(chunk)
                    scan.feed(chunk)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            raise DrillFailure(
                f"the backup {path} is a corrupt or truncated gzip ({error}); it cannot be restored"
            ) from None
    if inner_size == 0:
        raise DrillFailure(f"the backup {path} is an empty gzip: it holds no dump")
    fmt = sniff(inner_head)
    if fmt is None:
        raise _unknown(path, inner_head)
    if fmt == "plain":
        _check_plain(path, inner_head, scan)
    size = path.stat().st_size
    return BackupInfo(
        path, fmt, True, size, digest.hexdigest(), inner_size, _from_pg_dump(inner_head)
    )


class _HashingReader:
    """A file wrapper that hashes the compressed bytes as gzip reads them."""

    def __init__(self, raw: BinaryIO, digest: Any) -> None:
        self._raw = raw
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._digest.update(data)
        return data


def _from_pg_dump(head: bytes) -> bool:
    return PG_DUMP_HEADER in head[:512]


def _check_plain(path: Path, head: bytes, scan: _PlainScan) -> None:
    if _from_pg_dump(head) and PG_DUMP_TRAILER not in scan.tail:
        raise DrillFailure(
            f"the plain SQL dump {path} ends without pg_dump's line {PG_DUMP_TRAILER.decode()!r}:"
            " it was cut short (truncated copy, full disk, killed pg_dump)"
        )
    if scan.connect_line is not None:
        line = scan.connect_line.decode("utf-8", "replace")
        raise DrillError(
            f"the plain SQL dump {path} switches database ({line!r}), so it would not restore "
            "into the drill's ephemeral database; make the backup with pg_dump without "
            "--create (or with -Fc), not pg_dumpall"
        )


def _inspect_directory(path: Path) -> BackupInfo:
    outer = hashlib.sha256()
    size = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        inner = hashlib.sha256()
        with file.open("rb") as stream:
            _read_all(stream, inner.update)
        size += file.stat().st_size
        outer.update(f"{file.relative_to(path)}\0{inner.hexdigest()}\n".encode())
    with (path / "toc.dat").open("rb") as toc:
        if not toc.read(5).startswith(CUSTOM_MAGIC):
            raise DrillFailure(f"{path}/toc.dat is not a pg_dump table of contents (no PGDMP)")
    return BackupInfo(path, "directory", False, size, outer.hexdigest(), None, False)


def inspect_backup(path: Path) -> BackupInfo:
    """Read the whole backup once; raise DrillFailure when it is empty, unknown or broken."""
    if path.is_dir():
        return _inspect_directory(path)
    return _inspect_file(path)
