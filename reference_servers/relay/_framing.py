"""Sans-IO SMTP client framing: replies in, command bytes out. No asyncio, no sockets.

Replies (RFC 5321 §4.2): ``code SP text`` ends a reply, ``code - text`` continues it;
every line of one reply carries the same code (§4.2.1). Enhanced status codes
(RFC 2034 §4, RFC 3463) are read from the start of the text when present.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..wire import EolPolicy, LineTooLong, ReceiveBuffer, RemoteProtocolError

# RFC 5321 §4.5.3.1.5 sets 512 octets for a reply line; accept more from peers, a
# client that gives up on a long 250-line would only turn a good hop into a failing one.
MAX_REPLY_LINE = 4096
MAX_REPLY_LINES = 1000
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?:\s|$)")


@dataclass(frozen=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def enhanced(self) -> str | None:
        """The enhanced status code of the first line, if it has one (RFC 2034 §4)."""
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        # RFC 3463 §2: the class of the enhanced code matches the reply's class.
        if match and match.group(1) == str(self.code)[0]:
            return ".".join(match.groups())
        return None

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


class ReplyError(RemoteProtocolError):
    """The next hop sent something that is not an SMTP reply."""


class ReplyReader:
    """Feed received bytes; take complete replies out."""

    def __init__(self) -> None:
        # A bare LF from the server is tolerated: strictness is for our servers, and a
        # client that fails on it helps nobody (RFC 5321 §2.3.8 still counts it wrong).
        self._buffer = ReceiveBuffer(
            MAX_REPLY_LINE, bare_lf=EolPolicy.TOLERATE, bare_cr=EolPolicy.TOLERATE
        )
        self._code: int | None = None
        self._lines: list[str] = []

    def feed(self, data: bytes) -> None:
        self._buffer.feed(data)

    def discard(self) -> None:
        """Forget buffered bytes (RFC 3207 §4.2: nothing from before TLS counts after)."""
        self._buffer.clear()
        self._code, self._lines = None, []

    def next_reply(self) -> Reply | None:
        while True:
            try:
                raw = self._buffer.next_line()
            except LineTooLong as exc:
                raise ReplyError(f"reply line longer than {MAX_REPLY_LINE} octets") from exc
            if raw is None:
                return None
            line = raw.decode("utf-8", errors="replace")
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in ("", " ", "-"):
                raise ReplyError(f"not an SMTP reply line: {line[:80]!r}")
            code = int(line[:3])
            if not 200 <= code <= 599:
                raise ReplyError(f"reply code {code} out of range")
            if self._code is not None and code != self._code:
                raise ReplyError(f"reply code changed from {self._code} to {code} mid-reply")
            self._code = code
            self._lines.append(line[4:])
            if len(self._lines) > MAX_REPLY_LINES:
                raise ReplyError("reply has too many lines")
            if line[3:4] != "-":
                reply = Reply(code, tuple(self._lines))
                self._code, self._lines = None, []
                return reply


def parse_ehlo(reply: Reply) -> dict[str, str]:
    """EHLO keywords (upper-case) -> their parameters (RFC 5321 §4.1.1.1)."""
    extensions: dict[str, str] = {}
    for line in reply.lines[1:]:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
    return extensions


def command(verb: str, argument: str = "") -> bytes:
    text = f"{verb} {argument}" if argument else verb
    if "\r" in text or "\n" in text:
        # An address or parameter with a line break would inject a second command.
        raise ValueError(f"line break in SMTP command {text!r}")
    return text.encode("utf-8") + b"\r\n"


def mail_from(address: str, params: list[str]) -> bytes:
    return command("MAIL", " ".join([f"FROM:<{address}>", *params]))


def rcpt_to(address: str, params: list[str]) -> bytes:
    return command("RCPT", " ".join([f"TO:<{address}>", *params]))


def bdat_last(data: bytes) -> bytes:
    """RFC 3030 §2: the whole message as one last chunk; octets are sent as they are."""
    return f"BDAT {len(data)} LAST\r\n".encode("ascii") + data
