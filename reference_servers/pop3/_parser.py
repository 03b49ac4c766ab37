"""Command lines -> command events. Raises :class:`ParseError` carrying the reply.

RFC 1939 §3: "Commands in the POP3 consist of a case-insensitive keyword, possibly
followed by one or more arguments. All commands are terminated by a CRLF pair.
Keywords and arguments consist of printable ASCII characters. Keywords and arguments
are each separated by a single SPACE character." RFC 2449 §4 raises the command line
limit to 255 octets including CRLF (enforced by the connection's receive buffer).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..auth import SaslError, decode_initial_response, decode_sasl_response
from ..wire import RemoteProtocolError
from . import _events as ev
from ._replies import R, Reply

_PRINTABLE = re.compile(rb"[\x21-\x7e]+(?: [\x21-\x7e]+)*")
_NUMBER = re.compile(r"[0-9]{1,10}")
_DIGEST = re.compile(r"[0-9a-fA-F]{32}")
# Commands of earlier POP3 versions that RFC 1939 dropped (RPOP, LAST) or that some
# servers add (XTND): named in the error so the client learns why.
_OBSOLETE = frozenset({"RPOP", "LAST", "XTND"})


class ParseError(RemoteProtocolError):
    """The line is not a valid command; ``reply`` is the -ERR line to send."""

    def __init__(self, reply: Reply, *args: object) -> None:
        super().__init__(reply.render(*args).decode("utf-8").rstrip(), reply.render(*args))


def split_command(line: bytes) -> tuple[str, bytes]:
    """(upper-case keyword, the raw rest after one space). Raises ParseError."""
    keyword_raw, _, rest = line.partition(b" ")
    if not keyword_raw:
        raise ParseError(R.SYNTAX, "empty command line" if not line else "leading space")
    if not keyword_raw.isascii() or not keyword_raw.isalnum():
        raise ParseError(R.NOT_ASCII)
    # RFC 1939 §3: keywords are case-insensitive, three or four characters long.
    return keyword_raw.decode("ascii").upper(), rest


def _args(keyword: str, rest: bytes, low: int, high: int) -> list[str]:
    if not rest:
        args: list[str] = []
    elif not _PRINTABLE.fullmatch(rest):
        if not rest.isascii():
            raise ParseError(R.NOT_ASCII)
        raise ParseError(R.SYNTAX, "arguments are separated by a single space")
    else:
        args = rest.decode("ascii").split(" ")
    if not low <= len(args) <= high:
        wanted = str(low) if low == high else f"{low} to {high}"
        raise ParseError(R.SYNTAX, f"{keyword} takes {wanted} argument(s), got {len(args)}")
    return args


def _number(keyword: str, text: str) -> int:
    if not _NUMBER.fullmatch(text):
        raise ParseError(R.SYNTAX, f"{keyword}: {text!r} is not a message number")
    return int(text)


def _msg(keyword: str, args: list[str]) -> int | None:
    return _number(keyword, args[0]) if args else None


def _pass(rest: bytes) -> ev.Pass:
    # RFC 1939 §7: "a POP3 server may treat spaces in the argument as part of the
    # password". Only control characters are refused; UTF-8 is accepted for passwords.
    if not rest:
        raise ParseError(R.SYNTAX, "PASS takes 1 argument, got 0")
    if any(byte < 0x20 or byte == 0x7F for byte in rest):
        raise ParseError(R.SYNTAX, "control character in password")
    try:
        return ev.Pass(rest.decode("utf-8"))
    except UnicodeDecodeError:
        raise ParseError(R.NOT_ASCII) from None


def _apop(args: list[str]) -> ev.Apop:
    # RFC 1939 §7: APOP name digest, the digest 32 hex digits (checked case-sensitively
    # against lower case by the user table, so an upper-case digest simply fails).
    if not _DIGEST.fullmatch(args[1]):
        raise ParseError(R.SYNTAX, "APOP digest must be 32 hexadecimal digits")
    return ev.Apop(args[0], args[1])


def _auth(args: list[str]) -> ev.Auth:
    initial = None
    if len(args) == 2:
        try:
            # RFC 5034 §4: "=" is a zero-length initial response.
            initial = decode_initial_response(args[1].encode("ascii"))
        except SaslError as exc:
            raise ParseError(R.SASL_BAD_BASE64, exc.reason) from None
    return ev.Auth(args[0].upper(), initial)


def _top(args: list[str]) -> ev.Top:
    # RFC 1939 §7: "TOP msg n", n a non-negative number of body lines.
    return ev.Top(_number("TOP", args[0]), _number("TOP", args[1]))


_Builder = Callable[[bytes], ev.Command]


def _simple(keyword: str, low: int, high: int, make: Callable[[list[str]], ev.Command]) -> _Builder:
    return lambda rest: make(_args(keyword, rest, low, high))


COMMANDS: dict[str, tuple[type[ev.Command], _Builder]] = {
    "USER": (ev.User, _simple("USER", 1, 1, lambda a: ev.User(a[0]))),
    "PASS": (ev.Pass, _pass),
    "APOP": (ev.Apop, _simple("APOP", 2, 2, _apop)),
    "AUTH": (ev.Auth, _simple("AUTH", 1, 2, _auth)),
    "STLS": (ev.Stls, _simple("STLS", 0, 0, lambda a: ev.Stls())),
    "CAPA": (ev.Capa, _simple("CAPA", 0, 0, lambda a: ev.Capa())),
    "STAT": (ev.Stat, _simple("STAT", 0, 0, lambda a: ev.Stat())),
    "LIST": (ev.List, _simple("LIST", 0, 1, lambda a: ev.List(_msg("LIST", a)))),
    "RETR": (ev.Retr, _simple("RETR", 1, 1, lambda a: ev.Retr(_number("RETR", a[0])))),
    "DELE": (ev.Dele, _simple("DELE", 1, 1, lambda a: ev.Dele(_number("DELE", a[0])))),
    "NOOP": (ev.Noop, _simple("NOOP", 0, 0, lambda a: ev.Noop())),
    "RSET": (ev.Rset, _simple("RSET", 0, 0, lambda a: ev.Rset())),
    "QUIT": (ev.Quit, _simple("QUIT", 0, 0, lambda a: ev.Quit())),
    "TOP": (ev.Top, _simple("TOP", 2, 2, _top)),
    "UIDL": (ev.Uidl, _simple("UIDL", 0, 1, lambda a: ev.Uidl(_msg("UIDL", a)))),
}


def command_type(keyword: str) -> type[ev.Command]:
    """The event class for a keyword; ParseError for unknown or obsolete ones."""
    entry = COMMANDS.get(keyword)
    if entry is None:
        if keyword in _OBSOLETE:
            raise ParseError(R.NOT_SUPPORTED, keyword)
        raise ParseError(R.UNKNOWN_COMMAND, keyword[:20])
    return entry[0]


def build(keyword: str, rest: bytes) -> ev.Command:
    """The command event for a known keyword and its argument bytes."""
    return COMMANDS[keyword][1](rest)


def parse_command(line: bytes) -> ev.Command:
    """One command line (without CRLF) -> event, ignoring state. Raises ParseError."""
    keyword, rest = split_command(line)
    command_type(keyword)
    return build(keyword, rest)


def parse_sasl_response(line: bytes) -> ev.AuthResponse:
    """One line inside an AUTH exchange (RFC 5034 §4): base64, or "*" to cancel."""
    try:
        return ev.AuthResponse(decode_sasl_response(line))
    except SaslError as exc:
        raise ParseError(R.SASL_BAD_BASE64, exc.reason) from None
