"""A blocking-socket session with one server: send bytes, read framed responses, upgrade to TLS.

Plain blocking sockets with timeouts, so the same code runs in threads, in the replay CLI
and under gevent (locust monkey-patches ``socket`` and ``ssl``; nothing here needs to know).

Time is bounded twice: every ``recv`` waits at most the target's read timeout, and every
response must be complete before the step deadline (``time_limit``, else the target's
step timeout from when the read began), so a server that trickles one octet a second
cannot hold a run forever. Size is bounded by the framer's response cap.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from ..target import Target, TlsMode
from .errors import ConnectError, ConnectionClosed, ReadTimeout, StepTimeout, TlsError
from .imap import ImapFramer, ImapResponse
from .log import SessionLog
from .pop3 import Pop3Framer, Pop3Response, expects_body
from .smtp import SmtpFramer, SmtpReply
from .tls import client_context

T = TypeVar("T")
Framer = SmtpFramer | Pop3Framer | ImapFramer
_RECV = 65536


def make_framer(protocol: str, max_response: int) -> Framer:
    if protocol in ("smtp", "lmtp"):
        return SmtpFramer(max_response)
    if protocol == "pop3":
        return Pop3Framer(max_response)
    if protocol == "imap":
        return ImapFramer(max_response)
    raise ValueError(f"no framer for protocol {protocol!r}")


class Session:
    """One connection. Construct with :meth:`open`; close with :meth:`close` (or ``with``)."""

    def __init__(
        self, sock: socket.socket, target: Target, *, log: SessionLog | None = None, name: str = ""
    ) -> None:
        self._sock: socket.socket = sock
        self.target = target
        self.protocol = target.protocol
        self.log = log if log is not None else SessionLog()
        self.name = name
        self.framer = make_framer(self.protocol, target.max_response)
        self.tls_active = isinstance(sock, ssl.SSLSocket)
        self.eof = False
        self._deadline: float | None = None
        self._tags = (f"A{number:03d}" for number in itertools.count(1))

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, target: Target, *, log: SessionLog | None = None, name: str = "") -> Session:
        """Connect (and do the implicit-TLS handshake for smtps/pop3s/imaps targets)."""
        log = log if log is not None else SessionLog()
        try:
            sock = socket.create_connection(
                (target.host, target.port), timeout=target.connect_timeout
            )
        except OSError as exc:
            raise ConnectError(f"cannot connect to {target}: {exc}") from None
        log.event(f"connected to {target.host}:{target.port}", name)
        session = cls(sock, target, log=log, name=name)
        if target.tls == TlsMode.IMPLICIT:
            try:
                session._handshake()
            except TlsError as exc:
                session.close()
                raise ConnectError(str(exc)) from None
        return session

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Every read inside the block must finish within ``seconds`` from now."""
        previous = self._deadline
        self._deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = previous

    # -- sending ---------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._sock.settimeout(self.target.read_timeout)
        self.log.add("C", data, self.name)
        try:
            self._sock.sendall(data)
        except TimeoutError:
            raise ReadTimeout(f"server did not accept {len(data)} octets in time") from None
        except OSError as exc:
            raise ConnectionClosed(f"sending failed: {exc}") from None

    def send_line(self, line: bytes) -> None:
        self.send(line + b"\r\n")

    def next_tag(self) -> str:
        return next(self._tags)

    # -- reading ---------------------------------------------------------------------------

    def read_smtp(self) -> SmtpReply:
        framer = self._framer(SmtpFramer)
        return self._read(framer.next_reply, "an SMTP reply")

    def read_pop3(self, multiline: bool = False) -> Pop3Response:
        framer = self._framer(Pop3Framer)
        return self._read(lambda: framer.next_response(multiline), "a POP3 response")

    def read_imap(self) -> ImapResponse:
        framer = self._framer(ImapFramer)
        return self._read(framer.next_response, "an IMAP response")

    def _framer(self, kind: type[T]) -> T:
        if not isinstance(self.framer, kind):
            raise TypeError(f"this is a {self.protocol} session")
        return self.framer

    def _read(self, parse: Callable[[], T | None], what: str) -> T:
        deadline = self._deadline
        if deadline is None:
            deadline = time.monotonic() + self.target.step_timeout
        while True:
            result = parse()
            if result is not None:
                return result
            self._fill(deadline, what)

    def _fill(self, deadline: float, what: str) -> None:
        partial = self.framer.buffer.peek()
        if self.eof:
            raise ConnectionClosed(f"connection closed while waiting for {what}", partial)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StepTimeout(f"no complete {what} within the step's time limit", partial)
        wait = min(self.target.read_timeout, remaining)
        self._sock.settimeout(wait)
        try:
            data = self._sock.recv(_RECV)
        except TimeoutError:
            if wait < self.target.read_timeout:
                raise StepTimeout(
                    f"no complete {what} within the step's time limit", partial
                ) from None
            raise ReadTimeout(
                f"nothing received for {self.target.read_timeout:g} s while waiting for {what}",
                partial,
            ) from None
        except OSError as exc:
            # A reset is the server closing abruptly; same verdict as a clean EOF.
            self.eof = True
            self.log.event(f"connection error: {exc}", self.name)
            raise ConnectionClosed(f"connection lost while waiting for {what}: {exc}",
                                   partial) from None
        if not data:
            self.eof = True
            self.log.event("connection closed by server", self.name)
            raise ConnectionClosed(f"connection closed while waiting for {what}", partial)
        self.log.add("S", data, self.name)
        self.framer.feed(data)

    def wait_closed(self, timeout: float | None = None) -> bytes:
        """Wait for the server to close; returns octets received meanwhile (normally none).

        Raises :class:`ReadTimeout` if the connection is still open after ``timeout``.
        """
        deadline = time.monotonic() + (timeout or self.target.step_timeout)
        received = bytearray(self.framer.buffer.drain())
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReadTimeout("the connection is still open", bytes(received))
            self._sock.settimeout(min(remaining, self.target.read_timeout))
            try:
                data = self._sock.recv(_RECV)
            except TimeoutError:
                continue
            except OSError as exc:
                data = b""
                self.log.event(f"connection error: {exc}", self.name)
            if not data:
                self.eof = True
                self.log.event("connection closed by server", self.name)
            else:
                self.log.add("S", data, self.name)
                received += data
        return bytes(received)

    # -- TLS -------------------------------------------------------------------------------

    def start_tls(self) -> None:
        """The TLS handshake after a successful STARTTLS/STLS reply.

        Octets the server sent after its reply and before the handshake would be read
        as if protected by TLS (the STARTTLS command-injection class, CVE-2011-0411), so
        they are an error here, not silently dropped or kept.
        """
        pending = self.framer.buffer.drain() or self._peek()
        if pending:
            raise TlsError(
                f"server sent {len(pending)} octets after its STARTTLS reply, before TLS", )
        self._handshake()

    def _peek(self) -> bytes:
        """Octets already waiting in the socket, without blocking and without consuming them."""
        if isinstance(self._sock, ssl.SSLSocket):
            return b""  # STARTTLS inside TLS: the server must refuse it (RFC 3207 §4.2)
        self._sock.settimeout(0.0)
        try:
            return self._sock.recv(_RECV, socket.MSG_PEEK)
        except (BlockingIOError, TimeoutError, InterruptedError):
            return b""
        except OSError:
            return b""
        finally:
            self._sock.settimeout(self.target.read_timeout)

    def _handshake(self) -> None:
        context = client_context(verify=self.target.verify, cafile=self.target.cafile)
        self._sock.settimeout(self.target.connect_timeout)
        try:
            self._sock = context.wrap_socket(self._sock, server_hostname=self.target.server_name)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"TLS handshake with {self.target.host} failed: {exc}") from None
        self.tls_active = True
        version = self._sock.version() if isinstance(self._sock, ssl.SSLSocket) else "?"
        self.log.event(f"TLS established ({version})", self.name)

    # -- one command, one response (used by start states and probes) ----------------------

    def smtp(self, line: bytes) -> SmtpReply:
        self.send_line(line)
        return self.read_smtp()

    def pop3(self, line: bytes, multiline: bool | None = None) -> Pop3Response:
        self.send_line(line)
        return self.read_pop3(expects_body(line) if multiline is None else multiline)

    def imap(self, command: bytes) -> tuple[list[ImapResponse], ImapResponse]:
        """Send ``TAG command``; return the untagged responses and the tagged completion."""
        tag = self.next_tag()
        self.send_line(tag.encode() + b" " + command)
        untagged: list[ImapResponse] = []
        while True:
            response = self.read_imap()
            if response.kind == "tagged" and response.tag == tag:
                return untagged, response
            untagged.append(response)
