"""The reference store's Maildir++ read and written by a real Dovecot (issue 2: "so that
mutt or Dovecot can read what it writes"), over IMAP, in both directions for flags."""

from __future__ import annotations

import imaplib
import os
from pathlib import Path

import pytest

from harness.peers import DovecotInstance, free_ports, private_base_dir
from harness.peers import dovecot as dovecot_module
from reference_servers.store import Store

pytestmark = pytest.mark.interop

if os.geteuid() != 0:
    pytest.skip("starting a private Dovecot needs root", allow_module_level=True)
if reason := dovecot_module.available():
    pytest.skip(reason, allow_module_level=True)

PLAIN = b"From: a@client.test\r\nSubject: plain\r\n\r\nfirst body\r\n"
FLAGGED = b"From: b@client.test\r\nSubject: flagged\r\n\r\nsecond body\r\nline two\r\n"
LISTED = b"From: c@client.test\r\nSubject: list\r\n\r\nto the list folder\r\n"


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    # The store runs as the mail user in a real deployment; here it ran as root.
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.chown(os.path.join(directory, name), uid, gid)
    os.chown(root, uid, gid)
    root.chmod(0o711)  # the store makes its root 0700; Dovecot's checks want it traversable


def test_dovecot_reads_messages_flags_and_folders_the_store_wrote() -> None:
    pop3_port, imap_port = free_ports(2)
    with private_base_dir() as base:
        instance = DovecotInstance(base, pop3_port=pop3_port, imap_port=imap_port)
        root = instance.maildir_root
        store = Store(root)
        inbox = store.mailbox("alice").folder()
        store.deliver("alice", PLAIN)
        flagged = inbox.deliver(FLAGGED, flags={"\\Seen", "\\Flagged"})
        lists = store.mailbox("alice").create_folder("Lists/ietf")
        lists.deliver(LISTED)
        _chown_tree(root, instance.settings.mail_uid, instance.settings.mail_gid)
        with instance:
            client = imaplib.IMAP4(instance.host, instance.imap_port, timeout=10)
            try:
                client.login("alice", "secret")
                status, data = client.select("INBOX")
                assert status == "OK" and data == [b"2"]
                status, fetched = client.fetch("1:2", "(FLAGS RFC822.SIZE BODY.PEEK[])")
                assert status == "OK"
                bodies = [item[1] for item in fetched if isinstance(item, tuple)]
                metas = [item[0] for item in fetched if isinstance(item, tuple)]
                assert sorted(bodies) == sorted([PLAIN, FLAGGED])
                for meta, body in zip(metas, bodies, strict=True):
                    assert f"RFC822.SIZE {len(body)}".encode() in meta
                    if body == FLAGGED:
                        assert b"\\Seen" in meta and b"\\Flagged" in meta
                    else:
                        assert b"\\Seen" not in meta
                status, listing = client.list()
                assert status == "OK"
                assert any(b"ietf" in line for line in listing), listing
                # Dovecot changes a flag; the store sees it in the file name it renamed.
                plain_seq = 1 if bodies[0] == PLAIN else 2
                assert client.store(str(plain_seq), "+FLAGS", "(\\Answered)")[0] == "OK"
                client.logout()
            except BaseException:
                client.shutdown()
                raise
        flags = {info.uid: info.flags for info in Store(root).mailbox("alice").folder()
                 .messages()}
        assert flags[flagged.uid] >= {"\\Seen", "\\Flagged"}
        assert "\\Answered" in flags[next(uid for uid in flags if uid != flagged.uid)]
