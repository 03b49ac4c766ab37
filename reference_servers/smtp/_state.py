"""The SMTP session states and the transition table: the only place transitions live.

RFC 5321 §4.1.4 fixes the order: a session starts with EHLO or HELO, a transaction is
MAIL, one or more RCPT, then DATA (or BDAT chunks, RFC 3030); RSET, NOOP, HELP, VRFY,
EXPN and QUIT may come at any time. A command that is not in :data:`TABLE` for the
current state gets ``503`` (RFC 5321 §4.1.4, §4.3.2) and leaves the state alone.

Besides the command keywords, the table has triggers that come from outcomes:
``DATA_END`` (the body arrived), ``REFUSED`` (the message was refused), ``DONE`` (the
server reported the delivery), ``AUTH_END`` (the SASL exchange finished), ``TLS_UP``
(the handshake finished) and ``CLOSE``.
"""

from __future__ import annotations

from enum import Enum


class State(Enum):
    INITIAL = "initial"  # greeting sent, no HELO/EHLO yet
    GREETED = "greeted"  # HELO/EHLO done, no transaction
    MAIL = "mail"  # MAIL accepted, no recipient yet
    RCPT = "rcpt"  # at least one recipient accepted
    DATA = "data"  # reading a dot-terminated body
    BDAT = "bdat"  # between BDAT chunks of one message (RFC 3030)
    AUTH = "auth"  # inside a SASL exchange (RFC 4954 §4)
    PENDING = "pending"  # message received, waiting for the delivery outcome
    TLS = "tls"  # 220 sent to STARTTLS, waiting for the handshake (RFC 3207)
    CLOSED = "closed"


S = State

# The states in which a client command line is read and parsed.
COMMAND_STATES = frozenset({S.INITIAL, S.GREETED, S.MAIL, S.RCPT, S.BDAT})

# RFC 5321 §4.1.4: these may be issued at any point of a session; they change nothing
# (RSET and QUIT are listed separately below because they do).
_ANYTIME = ("NOOP", "HELP", "VRFY", "EXPN")

TABLE: dict[tuple[State, str], State] = {}


def _add(states: tuple[State, ...], trigger: str, target: State | None) -> None:
    for state in states:
        TABLE[(state, trigger)] = state if target is None else target


_add(tuple(COMMAND_STATES), "QUIT", S.CLOSED)
for _word in _ANYTIME:
    _add(tuple(COMMAND_STATES), _word, None)
# RFC 5321 §4.1.1.5: RSET aborts the transaction but not the HELO/EHLO.
_add((S.INITIAL,), "RSET", S.INITIAL)
_add((S.GREETED, S.MAIL, S.RCPT, S.BDAT), "RSET", S.GREETED)
# RFC 5321 §4.1.4: a later EHLO/HELO also aborts a transaction, like RSET.
_add((S.INITIAL, S.GREETED, S.MAIL, S.RCPT, S.BDAT), "EHLO", S.GREETED)
_add((S.INITIAL, S.GREETED, S.MAIL, S.RCPT, S.BDAT), "HELO", S.GREETED)
# RFC 5321 §4.1.4: MAIL needs HELO/EHLO and no transaction in progress.
_add((S.GREETED,), "MAIL", S.MAIL)
_add((S.MAIL, S.RCPT), "RCPT", S.RCPT)
_add((S.RCPT,), "DATA", S.DATA)
_add((S.DATA,), "DATA_END", S.PENDING)
# RFC 3030 §2: BDAT chunks follow the recipients; the LAST one ends the message.
_add((S.RCPT, S.BDAT), "BDAT", S.BDAT)
_add((S.RCPT, S.BDAT), "BDAT_LAST", S.PENDING)
# The message was read but refused (size, bare line endings, a failed chunk): the
# transaction is over (RFC 5321 §4.1.1.4, RFC 3030 §2).
_add((S.DATA, S.RCPT, S.BDAT), "REFUSED", S.GREETED)
_add((S.PENDING,), "DONE", S.GREETED)
# RFC 3207 §4: STARTTLS after EHLO, outside a transaction; after the handshake the
# session starts afresh (RFC 3207 §4.2).
_add((S.GREETED,), "STARTTLS", S.TLS)
_add((S.TLS,), "TLS_UP", S.INITIAL)
# RFC 4954 §4: AUTH after EHLO, outside a transaction.
_add((S.GREETED,), "AUTH", S.AUTH)
_add((S.AUTH,), "AUTH_END", S.GREETED)
for _state in State:
    TABLE[(_state, "CLOSE")] = S.CLOSED


def allowed(state: State, trigger: str) -> bool:
    return (state, trigger) in TABLE


def transition(state: State, trigger: str) -> State:
    """The next state; a missing pair is a bug in the caller (checked with ``allowed``)."""
    try:
        return TABLE[(state, trigger)]
    except KeyError:
        raise KeyError(f"no transition from {state.name} on {trigger}") from None
