"""Postfix delivering into the Maildirs Dovecot serves: the profile the suites run against."""

from __future__ import annotations

import imaplib
import os
import poplib
import smtplib
import time
from pathlib import Path

import pytest
import yaml

from harness.peers import MailSystem
from harness.peers import dovecot as dovecot_module
from harness.peers import postfix as postfix_module
from harness.target import load_profile

pytestmark = pytest.mark.interop

if os.geteuid() != 0:
    pytest.skip("starting private Postfix and Dovecot needs root", allow_module_level=True)
if reason := postfix_module.available() or dovecot_module.available():
    pytest.skip(reason, allow_module_level=True)


def _pop3_stat(system: MailSystem, user: str) -> tuple[int, int]:
    client = poplib.POP3(system.host, system.pop3_port, timeout=10)
    try:
        client.user(user)
        client.pass_(system.users[user])
        return client.stat()
    finally:
        client.quit()


def test_smtp_in_pop3_and_imap_out(peer_dir: Path, token: str) -> None:
    with MailSystem(peer_dir) as system:
        profile_file = peer_dir / "profile.yaml"
        profile_file.write_text(yaml.safe_dump(system.profile_dict()))
        profile = load_profile(profile_file)  # the format `mailharness check --profile` reads
        assert profile.domain == "example.test"
        assert [(u.name, u.password) for u in profile.users] == [("alice", "secret"),
                                                                 ("bob", "secret")]
        assert profile.endpoints["smtp"].port == system.smtp_port
        assert profile.endpoints["pop3"].port == system.pop3_port
        assert profile.endpoints["imap"].port == system.imap_port
        assert len(set(system.ports.values())) == 3
        body = f"Subject: {token}\r\n\r\nend to end {token}\r\n".encode()
        with smtplib.SMTP(system.host, system.smtp_port, timeout=10) as client:
            assert client.sendmail("sender@client.test", ["alice@example.test"], body) == {}

        deadline = time.monotonic() + 20
        while _pop3_stat(system, "alice")[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)  # Postfix queues first and delivers a moment later

        client = poplib.POP3(system.host, system.pop3_port, timeout=10)
        try:
            client.user("alice")
            client.pass_("secret")
            assert client.stat()[0] == 1
            lines = client.retr(1)[1]
            assert f"end to end {token}".encode() in lines
            assert b"Delivered-To: alice@example.test" in lines
            client.dele(1)
        finally:
            client.quit()
        assert _pop3_stat(system, "alice") == (0, 0)  # deleted for good after QUIT

        imap = imaplib.IMAP4(system.host, system.imap_port, timeout=10)
        try:
            imap.login("alice", "secret")
            assert imap.select("INBOX")[1] == [b"0"]  # and gone for IMAP too
        finally:
            imap.logout()
        assert _pop3_stat(system, "bob") == (0, 0)
        pids = system.pids()
        assert len(pids) >= 4
