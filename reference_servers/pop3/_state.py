"""The POP3 session states and the transition table: the only place transitions live.

RFC 1939 §3: a session is in the AUTHORIZATION state until the client identifies
itself, then in TRANSACTION, and after QUIT in UPDATE, where the server releases its
resources and closes. Two sub-states of AUTHORIZATION make the rules explicit:

- AWAIT_PASS: a USER was accepted; RFC 1939 §7 allows PASS only "immediately after a
  successful USER command", so any other command returns to AUTHORIZATION.
- SASL: an AUTH exchange is in progress; every line is a base64 response or "*"
  (RFC 5034 §4), never a command.
"""

from __future__ import annotations

from enum import Enum

from . import _events as ev


class State(Enum):
    AUTHORIZATION = "AUTHORIZATION"
    AWAIT_PASS = "AWAIT_PASS"
    SASL = "SASL"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"
    CLOSED = "CLOSED"

    # Members are singletons compared by identity; Enum's own __hash__ is a Python call,
    # and the tables below are looked up with states in their keys on every command.
    __hash__ = object.__hash__

    @property
    def rfc_name(self) -> str:
        """The RFC 1939 state name (the sub-states are part of AUTHORIZATION)."""
        if self in (State.AWAIT_PASS, State.SASL):
            return "AUTHORIZATION"
        return self.value


class Outcome(Enum):
    OK = "+OK"
    ERR = "-ERR"
    CHALLENGE = "+"

    __hash__ = object.__hash__


CommandType = type[ev.Command]

# RFC 1939 §4 (USER, PASS, APOP, QUIT), RFC 2449 §5 (CAPA in both states), RFC 2595 §4
# (STLS only in AUTHORIZATION), RFC 5034 §4 (AUTH only in AUTHORIZATION).
_AUTHORIZATION: frozenset[CommandType] = frozenset(
    {ev.User, ev.Apop, ev.Auth, ev.Stls, ev.Capa, ev.Quit}
)
# RFC 1939 §5 and §7 (TOP, UIDL), RFC 2449 §5 (CAPA).
_TRANSACTION: frozenset[CommandType] = frozenset(
    {ev.Stat, ev.List, ev.Retr, ev.Dele, ev.Noop, ev.Rset, ev.Top, ev.Uidl, ev.Capa, ev.Quit}
)

ALLOWED: dict[State, frozenset[CommandType]] = {
    State.AUTHORIZATION: _AUTHORIZATION,
    State.AWAIT_PASS: _AUTHORIZATION | {ev.Pass},
    State.SASL: frozenset({ev.AuthResponse}),
    State.TRANSACTION: _TRANSACTION,
    State.UPDATE: frozenset(),
    State.CLOSED: frozenset(),
}

# Where a command puts the session as soon as it is received, before its answer:
# QUIT in TRANSACTION enters UPDATE (RFC 1939 §6), where the deletions are committed.
ON_RECEIVE: dict[tuple[State, CommandType], State] = {
    (State.TRANSACTION, ev.Quit): State.UPDATE,
}


def _build_table() -> dict[tuple[State, CommandType, Outcome], State]:
    table: dict[tuple[State, CommandType, Outcome], State] = {}
    auth, sasl, trans = State.AUTHORIZATION, State.SASL, State.TRANSACTION
    for source in (State.AUTHORIZATION, State.AWAIT_PASS):
        # RFC 1939 §7: PASS only right after USER, so everything else (including an
        # unsuccessful USER) leaves AWAIT_PASS.
        for command in _AUTHORIZATION:
            for outcome in (Outcome.OK, Outcome.ERR):
                table[source, command, outcome] = auth
        table[source, ev.User, Outcome.OK] = State.AWAIT_PASS
        table[source, ev.Apop, Outcome.OK] = trans
        # RFC 5034 §4: a challenge continues the exchange, +OK ends it in TRANSACTION.
        table[source, ev.Auth, Outcome.CHALLENGE] = sasl
        table[source, ev.Auth, Outcome.OK] = trans
        # RFC 1939 §4: QUIT in AUTHORIZATION ends the session without UPDATE.
        table[source, ev.Quit, Outcome.OK] = State.CLOSED
        table[source, ev.Quit, Outcome.ERR] = State.CLOSED
    table[State.AWAIT_PASS, ev.Pass, Outcome.OK] = trans
    table[State.AWAIT_PASS, ev.Pass, Outcome.ERR] = auth
    table[sasl, ev.AuthResponse, Outcome.CHALLENGE] = sasl
    table[sasl, ev.AuthResponse, Outcome.OK] = trans
    table[sasl, ev.AuthResponse, Outcome.ERR] = auth
    for command in _TRANSACTION - {ev.Quit}:
        for outcome in (Outcome.OK, Outcome.ERR):
            table[trans, command, outcome] = trans
    # RFC 1939 §6: after UPDATE the server closes, whether removal succeeded or not.
    table[State.UPDATE, ev.Quit, Outcome.OK] = State.CLOSED
    table[State.UPDATE, ev.Quit, Outcome.ERR] = State.CLOSED
    return table


TABLE: dict[tuple[State, CommandType, Outcome], State] = _build_table()
