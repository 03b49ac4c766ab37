"""Round-trip tables for the sans-IO core: every command in every state, framing, errors."""

from __future__ import annotations

import pytest

from reference_servers.pop3 import _events as ev
from reference_servers.pop3._connection import Connection
from reference_servers.pop3._parser import ParseError, parse_command
from reference_servers.pop3._replies import R
from reference_servers.pop3._state import TABLE, Outcome, State
from reference_servers.wire import LocalProtocolError


def _in_state(state: State) -> Connection:
    conn = Connection()
    conn.greeting("ready")
    if state is State.AUTHORIZATION:
        return conn
    if state is State.SASL:
        conn.receive_data(b"AUTH PLAIN\r\n")
        conn.next_event()
        conn.send(ev.Challenge(b""))
        return conn
    conn.receive_data(b"USER alice\r\n")
    conn.next_event()
    conn.send(ev.Status(R.USER_OK))
    if state is State.AWAIT_PASS:
        return conn
    conn.receive_data(b"PASS secret\r\n")
    conn.next_event()
    conn.send(ev.Status(R.LOGIN_OK, (0, 0)))
    if state is State.TRANSACTION:
        return conn
    conn.receive_data(b"QUIT\r\n")
    conn.next_event()
    assert conn.state is State.UPDATE
    conn.send(ev.Status(R.QUIT_OK, (0,)))
    assert state is State.CLOSED
    return conn


LINES = {
    "USER alice": ev.User("alice"),
    "PASS secret": ev.Pass("secret"),
    "APOP alice c4c9334bac560ecc979e58001b3e22fb": ev.Apop(
        "alice", "c4c9334bac560ecc979e58001b3e22fb"),
    "AUTH PLAIN": ev.Auth("PLAIN", None),
    "STLS": ev.Stls(),
    "CAPA": ev.Capa(),
    "STAT": ev.Stat(),
    "LIST": ev.List(None),
    "LIST 2": ev.List(2),
    "RETR 1": ev.Retr(1),
    "DELE 1": ev.Dele(1),
    "NOOP": ev.Noop(),
    "RSET": ev.Rset(),
    "TOP 1 10": ev.Top(1, 10),
    "UIDL": ev.Uidl(None),
    "UIDL 3": ev.Uidl(3),
    "QUIT": ev.Quit(),
}
AUTHZ = {"USER", "APOP", "AUTH", "STLS", "CAPA", "QUIT"}
TRANS = {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA", "QUIT"}
ALLOWED = {
    State.AUTHORIZATION: AUTHZ,
    State.AWAIT_PASS: AUTHZ | {"PASS"},
    State.TRANSACTION: TRANS,
}


@pytest.mark.parametrize("state", list(ALLOWED))
@pytest.mark.parametrize("line", list(LINES))
def test_every_command_in_every_state(state: State, line: str) -> None:
    conn = _in_state(state)
    conn.receive_data(line.encode() + b"\r\n")
    keyword = line.split()[0]
    if keyword in ALLOWED[state]:
        assert conn.next_event() == LINES[line]
        return
    with pytest.raises(ParseError) as info:
        conn.next_event()
    assert info.value.reply is not None
    if keyword == "PASS" and state is State.AUTHORIZATION:
        assert info.value.reply == R.PASS_WITHOUT_USER.render()
    else:
        assert info.value.reply == R.WRONG_STATE.render(keyword, state.rfc_name)
    # The connection is usable afterwards; AWAIT_PASS is broken by any other command.
    assert conn.state is (State.AUTHORIZATION if state is State.AWAIT_PASS else state)


def test_sasl_state_takes_base64_lines_not_commands() -> None:
    conn = _in_state(State.SASL)
    conn.receive_data(b"RETR 1\r\n")
    with pytest.raises(ParseError) as info:  # a command is not base64
        conn.next_event()
    assert info.value.reply is not None and info.value.reply.startswith(b"-ERR invalid base64")
    assert conn.state is State.AUTHORIZATION
    conn = _in_state(State.SASL)
    conn.receive_data(b"AGFsaWNlAHNlY3JldA==\r\n*\r\n")
    assert conn.next_event() == ev.AuthResponse(b"\x00alice\x00secret")
    conn.send(ev.Challenge(b"more"))
    assert conn.next_event() == ev.AuthResponse(None)
    conn.send(ev.Status(R.SASL_CANCELLED))
    assert conn.state is State.AUTHORIZATION


def test_closed_and_update_hand_out_nothing() -> None:
    conn = _in_state(State.CLOSED)
    conn.receive_data(b"NOOP\r\n")
    assert conn.next_event() is ev.NEED_DATA
    assert conn.closed


PARSE_ERRORS = [
    (b"", R.SYNTAX.render("empty command line")),
    (b" STAT", R.SYNTAX.render("leading space")),
    (b"FOO", R.UNKNOWN_COMMAND.render("FOO")),
    (b"RPOP alice", R.NOT_SUPPORTED.render("RPOP")),
    (b"LAST", R.NOT_SUPPORTED.render("LAST")),
    (b"ST\xc3\x84T", R.NOT_ASCII.render()),
    (b"USER", R.SYNTAX.render("USER takes 1 argument(s), got 0")),
    (b"USER a b", R.SYNTAX.render("USER takes 1 argument(s), got 2")),
    (b"USER  alice", R.SYNTAX.render("arguments are separated by a single space")),
    (b"USER alice ", R.SYNTAX.render("arguments are separated by a single space")),
    (b"USER \xff", R.NOT_ASCII.render()),
    (b"RETR x", R.SYNTAX.render("RETR: 'x' is not a message number")),
    (b"RETR -1", R.SYNTAX.render("RETR: '-1' is not a message number")),
    (b"RETR 12345678901", R.SYNTAX.render("RETR: '12345678901' is not a message number")),
    (b"TOP 1", R.SYNTAX.render("TOP takes 2 argument(s), got 1")),
    (b"TOP 1 -1", R.SYNTAX.render("TOP: '-1' is not a message number")),
    (b"STAT 1", R.SYNTAX.render("STAT takes 0 argument(s), got 1")),
    (b"APOP alice xyz", R.SYNTAX.render("APOP digest must be 32 hexadecimal digits")),
    (b"PASS", R.SYNTAX.render("PASS takes 1 argument, got 0")),
    (b"PASS a\tb", R.SYNTAX.render("control character in password")),
]


@pytest.mark.parametrize(("line", "reply"), PARSE_ERRORS)
def test_parse_errors(line: bytes, reply: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_command(line)
    assert info.value.reply == reply


def test_parse_details() -> None:
    assert parse_command(b"stat") == ev.Stat()  # RFC 1939 §3: keywords case-insensitive
    assert parse_command(b"PASS two words  here") == ev.Pass("two words  here")
    assert parse_command(b"PASS p\xc3\xa4ss") == ev.Pass("päss")
    assert parse_command(b"AUTH plain =") == ev.Auth("PLAIN", b"")
    assert parse_command(b"AUTH PLAIN AGEAYg==") == ev.Auth("PLAIN", b"\x00a\x00b")
    with pytest.raises(ParseError) as info:
        parse_command(b"AUTH PLAIN AGEAYg=")
    assert info.value.reply is not None and b"invalid base64" in info.value.reply
    assert parse_command(b"TOP 1 0") == ev.Top(1, 0)


def test_line_limits_and_bare_lf() -> None:
    conn = _in_state(State.AUTHORIZATION)
    conn.receive_data(b"USER " + b"a" * 300 + b"\r\nCAPA\r\n")
    with pytest.raises(ParseError) as info:
        conn.next_event()
    assert info.value.reply == R.LINE_TOO_LONG.render(255)
    assert conn.next_event() == ev.Capa()  # the session goes on after the long line
    conn.send(ev.Listing(R.CAPA_OK, [b"TOP"]))
    conn.receive_data(b"NOOP\n")
    with pytest.raises(ParseError) as info:
        conn.next_event()
    assert info.value.reply == R.BARE_LINE_ENDING.render()
    # 255 octets including CRLF is fine (RFC 2449 §4).
    conn.receive_data(b"USER " + b"a" * 248 + b"\r\n")
    assert conn.next_event() == ev.User("a" * 248)


def test_sasl_lines_may_be_longer_than_commands() -> None:
    conn = _in_state(State.SASL)
    payload = b"QUFB" * 500  # 2000 octets of base64, longer than a command line
    conn.receive_data(payload + b"\r\n")
    assert conn.next_event() == ev.AuthResponse(b"AAA" * 500)
    conn.send(ev.Status(R.SASL_FAILED))
    conn.receive_data(payload + b"\r\n")
    with pytest.raises(ParseError):  # back in AUTHORIZATION, the command limit applies
        conn.next_event()


def test_framing() -> None:
    conn = _in_state(State.TRANSACTION)
    conn.receive_data(b"RETR 1\r\nLIST\r\nUIDL 1\r\n")
    conn.next_event()
    out = conn.send(ev.Content(R.RETR_OK, b"a\n.b\r\n..c\nend", (19,)))
    # CRLF everywhere, leading dots stuffed, final CRLF added before the terminator.
    assert out == b"+OK 19 octets\r\na\r\n..b\r\n...c\r\nend\r\n.\r\n"
    conn.next_event()
    out = conn.send(ev.Listing(R.LIST_ALL, [b"1 10", b"2 20"], (2, 30)))
    assert out == b"+OK 2 messages (30 octets)\r\n1 10\r\n2 20\r\n.\r\n"
    conn.next_event()
    assert conn.send(ev.Status(R.NO_SUCH_MESSAGE, (0,))) == (
        b"-ERR no such message, only 0 messages in maildrop\r\n")


def test_empty_listing_and_codes() -> None:
    conn = _in_state(State.TRANSACTION)
    conn.receive_data(b"LIST\r\n")
    conn.next_event()
    assert conn.send(ev.Listing(R.LIST_ALL, [], (0, 0))) == b"+OK 0 messages (0 octets)\r\n.\r\n"
    assert R.IN_USE.render() == b"-ERR [IN-USE] maildrop already locked by another session\r\n"
    assert R.LOGIN_DELAY.render(3, 60).startswith(b"-ERR [LOGIN-DELAY] ")
    assert R.AUTH_FAILED.render() == b"-ERR [AUTH] authentication failed\r\n"
    assert R.NOOP_OK.render() == b"+OK\r\n"


def test_challenge_framing() -> None:
    conn = _in_state(State.AUTHORIZATION)
    conn.receive_data(b"AUTH LOGIN\r\n")
    conn.next_event()
    assert conn.send(ev.Challenge(b"Username:")) == b"+ VXNlcm5hbWU6\r\n"
    conn = _in_state(State.AUTHORIZATION)
    conn.receive_data(b"AUTH PLAIN\r\n")
    conn.next_event()
    assert conn.send(ev.Challenge(b"")) == b"+ \r\n"  # RFC 5034 §4


def test_stls_drops_pipelined_input() -> None:
    conn = _in_state(State.AUTHORIZATION)
    conn.receive_data(b"STLS\r\nUSER mallory\r\nPASS x\r\n")
    assert conn.next_event() == ev.Stls()
    conn.send(ev.Status(R.STLS_OK))
    assert conn.secure
    assert conn.next_event() is ev.NEED_DATA  # RFC 2595 §4: nothing survives the upgrade
    # A refused STLS keeps what follows.
    conn = _in_state(State.AUTHORIZATION)
    conn.receive_data(b"STLS\r\nCAPA\r\n")
    conn.next_event()
    conn.send(ev.Status(R.STLS_UNAVAILABLE))
    assert conn.next_event() == ev.Capa()


def test_misuse_is_a_local_error() -> None:
    conn = Connection()
    conn.greeting("x")
    with pytest.raises(LocalProtocolError):
        conn.send(ev.Status(R.NOOP_OK))  # nothing to answer
    conn.receive_data(b"NOOP\r\n")
    with pytest.raises(ParseError):
        conn.next_event()  # NOOP is not an AUTHORIZATION command
    conn.receive_data(b"CAPA\r\nCAPA\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.next_event()  # the first CAPA is unanswered
    with pytest.raises(LocalProtocolError):
        conn.send(ev.Challenge(b"x"))  # CAPA cannot be answered with a challenge
    with pytest.raises(LocalProtocolError):
        conn.greeting("again")


def test_table_is_complete_for_allowed_commands() -> None:
    from reference_servers.pop3._state import ALLOWED as TABLE_ALLOWED

    for state, commands in TABLE_ALLOWED.items():
        for command in commands:
            assert (state, command, Outcome.ERR) in TABLE or (state is State.TRANSACTION and (
                command is ev.Quit)), (state, command)
