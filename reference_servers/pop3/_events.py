"""What crosses the wire, as frozen dataclasses.

Client commands come out of :meth:`Connection.next_event`; server responses go into
:meth:`Connection.send`. Strings are ASCII command arguments (already validated by the
parser); bytes are opaque data (SASL payloads, message content).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._replies import Reply

# -- client commands (RFC 1939 §4-§7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4) --------------


@dataclass(frozen=True, slots=True)
class Command:
    """Base class; ``keyword`` is the upper-case command word."""

    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()


@dataclass(frozen=True, slots=True)
class User(Command):
    name: str


@dataclass(frozen=True, slots=True)
class Pass(Command):
    password: str  # RFC 1939 §7: spaces belong to the password


@dataclass(frozen=True, slots=True)
class Apop(Command):
    name: str
    digest: str


@dataclass(frozen=True, slots=True)
class Auth(Command):
    mechanism: str
    initial: bytes | None  # decoded initial response; b"" for "="; None when absent


@dataclass(frozen=True, slots=True)
class AuthResponse(Command):
    """One client line during a SASL exchange; ``data`` None means "*" (cancel)."""

    data: bytes | None


@dataclass(frozen=True, slots=True)
class Stls(Command):
    pass


@dataclass(frozen=True, slots=True)
class Capa(Command):
    pass


@dataclass(frozen=True, slots=True)
class Stat(Command):
    pass


@dataclass(frozen=True, slots=True)
class List(Command):
    msg: int | None


@dataclass(frozen=True, slots=True)
class Retr(Command):
    msg: int


@dataclass(frozen=True, slots=True)
class Dele(Command):
    msg: int


@dataclass(frozen=True, slots=True)
class Noop(Command):
    pass


@dataclass(frozen=True, slots=True)
class Rset(Command):
    pass


@dataclass(frozen=True, slots=True)
class Quit(Command):
    pass


@dataclass(frozen=True, slots=True)
class Top(Command):
    msg: int
    lines: int


@dataclass(frozen=True, slots=True)
class Uidl(Command):
    msg: int | None


# -- server responses ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """A single-line ``+OK``/``-ERR`` response from the reply table."""

    reply: Reply
    args: tuple[object, ...] = ()

    @property
    def ok(self) -> bool:
        return self.reply.ok


@dataclass(frozen=True, slots=True)
class Listing:
    """``+OK`` followed by a multi-line body of short lines (CAPA, LIST, UIDL).

    ``lines`` come without line endings; none may start with "." unstuffed (the
    connection byte-stuffs anyway).
    """

    reply: Reply
    lines: Sequence[bytes]
    args: tuple[object, ...] = ()
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Content:
    """``+OK`` followed by message content (RETR, TOP), sent CRLF and byte-stuffed."""

    reply: Reply
    data: bytes
    args: tuple[object, ...] = ()
    ok: bool = True


@dataclass(frozen=True, slots=True)
class Challenge:
    """A SASL server challenge, ``+ <base64>`` (RFC 5034 §4)."""

    data: bytes
    ok: bool = True


Response = Status | Listing | Content | Challenge


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")
"""next_event() has nothing complete to hand out yet."""
