"""Transcripts through Connection + Session on a real store, without sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import pytest

from reference_servers.pop3.maildrop import LOCK_FILE, Maildrop
from reference_servers.pop3.policy import PolicyError, Pop3Policy

from .conftest import Env

MSG1 = b"Subject: one\n\nhello\n.leading dot\n..two dots\n"
MSG2 = b"Subject: two\r\nX: y\r\n\r\nbody 1\r\nbody 2\r\nbody 3\r\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_user_pass_stat_list_retr(env: Env) -> None:
    env.deliver("alice", MSG1)
    env.deliver("alice", MSG2)
    p = env.pipe()
    assert re.fullmatch(rb"\+OK pop\.test POP3 server ready <\d+\.\d+\.\d+@pop\.test>\r\n",
                        p.greeting)
    size1 = len(MSG1) + MSG1.count(b"\n")  # every LF becomes CRLF
    assert p.login() == b"+OK maildrop has 2 messages (%d octets)\r\n" % (size1 + len(MSG2))
    assert p.cmd("STAT") == b"+OK 2 %d\r\n" % (size1 + len(MSG2))
    assert p.cmd("LIST 1") == b"+OK 1 %d\r\n" % size1
    assert p.cmd("LIST") == b"+OK 2 messages (%d octets)\r\n1 %d\r\n2 %d\r\n.\r\n" % (
        size1 + len(MSG2), size1, len(MSG2))
    retr = p.cmd("RETR 1")
    head, body = retr.split(b"\r\n", 1)
    assert head == b"+OK %d octets" % size1
    assert body == b"Subject: one\r\n\r\nhello\r\n..leading dot\r\n...two dots\r\n.\r\n"
    # The octet count is exactly what RETR sends before stuffing and the terminator.
    unstuffed = body[: -len(b".\r\n")].replace(b"\r\n..", b"\r\n.")
    assert len(unstuffed) == size1
    assert p.cmd("RETR 2") == b"+OK %d octets\r\n" % len(MSG2) + MSG2 + b".\r\n"


def test_top(env: Env) -> None:
    env.deliver("alice", MSG2)
    env.deliver("alice", b"Subject: no body")
    p = env.pipe()
    p.login()
    assert p.cmd("TOP 1 0") == b"+OK top of message follows\r\nSubject: two\r\nX: y\r\n\r\n.\r\n"
    assert p.cmd("TOP 1 2").endswith(b"\r\n\r\nbody 1\r\nbody 2\r\n.\r\n")
    assert p.cmd("TOP 1 99").endswith(b"body 3\r\n.\r\n")
    assert p.cmd("TOP 2 5") == b"+OK top of message follows\r\nSubject: no body\r\n.\r\n"
    assert p.cmd("TOP 3 1").startswith(b"-ERR no such message")


def test_message_number_errors(env: Env) -> None:
    env.deliver("alice", MSG1)
    p = env.pipe()
    p.login()
    for line in ("RETR 0", "RETR 2", "LIST 9", "DELE 2", "UIDL 5", "TOP 0 1"):
        assert p.cmd(line) == b"-ERR no such message, only 1 messages in maildrop\r\n", line
    assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
    for line in ("RETR 1", "LIST 1", "DELE 1", "UIDL 1", "TOP 1 1"):
        assert p.cmd(line) == b"-ERR message 1 already deleted\r\n", line
    assert p.cmd("STAT") == b"+OK 0 0\r\n"
    assert p.cmd("LIST") == b"+OK 0 messages (0 octets)\r\n.\r\n"
    assert p.cmd("UIDL") == b"+OK unique-id listing follows\r\n.\r\n"
    assert p.cmd("RSET").startswith(b"+OK maildrop has 1 messages")
    assert p.cmd("RETR 1").startswith(b"+OK")


def test_uidl_stable_across_sessions(env: Env) -> None:
    env.deliver("alice", MSG1)
    env.deliver("alice", MSG2)
    p = env.pipe()
    p.login()
    first = p.cmd("UIDL")
    keys = [line.split(b" ")[1] for line in first.split(b"\r\n")[1:-2]]
    assert len(keys) == 2 and len(set(keys)) == 2
    for key in keys:  # RFC 1939 §7: 1 to 70 characters in 0x21-0x7E
        assert 1 <= len(key) <= 70 and all(0x21 <= c <= 0x7E for c in key)
    assert p.cmd("UIDL 2") == b"+OK 2 " + keys[1] + b"\r\n"
    assert p.cmd("DELE 1") .startswith(b"+OK")
    p.cmd("QUIT")
    q = env.pipe()
    q.login()
    assert q.cmd("UIDL") == b"+OK unique-id listing follows\r\n1 " + keys[1] + b"\r\n.\r\n"


def test_dele_only_on_quit_and_drop_deletes_nothing(env: Env) -> None:
    env.deliver("alice", MSG1)
    env.deliver("alice", MSG2)
    inbox = env.store.mailbox("alice").folder("INBOX")
    p = env.pipe()
    p.login()
    p.cmd("DELE 1")
    p.cmd("DELE 2")
    assert len(inbox.messages()) == 2  # nothing removed before UPDATE
    p.drop()  # connection lost in TRANSACTION
    assert len(inbox.messages()) == 2
    q = env.pipe()
    assert q.login().startswith(b"+OK maildrop has 2 messages")  # the lock was released
    q.cmd("DELE 1")
    assert q.cmd("QUIT") == b"+OK bye (1 messages left)\r\n"
    assert [m.size for m in inbox.messages()] == [len(MSG2)]
    assert q.conn.closed


def test_rset_unmarks(env: Env) -> None:
    env.deliver("alice", MSG1)
    p = env.pipe()
    p.login()
    p.cmd("DELE 1")
    p.cmd("RSET")
    p.cmd("QUIT")
    assert len(env.store.mailbox("alice").folder("INBOX").messages()) == 1


def test_delete_mode_removes_retrieved(env: Env) -> None:
    env.deliver("alice", MSG1)
    env.deliver("alice", MSG2)
    p = env.pipe(mode="delete")
    p.login()
    assert b"EXPIRE 0\r\n" in p.cmd("CAPA")
    p.cmd("RETR 2")
    p.cmd("TOP 1 0")  # TOP is not a download: the message stays
    p.cmd("QUIT")
    assert [m.size for m in env.store.mailbox("alice").folder("INBOX").messages()] == [
        len(MSG1) + MSG1.count(b"\n")]


def test_keep_mode_keeps_retrieved(env: Env) -> None:
    env.deliver("alice", MSG1)
    p = env.pipe()
    assert b"EXPIRE NEVER\r\n" in p.cmd("CAPA")
    p.login()
    p.cmd("RETR 1")
    p.cmd("QUIT")
    assert len(env.store.mailbox("alice").folder("INBOX").messages()) == 1


def test_keep_mode_expires_after_days(env: Env) -> None:
    old = datetime.now(UTC) - timedelta(days=10)
    env.store.deliver("alice", MSG1, internaldate=old)
    env.deliver("alice", MSG2)
    p = env.pipe(expire_days=7)
    assert b"EXPIRE 7\r\n" in p.cmd("CAPA")
    p.login()
    p.cmd("QUIT")
    assert [m.size for m in env.store.mailbox("alice").folder("INBOX").messages()] == [
        len(MSG2)]


def test_in_use(env: Env) -> None:
    p = env.pipe()
    assert p.login().startswith(b"+OK")
    q = env.pipe()
    assert q.login() == b"-ERR [IN-USE] maildrop already locked by another session\r\n"
    assert q.cmd("STAT").startswith(b"-ERR STAT is not valid in the AUTHORIZATION state")
    p.cmd("QUIT")
    assert q.login().startswith(b"+OK")


def test_lock_file_excludes_other_processes(env: Env) -> None:
    import subprocess
    import sys

    lock = env.store.mailbox("alice").path / LOCK_FILE
    code = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        p = env.pipe()
        assert p.login().startswith(b"-ERR [IN-USE]")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    assert env.pipe().login().startswith(b"+OK")


def test_login_delay(env: Env) -> None:
    p = env.pipe(login_delay=60)
    assert b"LOGIN-DELAY 60\r\n" in p.cmd("CAPA")
    p.login()
    p.cmd("QUIT")
    q = env.pipe(login_delay=60)
    assert q.login().startswith(b"-ERR [LOGIN-DELAY] logged in 0 s ago")
    r = env.pipe(login_delay=0)
    assert r.login().startswith(b"+OK")


def test_bad_password_and_failure_limit(env: Env) -> None:
    p = env.pipe(max_auth_failures=2, auth_failure_delay=0.25)
    assert p.login(password="wrong") == b"-ERR [AUTH] authentication failed\r\n"
    assert p.actions[-1].delay == 0.25
    assert p.cmd("PASS secret").startswith(b"-ERR PASS must immediately follow")
    assert p.login(user="nobody") == b"-ERR [AUTH] too many authentication failures; closing\r\n"
    assert p.actions[-1].close


def test_pass_only_immediately_after_user(env: Env) -> None:
    p = env.pipe()
    assert p.cmd("USER alice") == b"+OK send PASS\r\n"
    assert p.cmd("CAPA").startswith(b"+OK")
    assert p.cmd("PASS secret").startswith(b"-ERR PASS must immediately follow")
    p.cmd("USER alice")
    assert p.cmd("BOGUS").startswith(b"-ERR unknown command")
    assert p.cmd("PASS secret").startswith(b"-ERR PASS must")


def test_apop(env: Env) -> None:
    p = env.pipe()
    stamp = re.search(rb"<[^>]+>", p.greeting)
    assert stamp is not None
    digest = hashlib.md5(stamp.group() + b"secret").hexdigest()
    assert p.cmd(f"APOP alice {'0' * 32}") == b"-ERR [AUTH] authentication failed\r\n"
    assert p.cmd(f"APOP alice {digest}").startswith(b"+OK maildrop has 0 messages")


def test_apop_without_timestamp(env: Env) -> None:
    p = env.pipe(apop=False)
    assert b"<" not in p.greeting
    assert p.cmd(f"APOP alice {'0' * 32}") == b"-ERR APOP is not available on this server\r\n"


def test_auth_plain_initial_and_continuation(env: Env) -> None:
    p = env.pipe()
    assert p.cmd("AUTH PLAIN " + b64(b"\0alice\0secret")).startswith(b"+OK maildrop")
    q = env.pipe()
    p.cmd("QUIT")
    assert q.cmd("AUTH PLAIN") == b"+ \r\n"
    assert q.cmd(b64(b"\0alice\0secret")).startswith(b"+OK maildrop")


def test_auth_login_and_cancel(env: Env) -> None:
    p = env.pipe()
    assert p.cmd("AUTH LOGIN") == b"+ " + b64(b"Username:").encode() + b"\r\n"
    assert p.cmd(b64(b"alice")) == b"+ " + b64(b"Password:").encode() + b"\r\n"
    assert p.cmd("*") == b"-ERR authentication cancelled\r\n"
    assert p.cmd("AUTH LOGIN " + b64(b"alice")).startswith(b"+ ")
    assert p.cmd(b64(b"secret")).startswith(b"+OK")


def test_auth_cram_md5(env: Env) -> None:
    p = env.pipe()
    challenge_line = p.cmd("AUTH CRAM-MD5")
    assert challenge_line.startswith(b"+ ")
    challenge = base64.b64decode(challenge_line[2:].strip())
    digest = hmac.new(b"secret", challenge, hashlib.md5).hexdigest()
    assert p.cmd(b64(f"alice {digest}".encode())).startswith(b"+OK")


def test_auth_errors(env: Env) -> None:
    p = env.pipe()
    assert p.cmd("AUTH GSSAPI") == b"-ERR unsupported SASL mechanism GSSAPI\r\n"
    assert p.cmd("AUTH PLAIN not=base64").startswith(b"-ERR invalid base64 in SASL response")
    assert p.cmd("AUTH PLAIN") == b"+ \r\n"
    assert p.cmd("!!!").startswith(b"-ERR invalid base64")
    assert p.cmd("STAT").startswith(b"-ERR STAT is not valid in the AUTHORIZATION")
    assert p.cmd("AUTH PLAIN " + b64(b"no-nuls")).startswith(b"-ERR malformed SASL response")
    assert p.cmd("AUTH PLAIN " + b64(b"\0alice\0bad")) == b"-ERR [AUTH] authentication failed\r\n"
    assert p.cmd("AUTH CRAM-MD5 " + b64(b"x")).startswith(b"-ERR malformed SASL")


def test_capa_by_state_and_plaintext_policy(env: Env) -> None:
    p = env.pipe(allow_plaintext_auth=False)
    caps = p.cmd("CAPA").split(b"\r\n")
    assert caps[0] == b"+OK capability list follows" and caps[-2:] == [b".", b""]
    assert b"USER" not in caps and b"STLS" in caps and b"SASL CRAM-MD5" in caps
    for needed in (b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING",
                   b"IMPLEMENTATION mailharness-reference-pop3"):
        assert needed in caps
    assert p.cmd("USER alice").startswith(b"-ERR [AUTH] plaintext authentication is disabled")
    assert p.cmd("AUTH PLAIN =").startswith(b"-ERR unsupported SASL mechanism")
    # After STLS (the transport would now run the handshake): the capabilities change.
    assert p.cmd("STLS") == b"+OK begin TLS negotiation\r\n"
    assert p.actions[-1].start_tls
    caps = p.cmd("CAPA").split(b"\r\n")
    assert b"USER" in caps and b"STLS" not in caps and b"SASL PLAIN LOGIN CRAM-MD5" in caps
    assert p.cmd("STLS") == b"-ERR TLS is already active\r\n"
    p.login()
    caps = p.cmd("CAPA").split(b"\r\n")
    assert b"USER" not in caps and not any(c.startswith(b"SASL") for c in caps)
    assert b"TOP" in caps


def test_stls_unavailable(env: Env) -> None:
    p = env.pipe(tls=False)
    assert b"STLS" not in p.cmd("CAPA")
    assert p.cmd("STLS") == b"-ERR TLS is not available\r\n"


def test_quit_in_authorization_and_noop(env: Env) -> None:
    p = env.pipe()
    assert p.cmd("QUIT") == b"+OK bye\r\n"
    assert p.conn.closed
    q = env.pipe()
    q.login()
    assert q.cmd("NOOP") == b"+OK\r\n"


def test_pipelined_commands_answered_in_order(env: Env) -> None:
    env.deliver("alice", MSG2)
    p = env.pipe()
    out = p.send(b"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nQUIT\r\n")
    assert out.startswith(b"+OK send PASS\r\n+OK maildrop has 1 messages")
    assert out.endswith(MSG2 + b".\r\n+OK bye (1 messages left)\r\n")


def test_message_gone_under_our_feet(env: Env) -> None:
    env.deliver("alice", MSG1)
    p = env.pipe()
    p.login()
    inbox = env.store.mailbox("alice").folder("INBOX")
    inbox.remove([m.uid for m in inbox.messages()])  # e.g. an IMAP EXPUNGE
    assert p.cmd("RETR 1") == b"-ERR message 1 was removed from the maildrop by another client\r\n"
    assert p.cmd("QUIT").startswith(b"+OK")


def test_policy_validation() -> None:
    with pytest.raises(PolicyError):
        Pop3Policy.from_settings({"bogus": 1})
    with pytest.raises(PolicyError):
        Pop3Policy.from_settings({"mode": "sometimes"})
    with pytest.raises(PolicyError):
        Pop3Policy.from_settings({"mode": "delete", "expire_days": 3})
    assert Pop3Policy().idle_timeout >= 600  # RFC 1939 §3


def test_maildrop_snapshot_ignores_later_delivery(env: Env) -> None:
    env.deliver("alice", MSG1)
    drop = Maildrop.open(env.store, "alice")
    try:
        env.deliver("alice", MSG2)
        assert len(drop) == 1
    finally:
        drop.release()
