"""The per-folder UID list: UIDVALIDITY, UIDNEXT and the index of known messages.

File ``mailharness-uidlist``, text, one header line then one record per message::

    mailharness-uidlist 1 V<uidvalidity> N<uidnext>
    <uid> <wire size> <mtime ns> <base name, %XX-escaped>

Records are only ever appended (under the folder's flock) and the file is rewritten
atomically when compacted, so a reader never needs the lock: it reads whole lines only and
picks up appends incrementally from where it stopped. The record caches what would cost a
read or a stat to learn again (size, INTERNALDATE), which is what makes reopening a large
folder a directory listing plus one sequential read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._durable import atomic_write

MAGIC = "mailharness-uidlist"
VERSION = "1"
MAX_UID = 2**32 - 1  # uid and uid-validity are nz-number, 32-bit (RFC 3501 §9)


class UidListCorrupt(Exception):
    """The file does not parse; the caller must pick a new UIDVALIDITY (RFC 3501 §2.3.1.1)."""


@dataclass(frozen=True, slots=True)
class Record:
    uid: int
    size: int
    mtime_ns: int
    base: str


def _plain(text: str) -> bool:
    # ASCII and printable means 0x20-0x7E; without space and "%" it needs no escaping.
    return text.isascii() and text.isprintable() and " " not in text and "%" not in text


def escape_base(base: str) -> str:
    if _plain(base):
        return base  # the common case, and the fast one on a 100,000-message folder
    raw = os.fsencode(base)
    return "".join(
        chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in raw
    )


def unescape_base(text: str) -> str:
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(text[i]))
            i += 1
    return os.fsdecode(bytes(out))


def format_header(uidvalidity: int, uidnext: int) -> str:
    return f"{MAGIC} {VERSION} V{uidvalidity} N{uidnext}\n"


def parse_header(line: str) -> tuple[int, int]:
    parts = line.rstrip("\n").split(" ")
    if len(parts) != 4 or parts[0] != MAGIC or parts[1] != VERSION:
        raise UidListCorrupt(f"bad header {line!r}")
    if not (parts[2].startswith("V") and parts[3].startswith("N")):
        raise UidListCorrupt(f"bad header {line!r}")
    try:
        uidvalidity, uidnext = int(parts[2][1:]), int(parts[3][1:])
    except ValueError as exc:
        raise UidListCorrupt(f"bad header {line!r}") from exc
    if not (0 < uidvalidity <= MAX_UID and 0 < uidnext <= MAX_UID + 1):
        raise UidListCorrupt(f"header values out of range: {line!r}")
    return uidvalidity, uidnext


def format_record(rec: Record) -> str:
    return f"{rec.uid} {rec.size} {rec.mtime_ns} {escape_base(rec.base)}\n"


def parse_record(line: str) -> Record:
    parts = line.rstrip("\n").split(" ")
    # One isdigit() over the three numbers joined: no generator on a 100,000-line read.
    digits = "".join(parts[:3])
    if len(parts) != 4 or not (digits.isascii() and digits.isdigit()) or "" in parts:
        raise UidListCorrupt(f"bad record {line!r}")
    try:
        base = unescape_base(parts[3])
    except ValueError as exc:
        raise UidListCorrupt(f"bad record {line!r}") from exc
    uid = int(parts[0])
    if not 0 < uid <= MAX_UID:
        raise UidListCorrupt(f"uid out of range: {line!r}")
    return Record(uid, int(parts[1]), int(parts[2]), base)


class UidList:
    """The in-memory view of one uid list file. Not thread-safe: the Folder serialises."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.uidvalidity: int | None = None  # None: no file (yet, or lost)
        self._header_uidnext = 1
        self.last_uid = 0
        self.records: dict[str, Record] = {}
        self._ident: tuple[int, int] | None = None  # (st_dev, st_ino) of what we read
        self._offset = 0  # bytes consumed: always just after a newline

    @property
    def uidnext(self) -> int:
        return max(self._header_uidnext, self.last_uid + 1)

    def refresh(self) -> bool:
        """Catch up with the file; True if anything changed. Raises UidListCorrupt."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            changed = self.uidvalidity is not None
            self._reset(None)
            return changed
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if ident != self._ident or st.st_size < self._offset:
                self._reset(None)
                self._ident = ident
            elif st.st_size == self._offset:
                return False
            os.lseek(fd, self._offset, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(chunks)
        end = data.rfind(b"\n") + 1  # a torn last line is not there yet
        try:
            text = data[:end].decode("ascii")
        except UnicodeDecodeError as exc:
            raise UidListCorrupt("non-ASCII bytes in the uid list") from exc
        self._consume(text)
        self._offset += end
        return end > 0

    def _consume(self, text: str) -> None:
        lines = text.splitlines(keepends=True)
        if self._offset == 0 and lines:
            self.uidvalidity, self._header_uidnext = parse_header(lines[0])
            lines = lines[1:]
        elif self._offset == 0:
            return
        for line in lines:
            rec = parse_record(line)
            # UIDs strictly ascending (RFC 3501 §2.3.1.1); anything else means damage.
            if rec.uid <= self.last_uid:
                raise UidListCorrupt(f"uid {rec.uid} not above {self.last_uid}")
            if rec.base in self.records:
                raise UidListCorrupt(f"message {rec.base!r} listed twice")
            self.records[rec.base] = rec
            self.last_uid = rec.uid

    def _reset(self, uidvalidity: int | None) -> None:
        self.uidvalidity = uidvalidity
        self._header_uidnext = 1
        self.last_uid = 0
        self.records = {}
        self._ident = None
        self._offset = 0

    def rewrite(self, uidvalidity: int, uidnext: int, records: Iterable[Record], *,
                fsync: bool) -> None:
        """Atomically replace the file (creation, compaction, or recovery)."""
        recs = sorted(records, key=lambda r: r.uid)
        text = format_header(uidvalidity, uidnext) + "".join(format_record(r) for r in recs)
        atomic_write(self.path, text.encode("ascii"), fsync=fsync)
        self._reset(None)
        self.refresh()

    def append(self, records: list[Record], *, fsync: bool) -> None:
        """Append records; the caller holds the folder lock and has just refreshed."""
        if not records:
            return
        fd = os.open(self.path, os.O_RDWR)
        try:
            st = os.fstat(fd)
            if st.st_size != self._offset:
                # Bytes past our last newline are a record torn by a crash: its writer
                # never got past this point, so no one was told that uid. Cut them off.
                os.ftruncate(fd, self._offset)
            os.lseek(fd, self._offset, os.SEEK_SET)
            data = "".join(format_record(r) for r in records).encode("ascii")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.refresh()
