"""The sans-IO POP3 server connection: bytes in, command events out; responses in, bytes out.

The connection owns the receive buffer and the state (via the table in ``_state``). It
does not decide answers: the session layer looks at each command and hands back a
response event, and :meth:`Connection.send` frames it and moves the state along.
"""

from __future__ import annotations

from ..auth import encode_challenge
from ..wire import (
    CRLF,
    BareLineEnding,
    EolPolicy,
    LineTooLong,
    LocalProtocolError,
    ReceiveBuffer,
    dot_stuff,
    frame_multiline_parts,
)
from . import _events as ev
from . import _parser
from ._replies import R
from ._state import ALLOWED, ON_RECEIVE, TABLE, Outcome, State

# RFC 2449 §4: "the maximum length of a command is increased ... to 255 octets,
# including the terminating CRLF".
COMMAND_LINE_LIMIT = 255
# RFC 5034 §4 puts no limit on a client's base64 response lines; this bounds memory.
SASL_LINE_LIMIT = 16384

Chunk = bytes | memoryview  # what send_parts hands to transport.writelines


class Connection:
    """One server side POP3 session's protocol state.

    ``secure`` is True from the start for implicit TLS (pop3s) and becomes True once
    a STLS +OK has been sent.
    """

    def __init__(
        self,
        *,
        secure: bool = False,
        max_command_line: int = COMMAND_LINE_LIMIT,
        max_sasl_line: int = SASL_LINE_LIMIT,
        bare_lf: EolPolicy = EolPolicy.REJECT,
    ) -> None:
        self.state = State.AUTHORIZATION
        self.secure = secure
        self._max_command_line = max_command_line
        self._max_sasl_line = max_sasl_line
        self._buffer = ReceiveBuffer(max_command_line, bare_lf=bare_lf, bare_cr=EolPolicy.REJECT)
        self._greeted = False
        self._pending: ev.Command | None = None

    # -- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is not State.CLOSED:
            self._buffer.feed(data)

    @property
    def buffered(self) -> int:
        """Octets received and not yet handed out (for read back-pressure)."""
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def next_event(self) -> ev.Command | object:
        """The next command, or NEED_DATA. Raises ParseError (with the reply to send)."""
        if self._pending is not None:
            raise LocalProtocolError(f"{self._pending.keyword} has not been answered yet")
        if self.state in (State.CLOSED, State.UPDATE):
            return ev.NEED_DATA
        sasl = self.state is State.SASL
        try:
            line = self._buffer.next_line()
        except LineTooLong as exc:
            self._abort_sasl()
            raise _parser.ParseError(R.LINE_TOO_LONG, exc.limit) from None
        except BareLineEnding:
            self._abort_sasl()
            raise _parser.ParseError(R.BARE_LINE_ENDING) from None
        if line is None:
            return ev.NEED_DATA
        if sasl:
            try:
                command: ev.Command = _parser.parse_sasl_response(line)
            except _parser.ParseError:
                self._abort_sasl()  # RFC 5034 §4: a bad response ends the exchange
                raise
        else:
            try:
                command = self._parse_in_state(line)
            except _parser.ParseError:
                # RFC 1939 §7: PASS must come *immediately* after a successful USER; a
                # rejected line in between breaks the pair as any other command does.
                if self.state is State.AWAIT_PASS:
                    self.state = State.AUTHORIZATION
                raise
        self._pending = command
        self.state = ON_RECEIVE.get((self.state, type(command)), self.state)
        return command

    def _parse_in_state(self, line: bytes) -> ev.Command:
        keyword, rest = _parser.split_command(line)
        kind = _parser.command_type(keyword)
        if kind not in ALLOWED[self.state]:
            if kind is ev.Pass and self.state is State.AUTHORIZATION:
                raise _parser.ParseError(R.PASS_WITHOUT_USER)
            raise _parser.ParseError(R.WRONG_STATE, keyword, self.state.rfc_name)
        return _parser.build(keyword, rest)

    def _abort_sasl(self) -> None:
        if self.state is State.SASL:
            self._set_state(State.AUTHORIZATION)

    def _set_state(self, state: State) -> None:
        self.state = state
        limit = self._max_sasl_line if state is State.SASL else self._max_command_line
        self._buffer.max_line = limit

    # -- output -----------------------------------------------------------------------------

    def greeting(self, text: str) -> bytes:
        """The server greeting (RFC 1939 §4), e.g. with the APOP timestamp in ``text``."""
        if self._greeted:
            raise LocalProtocolError("the greeting has been sent already")
        self._greeted = True
        return R.GREETING.render(text)

    def refuse(self) -> bytes:
        """Instead of the greeting: the server is full; the caller closes after sending."""
        if self._greeted:
            raise LocalProtocolError("the greeting has been sent already")
        self._greeted = True
        return R.TOO_MANY_CONNECTIONS.render()

    def send(self, response: ev.Response) -> bytes:
        return b"".join(self.send_parts(response))

    def send_parts(self, response: ev.Response) -> list[Chunk]:
        """The response as a list of byte strings, for ``transport.writelines``."""
        command = self._pending
        if command is None:
            raise LocalProtocolError("no command to answer")
        if not self._greeted:
            raise LocalProtocolError("send the greeting first")
        outcome = _outcome(response)
        key = (self.state, type(command), outcome)
        target = TABLE.get(key)
        if target is None:
            raise LocalProtocolError(
                f"{outcome.value} is not a valid answer to {command.keyword} in {self.state.value}"
            )
        parts = _frame(response)
        self._pending = None
        self._set_state(target)
        if isinstance(command, ev.Stls) and outcome is Outcome.OK:
            # RFC 2595 §4 (and RFC 3207 §4.2 by analogy): nothing the client sent
            # before the handshake may be acted upon after it.
            self._buffer.clear()
            self.secure = True
        return parts


def _outcome(response: ev.Response) -> Outcome:
    if isinstance(response, ev.Challenge):
        return Outcome.CHALLENGE
    return Outcome.OK if response.ok else Outcome.ERR


def _frame(response: ev.Response) -> list[Chunk]:
    if isinstance(response, ev.Status):
        return [response.reply.render(*response.args)]
    if isinstance(response, ev.Challenge):
        # RFC 5034 §4: '"+" SP base64 CRLF'; an empty challenge is "+ " alone.
        return [b"+ " + encode_challenge(response.data) + CRLF]
    if not response.reply.ok:
        raise LocalProtocolError("a multi-line response starts with +OK")
    status = response.reply.render(*response.args)
    if isinstance(response, ev.Listing):
        lines = response.lines
        return [status, dot_stuff(CRLF.join(lines) + CRLF) if lines else b".\r\n"]
    # RFC 1939 §3: multi-line responses end with CRLF "." CRLF and lines starting with
    # the termination octet are byte-stuffed; content goes out with CRLF line endings
    # whatever the store holds. The body goes out as views between the stuffing octets,
    # not as one more copy of the message.
    return [status, *frame_multiline_parts(response.data)]
