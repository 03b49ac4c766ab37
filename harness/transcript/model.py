"""The transcript model: what a loaded YAML case is, protocol-neutral, immutable.

The loader builds these from YAML (and the importers and the recorder from logs); the
runner executes them. Every case and step carries its :class:`Location` so a failure can
point at the file and line that said what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

START_STATES = ("connected", "greeted", "authenticated", "selected", "maildrop")
LEVELS = ("MUST", "SHOULD", "MAY")
MAIN = "main"  # the name of the connection a step uses unless it names another


@dataclass(frozen=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Expect:
    """What one response must look like. Fields not set are not checked.

    Which fields apply depends on the connection's protocol: ``codes``/``enhanced`` for
    SMTP and LMTP, ``status``/``body``/``multiline`` for POP3, ``tag``/``resp_code``/
    ``untagged``/``may``/``continuation`` for IMAP; ``match``/``forbid`` for all.
    """

    location: Location
    closed: bool = False
    codes: tuple[str, ...] = ()  # "250", "2xx", "25x"
    enhanced: str | None = None
    status: str | None = None  # POP3 "+OK" / "-ERR" / "+"; IMAP untagged OK/NO/BAD/PREAUTH/BYE
    body: tuple[str, ...] | None = None
    body_match: str | None = None
    multiline: bool | None = None
    tag: str | None = None  # IMAP tagged status OK / NO / BAD
    resp_code: str | None = None  # IMAP response code, a pattern matched at its start
    untagged: tuple[str, ...] = ()
    may: tuple[str, ...] | None = None
    unordered: bool = False
    continuation: bool = False
    match: str | None = None
    forbid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Send:
    """Command lines (CRLF appended), sent in one write: a list of them is a pipelined batch.

    IMAP: each line gets a tag; ``{literal}`` placeholders are replaced by the literals in
    order, synchronising on the server's continuation unless ``literal_plus`` (RFC 7888).
    """

    lines: tuple[str, ...]
    literals: tuple[str, ...] = ()
    literal_plus: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class SendRaw:
    """Exactly these octets: each character of ``data`` is one octet (U+0000 to U+00FF)."""

    data: str


@dataclass(frozen=True)
class SendMessage:
    """A message for SMTP DATA: CRLF line ends, dot-stuffed, then ``.`` CRLF (RFC 5321 §4.5.2)."""

    content: bytes
    source: str  # "inline" or the file it came from
    terminate: bool = True


@dataclass(frozen=True)
class StartTls:
    """``command``: send STARTTLS/STLS and expect success first; otherwise only the handshake."""

    command: bool = True


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class WaitMaildrop:
    """Wait until the POP3 maildrop of the step's connection's user holds ``messages``.

    Polls with short POP3 sessions of its own (a session sees the maildrop as it was at
    login, RFC 1939 §8), so it goes before the connection that reads the mail logs in.
    """

    messages: int


Action = Send | SendRaw | SendMessage | StartTls | Sleep | Close | WaitMaildrop


@dataclass(frozen=True)
class Step:
    index: int
    location: Location
    connection: str = MAIN
    action: Action | None = None
    expects: tuple[Expect, ...] = ()
    timeout: float | None = None
    note: str | None = None


@dataclass(frozen=True)
class ConnectionSpec:
    """How a named connection starts: its protocol, its start state, as which user."""

    protocol: str
    start: str = "connected"
    user: int = 1
    messages: int = 0
    # A named endpoint of the profile (e.g. "smtp-refuse") instead of the protocol's own;
    # a target without it skips the case.
    endpoint: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    path: Path
    location: Location
    protocol: str
    title: str
    steps: tuple[Step, ...]
    connections: dict[str, ConnectionSpec] = field(default_factory=dict)
    rfc: str | None = None
    level: str | None = None
    requires: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    timeout: float | None = None
    description: str | None = None
    covers: tuple[str, ...] = ()  # requirement ids (specs/requirements/) this case checks

    @property
    def start(self) -> str:
        return self.connections[MAIN].start
