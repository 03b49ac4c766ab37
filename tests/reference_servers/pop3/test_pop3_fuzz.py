"""Hypothesis: whatever the client sends, the core either hands out a command or raises
ParseError carrying a -ERR reply; never anything else. Fed whole and byte by byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers.pop3 import _events as ev
from reference_servers.pop3._connection import Connection
from reference_servers.pop3._parser import ParseError
from reference_servers.pop3._replies import R
from reference_servers.pop3._state import State

WORDS = [b"USER", b"PASS", b"APOP", b"AUTH", b"STLS", b"CAPA", b"STAT", b"LIST", b"RETR",
         b"DELE", b"NOOP", b"RSET", b"QUIT", b"TOP", b"UIDL", b"RPOP", b"*", b"="]
line = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda w, a: w + b" " + a, st.sampled_from(WORDS),
              st.binary(max_size=40)),
    st.builds(lambda w, n: w + b" %d" % n, st.sampled_from(WORDS), st.integers(-5, 10**12)),
)
lines = st.lists(line, max_size=12)
endings = st.sampled_from([b"\r\n", b"\n", b"\r", b""])


def _answer(conn: Connection, command: ev.Command) -> None:
    """A plausible answer so the state machine moves (and TRANSACTION gets reached)."""
    if isinstance(command, (ev.User, ev.AuthResponse)) and command != ev.AuthResponse(None):
        response: ev.Response = ev.Status(R.USER_OK if isinstance(command, ev.User)
                                          else R.LOGIN_OK, (0, 0))
    elif isinstance(command, ev.Pass):
        response = ev.Status(R.LOGIN_OK, (0, 0))
    elif isinstance(command, ev.Auth):
        response = ev.Challenge(b"")
    elif isinstance(command, ev.Capa):
        response = ev.Listing(R.CAPA_OK, [b"TOP"])
    elif isinstance(command, ev.Quit):
        response = ev.Status(R.QUIT_AUTHORIZATION)
    else:
        response = ev.Status(R.NO_SUCH_MESSAGE, (0,))
    out = conn.send(response)
    assert out.endswith(b"\r\n")


def _drain(conn: Connection) -> None:
    for _ in range(1000):
        try:
            command = conn.next_event()
        except ParseError as exc:
            assert exc.reply is not None and exc.reply.startswith(b"-ERR ")
            assert exc.reply.endswith(b"\r\n") and len(exc.reply) <= 512
            continue
        if command is ev.NEED_DATA:
            return
        assert isinstance(command, ev.Command)
        _answer(conn, command)


@settings(max_examples=300, deadline=None)
@given(lines, endings, st.booleans())
def test_either_parses_or_protocol_error(items: list[bytes], end: bytes, bytewise: bool) -> None:
    conn = Connection()
    conn.greeting("fuzz")
    data = b"".join(item + end for item in items)
    if bytewise:
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            _drain(conn)
    else:
        conn.receive_data(data)
        _drain(conn)
    assert conn.state in State
