"""A private Postfix on loopback: delivery into Maildirs, refusals, clean start and stop."""

from __future__ import annotations

import smtplib
import socket
from pathlib import Path

import pytest

from harness.peers import PeerStartError, PostfixInstance, free_port
from harness.peers import postfix as postfix_module
from harness.peers._runtime import ensure_traversable, pid_alive

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("as_root")]

if reason := postfix_module.available():
    pytest.skip(reason, allow_module_level=True)


def _message(token: str, to: str) -> bytes:
    return (
        f"From: sender@client.test\r\nTo: {to}\r\nSubject: {token}\r\n"
        f"Message-ID: <{token}@client.test>\r\n\r\nbody {token}\r\n"
    ).encode()


def test_smtplib_message_lands_in_alices_maildir(peer_dir: Path, token: str) -> None:
    port = free_port()
    with PostfixInstance(peer_dir, smtp_port=port) as postfix:
        assert postfix.startup_seconds is not None and postfix.startup_seconds < 10
        with smtplib.SMTP(postfix.host, port, timeout=10) as client:
            code, capabilities = client.ehlo("client.test")
            assert code == 250 and b"PIPELINING" in capabilities
            refused = client.sendmail(
                "sender@client.test", ["alice@example.test"], _message(token, "alice")
            )
            assert refused == {}
        [path] = postfix.wait_for_messages("alice", 1, timeout=15)
        content = path.read_bytes()
        assert path.parent == postfix.maildir("alice") / "new"
        assert f"body {token}".encode() in content
        assert b"Return-Path: <sender@client.test>" in content
        assert b"Delivered-To: alice@example.test" in content
        assert postfix.messages("bob") == []


def test_unknown_recipient_is_refused_and_relay_domain_unknown(peer_dir: Path, token: str) -> None:
    with PostfixInstance(peer_dir, smtp_port=free_port()) as postfix:
        with smtplib.SMTP(postfix.host, postfix.smtp_port, timeout=10) as client:
            client.ehlo("client.test")
            client.mail("sender@client.test")
            code, text = client.rcpt("carol@example.test")
            assert code == 550, text
            code, text = client.rcpt("bob@example.test")
            assert code == 250, text
            code, _ = client.data(_message(token, "bob"))
            assert code == 250
        assert len(postfix.wait_for_messages("bob", 1, timeout=15)) == 1
        assert postfix.messages("alice") == []


def test_banner_config_and_process_tree(peer_dir: Path) -> None:
    with PostfixInstance(peer_dir, smtp_port=free_port(), local_domain="mh.test") as postfix:
        with smtplib.SMTP(postfix.host, postfix.smtp_port, timeout=10) as client:
            client.ehlo("client.test")
            client.mail("sender@client.test")
            assert client.rcpt("alice@mh.test")[0] == 250
            assert client.rcpt("alice@example.test")[0] == 554  # not ours, no relaying
        main_cf = (peer_dir / "etc" / "main.cf").read_text()
        assert "inet_interfaces = 127.0.0.1" in main_cf
        assert f"queue_directory = {peer_dir.resolve() / 'queue'}" in main_cf
        pids = postfix.pids()
        assert postfix.pid in pids and len(pids) >= 2  # master plus qmgr/pickup at least
        master = postfix.pid
        assert master is not None
    assert not pid_alive(master)
    assert not any(pid_alive(pid) for pid in pids)
    postfix.stop()  # a second stop is harmless, even with master.pid left behind
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", postfix.smtp_port), timeout=1).close()


def test_greeting_names_the_private_instance(peer_dir: Path) -> None:
    port = free_port()
    with (
        PostfixInstance(peer_dir, smtp_port=port),
        socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
    ):
        greeting = sock.recv(512)
    assert greeting.startswith(b"220 mx.example.test ESMTP Postfix (mailharness private")


def test_busy_port_fails_with_the_log_tail(peer_dir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        instance = PostfixInstance(peer_dir, smtp_port=port, start_timeout=15)
        with pytest.raises(PeerStartError) as failure:
            instance.start()
    message = str(failure.value)
    assert "Postfix did not start" in message
    assert "Address already in use" in message
    assert instance.pid is None


def test_refuses_a_base_dir_its_daemons_cannot_enter(peer_dir: Path) -> None:
    # Like pytest's tmp_path, which sits under a 0700 directory the postfix user can't enter.
    locked = peer_dir / "locked"
    locked.mkdir(mode=0o700)
    ensure_traversable(peer_dir)
    with pytest.raises(PermissionError, match="private_base_dir"):
        ensure_traversable(locked / "postfix")
    with pytest.raises(PermissionError):
        PostfixInstance(locked / "postfix", smtp_port=free_port()).start()
