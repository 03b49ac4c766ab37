"""POP3 response framing, sans-IO (RFC 1939 §3, RFC 2449, RFC 5034).

A response is a status line (``+OK``/``-ERR``, or ``+`` for a SASL continuation) and,
for commands that have one, a multi-line body ended by a line holding only ``.``; body
lines starting with ``.`` are byte-stuffed. Only the caller knows whether a body follows
(it depends on the command and its arguments), so it says so per response; see
:func:`expects_body` for the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._buffer import ResponseBuffer, strip_eol
from .errors import ProtocolViolation

# RFC 1939 §5-7, RFC 2449 §5 (CAPA), RFC 5034 (SASL listing by bare AUTH is a de facto
# extension): commands whose +OK carries a dot-terminated body.
_ALWAYS_BODY = {b"RETR", b"TOP", b"CAPA"}
_BODY_WITHOUT_ARG = {b"LIST", b"UIDL", b"AUTH"}


def expects_body(command: bytes) -> bool:
    """Whether a +OK answer to ``command`` (one line, no CRLF needed) has a multi-line body."""
    words = command.strip().split()
    if not words:
        return False
    verb = words[0].upper()
    return verb in _ALWAYS_BODY or (verb in _BODY_WITHOUT_ARG and len(words) == 1)


@dataclass(frozen=True)
class Pop3Response:
    status: str  # "+OK", "-ERR" or "+" (SASL continuation)
    line: bytes  # the status line without CRLF
    body: tuple[bytes, ...] | None  # un-stuffed body lines without CRLF; None if single-line
    raw: bytes

    @property
    def ok(self) -> bool:
        return self.status == "+OK"

    @property
    def text(self) -> str:
        """The status line, then each body line (un-stuffed), joined by LF, for matching."""
        lines = [self.line, *(self.body or ())]
        return "\n".join(line.decode("utf-8", "surrogateescape") for line in lines)


class Pop3Framer:
    def __init__(self, max_response: int = 16 << 20, *, allow_bare_lf: bool = False) -> None:
        self.buffer = ResponseBuffer(max_response, allow_bare_lf=allow_bare_lf)
        self._status: bytes | None = None
        self._body: list[bytes] = []
        self._raw: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.buffer.feed(data)

    def _reset(self) -> None:
        self._status, self._body, self._raw = None, [], []

    def next_response(self, multiline: bool = False) -> Pop3Response | None:
        if self._status is None:
            self.buffer.begin_response()
            line = self.buffer.take_line()
            if line is None:
                return None
            self._status = line
            self._raw.append(line)
        status_line = strip_eol(self._status)
        try:
            status = _status_of(status_line, self._status)
        except ProtocolViolation:
            self._reset()
            raise
        if status != "+OK" or not multiline:
            raw = b"".join(self._raw)
            self._reset()
            return Pop3Response(status, status_line, None, raw)
        while True:
            line = self.buffer.take_line()
            if line is None:
                return None
            self._raw.append(line)
            content = strip_eol(line)
            if content == b".":
                response = Pop3Response(status, status_line, tuple(self._body), b"".join(self._raw))
                self._reset()
                return response
            # RFC 1939 §3: a leading "." of a body line is stuffed; remove exactly one.
            self._body.append(content[1:] if content.startswith(b".") else content)


def _status_of(status_line: bytes, raw: bytes) -> str:
    for status in ("+OK", "-ERR"):
        token = status.encode()
        if status_line == token or status_line.startswith(token + b" "):
            return status
    if status_line == b"+" or status_line.startswith(b"+ "):
        return "+"
    raise ProtocolViolation("POP3 status line does not start with +OK, -ERR or '+ '", raw)
