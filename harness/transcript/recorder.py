"""The recording proxy: a real client talks to a real server through it; it writes a transcript.

One client connection is proxied at a time, byte for byte. STARTTLS/STLS is followed:
when the server accepts it, the proxy completes TLS with the server (as a client) and with
the client (as a server, with a throwaway self-signed certificate), and keeps reading the
plaintext in between. The session is then written as a case through the same importer
machinery as a C:/S: transcript, so what is volatile in replies (queue ids, dates, session
ids, message counts) is not matched; client commands that carry a volatile value the
server gave (the APOP digest, IMAP tags) become variables or are regenerated.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass, field

from ..client import ImapFramer, Pop3Framer, ProtocolViolation, SmtpFramer, expects_body
from ..client.tls import client_context, server_context
from ..target import Target, TlsMode
from .importers import _Event, _steps
from .writer import DraftStep, dump_case

_STARTTLS = re.compile(rb"^(?:\S+ )?(?:STARTTLS|STLS)\s*$", re.IGNORECASE)
_APOP = re.compile(r"^(APOP \S+ )[0-9a-fA-F]{32}$", re.IGNORECASE)


@dataclass
class Recording:
    protocol: str
    events: list[tuple[str, bytes]] = field(default_factory=list)  # ("C"|"S", line) | ("tls", b"")
    closed_by_server: bool = False


class _Side:
    """One socket of the proxy with its partial-line buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def lines(self) -> list[bytes]:
        out = []
        while (end := self.buffer.find(b"\n")) >= 0:
            out.append(bytes(self.buffer[: end + 1]))
            del self.buffer[: end + 1]
        return out


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
            return self._proxy(_Side(client_sock), _Side(upstream))
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
                direction = "C" if side is client else "S"
                for line in side.lines():
                    recording.events.append((direction, line))
                    if direction == "C":
                        tracker.command(line)
                    elif tracker.server_line(line):
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
        self.framer = {"pop3": Pop3Framer, "imap": ImapFramer}.get(protocol, SmtpFramer)()
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


def to_yaml(recording: Recording, *, title: str, source: str) -> str:
    """The recorded session as a case, volatile values turned into variables."""
    events: list[_Event] = []
    greeting = ""
    for kind, data in recording.events:
        if kind == "tls":
            events.append(_Event("tls"))
            continue
        text = data.decode("utf-8", "surrogateescape").removesuffix("\n").removesuffix("\r")
        if kind == "S" and not greeting:
            greeting = text
        if kind == "C" and recording.protocol == "pop3" and "<" in greeting:
            text = _APOP.sub(r"\1$apop", text)  # RFC 1939 §7: the digest is per greeting
        events.append(_Event(kind, text))
    if recording.closed_by_server:
        events.append(_Event("closed"))
    steps = _steps_with_tls(events, recording.protocol)
    header = {"protocol": recording.protocol, "title": title, "start": "connected"}
    preamble = [f"Recorded by mailharness record from {source}.",
                "Reply texts are comments; expectations keep codes and statuses."]
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
