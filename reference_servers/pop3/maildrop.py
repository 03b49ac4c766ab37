"""A POP3 session's view of one user's INBOX: snapshot, numbering, deletion marks, UPDATE.

RFC 1939 §4: once authenticated, "the POP3 server then acquires an exclusive-access lock
on the maildrop, as necessary to prevent messages from being modified or removed before
the session enters the UPDATE state". The lock here is two-fold: an in-process registry
(sessions of one server) and a flock(2) on a lock file in the user's Maildir (other server
processes sharing the store). flock dies with its process, so a crash leaves no stale lock.
The lock file also records the time of the last login, for LOGIN-DELAY (RFC 2449 §6.5).

Messages delivered after login are not seen until the next session: RFC 1939 §5 numbers
messages for the duration of the session, so the snapshot taken at login is the maildrop.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..store import Folder, MessageInfo, Store
from ..wire import to_crlf
from .policy import Mode

LOCK_FILE = "mailharness-pop3.lock"
_CRLF = b"\r\n"


class MaildropError(Exception):
    """Base class for what can stop a maildrop from opening."""


class MaildropInUse(MaildropError):
    """Another session holds the lock (RFC 2449 §8.1.1 [IN-USE])."""


@dataclass
class LoginTooSoon(MaildropError):
    """RFC 2449 §8.1.2 [LOGIN-DELAY]: the last login was ``ago`` seconds back."""

    ago: int
    delay: int


class NoSuchMessage(LookupError):
    """The number names no message of the snapshot (RFC 1939 §5)."""


class MessageDeleted(LookupError):
    """RFC 1939 §5: a message marked as deleted may not be referred to."""


_registry: set[str] = set()
_registry_lock = threading.Lock()


class MaildropLock:
    """The exclusive lock on one user's maildrop, held until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self._key = str(path.resolve())
        self._fd: int | None = None
        with _registry_lock:
            if self._key in _registry:
                raise MaildropInUse(self._key)
            _registry.add(self._key)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise MaildropInUse(self._key) from None
            self._fd = fd
        except BaseException:
            self._unregister()
            raise

    def last_login(self) -> float | None:
        assert self._fd is not None
        raw = os.pread(self._fd, 64, 0).strip()
        try:
            return float(raw) if raw else None
        except ValueError:
            return None

    def record_login(self, when: float) -> None:
        assert self._fd is not None
        stamp = f"{when:.3f}\n".encode("ascii")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, stamp, 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
            self._unregister()

    def _unregister(self) -> None:
        with _registry_lock:
            _registry.discard(self._key)


class Maildrop:
    """The numbered snapshot of a user's INBOX for one session."""

    def __init__(self, folder: Folder, lock: MaildropLock, messages: list[MessageInfo]) -> None:
        self._folder = folder
        self._lock: MaildropLock | None = lock
        self._messages = messages
        self._deleted: set[int] = set()
        self._retrieved: set[int] = set()

    @classmethod
    def open(cls, store: Store, user: str, *, login_delay: int = 0) -> Maildrop:
        """Lock and snapshot ``user``'s INBOX. Raises MaildropError or StoreError/OSError."""
        mailbox = store.mailbox(user)
        lock = MaildropLock(mailbox.path / LOCK_FILE)
        try:
            now = time.time()
            last = lock.last_login()
            # RFC 2449 §6.5: the server enforces the advertised minimum delay.
            if login_delay and last is not None and 0 <= now - last < login_delay:
                raise LoginTooSoon(int(now - last), login_delay)
            folder = mailbox.folder("INBOX")
            messages = folder.messages()
            lock.record_login(now)
        except BaseException:
            lock.release()
            raise
        return cls(folder, lock, messages)

    # -- queries --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._messages)

    def stat(self) -> tuple[int, int]:
        """(messages, octets) not marked as deleted (RFC 1939 §5 STAT)."""
        live = [m.size for n, m in enumerate(self._messages, 1) if n not in self._deleted]
        return len(live), sum(live)

    def listing(self) -> list[tuple[int, MessageInfo]]:
        """(number, info) of every message not marked as deleted, in order."""
        return [(n, m) for n, m in enumerate(self._messages, 1) if n not in self._deleted]

    def info(self, number: int) -> MessageInfo:
        if not 1 <= number <= len(self._messages):
            raise NoSuchMessage(number)
        if number in self._deleted:
            raise MessageDeleted(number)
        return self._messages[number - 1]

    def retrieve(self, number: int) -> bytes:
        """The message as stored; the connection sends it with CRLF line endings.

        Raises NoSuchMessage, MessageDeleted, store.MessageNotFound (removed by another
        client, e.g. IMAP EXPUNGE) or OSError.
        """
        data = self._read(self.info(number))
        self._retrieved.add(number)
        return data

    def _read(self, info: MessageInfo) -> bytes:
        # Maildir files never change content, only their name (flags) or existence, so
        # the path of the snapshot is read directly; Folder.read, which rescans the
        # directory to follow a rename, is the fallback. The wire size (CRLF endings)
        # is never below the file's size, so one read of one octet more than it
        # reaches end of file: open, read, close, and no fstat.
        path = f"{os.fspath(info.directory)}/{info.filename}"  # Path's / costs a µs
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return self._folder.read(info.uid)
        try:
            want = info.size + 1
            data = os.read(fd, want)
            if len(data) < want:
                return data
            chunks = [data]  # the file grew behind the store's back: read on to its end
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)

    def top(self, number: int, lines: int) -> bytes:
        """RFC 1939 §7 TOP: the header, the blank line, and ``lines`` lines of the body."""
        data = to_crlf(self._read(self.info(number)))
        blank = data.find(b"\r\n\r\n")
        if blank < 0:
            return data  # no body at all: the whole message is header
        end = blank + 4
        for _ in range(lines):
            nxt = data.find(_CRLF, end)
            if nxt < 0:
                return data
            end = nxt + 2
        return data[:end]

    # -- changes --------------------------------------------------------------------------

    def delete(self, number: int) -> None:
        self.info(number)
        self._deleted.add(number)

    def reset(self) -> None:
        """RFC 1939 §5 RSET: unmark every message marked as deleted."""
        self._deleted.clear()

    def to_remove(self, mode: Mode, expire_days: int | None, now: datetime | None = None
                  ) -> list[int]:
        """The UIDs the UPDATE state removes under the policy."""
        numbers = set(self._deleted)
        if mode is Mode.DELETE:
            # RFC 2449 §6.7 EXPIRE 0: "the server MAY assume an implicit DELE for each
            # message which was downloaded with RETR".
            numbers |= self._retrieved
        elif expire_days is not None:
            # RFC 2449 §6.7: never sooner than the advertised days; counted from delivery.
            cutoff = (now or datetime.now(UTC)) - timedelta(days=expire_days)
            numbers |= {n for n, m in enumerate(self._messages, 1) if m.internaldate < cutoff}
        return [self._messages[n - 1].uid for n in sorted(numbers)]

    def commit(self, uids: Iterable[int]) -> None:
        """RFC 1939 §6: remove the messages, durably (the store fsyncs the directories)."""
        self._folder.remove(list(uids))

    def remaining(self, removed: int) -> int:
        return len(self._messages) - removed

    def release(self) -> None:
        """Drop the lock; without a prior commit nothing is removed (RFC 1939 §6)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
