"""SMTP and LMTP reply framing, sans-IO (RFC 5321 §4.2, RFC 2033 §4.2).

    Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF

Every line of a multi-line reply carries the same code; the last one has SP (or nothing)
after the code. LMTP uses the same replies, one per recipient after DATA.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._buffer import ResponseBuffer, strip_eol
from .errors import ProtocolViolation

# RFC 5321 §4.2: first digit 1-5 (1yz is unused but well formed), second digit 0-5.
_LINE = re.compile(rb"([1-5][0-5][0-9])([ -]|$)")
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class SmtpReply:
    code: int
    lines: tuple[bytes, ...]  # the text after "NNN-" / "NNN " of each line, no CRLF
    raw: bytes  # exactly as received, CRLFs included

    @property
    def text(self) -> str:
        """The whole reply as text, one line per reply line, codes included (for matching)."""
        return "\n".join(
            strip_eol(line).decode("utf-8", "surrogateescape")
            for line in self.raw.splitlines(keepends=True)
        )

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code of the first line, if it starts with one."""
        first = self.lines[0].decode("ascii", "replace") if self.lines else ""
        found = _ENHANCED.match(first)
        return ".".join(found.groups()) if found else None

    def keywords(self) -> dict[str, str]:
        """EHLO keywords (RFC 5321 §4.1.1.1): upper-cased keyword -> its parameters."""
        result: dict[str, str] = {}
        for line in self.lines[1:]:
            word, _, params = line.decode("ascii", "replace").strip().partition(" ")
            if word:
                result[word.upper()] = params
        return result


class SmtpFramer:
    """Bytes in, :class:`SmtpReply` out."""

    def __init__(self, max_response: int = 1 << 20, *, allow_bare_lf: bool = False) -> None:
        self.buffer = ResponseBuffer(max_response, allow_bare_lf=allow_bare_lf)
        self._lines: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.buffer.feed(data)

    def next_reply(self) -> SmtpReply | None:
        while True:
            if not self._lines:
                self.buffer.begin_response()
            line = self.buffer.take_line()
            if line is None:
                return None
            body = strip_eol(line)
            found = _LINE.match(body)
            if found is None:
                self._lines.clear()
                raise ProtocolViolation("not an SMTP reply line (want 3 digits and SP or -)", line)
            if self._lines and self._lines[0][:3] != body[:3]:
                first = self._lines[0][:3].decode()
                self._lines.clear()
                raise ProtocolViolation(
                    f"multi-line reply changes its code from {first} to {body[:3].decode()}",
                    line,
                )
            self._lines.append(line)
            if found.group(2) != b"-":
                lines, self._lines = self._lines, []
                return SmtpReply(
                    int(body[:3]), tuple(strip_eol(item)[4:] for item in lines), b"".join(lines)
                )

    next_response = next_reply
