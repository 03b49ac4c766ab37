"""fetchmail (Debian package fetchmail), a real POP3 client, against the reference POP3
server: STLS with the certificate checked, SASL, UIDL bookkeeping across runs (only new
mail is fetched again), and deletion of what it fetched."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FETCHMAIL = shutil.which("fetchmail")
pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(FETCHMAIL is None, reason="fetchmail is not installed")]

NO_MAIL = 1  # fetchmail's exit status when there was nothing new


def _message(n: int) -> bytes:
    return (b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: fetch %d\r\n\r\n"
            b"line one\r\n.leading dot\r\n" % n)


def _fetch(thread: Any, home: Path, *options: str) -> tuple[int, list[bytes], str]:
    """One fetchmail poll; returns its exit status, the messages its MDA got, its log."""
    assert FETCHMAIL is not None
    out = home / "out"
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    ca = Path(thread.config.data_dir) / "tls" / "ca.pem"
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll 127.0.0.1 with proto POP3 port {thread.servers.port('pop3')}\n"
        '  user "alice" there with password "secret" is "alice" here\n'
        f'  options sslproto "tls1.2+" sslcertck sslcertfile "{ca}" '
        'sslcommonname "localhost"\n'
        f"  mda \"/bin/sh -c 'cat > {out}/msg.$$'\"\n")
    rc.chmod(0o600)  # fetchmail refuses a run control file others can read
    done = subprocess.run(
        [FETCHMAIL, "-f", str(rc), "-i", str(home / "ids"), "-v", "--nosyslog", *options],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
        timeout=60, check=False)
    messages = sorted(p.read_bytes() for p in out.iterdir())
    return done.returncode, messages, done.stdout + done.stderr


def _as_mda_gets_it(message: bytes) -> bytes:
    # fetchmail hands the MDA Unix line ends and un-stuffs the dot (RFC 1939 §3).
    return message.replace(b"\r\n", b"\n")


def test_fetchmail_stls_uidl_and_delete(pop3_server: Any, tmp_path: Path) -> None:
    store = pop3_server.servers.ctx.store
    for n in (1, 2):
        store.deliver("alice", _message(n))

    status, got, log = _fetch(pop3_server, tmp_path, "--keep")
    assert status == 0, log
    assert "upgrade to TLS succeeded" in log  # STLS, RFC 2595 §4, certificate checked
    assert len(got) == 2 and all(any(m.endswith(_as_mda_gets_it(_message(n))) for m in got)
                                 for n in (1, 2))

    status, got, log = _fetch(pop3_server, tmp_path, "--keep")
    assert status == NO_MAIL and got == [], log  # UIDL (RFC 1939 §7) remembered both

    store.deliver("alice", _message(3))
    status, got, log = _fetch(pop3_server, tmp_path, "--nokeep")
    assert status == 0, log
    assert len(got) == 1 and got[0].endswith(_as_mda_gets_it(_message(3)))
    subjects = [store.mailbox("alice").folder().read(m.uid).split(b"Subject: ")[1][:7]
                for m in store.mailbox("alice").folder().messages()]
    assert subjects == [b"fetch 1", b"fetch 2"]  # the fetched one was deleted at QUIT
