"""The blocking session against scripted servers, well-behaved and misbehaving.

Every misbehaviour must end in a typed error within the configured time, never a hang:
the assertions on elapsed time are what makes "never a hang" a test that can fail.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

from harness.client import (
    ConnectError,
    ConnectionClosed,
    ProtocolViolation,
    ReadTimeout,
    ResponseTooLarge,
    Session,
    StepTimeout,
    TlsError,
)
from harness.target import parse_target

Start = Callable[..., object]


def open_session(server: object, scheme: str = "smtp", query: str = "timeout=1&step_timeout=2"
                 ) -> Session:
    return Session.open(parse_target(server.url(scheme, query)))  # type: ignore[attr-defined]


def test_smtp_exchange_and_byte_exact_log(fake_server: Start) -> None:
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"220 fake ESMTP\r\n")
        assert conn.recv_line() == b"EHLO me\r\n"
        conn.send(b"250-fake\r\n250 PIPELINING\r\n")
        assert conn.recv_line() == b"QUIT\r\n"
        conn.send(b"221 bye\r\n")

    server = fake_server(handler)
    with open_session(server) as session:
        assert session.read_smtp().code == 220
        reply = session.smtp(b"EHLO me")
        assert reply.keywords() == {"PIPELINING": ""}
        assert session.smtp(b"QUIT").code == 221
        assert session.wait_closed(2) == b""
    log = session.log
    assert log.sent() == b"EHLO me\r\nQUIT\r\n"
    assert log.received() == b"220 fake ESMTP\r\n250-fake\r\n250 PIPELINING\r\n221 bye\r\n"
    times = [entry.time for entry in log.entries]
    assert times == sorted(times)
    assert {entry.direction for entry in log.entries} == {"C", "S", "*"}


def test_unreachable_target_is_a_connect_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(ConnectError):
            Session.open(parse_target(f"smtp://127.0.0.1:{port}"))


def test_silent_server_times_out_per_read(fake_server: Start) -> None:
    server = fake_server(lambda conn: conn.idle(3))
    started = time.monotonic()
    with open_session(server, query="timeout=0.3&step_timeout=5") as session, \
            pytest.raises(ReadTimeout, match="nothing received"):
        session.read_smtp()
    assert time.monotonic() - started < 1.5


def test_trickling_server_hits_the_step_deadline(fake_server: Start) -> None:
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        for byte in b"220 a very slow greeting that never quite ends\r\n":
            conn.send(bytes([byte]))
            time.sleep(0.1)

    server = fake_server(handler)
    started = time.monotonic()
    with open_session(server, query="timeout=1&step_timeout=0.6") as session:
        with pytest.raises(StepTimeout) as info:
            session.read_smtp()
        assert info.value.partial.startswith(b"220 a")
    assert time.monotonic() - started < 1.5


def test_time_limit_overrides_the_step_timeout(fake_server: Start) -> None:
    server = fake_server(lambda conn: conn.idle(3))
    started = time.monotonic()
    with open_session(server, query="timeout=5&step_timeout=5") as session, \
            session.time_limit(0.3), pytest.raises(StepTimeout):
        session.read_smtp()
    assert time.monotonic() - started < 1.5


def test_line_that_never_ends_is_capped(fake_server: Start) -> None:
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"220 ")
        for _ in range(200):
            conn.send(b"x" * 65536)

    server = fake_server(handler)
    started = time.monotonic()
    with open_session(server, query="timeout=1&step_timeout=3&max_response=100000") as session, \
            pytest.raises(ResponseTooLarge):
        session.read_smtp()
    assert time.monotonic() - started < 2


def test_garbage_reply_is_a_protocol_violation(fake_server: Start) -> None:
    server = fake_server(lambda conn: conn.send(b"HELLO THERE\r\n"))
    with open_session(server) as session, pytest.raises(ProtocolViolation) as info:
        session.read_smtp()
    assert info.value.data == b"HELLO THERE\r\n"


def test_early_close_mid_reply(fake_server: Start) -> None:
    server = fake_server(lambda conn: conn.send(b"250-first line\r\n250-sec"))
    with open_session(server) as session:
        with pytest.raises(ConnectionClosed) as info:
            session.read_smtp()
        assert info.value.partial == b"250-sec"
        with pytest.raises(ConnectionClosed):  # and stays closed
            session.read_smtp()


def test_wait_closed_times_out_on_an_open_connection(fake_server: Start) -> None:
    server = fake_server(lambda conn: conn.idle(3))
    started = time.monotonic()
    with open_session(server, query="timeout=0.2") as session, pytest.raises(ReadTimeout):
        session.wait_closed(0.5)
    assert time.monotonic() - started < 1.5


def test_pop3_multiline(fake_server: Start) -> None:
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"+OK ready\r\n")
        assert conn.recv_line() == b"LIST\r\n"
        conn.send(b"+OK 2 messages\r\n1 100\r\n2 200\r\n.\r\n")
        assert conn.recv_line() == b"LIST 9\r\n"
        conn.send(b"-ERR no such message\r\n")

    server = fake_server(handler)
    with open_session(server, "pop3") as session:
        assert session.read_pop3().ok
        assert session.pop3(b"LIST").body == (b"1 100", b"2 200")
        assert session.pop3(b"LIST 9").status == "-ERR"


def test_imap_command_collects_untagged(fake_server: Start) -> None:
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"* OK IMAP ready\r\n")
        line = conn.recv_line()
        tag = line.split()[0]
        conn.send(b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n* 2 EXISTS\r\n" + tag + b" OK done\r\n")

    server = fake_server(handler)
    with open_session(server, "imap") as session:
        assert session.read_imap().status == "OK"
        untagged, tagged = session.imap(b"FETCH 1 BODY[]")
        assert [r.literals for r in untagged] == [(b"abc",), ()]
        assert tagged.status == "OK" and tagged.tag == "A001"


def test_imap_literal_larger_than_announced_fails_fast(fake_server: Start) -> None:
    server = fake_server(lambda conn: conn.send(b"* 1 FETCH (BODY[] {3}\r\nabcdef)\r\n"))
    with open_session(server, "imap") as session, pytest.raises(ProtocolViolation,
                                                                match="longer than announced"):
        session.read_imap()


def test_imap_literal_smaller_than_announced_times_out(fake_server: Start) -> None:
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"* 1 FETCH (BODY[] {300}\r\nabc)\r\n")
        conn.idle(3)

    server = fake_server(handler)
    started = time.monotonic()
    with open_session(server, "imap", "timeout=0.3&step_timeout=5") as session, \
            pytest.raises(ReadTimeout):
        session.read_imap()
    assert time.monotonic() - started < 1.5


def starttls_handler(context: ssl.SSLContext, inject: bytes = b""):  # type: ignore[no-untyped-def]
    def handler(conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"220 ready\r\n")
        assert conn.recv_line() == b"STARTTLS\r\n"
        conn.send(b"220 go ahead\r\n" + inject)
        if inject:
            conn.idle(1)
            return
        conn.starttls(context)
        assert conn.recv_line() == b"EHLO me\r\n"
        conn.send(b"250 secure\r\n")

    return handler


def test_starttls_upgrade(fake_server: Start, tls_server_context: ssl.SSLContext) -> None:
    server = fake_server(starttls_handler(tls_server_context))
    with open_session(server, "smtp+starttls") as session:
        session.read_smtp()
        assert session.smtp(b"STARTTLS").code == 220
        session.start_tls()
        assert session.tls_active
        assert session.smtp(b"EHLO me").code == 250
    assert any(b"TLS established" in e.data for e in session.log.entries)


def test_data_injected_before_the_handshake_is_refused(
    fake_server: Start, tls_server_context: ssl.SSLContext
) -> None:
    server = fake_server(starttls_handler(tls_server_context, inject=b"250 injected\r\n"))
    with open_session(server, "smtp+starttls") as session:
        session.read_smtp()
        session.send_line(b"STARTTLS")
        assert session.read_smtp().code == 220
        time.sleep(0.3)  # the injected reply is on the wire, maybe not yet read
        with pytest.raises(TlsError, match="after its STARTTLS reply"):
            session.start_tls()


def test_certificate_checking_refuses_a_self_signed_server(
    fake_server: Start, tls_server_context: ssl.SSLContext
) -> None:
    server = fake_server(lambda conn: conn.send(b"220 hi\r\n"), implicit_tls=tls_server_context)
    with pytest.raises(ConnectError, match="TLS handshake"):
        open_session(server, "smtps", "verify=1&timeout=1")
    with open_session(server, "smtps") as session:
        assert session.tls_active and session.read_smtp().code == 220


GEVENT_SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import gevent
    from gevent.server import StreamServer
    from harness.client import Session
    from harness.target import parse_target

    def handle(sock, address):
        sock.sendall(b"+OK hi\\r\\n")
        sock.recv(100)
        sock.sendall(b"+OK 1 5\\r\\n")
        gevent.sleep(5)

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    url = f"pop3://127.0.0.1:{server.server_port}?timeout=0.3"
    sessions = [Session.open(parse_target(url)) for _ in range(3)]
    for session in sessions:
        assert session.read_pop3().ok
        assert session.pop3(b"STAT").line == b"+OK 1 5"
    try:
        sessions[0].read_pop3()
    except Exception as exc:
        print(type(exc).__name__)
    server.stop(timeout=1)
    """
)


def test_session_runs_under_gevent() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT], capture_output=True, text=True, timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ReadTimeout"
