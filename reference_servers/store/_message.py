"""What the store tells the servers about one message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One message of a folder, as of the last sync.

    ``key`` is the stable unique name (the Maildir base name, before ``:``): 1..70 octets of
    0x21-0x7E, so POP3 can use it as the UIDL (RFC 1939 §7). ``size`` counts the octets on
    the wire, i.e. with CRLF line endings, whatever the file holds. ``path`` is where the
    file was at the last sync; another process may have renamed it since (flags change the
    name), so read through :meth:`Folder.read`, which follows such renames.

    ``path`` and ``internaldate`` are computed when asked: a folder of 100,000 messages
    builds 100,000 of these on open, and most callers never look at either.
    """

    uid: int
    key: str
    size: int
    mtime_ns: int
    flags: frozenset[str]
    directory: Path
    filename: str

    @property
    def path(self) -> Path:
        return self.directory / self.filename

    @property
    def internaldate(self) -> datetime:
        """INTERNALDATE: the Maildir convention is the file's mtime (delivery time)."""
        return datetime.fromtimestamp(self.mtime_ns / 1_000_000_000, tz=UTC)
