"""The sans-IO framers, fed whole and octet by octet."""

from __future__ import annotations

import pytest

from harness.client import (
    ImapFramer,
    Pop3Framer,
    ProtocolViolation,
    ResponseTooLarge,
    SmtpFramer,
    expects_body,
)


def octet_by_octet(framer: SmtpFramer | ImapFramer, data: bytes) -> list[object]:
    out = []
    for byte in data:
        framer.feed(bytes([byte]))
        while (item := framer.next_response()) is not None:
            out.append(item)
    return out


EHLO = b"250-mx.example.test greets you\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"


def test_smtp_multiline_reply() -> None:
    framer = SmtpFramer()
    framer.feed(EHLO + b"220 ready\r\n")
    reply = framer.next_reply()
    assert reply is not None and reply.code == 250 and reply.raw == EHLO
    assert reply.keywords() == {"PIPELINING": "", "SIZE": "1000", "8BITMIME": ""}
    assert reply.text.splitlines()[1] == "250-PIPELINING"
    second = framer.next_reply()
    assert second is not None and second.code == 220
    assert framer.next_reply() is None


def test_smtp_octet_by_octet_gives_the_same_replies() -> None:
    replies = octet_by_octet(SmtpFramer(), EHLO + b"250\r\n")
    assert [r.code for r in replies] == [250, 250]  # type: ignore[attr-defined]
    assert replies[1].lines == (b"",)  # type: ignore[attr-defined]


def test_smtp_enhanced_code() -> None:
    framer = SmtpFramer()
    framer.feed(b"550 5.1.1 no such user\r\n")
    reply = framer.next_reply()
    assert reply is not None and reply.enhanced == "5.1.1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello\r\n", "not an SMTP reply"),
        (b"25 short\r\n", "not an SMTP reply"),
        (b"250x\r\n", "not an SMTP reply"),
        (b"250-one\r\n251 two\r\n", "changes its code"),
        (b"250 bare lf\n", "bare LF"),
    ],
)
def test_smtp_malformed(data: bytes, message: str) -> None:
    framer = SmtpFramer()
    framer.feed(data)
    with pytest.raises(ProtocolViolation, match=message):
        while framer.next_reply() is None:
            pass


def test_smtp_cap_on_a_line_that_never_ends() -> None:
    framer = SmtpFramer(max_response=1000)
    framer.feed(b"250-" + b"x" * 999)
    with pytest.raises(ResponseTooLarge):
        framer.next_reply()


def test_smtp_cap_counts_the_whole_reply() -> None:
    framer = SmtpFramer(max_response=1000)
    framer.feed(b"250-" + b"x" * 90 + b"\r\n")
    assert framer.next_reply() is None
    framer.feed((b"250-" + b"x" * 90 + b"\r\n") * 20)
    with pytest.raises(ResponseTooLarge):
        framer.next_reply()


def test_pop3_single_and_multiline_with_dot_unstuffing() -> None:
    framer = Pop3Framer()
    framer.feed(b"+OK 2 messages\r\nline one\r\n..dotted\r\n.\r\n-ERR no\r\n")
    response = framer.next_response(multiline=True)
    assert response is not None and response.ok
    assert response.body == (b"line one", b".dotted")
    assert response.text == "+OK 2 messages\nline one\n.dotted"
    error = framer.next_response(multiline=True)  # -ERR never has a body
    assert error is not None and error.status == "-ERR" and error.body is None


def test_pop3_incomplete_body_waits() -> None:
    framer = Pop3Framer()
    framer.feed(b"+OK\r\nabc\r\n")
    assert framer.next_response(multiline=True) is None
    framer.feed(b".\r\n")
    response = framer.next_response(multiline=True)
    assert response is not None and response.body == (b"abc",)


def test_pop3_continuation_and_garbage() -> None:
    framer = Pop3Framer()
    framer.feed(b"+ \r\nOK fine\r\n")
    first = framer.next_response()
    assert first is not None and first.status == "+"
    with pytest.raises(ProtocolViolation, match="status line"):
        framer.next_response()


@pytest.mark.parametrize(
    ("command", "body"),
    [(b"LIST", True), (b"LIST 1", False), (b"uidl", True), (b"UIDL 2", False), (b"RETR 1", True),
     (b"TOP 1 0", True), (b"CAPA", True), (b"STAT", False), (b"AUTH", True),
     (b"AUTH PLAIN", False), (b"", False)],
)
def test_pop3_which_commands_have_a_body(command: bytes, body: bool) -> None:
    assert expects_body(command) is body


def test_imap_kinds_and_codes() -> None:
    framer = ImapFramer()
    framer.feed(b"* OK [UIDNEXT 4] predicted\r\n+ go ahead\r\n+\r\nA1 NO [TRYCREATE] no\r\n")
    untagged = framer.next_response()
    assert untagged is not None and untagged.kind == "untagged"
    assert (untagged.status, untagged.code, untagged.data) == ("OK", "UIDNEXT 4",
                                                               "OK [UIDNEXT 4] predicted")
    assert framer.next_response().kind == "continuation"  # type: ignore[union-attr]
    assert framer.next_response().kind == "continuation"  # type: ignore[union-attr]
    tagged = framer.next_response()
    assert tagged is not None and (tagged.tag, tagged.status, tagged.code) == ("A1", "NO",
                                                                               "TRYCREATE")


def test_imap_literals_any_chunking() -> None:
    data = b"* 1 FETCH (BODY[] {12}\r\nhello\r\nworld FLAGS (\\Seen))\r\nA2 OK done\r\n"
    responses = octet_by_octet(ImapFramer(), data)
    assert len(responses) == 2
    fetch = responses[0]
    assert fetch.literals == (b"hello\r\nworld",)  # type: ignore[attr-defined]
    assert fetch.raw == data[: data.index(b"A2")]  # type: ignore[attr-defined]


def test_imap_literal_larger_than_announced() -> None:
    framer = ImapFramer()
    framer.feed(b"* 1 FETCH (BODY[] {5}\r\nhello, world)\r\n")
    with pytest.raises(ProtocolViolation, match="longer than announced"):
        framer.next_response()


def test_imap_literal_beyond_the_cap_fails_before_reading_it() -> None:
    framer = ImapFramer(max_response=1000)
    framer.feed(b"* 1 FETCH (BODY[] {999999999}\r\n")
    with pytest.raises(ResponseTooLarge, match="999999999"):
        framer.next_response()


def test_imap_bad_tagged_status() -> None:
    framer = ImapFramer()
    framer.feed(b"A1 MAYBE later\r\n")
    with pytest.raises(ProtocolViolation, match="OK, NO or BAD"):
        framer.next_response()
