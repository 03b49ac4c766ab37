"""IMAP response framing, sans-IO (RFC 3501 §2.2.2, §7; RFC 9051 §7; RFC 3516 for ``~{n}``).

A response is a line that may embed literals: a line ending in ``{n}`` CRLF is followed by
exactly n octets and then the rest of the response. The framer reads literals of any size
up to the response cap, without looking inside them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ._buffer import ResponseBuffer, strip_eol
from .errors import ProtocolViolation

Kind = Literal["tagged", "untagged", "continuation"]

_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r?\n\Z")
_STATUS = {"OK", "NO", "BAD", "PREAUTH", "BYE"}
_TAG = re.compile(rb"[\x21\x23-\x27\x2a-\x7a\x7c\x7e]+")  # ASTRING-CHAR minus "+" (RFC 3501 §9)
# After a literal the response continues with SP, ")" or its CRLF (RFC 3501 §9: a literal
# is a string, which is followed by SP or a closing parenthesis in every production).
_AFTER_LITERAL = b" )\r"


@dataclass(frozen=True)
class ImapResponse:
    kind: Kind
    tag: str | None  # the tag of a tagged response
    status: str | None  # OK/NO/BAD/PREAUTH/BYE for status responses, else None
    code: str | None  # the response code inside [...] of a status response
    raw: bytes  # exactly as received, literals and CRLFs included
    literals: tuple[bytes, ...]

    @property
    def text(self) -> str:
        """The response as text, literals inline, without the final CRLF (for matching)."""
        return strip_eol(self.raw).decode("utf-8", "surrogateescape")

    @property
    def data(self) -> str:
        """The text after ``* ``, ``+ `` or ``TAG `` (what an untagged pattern is matched to)."""
        head, _, rest = self.text.partition(" ")
        return rest if head else self.text


class ImapFramer:
    def __init__(self, max_response: int = 64 << 20, *, allow_bare_lf: bool = False) -> None:
        self.buffer = ResponseBuffer(max_response, allow_bare_lf=allow_bare_lf)
        self._parts: list[bytes] = []
        self._literals: list[bytes] = []
        self._want: int | None = None  # octets of the literal being read
        self._check_after_literal = False

    def feed(self, data: bytes) -> None:
        self.buffer.feed(data)

    def _reset(self) -> None:
        self._parts, self._literals, self._want = [], [], None
        self._check_after_literal = False

    def next_response(self) -> ImapResponse | None:
        try:
            return self._next()
        except ProtocolViolation:
            self._reset()
            raise

    def _next(self) -> ImapResponse | None:
        while True:
            if self._want is not None:
                literal = self.buffer.take(self._want)
                if literal is None:
                    return None
                self._parts.append(literal)
                self._literals.append(literal)
                self._want = None
                self._check_after_literal = True
            if not self._parts:
                self.buffer.begin_response()
            if self._check_after_literal:
                pending = self.buffer.peek()
                if not pending:
                    return None
                if pending[:1] not in _AFTER_LITERAL:
                    raise ProtocolViolation(
                        f"{pending[:1]!r} follows a literal of {len(self._literals[-1])} octets;"
                        " the literal is longer than announced",
                        b"".join(self._parts) + pending[:80],
                    )
                self._check_after_literal = False
            line = self.buffer.take_line()
            if line is None:
                return None
            self._parts.append(line)
            found = _LITERAL.search(line)
            if found is not None:
                self._want = int(found.group(1))
                continue
            raw = b"".join(self._parts)
            literals = tuple(self._literals)
            self._reset()
            return _classify(raw, literals)


def _classify(raw: bytes, literals: tuple[bytes, ...]) -> ImapResponse:
    first = raw.split(b"\n", 1)[0].removesuffix(b"\r")
    head, _, rest = first.partition(b" ")
    if head == b"+":
        return ImapResponse("continuation", None, None, None, raw, literals)
    if head == b"*":
        status, code = _status_and_code(rest)
        return ImapResponse("untagged", None, status, code, raw, literals)
    if not _TAG.fullmatch(head):
        raise ProtocolViolation("IMAP response starts with neither '*', '+' nor a tag", raw[:200])
    status, code = _status_and_code(rest)
    if status not in ("OK", "NO", "BAD"):
        raise ProtocolViolation("a tagged IMAP response must be OK, NO or BAD", raw[:200])
    return ImapResponse("tagged", head.decode("ascii"), status, code, raw, literals)


def _status_and_code(rest: bytes) -> tuple[str | None, str | None]:
    word, _, text = strip_eol(rest).partition(b" ")
    status = word.decode("ascii", "replace").upper()
    if status not in _STATUS:
        return None, None
    if text.startswith(b"["):
        end = text.find(b"]")
        if end > 0:
            return status, text[1:end].decode("utf-8", "surrogateescape")
    return status, None
