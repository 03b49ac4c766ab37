"""Delivery accounting: find every message the server accepted again, and say what is
missing, doubled or damaged, and how long delivery took.

A watcher polls the mailbox of the first recipient while the load runs (and a while
after, until everything accepted showed up or the settle time ran out): over POP3 through
:class:`harness.client.Session`, or by reading a Maildir directly for local servers. The
end-to-end time of a message runs from its 250 reply (the row's timestamp) to the first
poll that saw it, so its resolution is the poll interval; a message visible before the
client read the 250 counts as 0 ms.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..client import ClientError, Session
from ..target import Target
from .message import inspect
from .results import ResultRow
from .stats import Percentiles


class AccountingError(RuntimeError):
    """The mailbox could not be read at all (bad credentials, no UIDL, no such Maildir)."""


@dataclass(frozen=True)
class Sighting:
    message_id: str
    intact: bool
    seen: float  # Unix time of the poll that first listed this copy


class Source(Protocol):
    description: str
    interval: float

    def baseline(self) -> None: ...
    def poll(self) -> list[Sighting]: ...


class MaildirSource:
    """Reads ``new/`` and ``cur/``; a file moving from new to cur is the same copy."""

    interval = 0.05

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.description = f"Maildir {self.path}"
        self._known: set[str] = set()

    def _names(self) -> dict[str, Path]:
        names: dict[str, Path] = {}
        for sub in ("new", "cur"):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(self.path / sub):
                    if not entry.name.startswith("."):
                        # Maildir: the unique part is before ":"; flags after it change.
                        names[entry.name.split(":", 1)[0]] = Path(entry.path)
        return names

    def baseline(self) -> None:
        # A missing Maildir is an empty one: servers create it on the first delivery.
        exists = self.path.exists()
        if exists and not (self.path / "new").is_dir() and not (self.path / "cur").is_dir():
            raise AccountingError(f"{self.path} is not a Maildir (no new/ or cur/)")
        self._known = set(self._names())

    def poll(self) -> list[Sighting]:
        now = time.time()
        found = []
        for key, path in self._names().items():
            if key in self._known:
                continue
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                continue  # moved to cur/ meanwhile: the next poll finds it there
            self._known.add(key)
            seen = inspect(raw)
            if seen is not None:
                found.append(Sighting(seen.message_id, seen.intact, now))
        return found


class Pop3Source:
    """One POP3 session per poll (RFC 1939 §8: a session sees the maildrop as it was at
    login), listing by UIDL and retrieving only what was not seen before."""

    interval = 0.2

    def __init__(self, target: Target) -> None:
        if target.protocol != "pop3" or target.username is None:
            raise AccountingError("POP3 accounting needs pop3://user:password@host:port")
        self.target = target
        self.description = f"POP3 {target}"
        self._known: set[bytes] = set()

    def _uidl(self, session: Session) -> list[tuple[int, bytes]]:
        greeting = session.read_pop3()
        if not greeting.ok:
            raise AccountingError(f"POP3 greeting: {greeting.line!r}")
        for line in (b"USER " + (self.target.username or "").encode(),
                     b"PASS " + (self.target.password or "").encode()):
            reply = session.pop3(line)
            if not reply.ok:
                raise AccountingError(f"POP3 login as {self.target.username}: {reply.line!r}")
        reply = session.pop3(b"UIDL")
        if not reply.ok or reply.body is None:
            raise AccountingError(f"POP3 UIDL is needed for accounting: {reply.line!r}")
        listing = []
        for line in reply.body:
            number, _, uid = line.partition(b" ")
            listing.append((int(number), uid.strip()))
        return listing

    def baseline(self) -> None:
        with Session.open(self.target) as session:
            self._known = {uid for _, uid in self._uidl(session)}
            session.pop3(b"QUIT")

    def poll(self) -> list[Sighting]:
        found = []
        with Session.open(self.target) as session:
            listing = self._uidl(session)
            now = time.time()
            for number, uid in listing:
                if uid in self._known:
                    continue
                reply = session.pop3(b"RETR %d" % number)
                if not reply.ok or reply.body is None:
                    continue  # deleted by someone else meanwhile
                self._known.add(uid)
                seen = inspect(b"\r\n".join(reply.body) + b"\r\n")
                if seen is not None:
                    found.append(Sighting(seen.message_id, seen.intact, now))
            session.pop3(b"QUIT")
        return found


@dataclass
class Accounting:
    source: str
    accepted: int
    lost: list[str]
    duplicated: list[str]
    corrupted: list[str]
    unexpected: list[str]  # ids of this run found but never answered 250 (e.g. timed out)
    end_to_end: Percentiles
    resolution_ms: float
    poll_errors: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """A run is clean only when nothing accepted was lost, doubled or damaged."""
        return not (self.lost or self.duplicated or self.corrupted)


class DeliveryTracker:
    """Polls a source in a background thread from :meth:`start` until :meth:`finish`."""

    def __init__(self, source: Source, run_id: str) -> None:
        self.source = source
        self.prefix = f"{run_id}."
        self.sightings: dict[str, list[Sighting]] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.source.baseline()  # errors here are fatal: the run could not be accounted
        self._thread = threading.Thread(target=self._loop, name="accounting", daemon=True)
        self._thread.start()

    def _poll_once(self) -> None:
        try:
            found = self.source.poll()
        except (ClientError, AccountingError, OSError) as exc:
            if len(self.errors) < 20:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            for sighting in found:
                if sighting.message_id.startswith(self.prefix):
                    self.sightings.setdefault(sighting.message_id, []).append(sighting)

    def _loop(self) -> None:
        while not self._stop.wait(self.source.interval):
            self._poll_once()

    def finish(self, rows: Iterable[ResultRow], settle: float) -> Accounting:
        """Stop polling once every accepted message was seen or ``settle`` s have passed."""
        accepted = {row.message_id: row.timestamp for row in rows if row.accepted}
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            with self._lock:
                if accepted.keys() <= self.sightings.keys():
                    break
            time.sleep(self.source.interval)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=settle + 30)
        self._poll_once()  # one last look, after the thread is gone
        return self._account(accepted)

    def _account(self, accepted: dict[str, float]) -> Accounting:
        delays, corrupted, duplicated = [], [], []
        for message_id, sightings in self.sightings.items():
            if message_id not in accepted:
                continue
            if len(sightings) > 1:
                duplicated.append(message_id)
            if not all(s.intact for s in sightings):
                corrupted.append(message_id)
            first = min(s.seen for s in sightings)
            delays.append(max(0.0, first - accepted[message_id]) * 1000)
        return Accounting(
            source=self.source.description,
            accepted=len(accepted),
            lost=sorted(set(accepted) - set(self.sightings)),
            duplicated=sorted(duplicated),
            corrupted=sorted(corrupted),
            unexpected=sorted(set(self.sightings) - set(accepted)),
            end_to_end=Percentiles.of(delays),
            resolution_ms=self.source.interval * 1000,
            poll_errors=list(self.errors),
        )
