"""A private Dovecot on loopback, read with poplib and imaplib from a Maildir we fill."""

from __future__ import annotations

import imaplib
import os
import poplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.peers import DovecotInstance, PeerStartError, free_ports, private_base_dir
from harness.peers import dovecot as dovecot_module
from harness.peers._runtime import pid_alive

pytestmark = pytest.mark.interop

if os.geteuid() != 0:
    pytest.skip("starting a private Dovecot needs root", allow_module_level=True)
if reason := dovecot_module.available():
    pytest.skip(reason, allow_module_level=True)

FIRST = b"From: a@client.test\r\nSubject: first\r\n\r\nfirst body\r\n"
SECOND = b"From: b@client.test\r\nSubject: second\r\n\r\nsecond body\r\nline two\r\n"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotInstance]:
    """One instance for the read-only tests below (a Dovecot stop takes ~2.5 s)."""
    pop3_port, imap_port = free_ports(2)
    users = {"alice": "secret", "bob": "secret", "carol": "imap-only"}
    with (
        private_base_dir() as base,
        DovecotInstance(base, pop3_port=pop3_port, imap_port=imap_port, users=users) as instance,
    ):
        # Written behind Dovecot's back, like an MTA would: one seen in cur/, one new.
        # alice is read over POP3 (which flags what it RETRs \Seen), carol over IMAP.
        for user in ("alice", "carol"):
            instance.deliver(user, FIRST, seen=True)
            instance.deliver(user, SECOND)
        yield instance


def test_poplib_user_pass_stat_retr_uidl(dovecot: DovecotInstance) -> None:
    client = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    try:
        assert client.getwelcome().startswith(b"+OK")
        client.user("alice")
        client.pass_("secret")
        count, size = client.stat()
        assert (count, size) == (2, len(FIRST) + len(SECOND))
        retrieved = {b"\r\n".join(client.retr(n)[1]) + b"\r\n" for n in (1, 2)}
        assert retrieved == {FIRST, SECOND}
        _, uid_lines, _ = client.uidl()
        uids = [line.split()[1] for line in uid_lines]
        assert len(uids) == 2 and len(set(uids)) == 2
    finally:
        client.quit()


def test_pop3_refuses_a_wrong_password(dovecot: DovecotInstance) -> None:
    client = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    try:
        client.user("alice")
        with pytest.raises(poplib.error_proto, match="ERR"):
            client.pass_("wrong")
    finally:
        client.close()


def test_pop3_apop_works_with_the_plain_passdb(dovecot: DovecotInstance) -> None:
    client = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    try:
        assert b"<" in client.getwelcome()  # the APOP timestamp
        client.apop("bob", "secret")
        assert client.stat() == (0, 0)
    finally:
        client.quit()


def test_imaplib_login_select_fetch(dovecot: DovecotInstance) -> None:
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    try:
        assert client.login("carol", "imap-only")[0] == "OK"
        status, data = client.select("INBOX", readonly=True)
        assert status == "OK" and data == [b"2"]
        status, data = client.fetch("1:2", "(UID FLAGS BODY.PEEK[])")
        assert status == "OK"
        bodies = [item[1] for item in data if isinstance(item, tuple)]
        assert sorted(bodies) == sorted([FIRST, SECOND])
        flags = b" ".join(item[0] for item in data if isinstance(item, tuple))
        assert flags.count(b"\\Seen") == 1
    finally:
        client.logout()


def test_imap_cram_md5(dovecot: DovecotInstance) -> None:
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10)
    try:
        assert client.login_cram_md5("bob", "secret")[0] == "OK"
        with pytest.raises(imaplib.IMAP4.error):
            imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=10).login_cram_md5(
                "bob", "wrong"
            )
    finally:
        client.logout()


def test_stop_ends_every_process_and_frees_the_ports(peer_dir: Path) -> None:
    pop3_port, imap_port = free_ports(2)
    with DovecotInstance(peer_dir, pop3_port=pop3_port, imap_port=imap_port) as instance:
        assert instance.startup_seconds is not None and instance.startup_seconds < 10
        pids = instance.pids()
        assert len(pids) >= 3  # master, log, config, anvil, login processes...
        config = (peer_dir / "dovecot.conf").read_text()
        assert f"base_dir = {peer_dir.resolve() / 'run'}" in config
    assert not any(pid_alive(pid) for pid in pids)
    for port in (pop3_port, imap_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_busy_port_fails_with_the_log_tail(peer_dir: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        [free] = free_ports(1)
        instance = DovecotInstance(peer_dir, pop3_port=free, imap_port=busy, start_timeout=10)
        with pytest.raises(PeerStartError) as failure:
            instance.start()
    assert "Dovecot did not start" in str(failure.value)
    assert "Address already in use" in str(failure.value)
    assert instance.pid is None


def test_24_config_starts_with_the_version_settings(peer_dir: Path) -> None:
    # Dovecot 2.4 refuses a config whose first setting is not dovecot_config_version.
    # This machine runs 2.3, so only the rendering is checked here, not a 2.4 start.
    instance = DovecotInstance(peer_dir, pop3_port=1100, imap_port=1430)
    lines = dovecot_module.render_config_24(instance.settings).splitlines()
    assert lines[0] == "dovecot_config_version = 2.4.0"
    assert lines[1] == "dovecot_storage_version = 2.4.0"
    assert "disable_plaintext_auth" not in "\n".join(lines)  # renamed in 2.4
