"""One Maildir folder: sync with disk, persistent UIDs, flags, atomic durable delivery.

Locking: a threading.RLock serialises this object's users (the servers call in from
asyncio.to_thread), and a flock on ``mailharness-uidlist.lock`` serialises every process
that assigns UIDs, appends to the uid list or edits the keyword table. Flag changes and
removals are plain renames/unlinks and need no lock: a stale name shows up as ENOENT,
after which we rescan and retry.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ._durable import FileLock, atomic_write, fsync_dir, write_new_file
from ._errors import MailboxNotFound, MessageNotFound, StoreError
from ._filenames import join_name, key_for, split_name, unique_base, wire_size
from ._flags import KeywordTable, flags_from_letters, letters_for, normalize_flags
from ._message import MessageInfo
from ._scan import Listing, measure, scan
from ._uidlist import Record, UidList, UidListCorrupt

UIDLIST_FILE = "mailharness-uidlist"
LOCK_FILE = "mailharness-uidlist.lock"
KEYWORDS_FILE = "mailharness-keywords"
# Directory mtimes are only trusted once they are this old: a change within the file
# system's timestamp granularity of our last look would otherwise go unnoticed.
_MTIME_SLACK_NS = 2_000_000_000
_TMP_MAX_AGE_S = 36 * 3600  # the Maildir spec's advice for abandoned tmp/ files
_COMPACT_MIN_DEAD = 256

Hook = Callable[[str], None]


@dataclass(slots=True)
class _Entry:
    info: MessageInfo
    sub: str
    filename: str
    extra: str  # info letters we keep but do not model
    generation: int  # of the keyword table the flags were decoded with


@dataclass(slots=True)
class Prepared:
    """A message written to tmp/ (and fsync'd, unless its batch is synced as a whole),
    waiting to be committed to new/ or cur/."""

    folder: Folder
    tmp: str  # a path; a str, because pathlib costs more than the write on this path
    base: str
    sub: str
    filename: str
    size: int
    mtime_ns: int
    flags: frozenset[str]


class Folder:
    """A folder of a user's Maildir++ tree. Get one from :meth:`Mailbox.folder`."""

    def __init__(self, name: str, path: Path, *, fsync: bool, hook: Hook | None,
                 new_uidvalidity: Callable[[], int]) -> None:
        self.name = name
        self.path = path
        self._fsync = fsync
        self._hook = hook
        self._new_uidvalidity = new_uidvalidity
        self._lock = threading.RLock()
        self._flock = FileLock(path / LOCK_FILE)
        self._uidlist = UidList(path / UIDLIST_FILE)
        self._keywords = KeywordTable()
        self._keywords_stamp: tuple[int, int, int] | None = None
        self._generation = 0
        self._entries: dict[str, _Entry] = {}
        self._by_uid: dict[int, str] = {}
        self._sorted: list[MessageInfo] | None = None
        self._stamp: tuple[object, ...] | None = None
        self._tmp_cleaned = False
        # Each delivery needs these; pathlib joins would cost ~8 us apiece per message.
        self._tmp_prefix = os.path.join(path, "tmp", "")
        self._subdirs = {"new": path / "new", "cur": path / "cur"}
        self._subdir_prefix = {sub: os.path.join(d, "") for sub, d in self._subdirs.items()}

    def __repr__(self) -> str:
        return f"<Folder {self.name!r} at {self.path}>"

    def exists(self) -> bool:
        """Whether the folder is still on disk (another process may have deleted it)."""
        return os.path.isdir(self._subdir_prefix["cur"])

    # -- reading ---------------------------------------------------------------------

    @property
    def uidvalidity(self) -> int:
        with self._lock:
            self._sync()
            assert self._uidlist.uidvalidity is not None
            return self._uidlist.uidvalidity

    @property
    def uidnext(self) -> int:
        with self._lock:
            self._sync()
            return self._uidlist.uidnext

    def messages(self) -> list[MessageInfo]:
        """Every message, sorted by UID; a few stats when nothing changed."""
        with self._lock:
            self._sync()
            if self._sorted is None:
                self._sorted = sorted((e.info for e in self._entries.values()),
                                      key=lambda i: i.uid)
            return list(self._sorted)

    def get(self, uid: int) -> MessageInfo:
        with self._lock:
            self._sync()
            return self._entry(uid).info

    def read(self, uid: int) -> bytes:
        """The message exactly as stored; follows a rename by another process."""
        with self._lock:
            self._sync()
            for attempt in range(3):
                entry = self._entry(uid)
                try:
                    fd = os.open(entry.info.path, os.O_RDONLY | os.O_NOFOLLOW)
                except FileNotFoundError:
                    self._sync(force=True, pause=attempt > 0)
                    continue
                try:
                    chunks = []
                    while chunk := os.read(fd, 1 << 20):
                        chunks.append(chunk)
                    return b"".join(chunks)
                finally:
                    os.close(fd)
            raise MessageNotFound(f"message UID {uid} disappeared while being read")

    # -- writing ---------------------------------------------------------------------

    def deliver(self, data: bytes, *, flags: Iterable[str] = (),
                internaldate: datetime | None = None) -> MessageInfo:
        """Atomic, durable append; returns once the message is on disk with its UID."""
        prepared = self.prepare(data, flags=flags, internaldate=internaldate)
        try:
            (info,) = self.commit([prepared])
        except BaseException:
            _discard([prepared])
            raise
        if self._fsync:
            fsync_dir(self.path / prepared.sub)
        self._step("dir-synced")
        return info

    def prepare(self, data: bytes, *, flags: Iterable[str] = (),
                internaldate: datetime | None = None, sync: bool = True) -> Prepared:
        """Step 1 of a delivery: write tmp/<unique>, fsync it. Nothing is visible yet.

        ``sync=False`` leaves the fsync to the caller, who must make the file durable
        before it is renamed into place (``record_locked``, then ``publish_locked``).
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("message data must be bytes")
        data = bytes(data)
        wanted = normalize_flags(flags)
        if internaldate is not None and internaldate.tzinfo is None:
            raise ValueError("internaldate must be timezone-aware")
        letters = self._letters(wanted, "") if wanted else ""  # no flags: no keyword table
        size = wire_size(data)
        mtime_ns = (time.time_ns() if internaldate is None
                    else int(internaldate.timestamp() * 1_000_000) * 1000)
        base = unique_base(len(data), size, time.time_ns())
        # A message with flags goes straight to cur/: new/ holds only unflagged mail.
        sub, filename = ("cur", join_name(base, letters)) if letters else ("new", base)
        tmp = self._tmp_prefix + base
        try:
            write_new_file(tmp, data, fsync=self._fsync and sync, mtime_ns=mtime_ns,
                           on_partial=lambda: self._step("tmp-partial"))
        except FileNotFoundError as exc:
            raise MailboxNotFound(f"folder {self.name!r} no longer exists") from exc
        self._step("tmp-synced")
        return Prepared(self, tmp, base, sub, filename, size, mtime_ns, wanted)

    def commit(self, batch: list[Prepared]) -> list[MessageInfo]:
        """Step 2: give UIDs, record them durably, then rename into place (one lock hold).

        The uid list is fsync'd before any rename, so a UID is on disk before any reader
        can see the message: after a crash a UID can never be handed out twice
        (RFC 3501 §2.3.1.1). The caller fsyncs the target directories afterwards.
        """
        if not batch:
            return []
        with self.locked():
            records = self.record_locked(batch, sync=self._fsync)
            self._step("uid-recorded")
            return self.publish_locked(batch, records)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder (threads, then processes) for ``record_locked``/``publish_locked``.

        A caller holding several folders takes them in one global order (their paths) so
        that two group commits can never wait for each other.
        """
        with self._lock, self._flock.held():
            yield

    def record_locked(self, batch: list[Prepared], *, sync: bool) -> list[Record]:
        """Give the batch its UIDs and append them to the uid list (fsync'd if ``sync``;
        otherwise the caller makes them durable, with the tmp files, before publishing)."""
        self._ensure_uidlist_locked()
        first = self._uidlist.uidnext
        records = [Record(first + i, p.size, p.mtime_ns, p.base) for i, p in enumerate(batch)]
        self._uidlist.append(records, fsync=sync)
        return records

    def publish_locked(self, batch: list[Prepared], records: list[Record]) -> list[MessageInfo]:
        """Rename the recorded batch into new/ or cur/: from here readers see it."""
        infos = []
        for rec, p in zip(records, batch, strict=True):
            os.rename(p.tmp, self._subdir_prefix[p.sub] + p.filename)
            infos.append(MessageInfo(rec.uid, key_for(p.base), p.size, p.mtime_ns,
                                     p.flags, self._subdirs[p.sub], p.filename))
        self._step("renamed")
        return infos

    def set_flags(self, uid: int, flags: Iterable[str]) -> MessageInfo:
        """Replace the flag set; the message moves to cur/ under its new info name."""
        wanted = normalize_flags(flags)
        with self._lock:
            self._sync()
            for attempt in range(3):
                entry = self._entry(uid)
                letters = self._letters(wanted, entry.extra)
                filename = join_name(_base_of(entry), letters)
                target = self.path / "cur" / filename
                if entry.info.path == target:
                    return entry.info
                try:
                    os.rename(entry.info.path, target)
                except FileNotFoundError:
                    self._sync(force=True, pause=attempt > 0)
                    continue
                if self._fsync:
                    fsync_dir(self.path / "cur")
                    if entry.sub != "cur":
                        fsync_dir(self.path / entry.sub)
                info = MessageInfo(uid, entry.info.key, entry.info.size,
                                   entry.info.mtime_ns, wanted, target.parent, filename)
                self._entries[_base_of(entry)] = _Entry(info, "cur", filename, entry.extra,
                                                        entry.generation)
                self._sorted = None
                return info
            raise MessageNotFound(f"message UID {uid} keeps changing under us")

    def claim_new(self) -> list[int]:
        """Move every message in new/ to cur/; return their UIDs (the IMAP \\Recent set).

        Only one session sees a message in new/, which is how Maildir readers decide who
        reports it as \\Recent (RFC 3501 §2.3.2).
        """
        with self._lock:
            self._sync()
            claimed: list[int] = []
            for base, entry in list(self._entries.items()):
                if entry.sub != "new":
                    continue
                filename = join_name(base, self._letters(entry.info.flags, entry.extra))
                try:
                    os.rename(self.path / "new" / entry.filename, self.path / "cur" / filename)
                except FileNotFoundError:
                    continue  # another session claimed it first
                claimed.append(entry.info.uid)
            if claimed and self._fsync:
                fsync_dir(self.path / "cur")
                fsync_dir(self.path / "new")
            if claimed:
                self._sync(force=True)
            return sorted(claimed)

    def remove(self, uids: Iterable[int]) -> None:
        """Unlink the messages and fsync their directories; unknown UIDs are ignored."""
        with self._lock:
            self._sync()
            touched: set[str] = set()
            for uid in uids:
                for attempt in range(3):
                    base = self._by_uid.get(uid)
                    if base is None:
                        break
                    entry = self._entries[base]
                    try:
                        os.unlink(entry.info.path)
                    except FileNotFoundError:
                        self._sync(force=True, pause=attempt > 0)
                        continue
                    touched.add(entry.sub)
                    del self._entries[base]
                    del self._by_uid[uid]
                    self._sorted = None
                    break
            if self._fsync:
                for sub in sorted(touched):
                    fsync_dir(self.path / sub)
            dead = len(self._uidlist.records) - len(self._entries)
            if touched and dead >= _COMPACT_MIN_DEAD and dead > len(self._entries):
                with self._flock.held():
                    self._uidlist.refresh()
                    self._compact_locked()

    def clean_tmp(self, max_age_s: float = _TMP_MAX_AGE_S) -> int:
        """Delete abandoned tmp/ files (crashed deliveries); returns how many."""
        limit = time.time() - max_age_s
        removed = 0
        with os.scandir(self.path / "tmp") as entries:
            for entry in entries:
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < limit:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    # -- internals -------------------------------------------------------------------

    def _step(self, name: str) -> None:
        if self._hook is not None:
            self._hook(name)

    def _entry(self, uid: int) -> _Entry:
        base = self._by_uid.get(uid)
        if base is None:
            raise MessageNotFound(f"no message with UID {uid} in {self.name!r}")
        return self._entries[base]

    def _letters(self, flags: frozenset[str], extra: str) -> str:
        with self._lock:
            self._refresh_keywords()
            if self._keywords.missing(flags):
                with self._flock.held():
                    self._refresh_keywords()
                    try:
                        for keyword in self._keywords.missing(flags):
                            self._keywords.add(keyword)
                    except StoreError:
                        self._keywords_stamp = None  # drop the half-extended table
                        raise
                    atomic_write(self.path / KEYWORDS_FILE,
                                 self._keywords.serialize().encode("ascii"), fsync=self._fsync)
                    self._keywords_stamp = _stat_stamp(self.path / KEYWORDS_FILE)
            return letters_for(flags, self._keywords, extra)

    def _refresh_keywords(self) -> None:
        stamp = _stat_stamp(self.path / KEYWORDS_FILE)
        if stamp == self._keywords_stamp:
            return
        try:
            text = (self.path / KEYWORDS_FILE).read_text("ascii", errors="replace")
        except FileNotFoundError:
            text = ""
        self._keywords = KeywordTable.parse(text)
        self._keywords_stamp = stamp
        # The letters' meaning may have changed: the next sync decodes every name again.
        self._generation += 1
        self._stamp = None

    def _current_stamp(self) -> tuple[object, ...]:
        try:
            new = os.stat(self.path / "new").st_mtime_ns
            cur = os.stat(self.path / "cur").st_mtime_ns
        except FileNotFoundError as exc:
            raise MailboxNotFound(f"folder {self.name!r} no longer exists") from exc
        return (new, cur, _stat_stamp(self.path / UIDLIST_FILE))

    def _sync(self, *, force: bool = False, pause: bool = False) -> None:
        if pause:
            time.sleep(0.001)  # let a concurrent renamer finish before we look again
        self._refresh_keywords()
        stamp = self._current_stamp()
        now = time.time_ns()
        fresh = all(now - t > _MTIME_SLACK_NS for t in stamp[:2])  # type: ignore[operator]
        if not force and stamp == self._stamp and fresh:
            return
        if not self._tmp_cleaned:
            self._tmp_cleaned = True
            self.clean_tmp()
        for _ in range(2):
            # UIDNEXT read under the lock, before listing: a writer renames its message
            # into place while holding the lock, so every UID below this cut-off was on
            # disk before we started to list. Showing only those keeps UIDs ascending for
            # every observer: readdir may return a message added during the scan while
            # missing an earlier one, and showing the later one first would let a
            # smaller UID appear after a larger one (RFC 3501 §2.3.1.1).
            with self._flock.held(shared=True):
                try:
                    self._uidlist.refresh()
                    healthy = self._uidlist.uidvalidity is not None
                except UidListCorrupt:
                    healthy = False
            cutoff = self._uidlist.uidnext
            listing = self._scan()
            if healthy and all(b in self._uidlist.records for b in listing):
                break
            # Files nobody numbered yet (another program wrote them): number them, then
            # look again so the cut-off covers them.
            with self._flock.held():
                self._ensure_uidlist_locked()
                self._assign_locked(listing)
        complete = self._rebuild(listing, cutoff)
        self._stamp = stamp if complete else None

    def _scan(self) -> Listing:
        listing = scan(self.path)
        if any(b not in listing for b in self._entries):
            # readdir may skip an entry renamed while we read (POSIX leaves it
            # unspecified); a second look tells a rename from a removal.
            for base, where in scan(self.path).items():
                listing.setdefault(base, where)
        return listing

    def _ensure_uidlist_locked(self) -> None:
        try:
            self._uidlist.refresh()
            if self._uidlist.uidvalidity is not None:
                return
        except UidListCorrupt:
            pass
        # Lost or damaged: UIDs from before cannot be trusted, so UIDVALIDITY must change
        # (RFC 3501 §2.3.1.1); everything on disk is numbered afresh.
        records = self._measure_new(scan(self.path), first_uid=1)
        self._uidlist.rewrite(self._new_uidvalidity(), len(records) + 1, records,
                              fsync=self._fsync)

    def _assign_locked(self, listing: Listing) -> None:
        self._uidlist.refresh()
        unknown = {b: w for b, w in listing.items() if b not in self._uidlist.records}
        if unknown:
            records = self._measure_new(unknown, first_uid=self._uidlist.uidnext)
            self._uidlist.append(records, fsync=self._fsync)
        dead = len(self._uidlist.records) - len(listing)
        if dead >= _COMPACT_MIN_DEAD and dead > len(listing):
            self._compact_locked()

    def _compact_locked(self) -> None:
        listing = scan(self.path)
        for base, where in scan(self.path).items():
            listing.setdefault(base, where)
        live = [r for b, r in self._uidlist.records.items() if b in listing]
        assert self._uidlist.uidvalidity is not None
        self._uidlist.rewrite(self._uidlist.uidvalidity, self._uidlist.uidnext, live,
                              fsync=self._fsync)

    def _measure_new(self, listing: Listing, first_uid: int) -> list[Record]:
        found = []
        for base, (sub, filename) in listing.items():
            facts = measure(self.path / sub / filename, base)
            if facts is not None:
                found.append((facts[1], base, facts[0]))
        # Arrival order, as far as the file system remembers it.
        found.sort()
        return [Record(first_uid + i, size, mtime, base)
                for i, (mtime, base, size) in enumerate(found)]

    def _rebuild(self, listing: Listing, cutoff: int) -> bool:
        """Rebuild the view from a listing; False if some message had to wait."""
        old = self._entries
        entries: dict[str, _Entry] = {}
        by_uid: dict[int, str] = {}
        records = self._uidlist.records
        complete = True
        subdirs = {"new": self.path / "new", "cur": self.path / "cur"}
        for base, (sub, filename) in listing.items():
            rec = records.get(base)
            if rec is None or rec.uid >= cutoff:
                complete = False  # arrived while we listed: shown at the next sync
                continue
            prev = old.get(base)
            if (prev is not None and prev.filename == filename and prev.info.uid == rec.uid
                    and prev.generation == self._generation):
                entries[base] = prev
            else:
                _, _, letters = filename.partition(":2,")
                flags, extra = flags_from_letters(letters, self._keywords)
                info = MessageInfo(rec.uid, key_for(base), rec.size, rec.mtime_ns, flags,
                                   subdirs[sub], filename)
                entries[base] = _Entry(info, sub, filename, extra, self._generation)
            by_uid[rec.uid] = base
        if entries.keys() != old.keys() or any(entries[b] is not old[b] for b in entries):
            self._sorted = None
        self._entries = entries
        self._by_uid = by_uid
        return complete


def _base_of(entry: _Entry) -> str:
    return split_name(entry.filename)[0]


def _stat_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _discard(batch: list[Prepared]) -> None:
    for p in batch:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p.tmp)

