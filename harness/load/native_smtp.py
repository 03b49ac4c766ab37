"""The native engine's SMTP client: a sans-IO state machine on the shared framing, and an
:class:`asyncio.Protocol` that drives it (no streams: one ``write`` per round trip).

:class:`SmtpMachine` does no I/O. Replies go in (``receive``), the octets to send come
out, and each message's outcome goes to the engine through ``done``. Replies are framed by
:class:`harness.client.SmtpFramer`, the same code that frames replies for replay and the
locust users, so both engines agree on what a reply is.

With PIPELINING (RFC 2920 §3.1) the envelope (MAIL, every RCPT, DATA) is one write, DATA
being the last command of its group; the message content and its end-of-data line are
the first "command" of the next group, which the RFC explicitly allows, so they are
followed in the same write by the next transaction's MAIL, RCPT and DATA, or by QUIT
(also only allowed last in a group). Without PIPELINING every command waits for its
reply. A reused connection thus costs one round trip per message.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
import typing
from collections import deque
from collections.abc import Callable
from typing import Final

from ..client import ClientError, SmtpFramer, SmtpReply
from ..client.tls import client_context
from ..target import Target, TlsMode

# A message for the machine: (id, envelope lines, content as sent after the 354,
# scheduled start (monotonic), recipient count). A tuple: it is made for every message.
Job = tuple[str, bytes, bytes, float, int]
WAIT: Final = "wait"  # claim(): no message now, resume() will bring one
Claim = Callable[[], "Job | str | None"]
Done = Callable[[Job, str, str], None]  # (job, reply code or "", error or "")
Reply = SmtpReply | bytes  # bytes: a one-line reply taken by the shortcut, without CRLF

# What a pending reply answers.
_GREETING, _EHLO, _HELO, _STARTTLS, _AUTH, _MAIL, _RCPT, _DATA = range(8)
_DOT, _DOT_ABORT, _RSET, _QUIT = range(8, 12)
_STEP = {_GREETING: "greeting", _EHLO: "EHLO", _HELO: "HELO", _STARTTLS: "STARTTLS",
         _AUTH: "AUTH", _RSET: "RSET", _QUIT: "QUIT"}


def envelope(sender: str, recipients: list[str]) -> bytes:
    """MAIL, one RCPT per recipient and DATA, each with its CRLF."""
    lines = [f"MAIL FROM:<{sender}>", *(f"RCPT TO:<{r}>" for r in recipients), "DATA", ""]
    return "\r\n".join(lines).encode()


class SmtpMachine:
    """One SMTP connection's client side, from the greeting to QUIT, for many messages.

    ``claim`` gives the next message (a :data:`Job`), None when the run is over, or
    :data:`WAIT`; after WAIT the driver calls :meth:`resume` when there is one. ``done``
    receives every claimed message's outcome exactly once. ``job`` is a message claimed
    before connecting (a new connection per message). ``limit`` is how many messages one
    connection carries before QUIT (1: a new connection per message).
    """

    def __init__(self, target: Target, claim: Claim, done: Done, *, job: Job | None = None,
                 limit: int = 1, pipelining: bool = True, starttls: bool = False,
                 auth: bool = False) -> None:
        self.target = target
        self.framer = SmtpFramer(target.max_response)
        self.claim, self.done = claim, done
        self.limit = limit
        self.allow_pipelining = pipelining
        self.starttls = starttls or target.tls == TlsMode.STARTTLS
        self.auth = auth and target.username is not None
        self.keywords: dict[str, str] = {}
        self.pipelining = False
        self.expect: deque[int] = deque((_GREETING,))
        self.jobs: deque[Job] = deque([job] if job is not None else [])  # in flight, in order
        self.sent = 0  # messages begun on this connection
        self.want_tls = False  # the driver must upgrade, then call tls_ready()
        self.idle = False  # waiting for resume()
        self.finished = False  # QUIT answered, or failed: the driver closes the transport
        self.failed_code: str | None = None  # set when the session failed
        # The transaction whose replies are being read (the oldest job in flight).
        self._mail = 0
        self._mail_reply: Reply | None = None
        self._refused: Reply | None = None
        self._refused_count = 0
        self._rcpts = 0
        self._pending: list[bytes] = []  # without pipelining: commands still to send
        self._partial = False  # the framer holds part of a reply

    # -- driver interface -----------------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Feed what arrived; returns what to send (maybe b"")."""
        out: list[bytes] = []
        expect = self.expect
        framer = self.framer
        if self._partial or len(framer.buffer):
            lines = None
        elif expect[0] == _EHLO and data in _EHLO_SEEN:
            # The very octets the framer took as one whole EHLO reply before.
            expect.popleft()
            self.keywords = dict(_EHLO_SEEN[data])
            self.pipelining = self.allow_pipelining and "PIPELINING" in self.keywords
            self._setup(out)
            return b"".join(out)
        else:
            lines = _simple_replies(data)
        if lines is not None and len(lines) <= len(expect):
            on_reply = self._on_reply
            for line in lines:
                on_reply(expect.popleft(), int(line[:3]), line, out)
                if self.finished:
                    break
            return b"".join(out) if len(out) != 1 else out[0]
        framer.feed(data)
        self._partial = False
        while expect and len(framer.buffer):
            reply = framer.next_reply()
            if reply is None:
                self._partial = True  # part of a reply is framed: no shortcut until it ends
                break
            self._on_reply(expect.popleft(), reply.code, reply, out)
            if self.finished:
                break
        if not expect and len(framer.buffer) and not self.finished:
            self.fail("", "the server sent a reply nobody asked for")
        return b"".join(out)

    def tls_ready(self) -> bytes:
        """After the TLS handshake: RFC 3207 §4.2, forget what was learnt before, EHLO again."""
        self.want_tls, self.starttls, self.keywords = False, False, {}
        return self._send(b"EHLO " + self.target.helo.encode() + b"\r\n", _EHLO)

    def resume(self, job: Job | None) -> bytes:
        """The message :data:`WAIT` promised (None: the run is over, QUIT)."""
        self.idle = False
        out: list[bytes] = []
        if job is None:
            self._quit(out)
        else:
            self._begin(job, out)
        return b"".join(out)

    def fail(self, code: str, error: str) -> None:
        """The session is over: every message in flight fails with ``error``."""
        if self.finished:
            return
        self.finished = True
        self.failed_code = code
        self.expect.clear()
        while self.jobs:
            self.done(self.jobs.popleft(), code, error)

    def quit_now(self) -> bytes:
        """An idle connection at the end of a run: QUIT."""
        self.idle = False
        out: list[bytes] = []
        self._quit(out)
        return b"".join(out)

    # -- replies --------------------------------------------------------------------------

    def _send(self, line: bytes, kind: int) -> bytes:
        self.expect.append(kind)
        return line

    def _on_reply(self, kind: int, code: int, reply: Reply, out: list[bytes]) -> None:
        if kind == _DOT:
            job = self.jobs.popleft()
            if code == 250:
                note = ""
                if self._refused_count:
                    note = (f"{self._refused_count} of {self._rcpts} recipients refused "
                            f"({_full(self._refused).code if self._refused else ''})")
                self.done(job, "250", note)
            else:
                self.done(job, str(code), f"end of data {code}: {_first_line(reply)}")
            if not self.expect:  # nothing chained behind this message
                self._next(out)
        elif kind == _MAIL:
            self._mail, self._mail_reply = code, reply
            self._refused, self._refused_count = None, 0
            self._rcpts = 0
            self._step(out)
        elif kind == _RCPT:
            self._rcpts += 1
            if code not in (250, 251):
                self._refused_count += 1
                if self._refused is None:
                    self._refused = reply
            self._step(out)
        elif kind == _DATA:
            self._on_data(code, reply, out)
        elif kind == _DOT_ABORT:
            pass
        elif kind in (_EHLO, _HELO):
            if code != 250:
                if kind == _HELO:
                    return self._fatal(kind, reply)
                # RFC 5321 §3.2: a server that does not know EHLO gets HELO.
                out.append(self._send(b"HELO " + self.target.helo.encode() + b"\r\n", _HELO))
                return
            self.keywords = _full(reply).keywords() if kind == _EHLO else {}
            if kind == _EHLO and isinstance(reply, SmtpReply) and len(_EHLO_SEEN) < 16 \
                    and not len(self.framer.buffer):
                _EHLO_SEEN[reply.raw] = dict(self.keywords)
            self.pipelining = self.allow_pipelining and "PIPELINING" in self.keywords
            self._setup(out)
        elif kind == _GREETING:
            if code != 220:
                return self._fatal(kind, reply)
            out.append(self._send(b"EHLO " + self.target.helo.encode() + b"\r\n", _EHLO))
        elif kind == _STARTTLS:
            if code != 220:
                return self._fatal(kind, reply)
            if len(self.framer.buffer):
                # Octets after the 220 would be read as if protected (CVE-2011-0411 class).
                return self.fail("", "STARTTLS: server sent data after its 220, before TLS")
            self.want_tls = True
        elif kind == _AUTH:
            if code != 235:
                return self._fatal(kind, reply)
            self.auth = False
            self._setup(out)
        elif kind == _RSET:
            if code != 250:
                return self._fatal(kind, reply)
            self._next(out)
        elif kind == _QUIT:
            self.finished = True

    def _fatal(self, kind: int, reply: Reply) -> None:
        code = _full(reply).code
        self.fail(str(code), f"{_STEP[kind]} {code}: {_first_line(reply)}")

    def _setup(self, out: list[bytes]) -> None:
        """After EHLO: STARTTLS and AUTH as asked, then the first message."""
        if self.starttls:
            out.append(self._send(b"STARTTLS\r\n", _STARTTLS))
        elif self.auth:
            user, password = self.target.username or "", self.target.password or ""
            token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
            out.append(self._send(b"AUTH PLAIN " + token + b"\r\n", _AUTH))
        elif self.jobs:
            job = self.jobs.pop()
            self._begin(job, out)
        else:
            self._next(out)

    def _next(self, out: list[bytes]) -> None:
        """Nothing in flight: the next message, QUIT, or idle."""
        if self.sent >= self.limit:
            return self._quit(out)
        job = self.claim()
        if job is None:
            self._quit(out)
        elif job == WAIT:
            self.idle = True
        else:
            self._begin(job, out)  # type: ignore[arg-type]

    def _quit(self, out: list[bytes]) -> None:
        out.append(self._send(b"QUIT\r\n", _QUIT))

    def _begin(self, job: Job, out: list[bytes]) -> None:
        self.jobs.append(job)
        self.sent += 1
        expect = self.expect
        if self.pipelining:
            # RFC 2920 §3.1: MAIL, RCPT... and DATA in one group; DATA ends it.
            out.append(job[1])
            expect.append(_MAIL)
            expect.extend((_RCPT,) * job[4])
            expect.append(_DATA)
        else:
            lines = job[1].split(b"\r\n")[:-1]
            out.append(lines[0] + b"\r\n")
            expect.append(_MAIL)
            self._pending = [line + b"\r\n" for line in lines[1:]]

    def _step(self, out: list[bytes]) -> None:
        """Without pipelining: the next envelope command once the last one is answered."""
        if self._pending:
            if self._mail != 250:  # MAIL refused: no point in RCPT/DATA
                self._pending = []
                return self._abort_transaction(None, out)
            line = self._pending.pop(0)
            out.append(line)
            self.expect.append(_DATA if line == b"DATA\r\n" else _RCPT)

    def _on_data(self, code: int, reply: Reply, out: list[bytes]) -> None:
        if self._mail != 250 or code != 354:
            return self._abort_transaction(reply, out)
        job = self.jobs[-1]
        out.append(job[2])
        self.expect.append(_DOT)
        if not self.pipelining:
            return
        # The content opens the next group; whatever follows must end it (RFC 2920 §3.1).
        if self.sent >= self.limit:
            return self._quit(out)
        following = self.claim()
        if following is None:
            self._quit(out)
        elif following != WAIT:
            self._begin(following, out)  # type: ignore[arg-type]
        # WAIT: nothing chained; the end-of-data reply brings us back to _next().

    def _abort_transaction(self, data_reply: Reply | None, out: list[bytes]) -> None:
        """MAIL, every RCPT or DATA refused: the message fails, RSET, go on."""
        job = self.jobs.pop()
        if self._mail != 250 and self._mail_reply is not None:
            failed, step = self._mail_reply, "MAIL"
        elif self._refused is not None:
            failed, step = self._refused, "RCPT"
        else:
            assert data_reply is not None
            failed, step = data_reply, "DATA"
        code, text = _full(failed).code, _first_line(failed)
        self.done(job, str(code), f"{step} {code}: {text}")
        if data_reply is not None and _full(data_reply).code == 354:
            # A server that said 354 anyway waits for content: end it empty.
            out.append(self._send(b".\r\n", _DOT_ABORT))
        out.append(self._send(b"RSET\r\n", _RSET))


# EHLO replies framed before (octets -> keywords): a load talks to one server, whose
# every connection answers EHLO with the same octets; framing them again is waste.
_EHLO_SEEN: dict[bytes, dict[str, str]] = {}

# A chunk made only of complete one-line replies: "NNN" [SP text] CRLF, nothing else.
_SIMPLE = re.compile(rb"(?:[1-5][0-5][0-9](?: [^\r\n]*)?\r\n)+")


def _simple_replies(data: bytes) -> list[bytes] | None:
    """The replies in ``data`` when it holds nothing but complete one-line replies.

    The hot path of a pipelined load gets four such replies per message; building them
    directly (see :func:`_full`) costs a fraction of framing them line by line. Anything
    else (a multi-line reply, a partial line, a bare LF or CR, an oversized chunk) goes
    through :class:`SmtpFramer`, the harness's framing; a test holds both to the same
    answers.
    """
    if len(data) > 4096 or _SIMPLE.fullmatch(data) is None:
        return None
    return data.split(b"\r\n")[:-1]


def _full(reply: Reply) -> SmtpReply:
    """A reply of the shortcut (its one line, no CRLF) as the framer would have made it."""
    if isinstance(reply, SmtpReply):
        return reply
    return SmtpReply(int(reply[:3]), (reply[4:],), reply + b"\r\n")


def _first_line(reply: Reply) -> str:
    lines = _full(reply).lines
    return lines[0].decode("utf-8", "replace") if lines else ""


class SmtpDriver(asyncio.Protocol):
    """Drives one :class:`SmtpMachine` over one connection."""

    def __init__(self, machine: SmtpMachine, on_close: Callable[[SmtpDriver], None]) -> None:
        self.machine = machine
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.since = time.monotonic()  # when we last sent something (the watchdog reads it)
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        machine = self.machine
        try:
            out = machine.receive(data)
        except ClientError as exc:
            machine.fail("", f"{type(exc).__name__}: {exc}")
            out = b""
        except Exception as exc:  # a bug here must fail the session, not hang it
            machine.fail("", f"client error: {type(exc).__name__}: {exc}")
            out = b""
        if out:
            self.since = time.monotonic()
            self.transport.write(out)  # type: ignore[union-attr]
        if machine.finished:
            self.transport.close()  # type: ignore[union-attr]
        elif machine.want_tls:
            asyncio.get_running_loop().create_task(self._upgrade())

    async def _upgrade(self) -> None:
        target = self.machine.target
        context = client_context(verify=target.verify, cafile=target.cafile)
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self.transport, self,  # type: ignore[arg-type]
                                             context, server_hostname=target.server_name)
        except (TimeoutError, OSError, ConnectionError) as exc:
            self.machine.fail("", f"STARTTLS: handshake failed: {exc}")
            self.abort()
            return
        if transport is None:  # pragma: no cover - only when the connection closed meanwhile
            return
        self.transport = transport
        self.since = time.monotonic()
        transport.write(self.machine.tls_ready())

    def send(self, data: bytes) -> None:
        if data and self.transport is not None and not self.closed:
            self.since = time.monotonic()
            self.transport.write(data)
        if self.machine.finished and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.machine.fail("", f"connection closed while waiting for a reply"
                          f"{f' ({exc})' if exc else ''}")
        self.on_close(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_connection(target: Target, driver: SmtpDriver,
                          loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Connect ``driver``'s transport; raises OSError when that fails."""
    # get_running_loop() costs a getpid() system call each time: callers pass theirs.
    loop = loop or asyncio.get_running_loop()
    # No asyncio.timeout here (a timer per connection): the users' watchdog cancels a
    # connection attempt that outlives target.connect_timeout.
    if target.tls != TlsMode.IMPLICIT:
        await loop.create_connection(lambda: driver, target.host, target.port)
        return
    context = client_context(verify=target.verify, cafile=target.cafile)
    await loop.create_connection(lambda: driver, target.host, target.port, ssl=context,
                                 server_hostname=target.server_name)


class Pacing(typing.Protocol):
    """What a user needs from its process's run."""

    def claim_now(self) -> float | str | None: ...  # scheduled start, None: stop, or WAIT
    def wait(self, waiter: Callable[[float | None], None]) -> None: ...
    def make_job(self, scheduled: float) -> Job: ...
    def done(self, job: Job, code: str, error: str) -> None: ...


class SmtpUser:
    """One simulated sender: one connection at a time, a message after the other.

    ``limit`` messages per connection (1: a new connection per message). A connection
    that broke without a reply waits 50 ms before the next, so a dead server does not
    turn into a busy loop.
    """

    def __init__(self, run: Pacing, target: Target, *, limit: int, pipelining: bool,
                 starttls: bool, auth: bool, think: Callable[[], float] | None) -> None:
        self.run, self.target, self.limit = run, target, limit
        self.options = {"pipelining": pipelining, "starttls": starttls, "auth": auth}
        self.think = think
        self.driver: SmtpDriver | None = None
        self.stopping = False
        self.loop = asyncio.get_running_loop()  # kept: each lookup is a getpid() call
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self._waiting = False  # for a think time or an open-loop ticket
        self._parked: list[Job | None] = []  # a message that came while the machine was busy
        self._connecting: asyncio.Task[None] | None = None
        self._timed_out = False

    def start(self) -> None:
        self._continue()

    # -- claiming messages ------------------------------------------------------------------

    def _claim(self) -> Job | str | None:
        if self._parked:
            return self._parked.pop()
        if self._waiting:
            return WAIT
        if self.think is not None:
            pause = self.think()
            if pause > 0:
                self._waiting = True
                self.loop.call_later(pause, self._after_think)
                return WAIT
        return self._claim_now()

    def _claim_now(self) -> Job | str | None:
        scheduled = self.run.claim_now()
        if scheduled is None:
            self.stopping = True
            return None
        if scheduled == WAIT:
            self._waiting = True
            self.run.wait(self._on_ticket)
            return WAIT
        return self.run.make_job(scheduled)  # type: ignore[arg-type]

    def _after_think(self) -> None:
        self._waiting = False
        job = self._claim_now()
        if job != WAIT:
            self._deliver(job)  # type: ignore[arg-type]

    def _on_ticket(self, scheduled: float | None) -> None:
        self._waiting = False
        if scheduled is None:
            self.stopping = True
        self._deliver(None if scheduled is None else self.run.make_job(scheduled))

    def _deliver(self, job: Job | None) -> None:
        """A message (or the end) for a user that was waiting for one."""
        driver = self.driver
        if driver is not None and not driver.closed:
            if driver.machine.idle:
                driver.send(driver.machine.resume(job))
            else:  # connecting, or still reading replies: the next claim takes it
                self._parked.append(job)
        elif job is None:
            self._finish()
        else:
            self._connect(job)

    # -- connections ------------------------------------------------------------------------

    def _continue(self) -> None:
        if self.stopping:
            return self._finish()
        job = self._claim()
        if job is None:
            self._finish()
        elif job != WAIT:
            self._connect(job)  # type: ignore[arg-type]

    def _connect(self, job: Job) -> None:
        machine = SmtpMachine(self.target, self._claim, self.run.done, job=job,
                              limit=self.limit, **self.options)
        self.driver = SmtpDriver(machine, self._closed)
        self._connecting = self.loop.create_task(self._open(self.driver))

    async def _open(self, driver: SmtpDriver) -> None:
        try:
            await open_connection(self.target, driver, self.loop)
        except (OSError, TimeoutError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and not self._timed_out:
                raise
            text = f"TimeoutError: none within {self.target.connect_timeout:g} s" \
                if self._timed_out else f"{type(exc).__name__}: {exc}"
            self._timed_out = False
            driver.machine.fail("", f"connect: {text}")
            driver.closed = True
            self._closed(driver)

    def _closed(self, driver: SmtpDriver) -> None:
        self.driver = None
        if driver.machine.failed_code == "" and not self.stopping:
            self.loop.call_later(0.05, self._continue)
        else:
            self._continue()

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)

    def abort(self, error: str) -> None:
        """The run is over: whatever is in flight fails with ``error``."""
        self.stopping = True
        if self.driver is not None:
            self.driver.machine.fail("", error)
            self.driver.abort()
        self._finish()

    def check(self, now: float) -> None:
        """Watchdog: a reply that takes longer than the step timeout fails the session."""
        driver = self.driver
        if driver is None or driver.closed:
            return
        if driver.transport is None:
            if now - driver.since > self.target.connect_timeout and self._connecting:
                self._timed_out = True
                self._connecting.cancel()
            return
        if driver.machine.expect and now - driver.since > self.target.step_timeout:
            driver.machine.fail("", f"no reply within {self.target.step_timeout:g} s")
            driver.abort()
