"""Whole sessions through the sans-IO core: pipelining, message content, smuggling,
STARTTLS, AUTH exchanges, BDAT, DSN parameters, limits and server-side events."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from reference_servers.smtp._events import (
    Busy,
    Closing,
    Failed,
    MessageReady,
    TimedOut,
)
from reference_servers.smtp._state import State
from reference_servers.smtp.testing import Session, reply_codes

from .conftest import EHLO, MAIL, RCPT, make_session, replies

MESSAGE = b"Subject: test\r\n\r\nHello\r\n"


def test_pipelined_transaction_replies_in_order_in_one_batch(session: Session) -> None:
    # RFC 2920 §3.1: one reply per command, in order, even when sent all at once.
    script = (EHLO + MAIL + RCPT + b"RCPT TO:<nobody@example.test>\r\n"
              + b"RCPT TO:<bob@example.test>\r\nDATA\r\n" + MESSAGE + b".\r\nNOOP\r\nQUIT\r\n")
    out = session.feed(script)
    assert reply_codes(out) == [250, 250, 250, 550, 250, 354, 250, 250, 221]
    assert session.closed
    assert session.messages[0].envelope.local_users == ("alice", "bob")


def test_pipelined_error_does_not_desynchronize(session: Session) -> None:
    # RFC 2920 §3.1: a failed command in a group does not eat the next ones.
    script = EHLO + b"MAIL FROM:<bad\r\n" + MAIL + RCPT + b"DATA\r\n" + MESSAGE + b".\r\n"
    assert reply_codes(session.feed(script)) == [250, 501, 250, 250, 354, 250]


def test_data_when_all_recipients_failed_then_data_is_not_read_as_commands(
        session: Session) -> None:
    # RFC 2920 §3.1: DATA gets 554 and the client's pipelined text is answered line by line
    # as commands would be; the session stays in step.
    out = session.feed(EHLO + MAIL + b"RCPT TO:<x@example.test>\r\nDATA\r\n")
    assert reply_codes(out) == [250, 250, 550, 554]


def test_byte_by_byte_equals_whole(session: Session) -> None:
    script = EHLO + MAIL + RCPT + b"DATA\r\n" + MESSAGE + b".\r\nBDAT 3\r\nxyz" + b"QUIT\r\n"
    whole = session.feed(script)
    other = make_session()
    assert other.feed_bytewise(script).replace(b"Q1", b"Q?") == whole.replace(b"Q1", b"Q?")


def test_dot_unstuffing_and_content(session: Session) -> None:
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\n")
    session.feed(b"..leading dot\r\n.\r\n")
    assert session.messages[0].content == b".leading dot\r\n"


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n"])
def test_smuggling_fake_ends_are_data(fake_end: bytes) -> None:
    # SMTP smuggling: only CRLF.CRLF ends DATA (RFC 5321 §4.1.1.4); lenient mode keeps
    # the rest as data and counts the bare line endings.
    session = make_session()
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\n")
    smuggled = b"x" + fake_end + b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@example.test>\r\n"
    out = session.feed(smuggled + b".\r\n")
    assert reply_codes(out) == [250]
    assert len(session.messages) == 1
    assert b"MAIL FROM:<evil@x.test>" in session.messages[0].content
    assert session.messages[0].bare_lf + session.messages[0].bare_cr >= 1


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r"])
def test_smuggling_strict_mode_refuses_after_real_end(fake_end: bytes) -> None:
    session = make_session(strict_eol=True)
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\n")
    out = session.feed(b"x" + fake_end + b"MAIL FROM:<evil@x.test>\r\n.\r\nNOOP\r\n")
    assert replies(out)[0].startswith(b"550 5.6.0 ")
    assert reply_codes(out) == [550, 250]
    assert session.messages == []
    assert session.conn.state is State.GREETED


def test_message_too_big_read_to_end_then_552() -> None:
    session = make_session(max_message_size=1000)
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\n")
    out = session.feed(b"x" * 998 + b"\r\n" + b"y" * 5000 + b"\r\n.\r\nNOOP\r\n")
    assert reply_codes(out) == [552, 250]
    assert session.messages == []


def test_size_exactly_at_limit_is_accepted() -> None:
    session = make_session(max_message_size=100)
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\n")
    body = b"a" * 98 + b"\r\n"
    assert reply_codes(session.feed(body + b".\r\n")) == [250]
    assert len(session.messages[0].content) == 100


def test_text_line_limit() -> None:
    session = make_session()
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\n")
    ok = b"a" * 998 + b"\r\n"
    assert reply_codes(session.feed(ok + b".\r\n")) == [250]
    session.feed(MAIL + RCPT + b"DATA\r\n")
    out = session.feed(b"a" * 999 + b"\r\n.\r\n")
    assert out.startswith(b"500 5.5.2 Message text line too long")


def test_starttls_discards_pipelined_commands() -> None:
    # RFC 3207 §4 / CVE-2011-0411: the MAIL after STARTTLS in the same packet is dropped.
    session = make_session()
    out = session.feed(EHLO + b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
    assert reply_codes(out) == [250, 220]
    assert session.conn.tls and session.conn.state is State.INITIAL
    # The session starts afresh: MAIL needs a new EHLO.
    assert reply_codes(session.feed(MAIL)) == [503]
    ehlo = session.feed(EHLO)
    assert b"STARTTLS" not in ehlo and b"AUTH PLAIN LOGIN CRAM-MD5" in ehlo


def test_auth_login_exchange_over_tls() -> None:
    session = make_session(tls=True)
    session.feed(EHLO)
    assert session.feed(b"AUTH LOGIN\r\n") == b"334 VXNlcm5hbWU6\r\n"
    assert session.feed(base64.b64encode(b"alice") + b"\r\n") == b"334 UGFzc3dvcmQ6\r\n"
    assert session.feed(base64.b64encode(b"secret") + b"\r\n").startswith(b"235 2.7.0 ")
    assert session.conn.user == "alice"


def test_auth_cram_md5() -> None:
    session = make_session(tls=True)
    session.feed(EHLO)
    challenge = base64.b64decode(session.feed(b"AUTH CRAM-MD5\r\n")[4:-2])
    digest = hmac.new(b"secret", challenge, hashlib.md5).hexdigest()
    answer = base64.b64encode(f"bob {digest}".encode()) + b"\r\n"
    assert session.feed(answer).startswith(b"235 ")
    assert session.conn.user == "bob"


def test_auth_cancel_and_long_line() -> None:
    session = make_session(tls=True)
    session.feed(EHLO)
    session.feed(b"AUTH LOGIN\r\n")
    assert session.feed(b"*\r\n").startswith(b"501 5.0.0 ")
    session.feed(b"AUTH LOGIN\r\n")
    # RFC 4954 §4: 12288 octets per response line at most.
    assert session.feed(b"A" * 13000 + b"\r\n").startswith(b"500 5.5.6 ")
    assert reply_codes(session.feed(b"NOOP\r\n")) == [250]


def test_submission_policy_requires_auth_then_accepts() -> None:
    session = make_session(tls=True, require_auth=True, strict_eol=True)
    assert reply_codes(session.feed(EHLO + MAIL)) == [250, 530]
    session.feed(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    assert reply_codes(session.feed(MAIL + RCPT)) == [250, 250]


def test_authenticated_relay_and_dsn_parameters_reach_the_envelope() -> None:
    session = make_session(tls=True, relay=True)
    session.feed(EHLO + b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
    script = (b"MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ+2B1\r\n"
              b"RCPT TO:<carol@remote.test> NOTIFY=SUCCESS,DELAY"
              b" ORCPT=rfc822;carol+40remote.test\r\n"
              b"RCPT TO:<fwd@example.test>\r\nRCPT TO:<team@example.test>\r\n"
              b"DATA\r\n" + MESSAGE + b".\r\n")
    out = session.feed(script)
    assert reply_codes(out) == [250, 250, 251, 250, 354, 250]
    env = session.messages[0].envelope
    assert (env.ret, env.envid, env.authenticated) == ("HDRS", "QQ+2B1", "alice")
    carol = env.recipients[0]
    assert carol.notify == {"SUCCESS", "DELAY"} and carol.orcpt == "rfc822;carol+40remote.test"
    assert carol.remote == ("carol@remote.test",)
    assert env.recipients[1].remote == ("carol@remote.test",)
    assert env.local_users == ("alice", "bob")
    assert env.recipients[2].remote == ("dave@remote.test",)


def test_bdat_chunks_assemble_and_mix_with_data_is_refused() -> None:
    session = make_session()
    out = session.feed(EHLO + MAIL + RCPT + b"BDAT 5\r\nHello" + b"DATA\r\n"
                       + b"BDAT 2 LAST\r\n\r\n")
    assert reply_codes(out) == [250, 250, 250, 250, 503, 250]
    assert session.messages[0].content == b"Hello\r\n"


def test_bdat_last_zero_and_bytewise() -> None:
    session = make_session()
    out = session.feed_bytewise(EHLO + MAIL + RCPT + b"BDAT 7\r\nabc\r\nd\n" + b"BDAT 0 LAST\r\n")
    assert reply_codes(out) == [250, 250, 250, 250, 250]
    assert session.messages[0].content == b"abc\r\nd\n"
    assert session.messages[0].bare_lf == 1


def test_bdat_oversize_chunk_skipped_session_stays_in_step() -> None:
    session = make_session(max_message_size=10)
    out = session.feed(EHLO + MAIL + RCPT + b"BDAT 8\r\n12345678" + b"BDAT 8\r\nRSET\r\nXY"
                       + b"BDAT 1 LAST\r\nZ" + b"NOOP\r\n")
    # The second chunk would pass the limit: 552; the transaction is over, so the
    # next BDAT is 503 - and "RSET\r\n" inside the skipped chunk never ran.
    assert reply_codes(out) == [250, 250, 250, 250, 552, 503, 250]
    assert session.messages == []


def test_too_many_errors_closes() -> None:
    session = make_session(max_errors=3)
    out = session.feed(b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n")
    assert reply_codes(out) == [500, 500, 500, 421]
    assert session.closed


def test_eof_inside_data_closes_without_delivery(session: Session) -> None:
    session.feed(EHLO + MAIL + RCPT + b"DATA\r\npartial")
    session.conn.receive_data(b"")
    assert isinstance(session.conn.next_event(), Closing)
    assert session.messages == []


def test_delivery_failure_replies() -> None:
    for failure, code in ((Failed(temporary=True), b"451 4.3.0"),
                          (Failed(temporary=True, storage_full=True), b"452 4.3.1"),
                          (Failed(temporary=False, detail="no"), b"554 5.5.0")):
        session = Session(make_session().conn.policy, fail=failure)
        out = session.feed(EHLO + MAIL + RCPT + b"DATA\r\n" + MESSAGE + b".\r\n")
        assert replies(out)[-1].startswith(code)
        assert session.conn.state is State.GREETED


def test_timeout_and_busy_replies(session: Session) -> None:
    assert session.conn.idle_timeout == 300.0
    assert session.conn.send(TimedOut()).startswith(b"421 4.4.2 mx.example.test ")
    assert session.conn.state is State.CLOSED
    other = make_session()
    assert other.conn.send(Busy()).startswith(b"421 4.3.2 ")


def test_paused_until_delivery_reported() -> None:
    session = make_session()
    conn = session.conn
    conn.receive_data(EHLO + MAIL + RCPT + b"DATA\r\n" + MESSAGE + b".\r\nNOOP\r\n")
    events = []
    while True:
        event = conn.next_event()
        if isinstance(event, MessageReady):
            break
        events.append(event)
    from reference_servers.smtp._events import PAUSED, Delivered

    assert conn.next_event() is PAUSED  # NOOP waits until the message is safe
    before = conn.data_to_send()
    assert reply_codes(before) == [250, 250, 250, 354]
    assert conn.send(Delivered("X1")).startswith(b"250 2.0.0 OK: message queued as X1")
    conn.next_event()
    assert reply_codes(conn.data_to_send()) == [250]
