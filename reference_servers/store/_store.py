"""The store: per-user Maildir++ trees under one root, and group-committed delivery."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path

from ._durable import fsync_dir, sync_filesystem, syncfs_available
from ._folder import Folder, Hook, Prepared
from ._mailbox import Mailbox
from ._message import MessageInfo
from ._names import INBOX, validate_user

# fsyncs issued together are committed together by the file system's journal (ext4, xfs):
# measured here, 1 thread syncs ~1,400-2,900 small files/s, 16 threads ~4,000-9,000. So a
# batch writes and syncs its tmp files in parallel, then commits them in one lock hold.
_PREPARE_THREADS = 16
_prepare_pool: ThreadPoolExecutor | None = None
_prepare_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _prepare_pool
    with _prepare_pool_lock:
        if _prepare_pool is None:
            _prepare_pool = ThreadPoolExecutor(_PREPARE_THREADS,
                                               thread_name_prefix="store-prepare")
        return _prepare_pool


def _forget_pool_after_fork() -> None:
    # A forked child inherits the pool object but none of its threads: submitting to it
    # would wait forever. The child builds its own on first use.
    global _prepare_pool, _prepare_pool_lock
    _prepare_pool = None
    _prepare_pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)

# How a delivery is made durable. "fsync": each file, the uid list and each directory are
# fsync'd (16 files at a time). "syncfs": files and the uid list are written, then one
# syncfs(2) commits them all before the renames and one more commits the renames. "auto"
# is syncfs where the kernel has it (Linux), fsync elsewhere.
SYNC_METHODS = ("auto", "fsync", "syncfs")


def resolve_sync_method(method: str) -> str:
    if method not in SYNC_METHODS:
        raise ValueError(f"sync method must be one of {', '.join(SYNC_METHODS)}, not {method!r}")
    if method == "auto":
        return "syncfs" if syncfs_available() else "fsync"
    if method == "syncfs" and not syncfs_available():
        raise ValueError("sync method 'syncfs' needs syncfs(2), which this system lacks")
    return method


class Store:
    """Every user's mailbox under ``root`` (``<root>/<user>/Maildir``).

    ``fsync=False`` trades durability for speed (tests, benchmarks); ``sync`` picks how a
    durable delivery is made durable (see ``SYNC_METHODS``). ``hook`` is called with the
    name of each delivery step ("tmp-partial", "tmp-synced", "uid-recorded", "renamed",
    "dir-synced"); crash tests use it to kill a writer at each point.
    """

    def __init__(self, root: str | Path, *, fsync: bool = True, sync: str = "auto",
                 hook: Hook | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.fsync = fsync
        self.sync_method = resolve_sync_method(sync)
        self._hook = hook
        self._lock = threading.Lock()
        self._mailboxes: dict[str, Mailbox] = {}

    def __repr__(self) -> str:
        return f"<Store at {self.root}>"

    def mailbox(self, user: str) -> Mailbox:
        validate_user(user)
        with self._lock:
            mailbox = self._mailboxes.get(user)
            if mailbox is None:
                mailbox = Mailbox(user, self.root / user / "Maildir", fsync=self.fsync,
                                  hook=self._hook)
                self._mailboxes[user] = mailbox
            return mailbox

    def deliver(self, user: str, data: bytes, *, folder: str = INBOX,
                flags: Iterable[str] = (), internaldate: datetime | None = None) -> MessageInfo:
        target = self.mailbox(user).folder(folder)
        if not self._syncfs:
            return target.deliver(data, flags=flags, internaldate=internaldate)
        prepared = target.prepare(data, flags=flags, internaldate=internaldate, sync=False)
        try:
            (info,) = self._commit_syncfs([target], [prepared])
        except BaseException:
            _discard([prepared])
            raise
        return info

    @property
    def _syncfs(self) -> bool:
        return self.fsync and self.sync_method == "syncfs"

    def _commit_syncfs(self, folders: Sequence[Folder],
                       prepared: list[Prepared]) -> list[MessageInfo]:
        """Commit written (unsynced) tmp files with two syncfs calls, however many folders:
        with every folder of the batch held, the UIDs are appended to each uid list, one
        syncfs makes them and the files durable, the renames publish the messages, and a
        last syncfs makes the renames durable."""
        groups: dict[int, list[int]] = {}
        for index, folder in enumerate(folders):
            groups.setdefault(id(folder), []).append(index)
        # One global order (the paths) for holding several folders: no deadlock.
        order = sorted(groups.values(), key=lambda indexes: str(folders[indexes[0]].path))
        results: dict[int, MessageInfo] = {}
        publishing = False
        try:
            with contextlib.ExitStack() as held:
                records = []
                for indexes in order:
                    folder = folders[indexes[0]]
                    held.enter_context(folder.locked())
                    records.append(folder.record_locked([prepared[i] for i in indexes],
                                                        sync=False))
                for device_path in self._devices(folders, order):
                    sync_filesystem(device_path)
                if self._hook is not None:
                    self._hook("uid-recorded")
                publishing = True
                for indexes, recorded in zip(order, records, strict=True):
                    folder = folders[indexes[0]]
                    infos = folder.publish_locked([prepared[i] for i in indexes], recorded)
                    results.update(zip(indexes, infos, strict=True))
        finally:
            if publishing:  # even a partly published batch: make what is visible durable
                for device_path in self._devices(folders, order):
                    sync_filesystem(device_path)
        if self._hook is not None:
            self._hook("dir-synced")
        return [results[i] for i in range(len(prepared))]

    @staticmethod
    def _devices(folders: Sequence[Folder], groups: list[list[int]]) -> list[Path]:
        """One folder path per file system the batch touches (syncfs syncs a whole one)."""
        seen: dict[int, Path] = {}
        for indexes in groups:
            path = folders[indexes[0]].path
            seen.setdefault(os.stat(path).st_dev, path)
        return list(seen.values())

    def deliver_many(self, deliveries: Sequence[tuple[str, bytes]]) -> list[MessageInfo]:
        """Deliver to several INBOXes as one group commit: with syncfs, two syncfs calls
        for the whole batch; with fsync, the files synced 16 at a time, then one uid-list
        fsync and one directory fsync per folder instead of one each per message.

        Returns when every message is durable. If it raises, messages already committed
        may have been delivered (and are durable); the others were not.
        """
        inboxes: dict[str, Folder] = {}
        for user, _ in deliveries:
            if user not in inboxes:
                inboxes[user] = self.mailbox(user).folder(INBOX)
        folders = [inboxes[user] for user, _ in deliveries]
        prepared: list[Prepared] = []
        if self._syncfs:
            try:
                for folder, (_, data) in zip(folders, deliveries, strict=True):
                    prepared.append(folder.prepare(data, sync=False))
                return self._commit_syncfs(folders, prepared)
            except BaseException:
                _discard(prepared)
                raise
        try:
            if self.fsync and len(deliveries) > 1:
                futures: list[Future[Prepared]] = [
                    _pool().submit(folder.prepare, data)
                    for folder, (_, data) in zip(folders, deliveries, strict=True)
                ]
                wait(futures)
                prepared.extend(f.result() for f in futures if f.exception() is None)
                for future in futures:
                    if (error := future.exception()) is not None:
                        raise error
            else:
                for folder, (_, data) in zip(folders, deliveries, strict=True):
                    prepared.append(folder.prepare(data))
            groups: dict[int, list[int]] = {}
            for index, folder in enumerate(folders):
                groups.setdefault(id(folder), []).append(index)
            results: dict[int, MessageInfo] = {}
            dirs: set[Path] = set()
            try:
                for indexes in groups.values():
                    folder = folders[indexes[0]]
                    infos = folder.commit([prepared[i] for i in indexes])
                    results.update(zip(indexes, infos, strict=True))
                    dirs.update(folder.path / prepared[i].sub for i in indexes)
            finally:
                if self.fsync:
                    for directory in sorted(dirs):
                        fsync_dir(directory)
        except BaseException:
            _discard(prepared)
            raise
        if self._hook is not None:
            self._hook("dir-synced")
        return [results[i] for i in range(len(deliveries))]


def _discard(prepared: list[Prepared]) -> None:
    """Remove the tmp files of deliveries that were never committed (renamed away)."""
    for p in prepared:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p.tmp)
