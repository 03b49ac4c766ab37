"""Message content for the SMTP core: DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030).

A mixin of :class:`~reference_servers.smtp._connection.Connection`, split out so that
the command dispatch and the byte-counting of message bodies live in separate files.
It reads from the connection's buffer and ends in :class:`MessageReady`, or in a
refusal that keeps the session in step (every octet of a refused body is still read).
No I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reference_servers.wire import DotReader, ReceiveBuffer

from . import _replies as R
from ._events import (
    NEED_DATA,
    Bdat,
    Closing,
    Envelope,
    Event,
    MailFrom,
    MessageReady,
    Recipient,
    Rejected,
)
from ._parser import CommandError, parse_bdat
from ._replies import Reply
from ._state import State, allowed

if TYPE_CHECKING:
    from .policy import SmtpPolicy


class MessageContent:
    """DATA and BDAT handling; the attributes below belong to the connection."""

    policy: SmtpPolicy
    state: State
    esmtp: bool
    helo: str
    tls: bool
    user: str | None
    mail: MailFrom | None
    recipients: list[Recipient]
    _buffer: ReceiveBuffer
    _eof: bool
    _closing_sent: bool
    _dot: DotReader | None
    _chunks: bytearray
    _chunk_left: int
    _chunk_pending: Bdat | None
    _chunk_refusal: Reply | None

    if TYPE_CHECKING:
        def _go(self, trigger: str) -> None: ...
        def _error(self, reply: Reply, line: bytes = b"") -> Event: ...
        def _reply(self, reply: Reply) -> None: ...
        def _reset_transaction(self) -> None: ...
        def _sequence_reply(self, verb: str) -> Reply: ...

    def _read_data(self) -> Event | object:
        assert self._dot is not None
        if self._eof and not self._buffer:
            self._go("CLOSE")
            self._closing_sent = True
            return Closing("eof inside DATA")
        got = self._dot.read(self._buffer)
        if got is None:
            if self._eof:
                self._go("CLOSE")
                self._closing_sent = True
                return Closing("eof inside DATA")
            return NEED_DATA
        self._dot = None
        if got.too_big:
            # RFC 5321 §4.5.3.1.10 / RFC 1870 §6.3: 552 after reading to the end.
            return self._refuse(R.MESSAGE_TOO_BIG(limit=self.policy.max_message_size))
        return self._finish(got.content, got.bare_lf, got.bare_cr, got.longest_line)

    def _bdat_command(self, rest: str, line: bytes) -> Event | object:
        try:
            command = parse_bdat(rest)
        except CommandError as exc:
            self._start_chunk(None, exc.skip, exc.smtp_reply)
            return Rejected(exc.smtp_reply, line)
        if not self.esmtp:
            self._start_chunk(command, command.size, R.BAD_SEQUENCE(detail="send EHLO first"))
        elif not allowed(self.state, "BDAT"):
            self._start_chunk(command, command.size, self._sequence_reply("BDAT"))
        elif len(self._chunks) + command.size > self.policy.max_message_size:
            # RFC 3030 §3: the chunk is still read (and dropped) to stay in step.
            self._start_chunk(command, command.size,
                              R.MESSAGE_TOO_BIG(limit=self.policy.max_message_size))
        else:
            self._start_chunk(command, command.size, None)
        return self._read_chunk()

    def _start_chunk(self, command: Bdat | None, size: int, refusal: Reply | None) -> None:
        self._chunk_pending = command if command is not None else Bdat(size, False)
        self._chunk_left = size
        self._chunk_refusal = refusal

    def _read_chunk(self) -> Event | object:
        raw = self._buffer.raw
        take = min(self._chunk_left, len(raw))
        if self._chunk_refusal is None:
            self._chunks += raw[:take]
        del raw[:take]
        self._chunk_left -= take
        if self._chunk_left:
            if self._eof:
                self._go("CLOSE")
                self._closing_sent = True
                return Closing("eof inside BDAT")
            return NEED_DATA
        command, refusal = self._chunk_pending, self._chunk_refusal
        self._chunk_pending, self._chunk_refusal = None, None
        assert command is not None
        if refusal is not None:
            if self.state in (State.RCPT, State.BDAT):
                self._go("REFUSED")
                self._reset_transaction()
            return self._error(refusal)
        if not command.last:
            self._go("BDAT")
            self._reply(R.CHUNK_OK(size=command.size))
            return command
        content = bytes(self._chunks)
        self._chunks = bytearray()
        crlf = content.count(b"\r\n")
        bare_lf, bare_cr = content.count(b"\n") - crlf, content.count(b"\r") - crlf
        longest = max(map(len, content.split(b"\r\n"))) + 2 if content else 0
        self._go("BDAT_LAST")
        return self._finish(content, bare_lf, bare_cr, longest, via_bdat=True)

    def _finish(self, content: bytes, bare_lf: int, bare_cr: int, longest: int,
                via_bdat: bool = False) -> Event:
        if self.policy.strict_eol and (bare_lf or bare_cr):
            # RFC 5321 §2.3.8: only CRLF ends a line; strict mode refuses the message
            # after reading it to the real end, so the session stays in step.
            return self._refuse(R.BARE_EOL_DATA())
        if longest > self.policy.max_text_line:
            # RFC 5321 §4.5.3.1.6 / §4.5.3.1.10: "500 Line too long".
            return self._refuse(R.TEXT_LINE_TOO_LONG(limit=self.policy.max_text_line))
        if not via_bdat:
            self._go("DATA_END")
        assert self.mail is not None
        envelope = Envelope(
            mail_from=self.mail.address, recipients=tuple(self.recipients),
            body=self.mail.body, smtputf8=self.mail.smtputf8, ret=self.mail.ret,
            envid=self.mail.envid, helo=self.helo, esmtp=self.esmtp, tls=self.tls,
            authenticated=self.user,
        )
        return MessageReady(envelope, content, bare_lf, bare_cr)

    def _refuse(self, reply: Reply) -> Event:
        if self.state is State.PENDING:
            self._go("DONE")
        else:
            self._go("REFUSED")
        self._reset_transaction()
        return self._error(reply)
