"""What crosses the wire, as frozen dataclasses.

Client commands come out of :meth:`Connection.next_event` after the parser and the
state table have accepted them (the connection has already queued their reply unless
the event asks the server to act). The server tells the connection what happened with
the events at the bottom, through :meth:`Connection.send`.

Addresses are ``str`` without angle brackets ("" is the null reverse-path); message
content and SASL payloads stay ``bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._replies import Reply

# -- client commands (RFC 5321 §4.1.1, RFC 3030, RFC 3207, RFC 4954) -----------------


@dataclass(frozen=True, slots=True)
class Command:
    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()


@dataclass(frozen=True, slots=True)
class Helo(Command):
    domain: str


@dataclass(frozen=True, slots=True)
class Ehlo(Command):
    domain: str


@dataclass(frozen=True, slots=True)
class MailFrom(Command):
    address: str  # "" for the null reverse-path <>
    size: int | None = None  # RFC 1870 SIZE=
    body: str = "7BIT"  # RFC 6152 BODY=
    smtputf8: bool = False  # RFC 6531
    ret: str | None = None  # RFC 3461 §4.3 RET=FULL|HDRS
    envid: str | None = None  # RFC 3461 §4.4, xtext as received
    auth: str | None = None  # RFC 4954 §5 AUTH=, xtext as received

    @property
    def keyword(self) -> str:
        return "MAIL"


@dataclass(frozen=True, slots=True)
class RcptTo(Command):
    address: str
    notify: frozenset[str] = frozenset()  # RFC 3461 §4.1
    orcpt: str | None = None  # RFC 3461 §4.2 "addr-type;xtext" as received

    @property
    def keyword(self) -> str:
        return "RCPT"


@dataclass(frozen=True, slots=True)
class Data(Command):
    pass


@dataclass(frozen=True, slots=True)
class Bdat(Command):
    size: int
    last: bool


@dataclass(frozen=True, slots=True)
class Rset(Command):
    pass


@dataclass(frozen=True, slots=True)
class Noop(Command):
    pass


@dataclass(frozen=True, slots=True)
class Quit(Command):
    pass


@dataclass(frozen=True, slots=True)
class Vrfy(Command):
    argument: str


@dataclass(frozen=True, slots=True)
class Expn(Command):
    argument: str


@dataclass(frozen=True, slots=True)
class Help(Command):
    topic: str | None


@dataclass(frozen=True, slots=True)
class StartTls(Command):
    pass


@dataclass(frozen=True, slots=True)
class Auth(Command):
    mechanism: str  # upper-case
    initial: bytes | None  # the raw initial-response token; None when absent


@dataclass(frozen=True, slots=True)
class AuthResponse(Command):
    """One client line inside a SASL exchange (RFC 4954 §4), undecoded."""

    line: bytes


# -- what the connection asks of the server ---------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """An accepted RCPT: where it goes once aliases are expanded."""

    address: str
    notify: frozenset[str] = frozenset()
    orcpt: str | None = None
    local_users: tuple[str, ...] = ()  # mailboxes in the store
    remote: tuple[str, ...] = ()  # forward-paths for the relay queue


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str
    recipients: tuple[Recipient, ...]
    body: str = "7BIT"
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None
    helo: str = ""
    esmtp: bool = True
    tls: bool = False
    authenticated: str | None = None

    @property
    def local_users(self) -> tuple[str, ...]:
        """Every mailbox to deliver into, each once (RFC 5321 §3.7.3: no duplicates)."""
        return tuple(dict.fromkeys(u for r in self.recipients for u in r.local_users))


@dataclass(frozen=True, slots=True)
class MessageReady:
    """A whole message arrived: deliver it, then send :class:`Delivered` or :class:`Failed`."""

    envelope: Envelope
    content: bytes
    bare_lf: int = 0  # kept (lenient mode); the server should log them
    bare_cr: int = 0


@dataclass(frozen=True, slots=True)
class TlsRequested:
    """220 was queued for STARTTLS: flush it, upgrade, then send :class:`TlsEstablished`."""


@dataclass(frozen=True, slots=True)
class AuthSucceeded:
    user: str


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """535 was queued for bad credentials: the server holds it back for
    ``policy.auth_failure_delay`` seconds before writing it (slows down guessing)."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class Closing:
    """The session is over (QUIT, a fatal error): flush what is queued and close."""

    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line got an error reply (already queued); for logs and tests."""

    reply: Reply
    line: bytes = b""


# -- what the server tells the connection -----------------------------------------


@dataclass(frozen=True, slots=True)
class Greeting:
    pass


@dataclass(frozen=True, slots=True)
class Busy:
    """Refuse the connection at once: too many connections (RFC 5321 §3.1, 421)."""


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The idle timeout of RFC 5321 §4.5.3.2 expired."""


@dataclass(frozen=True, slots=True)
class ShuttingDown:
    pass


@dataclass(frozen=True, slots=True)
class Delivered:
    queue_id: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Delivery failed; ``temporary`` picks 451 over 554."""

    temporary: bool
    detail: str = ""
    storage_full: bool = False


@dataclass(frozen=True, slots=True)
class TlsEstablished:
    pass


Event = (Command | MessageReady | TlsRequested | AuthSucceeded | AuthFailed | Closing
         | Rejected)
ServerEvent = Greeting | Busy | TimedOut | ShuttingDown | Delivered | Failed | TlsEstablished


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")  # feed more bytes
PAUSED = _Sentinel("PAUSED")  # waiting for the server (delivery, TLS) before reading on
