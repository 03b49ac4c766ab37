"""A byte-exact, timestamped log of one session: what went out, what came in, and when.

Entries hold the octets exactly as they crossed the socket (one entry per send and per
receive), so a failure report can show the bytes and a reproducer can be rebuilt from them.
Events that are not data (connected, TLS up, EOF) are entries with direction ``*``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["C", "S", "*"]


@dataclass(frozen=True)
class LogEntry:
    time: float  # seconds since the log was started
    direction: Direction  # C: client to server, S: server to client, *: an event
    data: bytes
    connection: str = ""


@dataclass
class SessionLog:
    """Append-only; several sessions of one case may share a log (``connection`` tells apart)."""

    entries: list[LogEntry] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, direction: Direction, data: bytes, connection: str = "") -> None:
        self.entries.append(
            LogEntry(time.monotonic() - self.started, direction, bytes(data), connection)
        )

    def event(self, text: str, connection: str = "") -> None:
        self.add("*", text.encode("utf-8"), connection)

    def sent(self, connection: str | None = None) -> bytes:
        return b"".join(e.data for e in self._select("C", connection))

    def received(self, connection: str | None = None) -> bytes:
        return b"".join(e.data for e in self._select("S", connection))

    def _select(self, direction: Direction, connection: str | None) -> Iterable[LogEntry]:
        return (e for e in self.entries
                if e.direction == direction and (connection is None or e.connection == connection))


def visible(data: bytes) -> str:
    """Octets as readable text: printable ASCII as is, CR/LF/TAB/NUL and 8-bit escaped."""
    out = []
    for byte in data:
        if byte == 0x0D:
            out.append("\\r")
        elif byte == 0x0A:
            out.append("\\n")
        elif byte == 0x09:
            out.append("\\t")
        elif byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def format_entries(entries: Iterable[LogEntry], *, limit: int = 4000) -> str:
    """One line per CRLF-terminated line of each entry, prefixed with time and direction."""
    lines: list[str] = []
    for entry in entries:
        who = f"{entry.connection}:" if entry.connection else ""
        prefix = f"{entry.time:8.3f} {who}{entry.direction}: "
        if entry.direction == "*":
            lines.append(prefix + entry.data.decode("utf-8", "replace"))
            continue
        for piece in entry.data.splitlines(keepends=True) or [b""]:
            text = visible(piece)
            if len(text) > limit:
                text = text[:limit] + f"... ({len(piece)} octets)"
            lines.append(prefix + text)
    return "\n".join(lines)
