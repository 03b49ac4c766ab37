"""The POP3 server over real sockets: poplib, curl, TLS, locks, timeouts, end to end."""

from __future__ import annotations

import importlib.util
import poplib
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from reference_servers.tls import client_context, ensure_certificates

ALICE_MSG = b"From: bob@example.test\r\nSubject: for alice\r\n\r\nHello Alice.\r\n.dot\r\n"


def _port(thread: Any, kind: str = "pop3") -> int:
    port = thread.servers.port(kind)
    assert port is not None
    return int(port)


def _data_dir(thread: Any) -> Path:
    return Path(thread.config.data_dir)


def _client(thread: Any) -> poplib.POP3:
    return poplib.POP3("127.0.0.1", _port(thread), timeout=10)


def test_poplib_basic_top_uidl(pop3_server: Any) -> None:
    pop3_server.servers.ctx.store.deliver("alice", ALICE_MSG)
    pop = _client(pop3_server)
    assert pop.getwelcome().startswith(b"+OK")
    caps = pop.capa()
    for cap in ("TOP", "UIDL", "USER", "SASL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                "EXPIRE", "LOGIN-DELAY", "IMPLEMENTATION", "STLS"):
        assert cap in caps
    pop.user("alice")
    pop.pass_("secret")
    count, size = pop.stat()
    assert (count, size) == (1, len(ALICE_MSG))
    resp, lines, _octets = pop.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == ALICE_MSG
    assert resp == b"+OK %d octets" % len(ALICE_MSG)
    assert pop.top(1, 0)[1] == [b"From: bob@example.test", b"Subject: for alice", b""]
    uid = pop.uidl(1).split()[2]
    assert pop.uidl()[1] == [b"1 " + uid]
    pop.quit()


def test_poplib_apop_and_rpop(pop3_server: Any) -> None:
    pop = _client(pop3_server)
    pop.apop("alice", "secret")  # computes MD5(timestamp + secret) from the greeting
    pop.quit()
    pop = _client(pop3_server)
    with pytest.raises(poplib.error_proto, match=r"RPOP is not supported"):
        pop.rpop("alice")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.apop("alice", "wrong")
    pop.quit()


def test_poplib_stls_then_login(pop3_server: Any) -> None:
    pop = _client(pop3_server)
    pop.stls(client_context(_data_dir(pop3_server)))
    caps = pop.capa()
    assert "STLS" not in caps and "USER" in caps
    with pytest.raises(poplib.error_proto, match="already active"):
        pop._shortcmd("STLS")
    pop.user("alice")
    pop.pass_("secret")
    pop.quit()


def test_pop3s_implicit_tls(pop3_server: Any) -> None:
    pop = poplib.POP3_SSL("127.0.0.1", _port(pop3_server, "pop3s"),
                          context=client_context(_data_dir(pop3_server)), timeout=10)
    assert "STLS" not in pop.capa()
    pop.user("alice")
    pop.pass_("secret")
    pop.quit()


def _raw(thread: Any) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", _port(thread)), timeout=10)
    assert sock.recv(1000).startswith(b"+OK")
    return sock


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_stls_pipelined_commands_are_dropped(pop3_server: Any) -> None:
    sock = _raw(pop3_server)
    # An attacker on the path appends a command after STLS: it must not survive TLS.
    sock.sendall(b"STLS\r\nUSER alice\r\n")
    assert _read_until(sock, b"\r\n") == b"+OK begin TLS negotiation\r\n"
    tls = client_context(_data_dir(pop3_server)).wrap_socket(sock, server_hostname="localhost")
    tls.sendall(b"PASS secret\r\n")
    assert _read_until(tls, b"\r\n").startswith(b"-ERR PASS must immediately follow")
    tls.close()


def test_pipelining_over_socket(pop3_server: Any) -> None:
    store = pop3_server.servers.ctx.store
    for i in range(3):
        store.deliver("bob", b"Subject: %d\r\n\r\nbody\r\n" % i)
    sock = _raw(pop3_server)
    sock.sendall(b"USER bob\r\nPASS secret\r\n" + b"".join(b"RETR %d\r\n" % i for i in (1, 2, 3))
                 + b"QUIT\r\n")
    data = _read_until(sock, b"+OK bye (3 messages left)\r\n")
    assert data.count(b"\r\n.\r\n") == 3
    sock.close()


def test_in_use_across_connections(pop3_server: Any) -> None:
    first = _client(pop3_server)
    first.user("alice")
    first.pass_("secret")
    second = _client(pop3_server)
    second.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_("secret")
    first.quit()
    second.user("alice")
    second.pass_("secret")
    second.quit()


def test_dropped_connection_deletes_nothing_and_unlocks(pop3_server: Any) -> None:
    store = pop3_server.servers.ctx.store
    store.deliver("alice", ALICE_MSG)
    sock = _raw(pop3_server)
    sock.sendall(b"USER alice\r\nPASS secret\r\nDELE 1\r\n")
    assert _read_until(sock, b"deleted\r\n").endswith(b"+OK message 1 deleted\r\n")
    sock.close()
    deadline = time.monotonic() + 5
    while True:  # the server notices the close asynchronously
        pop = _client(pop3_server)
        pop.user("alice")
        try:
            pop.pass_("secret")
            break
        except poplib.error_proto:
            pop.close()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert pop.stat()[0] == 1
    pop.quit()


def test_failed_login_is_delayed(server_factory: Any) -> None:
    thread = server_factory(auth_failure_delay=0.3)
    pop = _client(thread)
    pop.user("alice")
    start = time.monotonic()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.pass_("wrong")
    failed = time.monotonic() - start
    assert failed >= 0.3
    pop.user("alice")
    start = time.monotonic()
    pop.pass_("secret")
    # Both answers pay for the password hash; only the failure pays the delay on top.
    assert time.monotonic() - start < failed - 0.15
    pop.quit()


def test_idle_timeout_closes_silently(server_factory: Any) -> None:
    thread = server_factory(idle_timeout=0.3)
    thread.servers.ctx.store.deliver("alice", ALICE_MSG)
    sock = _raw(thread)
    sock.sendall(b"USER alice\r\nPASS secret\r\nDELE 1\r\n")
    _read_until(sock, b"deleted\r\n")
    start = time.monotonic()
    assert sock.recv(100) == b""  # RFC 1939 §3: no response, just the close
    assert 0.2 <= time.monotonic() - start < 5
    time.sleep(0.1)
    assert len(thread.servers.ctx.store.mailbox("alice").folder("INBOX").messages()) == 1


def test_over_long_line_and_bad_base64(pop3_server: Any) -> None:
    sock = _raw(pop3_server)
    sock.sendall(b"USER " + b"x" * 1000 + b"\r\nAUTH PLAIN\r\n")
    assert _read_until(sock, b"+ \r\n") == (
        b"-ERR line too long (at most 255 octets including CRLF)\r\n+ \r\n")
    sock.sendall(b"@@@\r\n")
    assert _read_until(sock, b"\r\n").startswith(b"-ERR invalid base64")
    sock.close()


def test_keep_mode_end_to_end(pop3_server: Any) -> None:
    pop3_server.servers.ctx.store.deliver("alice", ALICE_MSG)
    for _ in range(2):
        pop = _client(pop3_server)
        assert "NEVER" in pop.capa()["EXPIRE"]
        pop.user("alice")
        pop.pass_("secret")
        assert pop.stat()[0] == 1  # kept: still there in the next session
        pop.retr(1)
        pop.quit()


def test_delete_mode_end_to_end(server_factory: Any) -> None:
    thread = server_factory(mode="delete")
    thread.servers.ctx.store.deliver("alice", ALICE_MSG)
    pop = _client(thread)
    assert pop.capa()["EXPIRE"] == ["0"]
    pop.user("alice")
    pop.pass_("secret")
    pop.retr(1)
    pop.quit()
    pop = _client(thread)
    pop.user("alice")
    pop.pass_("secret")
    assert pop.stat() == (0, 0)
    pop.quit()


@pytest.mark.skipif(importlib.util.find_spec("reference_servers.smtp.server") is None,
                    reason="the reference SMTP server is not built yet")
def test_smtplib_to_poplib_delete(tmp_path: Path) -> None:
    import smtplib

    from reference_servers.embedded import LISTENERS, EmbeddedThread, ServeConfig

    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports.update(pop3=0, smtp=0)
    with EmbeddedThread(ServeConfig(data_dir=tmp_path, ports=ports)) as thread:
        with smtplib.SMTP("127.0.0.1", _port(thread, "smtp"), timeout=10) as smtp:
            smtp.sendmail("bob@example.test", ["alice@example.test"],
                          b"Subject: via smtp\r\n\r\nHi Alice\r\n")
        pop = _client(thread)
        pop.user("alice")
        pop.pass_("secret")
        assert pop.stat()[0] == 1
        assert b"Hi Alice" in b"\r\n".join(pop.retr(1)[1])
        pop.dele(1)
        pop.quit()
        pop = _client(thread)
        pop.user("alice")
        pop.pass_("secret")
        assert pop.stat()[0] == 0
        pop.quit()


CURL = shutil.which("curl")


def _curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run([CURL, "-sS", "--max-time", "20", *args], capture_output=True,
                          timeout=30, check=False)


@pytest.mark.interop
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_list_and_retr(pop3_server: Any) -> None:
    pop3_server.servers.ctx.store.deliver("alice", ALICE_MSG)
    url = f"pop3://127.0.0.1:{_port(pop3_server)}"
    listing = _curl(f"{url}/", "-u", "alice:secret")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == b"1 %d\r\n" % len(ALICE_MSG)
    retr = _curl(f"{url}/1", "-u", "alice:secret")
    assert retr.returncode == 0, retr.stderr
    assert retr.stdout == ALICE_MSG
    bad = _curl(f"{url}/1", "-u", "alice:wrong")
    assert bad.returncode != 0


@pytest.mark.interop
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_curl_stls(pop3_server: Any) -> None:
    pop3_server.servers.ctx.store.deliver("alice", ALICE_MSG)
    ca = ensure_certificates(_data_dir(pop3_server)).ca_cert
    url = f"pop3://localhost:{_port(pop3_server)}/1"
    retr = _curl(url, "--ssl-reqd", "--cacert", str(ca), "-u", "alice:secret",
                 "--resolve", f"localhost:{_port(pop3_server)}:127.0.0.1")
    assert retr.returncode == 0, retr.stderr
    assert retr.stdout == ALICE_MSG
    # pop3s with curl, implicit TLS
    port = _port(pop3_server, "pop3s")
    retr = _curl(f"pop3s://localhost:{port}/1", "--cacert", str(ca), "-u", "alice:secret",
                 "--resolve", f"localhost:{port}:127.0.0.1")
    assert retr.returncode == 0, retr.stderr


def test_concurrent_sessions_of_different_users(pop3_server: Any) -> None:
    store = pop3_server.servers.ctx.store
    store.deliver("alice", ALICE_MSG)
    store.deliver("bob", ALICE_MSG)
    results: list[Any] = []

    def fetch(user: str) -> None:
        pop = _client(pop3_server)
        pop.user(user)
        pop.pass_("secret")
        results.append(pop.stat())
        pop.quit()

    threads = [threading.Thread(target=fetch, args=(u,)) for u in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [(1, len(ALICE_MSG))] * 2
