"""The aiosmtpd peer: a subprocess delivering durably into Maildirs."""

from __future__ import annotations

import os
import smtplib
from pathlib import Path

import pytest

from harness.peers import AiosmtpdPeer, PeerStartError, _maildir
from harness.peers._runtime import pid_alive

pytestmark = pytest.mark.interop

pytest.importorskip("aiosmtpd", reason="aiosmtpd is a test extra (pip install -e '.[test]')")


def test_smtplib_message_is_in_new_and_nothing_left_in_tmp(tmp_path: Path) -> None:
    with AiosmtpdPeer(tmp_path / "mail") as peer:
        assert peer.port > 0 and peer.pid is not None and pid_alive(peer.pid)
        with smtplib.SMTP(peer.host, peer.port, timeout=10) as client:
            refused = client.sendmail(
                "sender@client.test",
                ["alice@example.test", "bob@example.test"],
                b"Subject: durable\r\n\r\nhello alice\r\n",
            )
            assert refused == {}
        # 250 came after the fsyncs: the files are there the moment sendmail returns.
        [alice] = peer.messages("alice")
        [bob] = peer.messages("bob")
        pid = peer.pid
    assert alice.parent.name == "new" and bob.parent.name == "new"
    content = alice.read_bytes()
    assert content.startswith(b"Return-Path: <sender@client.test>\r\nReceived: ")
    assert content.endswith(b"Subject: durable\r\n\r\nhello alice\r\n")
    assert os.listdir(tmp_path / "mail" / "alice" / "Maildir" / "tmp") == []
    assert not pid_alive(pid)


def test_domains_restrict_recipients(tmp_path: Path) -> None:
    with (
        AiosmtpdPeer(tmp_path / "mail", domains=("example.test",)) as peer,
        smtplib.SMTP(peer.host, peer.port, timeout=10) as client,
    ):
        client.ehlo("client.test")
        client.mail("sender@client.test")
        assert client.rcpt("alice@elsewhere.test")[0] == 550
        assert client.rcpt("../etc@example.test")[0] == 550
        assert client.rcpt("alice@example.test")[0] == 250


def test_durable_delivery_fsyncs_the_file_and_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    maildir = _maildir.make_maildir(tmp_path / "Maildir")
    final = _maildir.deliver_durably(maildir, b"x\r\n")
    tmp_name = str(maildir / "tmp" / final.name)
    # The file is synced under tmp/ before the rename, then new/ after it.
    assert synced == [tmp_name, str(maildir / "new")]


def test_start_failure_reports_stderr(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(PeerStartError, match="aiosmtpd peer did not start"):
        AiosmtpdPeer(tmp_path / "file" / "mail", start_timeout=10).start()
