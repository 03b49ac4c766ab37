"""A user's Maildir++ tree: INBOX at the root, folders as ".A.B" siblings, subscriptions.

Folder-level changes (create, delete, rename, subscriptions, the UIDVALIDITY counter) are
serialised by a flock on ``mailharness-mailbox.lock`` at the Maildir root. Lock order is
always folder lock, then mailbox lock, never the reverse.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ._durable import FileLock, atomic_write, fsync_dir
from ._errors import InvalidMailboxName, MailboxExists, MailboxNotFound, StoreError
from ._folder import UIDLIST_FILE, Folder, Hook
from ._names import INBOX, folder_dirname, folder_from_dirname, normalize_folder
from ._uidlist import MAX_UID, format_header

MAILBOX_LOCK = "mailharness-mailbox.lock"
UIDVALIDITY_FILE = "mailharness-uidvalidity"
SUBSCRIPTIONS_FILE = "subscriptions"  # the Maildir++ name (Courier, Dovecot)
_STAGING = "mailharness-staging-"  # no leading dot: never mistaken for a folder


class Mailbox:
    """One user's mailbox. Get it from :meth:`Store.mailbox`."""

    def __init__(self, user: str, path: Path, *, fsync: bool, hook: Hook | None) -> None:
        self.user = user
        self.path = path
        self._fsync = fsync
        self._hook = hook
        self._lock = threading.RLock()
        self._folders: dict[str, Folder] = {}
        _make_maildir(path, fsync=fsync)
        self._flock = FileLock(path / MAILBOX_LOCK)

    def __repr__(self) -> str:
        return f"<Mailbox {self.user!r} at {self.path}>"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, self._flock.held():
            yield

    def folder(self, name: str = INBOX, *, create: bool = False) -> Folder:
        canonical = normalize_folder(name)
        with self._lock:
            cached = self._folders.get(canonical)
            if cached is not None and cached.exists():
                return cached
            path = self.path / folder_dirname(canonical)
            if not (path / "cur").is_dir():
                if not create:
                    raise MailboxNotFound(f"no folder named {canonical!r}")
                with contextlib.suppress(MailboxExists):
                    self.create_folder(canonical)
            folder = Folder(canonical, path, fsync=self._fsync, hook=self._hook,
                            new_uidvalidity=self.new_uidvalidity)
            self._folders[canonical] = folder
            return folder

    def list_folders(self) -> list[str]:
        names = [INBOX]
        with os.scandir(self.path) as entries:
            for entry in entries:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                name = folder_from_dirname(entry.name)
                if name is not None and name != INBOX and os.path.isdir(
                        os.path.join(entry.path, "cur")):
                    names.append(name)
        return [INBOX, *sorted(names[1:])]

    def create_folder(self, name: str) -> Folder:
        canonical = normalize_folder(name)
        if canonical == INBOX:
            raise MailboxExists("INBOX always exists")
        target = self.path / folder_dirname(canonical)
        with self._locked():
            if target.exists():
                raise MailboxExists(f"folder {canonical!r} already exists")
            # Built aside and renamed in, so no reader ever sees a half-made folder.
            staging = self.path / f"{_STAGING}{secrets.token_hex(8)}"
            _make_maildir(staging, fsync=self._fsync)
            (staging / "maildirfolder").touch()
            header = format_header(self._next_uidvalidity_locked(), 1)
            atomic_write(staging / UIDLIST_FILE, header.encode("ascii"), fsync=self._fsync)
            os.rename(staging, target)
            if self._fsync:
                fsync_dir(self.path)
        return self.folder(canonical)

    def delete_folder(self, name: str) -> None:
        canonical = normalize_folder(name)
        if canonical == INBOX:
            raise StoreError("INBOX cannot be deleted")  # RFC 3501 §6.3.4
        target = self.path / folder_dirname(canonical)
        with self._locked():
            if not (target / "cur").is_dir():
                raise MailboxNotFound(f"no folder named {canonical!r}")
            # Rename first, so the folder vanishes at once even if rmtree is slow or fails.
            doomed = self.path / f"{_STAGING}{secrets.token_hex(8)}"
            os.rename(target, doomed)
            if self._fsync:
                fsync_dir(self.path)
            self._folders.pop(canonical, None)
        shutil.rmtree(doomed, ignore_errors=True)

    def rename_folder(self, old: str, new: str) -> None:
        """Rename a folder and its inferiors (RFC 3501 §6.3.5).

        Renaming INBOX moves its messages to the new folder and leaves INBOX empty, which
        is what RFC 3501 §6.3.5 asks for.
        """
        old_c, new_c = normalize_folder(old), normalize_folder(new)
        if new_c in (INBOX, old_c):
            raise MailboxExists(f"folder {new_c!r} already exists")
        if new_c.startswith(old_c + "/"):
            raise InvalidMailboxName("a folder cannot be renamed into its own inferior")
        if old_c == INBOX:
            self._rename_inbox(new_c)
            return
        with self._locked():
            if not (self.path / folder_dirname(old_c) / "cur").is_dir():
                raise MailboxNotFound(f"no folder named {old_c!r}")
            moves = [(old_c, new_c)] + [
                (name, new_c + name[len(old_c):]) for name in self.list_folders()
                if name.startswith(old_c + "/")
            ]
            for _, dest in moves:
                if (self.path / folder_dirname(dest)).exists():
                    raise MailboxExists(f"folder {dest!r} already exists")
            for src, dest in moves:
                os.rename(self.path / folder_dirname(src), self.path / folder_dirname(dest))
                self._folders.pop(src, None)
            if self._fsync:
                fsync_dir(self.path)

    def _rename_inbox(self, new_c: str) -> None:
        inbox = self.folder(INBOX)
        target = self.create_folder(new_c)
        # The moved files keep their names (and so their POP3 unique ids); the new folder
        # numbers them at its first sync, in arrival order.
        for info in inbox.messages():
            sub = info.path.parent.name
            with contextlib.suppress(FileNotFoundError):
                os.rename(info.path, target.path / sub / info.path.name)
        if self._fsync:
            for sub in ("new", "cur"):
                fsync_dir(target.path / sub)
                fsync_dir(inbox.path / sub)

    def subscriptions(self) -> set[str]:
        try:
            text = (self.path / SUBSCRIPTIONS_FILE).read_text("utf-8")
        except FileNotFoundError:
            return set()
        found = set()
        for line in text.splitlines():
            with contextlib.suppress(InvalidMailboxName):
                found.add(normalize_folder(line))
        return found

    def subscribe(self, name: str) -> None:
        canonical = normalize_folder(name)
        self._edit_subscriptions(lambda names: names | {canonical})

    def unsubscribe(self, name: str) -> None:
        canonical = normalize_folder(name)
        self._edit_subscriptions(lambda names: names - {canonical})

    def _edit_subscriptions(self, change: Callable[[set[str]], set[str]]) -> None:
        with self._locked():
            names = change(self.subscriptions())
            text = "".join(f"{n}\n" for n in sorted(names))
            atomic_write(self.path / SUBSCRIPTIONS_FILE, text.encode("utf-8"),
                         fsync=self._fsync)

    def new_uidvalidity(self) -> int:
        """A UIDVALIDITY this mailbox never handed out, for any folder (RFC 3501 §2.3.1.1)."""
        with self._locked():
            return self._next_uidvalidity_locked()

    def _next_uidvalidity_locked(self) -> int:
        # Time-based so a re-created tree still moves forward; the persisted last value
        # keeps two folders made within one second (or delete + create) apart.
        path = self.path / UIDVALIDITY_FILE
        try:
            last = int(path.read_text("ascii").strip() or 0)
        except (FileNotFoundError, ValueError):
            last = 0
        value = max(int(time.time()), last + 1)
        if value > MAX_UID:
            raise StoreError("UIDVALIDITY space exhausted")
        atomic_write(path, f"{value}\n".encode("ascii"), fsync=self._fsync)
        return value


def _make_maildir(path: Path, *, fsync: bool) -> None:
    created = False
    for sub in ("cur", "new", "tmp"):
        try:
            os.makedirs(path / sub, mode=0o700)
            created = True
        except FileExistsError:
            continue
    if created and fsync:
        fsync_dir(path)
        fsync_dir(path.parent)
