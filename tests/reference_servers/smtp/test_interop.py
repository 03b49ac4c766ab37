"""Interop over real loopback sockets: smtplib, aiosmtplib, swaks, and raw sessions.

The embedded servers run in a background thread (``EmbeddedThread``) on port 0 with a
temporary data directory; every accepted message is looked up in the store afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from reference_servers.embedded import EmbeddedThread, ServeConfig
from reference_servers.tls import client_context
from tests import loopback


class Running:
    def __init__(self, thread: EmbeddedThread, data_dir: Path) -> None:
        self.thread = thread
        self.data_dir = data_dir

    def port(self, kind: str) -> int:
        assert self.thread.servers is not None
        port = self.thread.servers.port(kind)
        assert port is not None
        return port

    def inbox(self, user: str) -> list[bytes]:
        assert self.thread.servers is not None
        folder = self.thread.servers.ctx.store.mailbox(user).folder("INBOX")
        return [folder.read(m.uid) for m in folder.messages()]

    def tls(self) -> ssl.SSLContext:
        return client_context(self.data_dir)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("smtp-interop")
    config = ServeConfig(data_dir=data_dir, ports={"smtp": 0, "submission": 0, "smtps": 0})
    with EmbeddedThread(config) as thread:
        yield Running(thread, data_dir)


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """An instance with tiny limits: 2 connections, 0.5 s idle timeout."""
    data_dir = tmp_path_factory.mktemp("smtp-tight")
    config = ServeConfig(data_dir=data_dir, ports={"smtp": 0},
                         settings={"smtp": {"max_connections": 2, "command_timeout": 0.5,
                                            "data_timeout": 0.5}})
    with EmbeddedThread(config) as thread:
        yield Running(thread, data_dir)


def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_smtplib_starttls_login_smtputf8_send_message(servers: Running) -> None:
    msg = EmailMessage()
    msg["From"] = "ålice@example.test"
    msg["To"] = "bob@example.test"
    msg["Subject"] = "interop ✓"
    msg.set_content("Grüße\n.leading dot line\n")
    with smtplib.SMTP("127.0.0.1", servers.port("smtp"), timeout=10) as client:
        client.ehlo("client.test")
        assert client.has_extn("starttls") and not client.has_extn("auth")
        client.starttls(context=servers.tls())
        client.ehlo("client.test")
        assert client.has_extn("auth") and client.has_extn("smtputf8")
        client.login("alice", "secret")
        # send_message adds SMTPUTF8 itself for a non-ASCII address.
        refused = client.send_message(msg, "ålice@example.test", ["bob@example.test"])
        assert refused == {}
    stored = [m for m in servers.inbox("bob") if "interop ✓".encode() in m]
    assert len(stored) == 1
    text = stored[0]
    expected = "Return-Path: <ålice@example.test>\r\nReceived: from client.test"
    assert text.startswith(expected.encode())
    assert b"with UTF8SMTPSA" in text and b"\r\n.leading dot line" in text


def test_smtplib_submission_needs_auth_and_tls(servers: Running) -> None:
    with smtplib.SMTP("127.0.0.1", servers.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        code, text = client.mail("alice@example.test")
        assert (code, text[:5]) == (530, b"5.7.0")
        client.starttls(context=servers.tls())
        client.login("alice@example.test", "secret")
        client.sendmail("alice@example.test", ["alice@example.test"],
                        b"Subject: submission\r\n\r\nvia 587\r\n")
    assert any(b"Subject: submission" in m for m in servers.inbox("alice"))


def test_smtplib_implicit_tls(servers: Running) -> None:
    with smtplib.SMTP_SSL("127.0.0.1", servers.port("smtps"), context=servers.tls(),
                          timeout=10) as client:
        client.ehlo("client.test")
        assert not client.has_extn("starttls")
        client.login("bob", "secret")
        client.sendmail("bob@example.test", ["alice@example.test"],
                        b"Subject: implicit\r\n\r\nvia 465\r\n")
    assert any(b"Subject: implicit" in m and b"with ESMTPSA" in m
               for m in servers.inbox("alice"))


def test_smtplib_no_open_relay(servers: Running) -> None:
    with smtplib.SMTP("127.0.0.1", servers.port("smtp"), timeout=10) as client:
        client.ehlo("client.test")
        client.mail("x@remote.test")
        code, text = client.rcpt("someone@elsewhere.test")
        assert code == 550 and text.startswith(b"5.7.1")


def test_aiosmtplib_starttls_login_send(servers: Running) -> None:
    aiosmtplib = pytest.importorskip("aiosmtplib")
    msg = EmailMessage()
    msg["From"] = "bob@example.test"
    msg["To"] = "alice@example.test"
    msg["Subject"] = "via aiosmtplib"
    msg.set_content("hello")

    async def run() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=servers.port("submission"),
                                 tls_context=servers.tls(), start_tls=False, timeout=10)
        await client.connect()
        await client.starttls()
        await client.login("bob", "secret")
        errors, _ = await client.send_message(msg)
        assert errors == {}
        await client.quit()

    asyncio.run(run())
    assert any(b"Subject: via aiosmtplib" in m for m in servers.inbox("alice"))


@pytest.mark.interop
def test_swaks_pipelined_tls_auth(servers: Running) -> None:
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed")
    result = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(servers.port("submission")),
         "--from", "alice@example.test", "--to", "bob@example.test",
         "--header", "Subject: via swaks", "--tls", "--tls-ca-path",
         str(servers.data_dir / "tls" / "ca.pem"), "--tls-verify", "--tls-sni", "localhost",
         "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "secret",
         "--pipeline", "--timeout", "10"],
        capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 OK: message queued as" in result.stdout
    assert any(b"Subject: via swaks" in m for m in servers.inbox("bob"))


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _read_until(sock: socket.socket, count: int) -> bytes:
    """Read until ``count`` complete replies have arrived."""
    data = b""
    while sum(1 for line in data.split(b"\r\n") if line[3:4] == b" ") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_raw_pipelined_session_and_bdat(servers: Running) -> None:
    with _connect(servers.port("smtp")) as sock:
        assert _read_until(sock, 1).startswith(b"220 ")
        chunk = b"Subject: raw bdat\r\n\r\nHi\r\n"
        sock.sendall(b"EHLO raw.test\r\nMAIL FROM:<>\r\nRCPT TO:<alice@example.test>\r\n"
                     b"BDAT %d\r\n%sBDAT 0 LAST\r\nQUIT\r\n" % (len(chunk), chunk))
        out = _read_until(sock, 6)
    codes = [line[:3] for line in out.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"250", b"250", b"221"]
    assert any(m.startswith(b"Return-Path: <>\r\n") and b"Subject: raw bdat" in m
               for m in servers.inbox("alice"))


def test_raw_starttls_injection_is_discarded(servers: Running) -> None:
    with _connect(servers.port("smtp")) as sock:
        _read_until(sock, 1)
        sock.sendall(b"EHLO raw.test\r\n")
        _read_until(sock, 1)
        sock.sendall(b"STARTTLS\r\nRSET\r\n")
        assert _read_until(sock, 1).startswith(b"220 2.0.0")
        tls = servers.tls().wrap_socket(sock, server_hostname="localhost")
        tls.sendall(b"NOOP\r\n")
        # Only the NOOP's reply: the injected RSET was never executed.
        assert _read_until(tls, 1) == b"250 2.0.0 OK\r\n"
        tls.sendall(b"QUIT\r\n")
        assert _read_until(tls, 1).startswith(b"221 ")


def test_line_too_long_over_socket(servers: Running) -> None:
    with _connect(servers.port("smtp")) as sock:
        _read_until(sock, 1)
        sock.sendall(b"NOOP " + b"x" * 10000 + b"\r\nNOOP\r\n")
        out = _read_until(sock, 2)
    assert out.startswith(b"500 5.5.2 Line too long") and out.endswith(b"250 2.0.0 OK\r\n")


def test_idle_timeout_421(tight: Running) -> None:
    with _connect(tight.port("smtp")) as sock:
        _read_until(sock, 1)
        started = time.monotonic()
        out = _read_until(sock, 1)
        assert out.startswith(b"421 4.4.2 ")
        assert 0.3 < time.monotonic() - started < 5
        assert sock.recv(100) == b""  # closed


def test_max_connections_421(tight: Running) -> None:
    first, second = _connect(tight.port("smtp")), _connect(tight.port("smtp"))
    try:
        assert _read_until(first, 1).startswith(b"220 ")
        assert _read_until(second, 1).startswith(b"220 ")
        with _connect(tight.port("smtp")) as third:
            assert _read_until(third, 1).startswith(b"421 4.3.2 ")
    finally:
        first.close()
        second.close()
    # Once the server has seen them close, a session is admitted again.
    _wait_for(lambda: loopback.greeting(tight.port("smtp")).startswith(b"220 "))


def test_authenticated_foreign_recipient_goes_to_relay_queue(servers: Running) -> None:
    assert servers.thread.servers is not None
    relay = servers.thread.servers.ctx.services.get("relay")
    if relay is None:
        pytest.skip("the relay package is not built")
    before = len(servers.inbox("alice"))
    with smtplib.SMTP("127.0.0.1", servers.port("smtp"), timeout=10) as client:
        client.starttls(context=servers.tls())
        client.login("alice", "secret")
        code, text = client.mail("alice@example.test", ["RET=HDRS", "ENVID=E1"])
        assert code == 250
        code, text = client.rcpt("carol@nowhere.test", ["NOTIFY=FAILURE"])
        assert (code, text[:5]) == (250, b"2.1.5")
        code, text = client.data(b"Subject: relayed\r\n\r\nhi\r\n")
        assert code == 250
    # Queued durably: either still on disk, or already bounced back to alice (no route).
    _wait_for(lambda: relay.pending() or len(servers.inbox("alice")) > before)
