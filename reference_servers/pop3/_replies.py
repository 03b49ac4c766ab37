"""Every status line the POP3 reference server sends, in one table.

A :class:`Reply` is ``+OK`` or ``-ERR``, an optional extended response code (RFC 2449 §8,
RFC 3206) and a text template. The protocol core formats them; nothing else in the
package writes a status text of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Code(Enum):
    """Extended response codes (RFC 2449 §8.1, RFC 3206 §4)."""

    IN_USE = "IN-USE"  # RFC 2449 §8.1.1: the maildrop is locked by another session
    LOGIN_DELAY = "LOGIN-DELAY"  # RFC 2449 §8.1.2: logged in too recently
    SYS_TEMP = "SYS/TEMP"  # RFC 3206 §4: a temporary system problem
    SYS_PERM = "SYS/PERM"  # RFC 3206 §4: a permanent system problem
    AUTH = "AUTH"  # RFC 3206 §4: the credentials were wrong


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    code: Code | None
    template: str
    # The status and code prefix, e.g. b"-ERR [IN-USE] ", and the line rendered without
    # arguments: computed once, as a RETR's status line is rendered a thousand times.
    _head: bytes = field(init=False, repr=False, compare=False)
    _bare: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        head = b"+OK" if self.ok else b"-ERR"
        if self.code is not None:
            head += b" [" + self.code.value.encode("ascii") + b"]"
        object.__setattr__(self, "_head", head)
        object.__setattr__(self, "_bare", self._line(self.template))

    def render(self, *args: object) -> bytes:
        """The status line with its CRLF, e.g. ``-ERR [IN-USE] maildrop locked\\r\\n``."""
        return self._line(self.template.format(*args)) if args else self._bare

    def _line(self, text: str) -> bytes:
        line = self._head + b" " + text.encode("utf-8") if text else self._head
        # RFC 2449 §4: a response line is at most 512 octets including CRLF.
        return (line[:510] if len(line) > 510 else line) + b"\r\n"


def ok(template: str, code: Code | None = None) -> Reply:
    return Reply(True, code, template)


def err(template: str, code: Code | None = None) -> Reply:
    return Reply(False, code, template)


class R:
    """The table. Names are what the code refers to; templates take ``str.format`` args."""

    # -- greeting and AUTHORIZATION (RFC 1939 §4, §7) -----------------------------------
    GREETING = ok("{0}")  # "POP3 server ready <timestamp>"
    # In place of the greeting when the server is full (RFC 3206 §4: a temporary
    # condition, so the client should try again later).
    TOO_MANY_CONNECTIONS = err("too many connections; try again later", Code.SYS_TEMP)
    USER_OK = ok("send PASS")
    PASS_WITHOUT_USER = err("PASS must immediately follow a successful USER")
    PLAINTEXT_DISABLED = err(
        "plaintext authentication is disabled on an unencrypted connection; use STLS first",
        Code.AUTH,
    )
    LOGIN_OK = ok("maildrop has {0} messages ({1} octets)")
    AUTH_FAILED = err("authentication failed", Code.AUTH)
    APOP_UNAVAILABLE = err("APOP is not available on this server")
    IN_USE = err("maildrop already locked by another session", Code.IN_USE)
    LOGIN_DELAY = err("logged in {0} s ago; wait {1} s between logins", Code.LOGIN_DELAY)
    MAILDROP_TEMP = err("cannot open maildrop: {0}", Code.SYS_TEMP)
    MAILDROP_PERM = err("cannot open maildrop: {0}", Code.SYS_PERM)
    TOO_MANY_FAILURES = err("too many authentication failures; closing", Code.AUTH)

    # -- SASL (RFC 5034 §4) -------------------------------------------------------------
    SASL_UNSUPPORTED = err("unsupported SASL mechanism {0}")
    SASL_CANCELLED = err("authentication cancelled")
    SASL_BAD_BASE64 = err("invalid base64 in SASL response: {0}")
    SASL_MALFORMED = err("malformed SASL response: {0}")
    SASL_FAILED = err("authentication failed", Code.AUTH)

    # -- STLS (RFC 2595 §4) ---------------------------------------------------------------
    STLS_OK = ok("begin TLS negotiation")
    STLS_ACTIVE = err("TLS is already active")
    STLS_UNAVAILABLE = err("TLS is not available")

    # -- CAPA (RFC 2449 §5) ----------------------------------------------------------------
    CAPA_OK = ok("capability list follows")

    # -- TRANSACTION (RFC 1939 §5) ---------------------------------------------------------
    STAT_OK = ok("{0} {1}")
    LIST_ALL = ok("{0} messages ({1} octets)")
    LIST_ONE = ok("{0} {1}")
    UIDL_ALL = ok("unique-id listing follows")
    UIDL_ONE = ok("{0} {1}")
    RETR_OK = ok("{0} octets")
    TOP_OK = ok("top of message follows")
    DELE_OK = ok("message {0} deleted")
    NOOP_OK = ok("")
    RSET_OK = ok("maildrop has {0} messages ({1} octets)")
    NO_SUCH_MESSAGE = err("no such message, only {0} messages in maildrop")
    MESSAGE_DELETED = err("message {0} already deleted")
    MESSAGE_GONE = err("message {0} was removed from the maildrop by another client")
    READ_FAILED = err("cannot read message {0}", Code.SYS_TEMP)

    # -- QUIT and UPDATE (RFC 1939 §6) ----------------------------------------------------
    QUIT_AUTHORIZATION = ok("bye")
    QUIT_OK = ok("bye ({0} messages left)")
    QUIT_NOT_REMOVED = err("some deleted messages not removed: {0}", Code.SYS_TEMP)

    # -- bad input (RFC 1939 §3, RFC 2449 §4) ---------------------------------------------
    UNKNOWN_COMMAND = err("unknown command {0}")
    NOT_SUPPORTED = err("{0} is not supported by this server")
    WRONG_STATE = err("{0} is not valid in the {1} state")
    SYNTAX = err("syntax error: {0}")
    LINE_TOO_LONG = err("line too long (at most {0} octets including CRLF)")
    BARE_LINE_ENDING = err("lines must end with CRLF")
    NOT_ASCII = err("commands must be printable US-ASCII")
    INTERNAL = err("internal server error; closing", Code.SYS_TEMP)
