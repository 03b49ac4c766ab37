"""Scripted fake servers for the harness tests: threads on 127.0.0.1, port 0, bounded in time.

A test hands :func:`fake_server` a handler; each accepted connection runs it in a thread
with a :class:`FakeConnection` (blocking socket with a short timeout, so a handler never
outlives its test by more than that). Teardown closes everything and joins the threads.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator

import pytest

from harness.client.tls import server_context

Handler = Callable[["FakeConnection"], None]


class FakeConnection:
    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.sock.settimeout(5)
        self.received = bytearray()
        self._pending = bytearray()

    def idle(self, seconds: float) -> None:
        """Do nothing for a while (a silent server), but not past the test's end."""
        self.stop.wait(seconds)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_line(self) -> bytes:
        """One line from the client, CRLF included; b'' at EOF."""
        while b"\n" not in self._pending:
            data = self.sock.recv(65536)
            if not data:
                line, self._pending = bytes(self._pending), bytearray()
                return line
            self.received += data
            self._pending += data
        end = self._pending.index(b"\n") + 1
        line = bytes(self._pending[:end])
        del self._pending[:end]
        return line

    def recv_exact(self, count: int) -> bytes:
        while len(self._pending) < count:
            data = self.sock.recv(65536)
            if not data:
                break
            self.received += data
            self._pending += data
        chunk = bytes(self._pending[:count])
        del self._pending[:count]
        return chunk

    def starttls(self, context: ssl.SSLContext) -> None:
        assert not self._pending, "client pipelined data before TLS"
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.sock.settimeout(5)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class FakeServer:
    def __init__(self, handler: Handler, *, implicit_tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.implicit_tls = implicit_tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.connections: list[FakeConnection] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def url(self, scheme: str = "smtp", query: str = "timeout=5&step_timeout=10") -> str:
        return f"{scheme}://127.0.0.1:{self.port}?{query}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.implicit_tls is not None:
                try:
                    sock.settimeout(5)
                    sock = self.implicit_tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            connection = FakeConnection(sock, self._stop)
            self.connections.append(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: FakeConnection) -> None:
        try:
            self.handler(connection)
        except (OSError, ssl.SSLError):
            pass  # the client went away, as some tests intend
        except BaseException as exc:  # surfaced by the fixture's teardown
            self.errors.append(exc)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self.listener.close()
        self._acceptor.join(2)
        for connection in self.connections:
            connection.close()
        for thread in self._threads:
            thread.join(2)


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeServer]]:
    servers: list[FakeServer] = []

    def start(handler: Handler, **kwargs: ssl.SSLContext | None) -> FakeServer:
        server = FakeServer(handler, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        if server.errors:
            raise server.errors[0]


@pytest.fixture(scope="session")
def tls_server_context() -> ssl.SSLContext:
    return server_context("localhost")


def mini_smtp(conn: FakeConnection, tls: ssl.SSLContext | None = None) -> None:
    """Just enough of an SMTP server to replay and record sessions against (not a reference)."""
    conn.send(b"220 fake.example.test ESMTP ready\r\n")
    while True:
        line = conn.recv_line()
        if not line:
            return
        verb = line[:4].upper()
        if verb in (b"EHLO", b"LHLO"):
            extra = b"250-STARTTLS\r\n" if tls is not None else b""
            conn.send(b"250-fake.example.test\r\n250-PIPELINING\r\n" + extra + b"250 8BITMIME\r\n")
        elif verb == b"HELO":
            conn.send(b"250 fake.example.test\r\n")
        elif verb == b"STAR" and isinstance(conn.sock, ssl.SSLSocket):
            conn.send(b"503 5.5.1 TLS already active\r\n")
        elif verb == b"STAR" and tls is not None:
            conn.send(b"220 2.0.0 go ahead\r\n")
            conn.starttls(tls)
        elif verb in (b"MAIL", b"RSET", b"NOOP"):
            conn.send(b"250 2.0.0 OK\r\n")
        elif verb == b"RCPT":
            if b"nobody" in line:
                conn.send(b"550 5.1.1 no such user\r\n")
            else:
                conn.send(b"250 2.1.5 OK\r\n")
        elif verb == b"DATA":
            conn.send(b"354 go ahead\r\n")
            while conn.recv_line() not in (b".\r\n", b""):
                pass
            conn.send(b"250 2.0.0 queued as Q1234\r\n")
        elif verb == b"QUIT":
            conn.send(b"221 2.0.0 bye\r\n")
            return
        else:
            conn.send(b"500 5.5.2 unrecognised\r\n")


MAILDROP = [b"Subject: one\r\n\r\n.hidden dot\r\nbody\r\n", b"Subject: two\r\n\r\nx\r\n"]


def mini_pop3(conn: FakeConnection) -> None:
    conn.send(b"+OK POP3 ready <1896.697170952@fake.example.test>\r\n")
    while True:
        line = conn.recv_line()
        if not line:
            return
        words = line.strip().split()
        verb = words[0].upper() if words else b""
        if verb in (b"USER", b"PASS", b"APOP", b"NOOP", b"DELE", b"RSET"):
            conn.send(b"+OK\r\n")
        elif verb == b"STAT":
            conn.send(b"+OK %d %d\r\n" % (len(MAILDROP), sum(map(len, MAILDROP))))
        elif verb == b"LIST":
            body = b"".join(b"%d %d\r\n" % (i + 1, len(m)) for i, m in enumerate(MAILDROP))
            conn.send(b"+OK 2 messages\r\n" + body + b".\r\n")
        elif verb == b"RETR":
            message = MAILDROP[int(words[1]) - 1]
            stuffed = b"".join(b"." + x if x.startswith(b".") else x
                               for x in message.splitlines(keepends=True))
            conn.send(b"+OK message follows\r\n" + stuffed + b".\r\n")
        elif verb == b"CAPA":
            conn.send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n")
        elif verb == b"QUIT":
            conn.send(b"+OK bye\r\n")
            return
        else:
            conn.send(b"-ERR unknown command\r\n")


def mini_imap(conn: FakeConnection) -> None:
    conn.send(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
    while True:
        line = conn.recv_line()
        if not line:
            return
        tag, _, rest = line.strip().partition(b" ")
        words = rest.upper().split(b" ")
        verb = words[1] if words[0] == b"UID" and len(words) > 1 else words[0]
        if verb == b"APPEND":
            size = int(rest[rest.rindex(b"{") + 1: rest.rindex(b"}")].rstrip(b"+"))
            if not rest.endswith(b"+}"):
                conn.send(b"+ ready\r\n")
            conn.recv_exact(size + 2)
            conn.send(tag + b" OK [APPENDUID 7 42] done\r\n")
        elif verb == b"SELECT":
            conn.send(b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 43] next\r\n"
                      + tag + b" OK [READ-WRITE] selected\r\n")
        elif verb == b"FETCH":
            conn.send(b"* 1 FETCH (UID 42 BODY[] {5}\r\nhello)\r\n" + tag + b" OK done\r\n")
        elif verb == b"LOGOUT":
            conn.send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
            return
        else:
            conn.send(tag + b" OK done\r\n")


@pytest.fixture
def smtp_fake(fake_server: Callable[..., FakeServer]) -> FakeServer:
    return fake_server(mini_smtp)


@pytest.fixture
def smtp_starttls_fake(fake_server: Callable[..., FakeServer],
                       tls_server_context: ssl.SSLContext) -> FakeServer:
    return fake_server(lambda conn: mini_smtp(conn, tls_server_context))


@pytest.fixture
def pop3_fake(fake_server: Callable[..., FakeServer]) -> FakeServer:
    return fake_server(mini_pop3)


@pytest.fixture
def imap_fake(fake_server: Callable[..., FakeServer]) -> FakeServer:
    return fake_server(mini_imap)
