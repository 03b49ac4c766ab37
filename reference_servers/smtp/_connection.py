"""The SMTP server protocol core: bytes in, events and reply bytes out. No I/O.

Usage (what ``server.py`` does)::

    conn = Connection(policy, directory, tls=False, relay=True)
    write(conn.send(Greeting()))
    conn.receive_data(data)                  # b"" at EOF
    while (event := conn.next_event()) not in (NEED_DATA, PAUSED):
        ...                                  # act on MessageReady, TlsRequested, Closing
    write(conn.data_to_send())               # every queued reply, in one write

Replies to pipelined commands queue up in order and leave in one write once the input
is drained (RFC 2920 §3.2); a rejected command never desynchronizes the session
because every line gets exactly one reply and BDAT chunks are read even when refused.
"""

from __future__ import annotations

from reference_servers.auth import (
    SaslChallenge,
    SaslError,
    SaslExchange,
    SaslFailure,
    decode_initial_response,
    decode_sasl_response,
    encode_challenge,
    mechanisms_for,
)
from reference_servers.wire import BareLineEnding, DotReader, EolPolicy, LineTooLong, ReceiveBuffer

from . import _replies as R
from ._content import MessageContent
from ._events import (
    NEED_DATA,
    PAUSED,
    Auth,
    AuthFailed,
    AuthResponse,
    AuthSucceeded,
    Bdat,
    Busy,
    Closing,
    Command,
    Data,
    Delivered,
    Ehlo,
    Event,
    Expn,
    Failed,
    Greeting,
    Helo,
    Help,
    MailFrom,
    Noop,
    Quit,
    RcptTo,
    Recipient,
    Rejected,
    Rset,
    ServerEvent,
    ShuttingDown,
    StartTls,
    TimedOut,
    TlsEstablished,
    TlsRequested,
    Vrfy,
)
from ._parser import CommandError, parse_command, split_verb
from ._replies import Reply
from ._state import State, allowed, transition
from .aliases import Directory, Kind
from .policy import SmtpPolicy

# RFC 4954 §4: a SASL response line may be up to 12288 octets (CRLF excluded).
AUTH_LINE_LIMIT = 12288 + 2
# RFC 1870 §3, RFC 3461 §4.1-4.4, RFC 4954 §5: MAIL and RCPT parameters lengthen the line.
PARAMETER_ALLOWANCE = 1024



class Connection(MessageContent):
    """One SMTP session, server side."""

    def __init__(
        self,
        policy: SmtpPolicy,
        directory: Directory,
        *,
        tls: bool = False,
        relay: bool = False,
        peer: str = "unknown",
        tls_available: bool = True,
    ) -> None:
        self.policy = policy
        self.directory = directory
        self.tls = tls
        self.relay = relay  # a relay queue exists for non-local recipients
        self.peer = peer
        self.tls_available = tls_available
        self.state = State.INITIAL
        eol = EolPolicy.REJECT if policy.strict_eol else EolPolicy.TOLERATE
        self._buffer = ReceiveBuffer(policy.max_line + PARAMETER_ALLOWANCE, bare_lf=eol)
        self._out = bytearray()
        self._eof = False
        self._closing_sent = False
        self.errors = 0
        self.helo = ""
        self.esmtp = False
        self.user: str | None = None
        self.refused = False  # RFC 5321 §3.1: 554 greeting sent, only QUIT is served
        self._mechanisms = mechanisms_for(directory.users)
        self._sasl: SaslExchange | None = None
        self._reset_transaction()

    # -- the public surface -----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` means the client closed its side."""
        if not data:
            self._eof = True
        elif self.state is State.TLS:
            # RFC 3207 §4 / CVE-2011-0411: nothing sent in clear after STARTTLS counts.
            return
        else:
            self._buffer.feed(data)

    def data_to_send(self) -> bytes:
        """Every reply queued since the last call, in order."""
        out = bytes(self._out)
        self._out.clear()
        return out

    @property
    def idle_timeout(self) -> float:
        """How long the server waits for the client in the current stage (RFC 5321 §4.5.3.2).

        The stages of §4.5.3.2.1-6 are the client's timers (the initial 220 is the
        client's wait, not ours). The server has one rule, §4.5.3.2.7: it SHOULD wait at
        least 5 minutes for the next command. We apply it to three stages:

        - a command line (also a SASL response line): ``policy.command_timeout``;
        - a message body, DATA lines or BDAT chunk octets (the server side of the
          client's 3-minute data block and 10-minute final dot): ``policy.data_timeout``;
        - the STARTTLS handshake: ``policy.tls_handshake_timeout`` (the server enforces it
          through the TLS layer; see ``server.py``).

        While a delivery is pending the client is waiting for *us*; the server keeps
        the connection open and re-arms the timer.
        """
        state = self.state
        if state is State.DATA or state is State.BDAT or self._chunk_left:
            return self.policy.data_timeout  # inside a message (BDAT: between chunks too)
        if state is State.TLS:
            return self.policy.tls_handshake_timeout
        return self.policy.command_timeout

    @property
    def auth_offered(self) -> bool:
        # RFC 4954 §4 and RFC 8314 §3: credentials only inside TLS unless configured.
        return bool(self._mechanisms) and (self.tls or self.policy.allow_plaintext_auth)

    def send(self, event: ServerEvent) -> bytes:
        """Tell the connection what the server did; returns the bytes to write."""
        if isinstance(event, Greeting):
            if self.policy.refuse_service:
                # RFC 5321 §3.1: "a 554 response MAY be given in the initial connection
                # opening message instead of the 220".
                self.refused = True
                return R.NO_SERVICE(host=self.policy.hostname).to_bytes()
            return R.GREETING(host=self.policy.hostname).to_bytes()
        if isinstance(event, Busy | TimedOut | ShuttingDown):
            # RFC 5321 §3.8 / §4.5.3.2: 421, then close.
            template = {Busy: R.SERVICE_BUSY, TimedOut: R.TIMEOUT}.get(type(event),
                                                                        R.SHUTTING_DOWN)
            self.state = transition(self.state, "CLOSE")
            return template(host=self.policy.hostname).to_bytes()
        if isinstance(event, TlsEstablished):
            self.state = transition(self.state, "TLS_UP")
            self.tls = True
            # RFC 3207 §4.2: the server MUST discard any knowledge obtained from the
            # client, such as the EHLO argument, and start afresh.
            self._buffer.clear()
            self.helo, self.esmtp, self.user = "", False, None
            self._reset_transaction()
            return b""
        if self.state is not State.PENDING:
            raise RuntimeError(f"{type(event).__name__} while not waiting for a delivery")
        self.state = transition(self.state, "DONE")
        self._reset_transaction()
        if isinstance(event, Delivered):
            # RFC 5321 §4.1.1.4: 250 only once the message is safely stored.
            return R.QUEUED(queue_id=event.queue_id).to_bytes()
        assert isinstance(event, Failed)
        if event.storage_full:
            return R.STORAGE_FULL().to_bytes()
        if event.temporary:
            return R.LOCAL_ERROR().to_bytes()
        return R.TRANSACTION_FAILED(detail=event.detail or "delivery failed").to_bytes()

    def next_event(self) -> Event | object:
        """The next event, or NEED_DATA (feed more) or PAUSED (waiting for the server)."""
        if self.state is State.CLOSED:
            if self._closing_sent:
                return PAUSED
            self._closing_sent = True
            return Closing("closed")
        if self.state in (State.PENDING, State.TLS):
            return PAUSED
        if self._chunk_left or self._chunk_pending is not None:
            return self._read_chunk()
        if self.state is State.DATA:
            return self._read_data()
        try:
            line = self._buffer.next_line()
        except LineTooLong as exc:
            limit = self.policy.max_line if self.state is not State.AUTH else exc.limit
            if self.state is State.AUTH:
                return self._auth_abort(R.AUTH_LINE_TOO_LONG())
            return self._error(R.LINE_TOO_LONG(limit=limit))
        except BareLineEnding:
            return self._error(R.BARE_EOL_COMMAND())
        if line is None:
            if self._eof:
                self.state = transition(self.state, "CLOSE")
                self._closing_sent = True
                return Closing("eof")
            return NEED_DATA
        if self.state is State.AUTH:
            return self._auth_step(line)
        return self._command(line)

    # -- plumbing --------------------------------------------------------------------------

    def _reply(self, reply: Reply) -> None:
        self._out += reply.to_bytes()

    def _error(self, reply: Reply, line: bytes = b"") -> Event:
        self._reply(reply)
        self.errors += 1
        if self.errors >= self.policy.max_errors and self.state is not State.CLOSED:
            # Many errors in one session look like a bot or a confused peer; hang up with
            # 421 (RFC 5321 §7.8 allows resisting attacks; §3.8 asks for 421 first).
            self._reply(R.TOO_MANY_ERRORS(host=self.policy.hostname))
            self.state = transition(self.state, "CLOSE")
        return Rejected(reply, line)

    def _go(self, trigger: str) -> None:
        self.state = transition(self.state, trigger)

    def _reset_transaction(self) -> None:
        self.mail: MailFrom | None = None
        self.recipients: list[Recipient] = []
        self._dot: DotReader | None = None
        self._chunks = bytearray()
        self._chunk_left = 0  # octets of the current BDAT chunk still to come
        self._chunk_pending: Bdat | None = None  # the BDAT whose chunk is being read
        self._chunk_refusal: Reply | None = None  # reply for a chunk read only to skip it

    # -- command lines ---------------------------------------------------------------------

    def _command(self, line: bytes) -> Event | object:
        try:
            verb, rest = split_verb(line)
            if self.refused and verb != "QUIT":
                return self._no_service(line)
            limit = self.policy.max_line + (PARAMETER_ALLOWANCE if verb in ("MAIL", "RCPT")
                                            else 0)
            if len(line) + 2 > limit:
                raise CommandError(R.LINE_TOO_LONG(limit=limit))
            if verb == "BDAT":
                return self._bdat_command(rest, line)
            command = parse_command(
                line,
                esmtp=self.esmtp,
                smtputf8=self.mail.smtputf8 if self.mail else False,
                utf8_ok=self.esmtp,
                relaxed=self.policy.relaxed_paths,
            ) if self._sequence_ok(verb) else None
        except CommandError as exc:
            return self._no_service(line) if self.refused else self._error(exc.smtp_reply, line)
        if command is None:
            return self._error(self._sequence_reply(verb), line)
        handler = _HANDLERS[type(command)]
        return handler(self, command)

    def _no_service(self, line: bytes) -> Event:
        # RFC 5321 §3.1: after a 554 greeting the server "MUST still wait for the client
        # to send a QUIT ... and SHOULD respond to any intervening commands with "503 bad
        # sequence of commands"". Not counted toward max_errors: hanging up early would
        # break the MUST.
        reply = R.BAD_SEQUENCE(detail="no SMTP service here; send QUIT")
        self._reply(reply)
        return Rejected(reply, line)

    def _temporary(self, reply: Reply) -> Event:
        # A 4yz about the server's own state, not a client error: not counted toward
        # max_errors (as 452 for too many recipients).
        self._reply(reply)
        return Rejected(reply)

    def _sequence_ok(self, verb: str) -> bool:
        # Unknown and obsolete verbs go to the parser, which answers 500/502.
        return allowed(self.state, verb) or verb not in _KNOWN_VERBS

    def _sequence_reply(self, verb: str) -> Reply:
        if verb in ("DATA", "BDAT") and self.state is State.MAIL:
            # RFC 5321 §3.3: DATA when every RCPT failed: 554 (or 503).
            return R.NO_VALID_RECIPIENTS()
        if self.state is State.INITIAL:
            return R.BAD_SEQUENCE(detail="send HELO/EHLO first")
        if verb == "MAIL":
            return R.BAD_SEQUENCE(detail="nested MAIL command")
        if verb in ("RCPT", "DATA", "BDAT"):
            return R.BAD_SEQUENCE(detail="need MAIL" if self.state is State.GREETED
                                  else f"{verb} not allowed now")
        return R.BAD_SEQUENCE(detail=f"{verb} not allowed now")

    def _deferred(self, parameters: set[str]) -> str:
        """RFC 5321 §4.1.1.11: parameters the server is "temporarily unable to
        accommodate" get 455; their names, or "" when there are none."""
        return " ".join(sorted(parameters & set(self.policy.deferred_parameters)))

    def _ehlo(self, command: Command) -> Event:
        assert isinstance(command, Helo | Ehlo)
        self._go(command.keyword)
        self._reset_transaction()
        self.helo = command.domain
        self.esmtp = isinstance(command, Ehlo)
        host = self.policy.hostname
        if not self.esmtp:
            self._reply(R.HELO_OK(host=host, peer=command.domain))
            return command
        self._reply(R.EHLO_OK(*self._extensions(), host=host, peer=command.domain))
        return command

    def _extensions(self) -> list[str]:
        ext = ["PIPELINING", f"SIZE {self.policy.max_message_size}", "8BITMIME",
               "ENHANCEDSTATUSCODES"]
        # RFC 3207 §4.2: never advertise STARTTLS once TLS is up.
        if not self.tls and self.tls_available and self.policy.offer_starttls:
            ext.append("STARTTLS")
        if self.auth_offered:
            ext.append("AUTH " + " ".join(self._mechanisms))
        ext += ["SMTPUTF8", "CHUNKING", "DSN", "HELP"]
        return ext

    def _mail(self, command: Command) -> Event:
        assert isinstance(command, MailFrom)
        if self.policy.require_auth and self.user is None:
            # RFC 6409 §4.3 / RFC 4954 §6: 530 until the client authenticates.
            return self._error(R.AUTH_REQUIRED())
        if command.size is not None and command.size > self.policy.max_message_size:
            # RFC 1870 §6.2: a declared SIZE above the fixed maximum gets 552.
            return self._error(R.MESSAGE_TOO_BIG(limit=self.policy.max_message_size))
        deferred = self._deferred(_mail_parameters(command))
        if deferred:
            return self._temporary(R.CANNOT_ACCOMMODATE(detail=deferred))
        self._go("MAIL")
        self.mail = command
        self._reply(R.SENDER_OK(address=command.address))
        return command

    def _rcpt(self, command: Command) -> Event:
        assert isinstance(command, RcptTo)
        if len(self.recipients) >= self.policy.max_recipients:
            # RFC 5321 §4.5.3.1.10: 452 is the correct reply for recipients beyond the
            # buffer, and a temporary one: the client is expected to send them in a
            # later transaction. It is not a client error, so it does not count toward
            # max_errors; a client with 150 recipients must never be hung up on
            # (RFC 5321 §3.8: close only after QUIT, a 421 or a timeout).
            reply = R.TOO_MANY_RECIPIENTS()
            self._reply(reply)
            return Rejected(reply)
        address = command.address
        deferred = self._deferred(_rcpt_parameters(command))
        if deferred:
            return self._temporary(R.CANNOT_ACCOMMODATE(detail=deferred))
        local = self.directory.local_part(address)
        if local is not None and local.lower() in self.policy.unavailable_mailboxes:
            # RFC 5321 §4.2.3: 450 "mailbox unavailable (e.g., mailbox busy or temporarily
            # blocked for policy reasons)".
            return self._temporary(R.MAILBOX_BUSY(address=address))
        if local is not None and local.lower() in self.policy.failing_mailboxes:
            # RFC 5321 §4.2.3: 451 "Requested action aborted: local error in processing".
            return self._temporary(R.RECIPIENT_LOCAL_ERROR(address=address))
        found = self.directory.resolve(address)
        if found.kind is Kind.MOVED:
            return self._error(R.USER_MOVED(target=found.target))
        if found.kind is Kind.FOREIGN:
            # No open relay: only an authenticated client reaches foreign domains.
            if self.user is None or not self.relay:
                return self._error(R.RELAY_DENIED(address=address))
            reply = R.RECIPIENT_RELAYED(address=address)
        elif not found.local_users and not found.remote:
            return self._error(R.USER_UNKNOWN(address=address))
        elif found.remote and not self.relay:
            return self._error(R.RELAY_UNAVAILABLE())
        elif found.target:
            reply = R.WILL_FORWARD(target=found.target)  # RFC 5321 §3.4: 251
        else:
            reply = R.RECIPIENT_OK(address=address)
        self._go("RCPT")
        self.recipients.append(Recipient(address, command.notify, command.orcpt,
                                         found.local_users, found.remote))
        self._reply(reply)
        return command

    def _data(self, command: Command) -> Event:
        self._go("DATA")
        self._dot = DotReader(self.policy.max_message_size)
        self._reply(R.START_DATA())
        return command

    def _rset(self, command: Command) -> Event:
        self._go("RSET")
        self._reset_transaction()
        self._reply(R.RESET_OK())
        return command

    def _noop(self, command: Command) -> Event:
        self._reply(R.NOOP_OK())
        return command

    def _quit(self, command: Command) -> Event:
        self._go("QUIT")
        self._reset_transaction()
        self._reply(R.CLOSING(host=self.policy.hostname))
        self._closing_sent = True
        return Closing("quit")

    def _help(self, command: Command) -> Event:
        assert isinstance(command, Help)
        if command.topic is None and self.policy.help_status:
            # RFC 5321 §4.2.2: "211 System status, or system help reply" (§4.3.2: HELP
            # S: 211, 214).
            self._reply(R.SYSTEM_STATUS(host=self.policy.hostname))
        elif command.topic is None:
            self._reply(R.HELP())
        elif command.topic.upper() in R.HELP_TOPICS:
            self._reply(R.HELP_TOPIC(text=R.HELP_TOPICS[command.topic.upper()]))
        else:
            return self._error(R.HELP_UNKNOWN())
        return command

    def _vrfy(self, command: Command) -> Event:
        assert isinstance(command, Vrfy)
        if not self.policy.vrfy_enabled:
            # RFC 5321 §3.5.3 / §7.3: 252 when verification is disabled.
            self._reply(R.CANNOT_VRFY())
            return command
        names = self.directory.candidates(command.argument)
        if not names:
            return self._error(R.NO_SUCH_USER(address=command.argument))
        if len(names) > 1:
            # RFC 5321 §3.5.3: 553 for an ambiguous name, listing the possibilities.
            addresses = tuple(f"<{self.directory.address_of(n)}>" for n in names)
            return self._error(R.AMBIGUOUS(*addresses))
        kind = self.directory.resolve(names[0]).kind
        address = self.directory.address_of(names[0])
        if kind is Kind.LIST:
            self._reply(R.VRFY_LIST(address=f"<{address}>"))
        elif kind is Kind.MOVED:
            return self._error(R.USER_MOVED(target=self.directory.resolve(names[0]).target))
        else:
            # RFC 5321 §3.5.1: the reply MUST include the mailbox.
            self._reply(R.VRFY_OK(address=f"{names[0]} <{address}>"))
        return command

    def _expn(self, command: Command) -> Event:
        assert isinstance(command, Expn)
        if not self.policy.expn_enabled:
            return self._error(R.EXPN_DISABLED())
        name = command.argument.strip("<>")
        found = self.directory.resolve(name)
        if found.kind is not Kind.LIST:
            known = found.kind not in (Kind.UNKNOWN, Kind.FOREIGN)
            return self._error(R.NOT_A_LIST(address=command.argument) if known
                               else R.NO_SUCH_USER(address=command.argument))
        members = [f"<{self.directory.address_of(u)}>" for u in found.local_users]
        members += [f"<{a}>" for a in found.remote]
        # RFC 5321 §3.5.2: one mailbox per line of a multi-line 250 reply.
        self._reply(R.EXPN_OK.lines(tuple(members)))
        return command

    def _starttls(self, command: Command) -> Event:
        if not self.tls_available or not self.policy.offer_starttls:
            return self._error(R.NOT_IMPLEMENTED())
        if self.tls:
            return self._error(R.BAD_SEQUENCE(detail="TLS already active"))
        if not self.esmtp:
            return self._error(R.BAD_SEQUENCE(detail="send EHLO first"))
        self._go("STARTTLS")
        self._reply(R.TLS_GO_AHEAD())
        # RFC 3207 §4 (and CVE-2011-0411): commands pipelined after STARTTLS are
        # discarded, never executed after the handshake.
        self._buffer.clear()
        return TlsRequested()

    # -- AUTH (RFC 4954) ----------------------------------------------------------------------

    def _auth(self, command: Command) -> Event:
        assert isinstance(command, Auth)
        if not self.esmtp:
            return self._error(R.BAD_SEQUENCE(detail="send EHLO first"))
        if self.user is not None:
            # RFC 4954 §4: no AUTH after a successful one; 503.
            return self._error(R.BAD_SEQUENCE(detail="already authenticated"))
        if not self.auth_offered:
            if self._mechanisms and not self.tls:
                return self._error(R.ENCRYPTION_REQUIRED())
            return self._error(R.NOT_IMPLEMENTED())
        if command.mechanism not in self._mechanisms:
            return self._error(R.UNKNOWN_MECHANISM())
        initial: bytes | None = None
        if command.initial is not None:
            try:
                initial = decode_initial_response(command.initial)
            except SaslError:
                # RFC 4954 §4: an undecodable response gets 501.
                return self._error(R.BAD_BASE64())
        self._sasl = SaslExchange(command.mechanism, self.directory.users,
                                  hostname=self.policy.hostname)
        self._go("AUTH")
        self._buffer.max_line = AUTH_LINE_LIMIT
        return self._auth_result(self._sasl.start(initial), command)

    def _auth_step(self, line: bytes) -> Event:
        assert self._sasl is not None
        try:
            data = decode_sasl_response(line)
        except SaslError:
            return self._auth_abort(R.BAD_BASE64())
        if data is None:
            # RFC 4954 §4: "*" cancels the exchange with 501.
            return self._auth_abort(R.AUTH_CANCELLED())
        return self._auth_result(self._sasl.step(data), AuthResponse(line))

    def _auth_result(self, step: object, command: Command) -> Event:
        if isinstance(step, SaslChallenge):
            self._reply(R.AUTH_CHALLENGE(data=encode_challenge(step.data).decode("ascii")))
            return command
        if isinstance(step, SaslFailure):
            if step.malformed:
                return self._auth_abort(R.AUTH_MALFORMED())
            # Bad credentials: the server delays the 535 (policy.auth_failure_delay).
            reply = R.AUTH_FAILED()
            self._auth_abort(reply)
            return AuthFailed(reply)
        self._end_auth()
        assert step is not None and hasattr(step, "user")
        self.user = step.user
        self._reply(R.AUTH_OK())
        return AuthSucceeded(step.user)

    def _auth_abort(self, reply: Reply) -> Event:
        self._end_auth()
        return self._error(reply)

    def _end_auth(self) -> None:
        self._sasl = None
        self._buffer.max_line = self.policy.max_line + PARAMETER_ALLOWANCE
        self._go("AUTH_END")


def _mail_parameters(command: MailFrom) -> set[str]:
    given = {"SIZE": command.size is not None, "BODY": command.body != "7BIT",
             "SMTPUTF8": command.smtputf8, "RET": command.ret is not None,
             "ENVID": command.envid is not None, "AUTH": command.auth is not None}
    return {name for name, present in given.items() if present}


def _rcpt_parameters(command: RcptTo) -> set[str]:
    given = {"NOTIFY": bool(command.notify), "ORCPT": command.orcpt is not None}
    return {name for name, present in given.items() if present}


_HANDLERS = {
    Helo: Connection._ehlo,
    Ehlo: Connection._ehlo,
    MailFrom: Connection._mail,
    RcptTo: Connection._rcpt,
    Data: Connection._data,
    Rset: Connection._rset,
    Noop: Connection._noop,
    Quit: Connection._quit,
    Help: Connection._help,
    Vrfy: Connection._vrfy,
    Expn: Connection._expn,
    StartTls: Connection._starttls,
    Auth: Connection._auth,
}
_KNOWN_VERBS = frozenset({"HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP",
                          "QUIT", "HELP", "VRFY", "EXPN", "STARTTLS", "AUTH"})
