"""The recording proxy: a real client talks to a real server through it; it writes a transcript.

One client connection is proxied at a time, byte for byte. STARTTLS/STLS is followed:
when the server accepts it, the proxy completes TLS with the server (as a client) and with
the client (as a server, with a throwaway self-signed certificate), and keeps reading the
plaintext in between. IMAP literals the client sends are cut out exactly by their octet
count, so an ``APPEND`` becomes a ``{literal}`` step whatever the message holds.

The session is then written as a case through the importer's machinery, so that it
replays against the same or another server: credentials become the target's (``$user``,
``$password``, the SASL variables of :mod:`.computed`), values the server handed out and
the client reused become captured variables (:mod:`.volatile`), IMAP tags are
regenerated. Replies are expected by code or status; with ``match_text`` also by their
first line, with dates, message ids, queue ids and session ids as patterns.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass, field

from ..client import (
    ImapFramer,
    ImapResponse,
    Pop3Framer,
    Pop3Response,
    ProtocolViolation,
    SmtpFramer,
    SmtpReply,
    expects_body,
)
from ..client.tls import client_context, server_context
from ..target import Target, TlsMode
from .credentials import variablize_credentials
from .importers import _Event, _steps, escape_dollars, join_literals
from .volatile import variablize
from .writer import DraftStep, dump_case

_STARTTLS = re.compile(rb"^(?:\S+ )?(?:STARTTLS|STLS)\s*$", re.IGNORECASE)
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r?\n\Z")


@dataclass
class Recording:
    protocol: str
    # ("C"|"S", line), ("L", literal octets), ("T", a command line's rest after a literal),
    # ("tls", b"")
    events: list[tuple[str, bytes]] = field(default_factory=list)
    closed_by_server: bool = False


class _Side:
    """One socket of the proxy with its partial-line buffer."""

    def __init__(self, sock: socket.socket, *, literals: bool = False) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.literals = literals  # the IMAP client: "{n}" at a line end announces n octets
        self.literal_left: int | None = None
        self.after_literal = False

    def lines(self) -> list[tuple[str, bytes]]:
        """Complete lines ("C", or "T" after a literal) and complete literals ("L")."""
        out: list[tuple[str, bytes]] = []
        while True:
            if self.literal_left is not None:
                if len(self.buffer) < self.literal_left:
                    return out
                out.append(("L", bytes(self.buffer[: self.literal_left])))
                del self.buffer[: self.literal_left]
                self.literal_left = None
                self.after_literal = True
            end = self.buffer.find(b"\n")
            if end < 0:
                return out
            line = bytes(self.buffer[: end + 1])
            del self.buffer[: end + 1]
            out.append(("T" if self.after_literal else "C", line))
            self.after_literal = False
            found = _LITERAL.search(line) if self.literals else None
            if found is not None:
                self.literal_left = int(found.group(1))


class Recorder:
    def __init__(self, target: Target, listen: tuple[str, int] = ("127.0.0.1", 0), *,
                 idle_timeout: float = 30.0) -> None:
        self.target = target
        self.idle_timeout = idle_timeout
        self.listener = socket.create_server(listen)
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self._tls_server = server_context("localhost")

    def close(self) -> None:
        self.listener.close()

    def record_one(self, accept_timeout: float | None = None) -> Recording:
        """Accept one client, proxy it to the target until either side closes."""
        self.listener.settimeout(accept_timeout)
        client_sock, _ = self.listener.accept()
        upstream = socket.create_connection((self.target.host, self.target.port),
                                            timeout=self.target.connect_timeout)
        if self.target.tls == TlsMode.IMPLICIT:
            upstream = self._wrap_upstream(upstream)
            client_sock = self._wrap_client(client_sock)
        try:
            imap = self.target.protocol == "imap"
            return self._proxy(_Side(client_sock, literals=imap), _Side(upstream))
        finally:
            for sock in (client_sock, upstream):
                with contextlib.suppress(OSError):
                    sock.close()

    def _wrap_upstream(self, sock: socket.socket) -> socket.socket:
        context = client_context(verify=self.target.verify, cafile=self.target.cafile)
        sock.settimeout(self.target.connect_timeout)  # the proxy loop left it non-blocking
        return context.wrap_socket(sock, server_hostname=self.target.server_name)

    def _wrap_client(self, sock: socket.socket) -> socket.socket:
        sock.settimeout(self.target.connect_timeout)
        return self._tls_server.wrap_socket(sock, server_side=True)

    def _proxy(self, client: _Side, server: _Side) -> Recording:
        recording = Recording(self.target.protocol)
        tracker = _ResponseTracker(self.target.protocol)
        last_activity = time.monotonic()
        while time.monotonic() - last_activity < self.idle_timeout:
            ready = [side for side in (client, server)
                     if isinstance(side.sock, ssl.SSLSocket) and side.sock.pending()]
            if not ready:
                readable, _, _ = select.select([client.sock, server.sock], [], [], 0.5)
                ready = [side for side in (client, server) if side.sock in readable]
            for side in ready:
                last_activity = time.monotonic()
                data = _recv(side.sock)
                if data is None:
                    continue
                if not data:
                    recording.closed_by_server = side is server
                    return recording
                other = server if side is client else client
                other.sock.settimeout(self.target.read_timeout)
                other.sock.sendall(data)
                side.buffer += data
                for kind, line in side.lines():
                    direction = kind if side is client else "S"
                    recording.events.append((direction, line))
                    if direction == "C":
                        tracker.command(line)
                    elif direction == "S" and tracker.server_line(line):
                        recording.events.append(("tls", b""))
                        server.sock = self._wrap_upstream(server.sock)
                        client.sock = self._wrap_client(client.sock)
        return recording


def _recv(sock: socket.socket) -> bytes | None:
    """What is readable now: octets, b"" at EOF, or None when nothing was application data.

    Non-blocking on purpose: select() reports a TLS socket readable for records that carry
    no application data (a TLS 1.3 NewSessionTicket right after the handshake), and a
    blocking recv() would then stall the proxy until its timeout.
    """
    sock.settimeout(0.0)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
        return None
    except (OSError, ssl.SSLError):
        return b""


class _ResponseTracker:
    """Follows responses live, to see the server accept STARTTLS/STLS."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        framers: dict[str, type[Pop3Framer | ImapFramer | SmtpFramer]] = {
            "pop3": Pop3Framer, "imap": ImapFramer}
        self.framer = framers.get(protocol, SmtpFramer)()
        self.commands: list[bytes] = []
        self.greeted = False

    def command(self, line: bytes) -> None:
        self.commands.append(line.strip())

    def server_line(self, line: bytes) -> bool:
        """True when this line completes a successful answer to STARTTLS/STLS."""
        self.framer.feed(line)
        try:
            while True:
                pending = self.commands[0] if self.commands and self.greeted else b""
                response: Pop3Response | ImapResponse | SmtpReply | None
                if isinstance(self.framer, Pop3Framer):
                    response = self.framer.next_response(expects_body(pending))
                    ok = response is not None and response.ok
                elif isinstance(self.framer, ImapFramer):
                    response = self.framer.next_response()
                    if response is not None and response.kind != "tagged" and self.greeted:
                        continue
                    ok = response is not None and response.status == "OK"
                else:
                    response = self.framer.next_reply()
                    ok = response is not None and response.code == 220
                if response is None:
                    return False
                if not self.greeted:
                    self.greeted = True
                    continue
                command = self.commands.pop(0) if self.commands else b""
                if _STARTTLS.match(command) and ok:
                    return True
        except ProtocolViolation:
            return False


def to_yaml(recording: Recording, *, title: str, source: str, match_text: bool = False) -> str:
    """The recorded session as a case, volatile values turned into variables."""
    protocol = recording.protocol
    events: list[_Event] = []
    greeting = ""
    for kind, data in recording.events:
        if kind == "tls":
            events.append(_Event("tls"))
            continue
        text = data.decode("utf-8", "surrogateescape")
        if kind != "L":
            text = text.removesuffix("\n").removesuffix("\r")
        if kind == "S" and not greeting:
            greeting = text
        events.append(_Event(kind, text))
    if recording.closed_by_server:
        events.append(_Event("closed"))
    events = escape_dollars(events)
    kept = variablize_credentials(events, protocol, apop="<" in greeting)
    if protocol == "imap":
        events = join_literals(events)
    steps = _steps_with_tls(events, protocol)
    captured = variablize(steps, protocol, match_text=match_text)
    header = {"protocol": protocol, "title": title, "start": "connected"}
    preamble = [f"Recorded by mailharness record from {source}.",
                "Reply texts are comments; expectations keep codes and statuses"
                + (" and first lines, volatile values as patterns." if match_text else "."),
                "Credentials are the replay target's ($user, $password, $sasl_*, $cram_md5)."]
    preamble += [f"SASL {mechanism} is kept as recorded: it replays only against the same "
                 "user and server." for mechanism in kept]
    preamble += captured
    return dump_case(header, steps, preamble)


def _steps_with_tls(events: list[_Event], protocol: str) -> list[DraftStep]:
    """Steps from the importer, with a bare handshake step wherever TLS started."""
    steps: list[DraftStep] = []
    chunk: list[_Event] = []
    for event in [*events, _Event("end")]:
        if event.kind in ("tls", "end"):
            part = _steps(chunk, protocol) if chunk else []
            steps += part
            chunk = []
            if event.kind == "tls":
                steps.append(DraftStep(starttls="handshake"))
        else:
            chunk.append(event)
    return steps
