"""What the store tells the servers about one message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """One message of a folder, as of the last sync.

    ``key`` is the stable unique name (the Maildir base name, before ``:``): 1..70 octets of
    0x21-0x7E, so POP3 can use it as the UIDL (RFC 1939 §7). ``size`` counts the octets on
    the wire, i.e. with CRLF line endings, whatever the file holds. ``path`` is where the
    file was at the last sync; another process may have renamed it since (flags change the
    name), so read through :meth:`Folder.read`, which follows such renames.
    """

    uid: int
    key: str
    size: int
    internaldate: datetime
    flags: frozenset[str]
    path: Path
