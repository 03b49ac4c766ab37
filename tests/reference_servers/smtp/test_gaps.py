"""The correctness gaps closed after the first release: 452 is not an error, a delay
after a failed AUTH, success DSNs for local deliveries, timeouts per stage, repeated
ESMTP parameters. Core behaviour in memory, timing over real sockets."""

from __future__ import annotations

import base64
import smtplib
import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from reference_servers.embedded import EmbeddedThread, ServeConfig
from reference_servers.smtp import State
from reference_servers.smtp._events import AuthFailed, Envelope, Recipient
from reference_servers.smtp._parser import CommandError, parse_command
from reference_servers.smtp.dsn import success_dsn, wants_success
from reference_servers.smtp.policy import SmtpPolicy
from reference_servers.smtp.testing import reply_codes

from .conftest import EHLO, MAIL, make_session

# -- (a) 452 for too many recipients is not an error -----------------------------------


def test_150_recipients_get_100_ok_and_50_452_and_the_session_goes_on() -> None:
    session = make_session()  # max_recipients 100, max_errors 20
    rcpts = b"".join(b"RCPT TO:<alice@example.test>\r\n" for _ in range(150))
    codes = session.codes(EHLO + MAIL + rcpts)
    assert codes[2:] == [250] * 100 + [452] * 50
    assert session.conn.errors == 0 and session.conn.state is State.RCPT
    assert session.codes(b"DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n") == [354, 250]
    # The client sends the remaining 50 in a second transaction (RFC 5321 §4.5.3.1.10).
    rest = b"".join(b"RCPT TO:<bob@example.test>\r\n" for _ in range(50))
    assert session.codes(MAIL + rest + b"DATA\r\nhi\r\n.\r\nQUIT\r\n") == (
        [250] * 51 + [354, 250, 221])
    assert not session.closed or session.conn.state is State.CLOSED


def test_real_errors_still_hit_the_limit() -> None:
    session = make_session(max_errors=3)
    out = session.feed(EHLO + b"FOO\r\nFOO\r\nFOO\r\n")
    assert reply_codes(out)[-2:] == [500, 421] and session.closed


# -- (b) a delay after a failed AUTH ----------------------------------------------------


def test_bad_credentials_are_an_authfailed_event() -> None:
    session = make_session(tls=True)
    out = session.feed(EHLO + b"AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong") + b"\r\n")
    assert reply_codes(out)[-1] == 535
    assert isinstance(session.events[-1], AuthFailed)
    # A malformed response is a syntax error, answered at once (not an AuthFailed).
    session.feed(b"AUTH PLAIN =\r\n")
    assert not isinstance(session.events[-1], AuthFailed)


# -- (d) timeouts per RFC 5321 §4.5.3.2 stage -------------------------------------------


def test_idle_timeout_per_stage() -> None:
    policy = dict(command_timeout=300.0, data_timeout=600.0, tls_handshake_timeout=20.0)
    session = make_session(**policy)
    conn = session.conn
    assert conn.idle_timeout == 300.0  # INITIAL: the next command
    session.feed(EHLO + MAIL + b"RCPT TO:<alice@example.test>\r\n")
    assert conn.idle_timeout == 300.0  # RCPT: the next command
    session.feed(b"DATA\r\nSubject: x\r\n")
    assert conn.state is State.DATA and conn.idle_timeout == 600.0  # a data block
    session.feed(b".\r\n")
    session.feed(MAIL + b"RCPT TO:<alice@example.test>\r\nBDAT 10\r\n12345")
    assert conn.idle_timeout == 600.0  # inside a BDAT chunk
    session.feed(b"67890RSET\r\n")
    assert conn.idle_timeout == 300.0
    assert SmtpPolicy().command_timeout >= 300  # RFC 5321 §4.5.3.2.7: at least 5 min
    assert SmtpPolicy().data_timeout >= 300
    with pytest.raises(ValueError):
        SmtpPolicy(data_timeout=0)


# -- (e) repeated ESMTP parameters -----------------------------------------------------


def _mail(line: bytes) -> object:
    return parse_command(line, esmtp=True, smtputf8=False, utf8_ok=True)


def test_identical_repeat_is_accepted_and_a_conflict_is_501() -> None:
    mail = _mail(b"MAIL FROM:<a@b.test> SMTPUTF8 BODY=8BITMIME SMTPUTF8")
    assert getattr(mail, "smtputf8", False) is True
    assert getattr(_mail(b"MAIL FROM:<a@b.test> SIZE=10 size=10"), "size", None) == 10
    with pytest.raises(CommandError) as info:
        _mail(b"MAIL FROM:<a@b.test> SIZE=10 SIZE=20")
    assert info.value.smtp_reply.code == 501
    with pytest.raises(CommandError):
        parse_command(b"RCPT TO:<a@b.test> NOTIFY=SUCCESS NOTIFY=FAILURE", esmtp=True,
                      smtputf8=False, utf8_ok=True)


# -- (c) success DSNs: choosing recipients and building the report ----------------------


def test_success_dsn_delivered_and_expanded() -> None:
    one = Recipient("alice@example.test", frozenset({"SUCCESS"}), "rfc822;alice@example.test",
                    ("alice",))
    team = Recipient("team@example.test", frozenset({"SUCCESS", "FAILURE"}), None,
                     ("alice", "bob"), ("dave@remote.test",))
    quiet = Recipient("bob@example.test", frozenset({"FAILURE"}), None, ("bob",))
    env = Envelope("carol@remote.test", (one, team, quiet), envid="E1", ret="HDRS")
    assert wants_success(env) == [one, team]
    assert wants_success(Envelope("", (one,))) == []  # never about a bounce
    dsn_env, dsn = success_dsn(env, b"Subject: s\r\n\r\nbody\r\n", [one, team],
                               reporting_mta="mx.example.test", arrival=0.0, now=0.0)
    assert dsn_env.mail_from == "" and dsn_env.recipients[0].address == "carol@remote.test"
    text = dsn.decode()
    assert "Action: delivered" in text and "Action: expanded" in text
    assert "Status: 2.0.0" in text and "Original-Envelope-Id: E1" in text
    assert "Final-Recipient: rfc822; bob@example.test" not in text
    assert "body" not in text.split("text/rfc822-headers")[-1]  # RET=HDRS


# -- over sockets ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedThread]:
    data_dir = tmp_path_factory.mktemp("smtp-gaps")
    settings = {"smtp": {"allow_plaintext_auth": True, "auth_failure_delay": 0.4,
                         "command_timeout": 0.6, "data_timeout": 3.0}}
    config = ServeConfig(data_dir=data_dir, ports={"smtp": 0}, settings=settings)
    with EmbeddedThread(config) as thread:
        yield thread


def _port(thread: EmbeddedThread) -> int:
    assert thread.servers is not None
    port = thread.servers.port("smtp")
    assert port is not None
    return port


def _inbox(thread: EmbeddedThread, user: str) -> list[bytes]:
    assert thread.servers is not None
    folder = thread.servers.ctx.store.mailbox(user).folder("INBOX")
    return [folder.read(m.uid) for m in folder.messages()]


def _line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            return data
        data += chunk
    return data


def test_failed_auth_answer_is_delayed_and_success_is_not(quick: EmbeddedThread) -> None:
    with smtplib.SMTP("127.0.0.1", _port(quick), timeout=5) as client:
        client.ehlo("client.test")
        started = time.monotonic()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice", "wrong")
        failed = time.monotonic() - started
        assert failed >= 0.35
        started = time.monotonic()
        client.login("alice", "secret")
        # Both answers pay for the password hash; only the failure pays the delay on top.
        assert time.monotonic() - started < failed - 0.2


def test_command_and_data_timeouts_differ(quick: EmbeddedThread) -> None:
    with socket.create_connection(("127.0.0.1", _port(quick)), timeout=5) as sock:
        _line(sock)
        sock.sendall(b"HELO client.test\r\nMAIL FROM:<x@remote.test>\r\n"
                     b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
        assert [_line(sock)[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
        time.sleep(1.2)  # beyond the command timeout, within the data timeout
        sock.sendall(b"Subject: slow\r\n\r\nbody\r\n.\r\n")
        assert _line(sock).startswith(b"250")
        started = time.monotonic()
        reply = _line(sock)  # now idle at the command stage: 421 after ~0.6 s
        assert reply.startswith(b"421") and time.monotonic() - started < 2.5


def test_success_dsn_reaches_a_local_sender(quick: EmbeddedThread) -> None:
    msg = EmailMessage()
    msg["From"] = "bob@example.test"
    msg["To"] = "alice@example.test"
    msg["Subject"] = "please confirm"
    msg.set_content("hello")
    with smtplib.SMTP("127.0.0.1", _port(quick), timeout=5) as client:
        client.ehlo("client.test")
        refused = client.send_message(msg, mail_options=["RET=HDRS", "ENVID=conf1"],
                                      rcpt_options=["NOTIFY=SUCCESS"])
        assert refused == {}
    deadline = time.monotonic() + 5
    reports: list[bytes] = []
    while time.monotonic() < deadline and not reports:
        reports = [m for m in _inbox(quick, "bob") if b"multipart/report" in m]
        time.sleep(0.05)
    assert reports, "no success DSN in the sender's mailbox"
    assert b"Action: delivered" in reports[0] and b"Original-Envelope-Id: conf1" in reports[0]
    assert reports[0].startswith(b"Return-Path: <>")


def test_smtplib_repeated_smtputf8_is_accepted(quick: EmbeddedThread) -> None:
    msg = EmailMessage()
    msg["From"] = "bob@example.test"
    msg["To"] = "alice@example.test"
    msg["Subject"] = "Grüße"
    msg.set_content("ünïcode")
    with smtplib.SMTP("127.0.0.1", _port(quick), timeout=5) as client:
        client.ehlo("client.test")
        # send_message adds SMTPUTF8 again for an international message.
        assert client.send_message(msg, from_addr="bøb@example.test",
                                   mail_options=["SMTPUTF8"]) == {}


def test_policy_for_listener_accepts_the_new_keys(tmp_path: Path) -> None:
    policy = SmtpPolicy.for_listener("smtp", {"auth_failure_delay": 0.0,
                                              "tls_handshake_timeout": 5})
    assert policy.auth_failure_delay == 0.0 and policy.tls_handshake_timeout == 5
