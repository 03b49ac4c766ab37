"""The on-disk queue: one envelope file and one message file per entry.

Layout under ``<data_dir>/queue/``::

    <id>.msg    the message, exactly as received
    <id>.json   the envelope and the delivery state (attempts, pending recipients...)

The message is written first and the envelope last, each to a temporary name, fsync'd
and renamed, then the directory is fsync'd: an entry exists once its ``.json`` does,
and then both files are complete and durable (RFC 5321 §6.1: once the 250 is sent the
server has taken responsibility for the message and must not lose it). A crash
in between leaves only a ``.tmp`` or an orphan ``.msg``, removed at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .envelope import QueuedEnvelope

log = logging.getLogger(__name__)
_FORMAT = 1


@dataclass
class LastError:
    """The most recent transient failure of one recipient (for DSNs after expiry)."""

    status: str
    diagnostic: str
    remote_mta: str | None
    smtp: bool


@dataclass
class Entry:
    id: str
    envelope: QueuedEnvelope
    arrival: float
    pending: list[str]  # addresses not yet delivered, bounced or dropped
    attempts: int = 0
    next_attempt: float = 0.0
    last_attempt: float | None = None
    delay_warned: bool = False
    last_errors: dict[str, LastError] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "id": self.id,
            "envelope": self.envelope.to_json(),
            "arrival": self.arrival,
            "pending": self.pending,
            "attempts": self.attempts,
            "next_attempt": self.next_attempt,
            "last_attempt": self.last_attempt,
            "delay_warned": self.delay_warned,
            "last_errors": {a: vars(e) for a, e in self.last_errors.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        if data.get("format") != _FORMAT:
            raise ValueError(f"unknown queue entry format {data.get('format')!r}")
        return cls(
            id=str(data["id"]),
            envelope=QueuedEnvelope.from_json(data["envelope"]),
            arrival=float(data["arrival"]),
            pending=[str(a) for a in data["pending"]],
            attempts=int(data["attempts"]),
            next_attempt=float(data["next_attempt"]),
            last_attempt=data["last_attempt"],
            delay_warned=bool(data["delay_warned"]),
            last_errors={a: LastError(**e) for a, e in data["last_errors"].items()},
        )


class Spool:
    """Durable storage of queue entries; safe to call from several threads."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def new_id(self) -> str:
        # Sorts by arrival: milliseconds in fixed-width hex, then randomness.
        return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"

    def create(self, envelope: QueuedEnvelope, data: bytes, *, now: float | None = None) -> Entry:
        entry = Entry(
            id=self.new_id(),
            envelope=envelope,
            arrival=time.time() if now is None else now,
            pending=list(dict.fromkeys(r.address for r in envelope.recipients)),
        )
        self._write(self.dir / f"{entry.id}.msg", data)
        self._write(self.dir / f"{entry.id}.json", _dump(entry))
        _fsync_dir(self.dir)
        return entry

    def save(self, entry: Entry) -> None:
        self._write(self.dir / f"{entry.id}.json", _dump(entry))
        _fsync_dir(self.dir)

    def remove(self, entry_id: str) -> None:
        # The envelope goes first: without it the entry no longer exists, and an
        # orphan message file is cleaned up by recover().
        for suffix in (".json", ".msg"):
            (self.dir / f"{entry_id}{suffix}").unlink(missing_ok=True)
        _fsync_dir(self.dir)

    def read_data(self, entry_id: str) -> bytes:
        return (self.dir / f"{entry_id}.msg").read_bytes()

    def load(self, entry_id: str) -> Entry | None:
        path = self.dir / f"{entry_id}.json"
        try:
            return Entry.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            # Keep it for a human rather than deleting mail; it is no longer pending.
            log.error("queue entry %s is unreadable (%s); renamed to .bad", entry_id, exc)
            os.replace(path, path.with_suffix(".bad"))
            return None

    def ids(self) -> list[str]:
        return sorted(p.name[: -len(".json")] for p in self.dir.glob("*.json"))

    def recover(self) -> list[Entry]:
        """Clean up after a crash and return every complete entry, oldest first.

        Only call this while no enqueue is in progress (before the server listens).
        """
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        ids = set(self.ids())
        for msg in self.dir.glob("*.msg"):
            if msg.name[: -len(".msg")] not in ids:
                log.warning("removing %s: its enqueue never completed", msg.name)
                msg.unlink(missing_ok=True)
        entries = []
        for entry_id in sorted(ids):
            entry = self.load(entry_id)
            if entry is None:
                continue
            if not (self.dir / f"{entry_id}.msg").exists():
                log.error("queue entry %s has no message file; dropping it", entry_id)
                self.remove(entry_id)
                continue
            entries.append(entry)
        return entries

    def _write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)


def _dump(entry: Entry) -> bytes:
    return json.dumps(entry.to_json(), ensure_ascii=False, indent=1).encode("utf-8")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
