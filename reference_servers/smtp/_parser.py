"""Command lines (bytes, without CRLF) -> command events, or a :class:`CommandError`.

The grammar is RFC 5321 §4.1 (commands §4.1.1, paths §4.1.2, address literals §4.1.3)
with the parameters of the extensions the server implements: SIZE (RFC 1870 §6),
BODY (RFC 6152 §2), SMTPUTF8 (RFC 6531 §3.4), DSN (RFC 3461 §4), AUTH= (RFC 4954 §5).
Every error carries the reply to send; nothing else escapes (the fuzz invariant).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from reference_servers.wire import RemoteProtocolError

from . import _replies as R
from ._events import (
    Auth,
    Bdat,
    Command,
    Data,
    Ehlo,
    Expn,
    Helo,
    Help,
    MailFrom,
    Noop,
    Quit,
    RcptTo,
    Rset,
    StartTls,
    Vrfy,
)
from ._replies import Reply


class CommandError(RemoteProtocolError):
    """The line cannot be executed; ``smtp_reply`` says why (and ``reply`` is its bytes)."""

    def __init__(self, smtp_reply: Reply, *, skip: int = 0) -> None:
        super().__init__(smtp_reply.lines[0], smtp_reply.to_bytes())
        self.smtp_reply = smtp_reply
        self.skip = skip  # BDAT: chunk octets that follow the refused command anyway


# -- RFC 5321 §4.1.2 / §4.1.3 lexical pieces (str, after decoding) ---------------------
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_U = "\u0080-\U0010ffff"  # RFC 6531 §3.3: UTF8-non-ascii extends atext, qtext, sub-domain
_SUB = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_SUB_U = rf"[A-Za-z0-9{_U}](?:[A-Za-z0-9\-{_U}]*[A-Za-z0-9{_U}])?"


def _compile(utf8: bool) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    extra = _U if utf8 else ""
    atom = rf"[{_ATEXT}{extra}]+"
    dot_string = rf"{atom}(?:\.{atom})*"
    quoted = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{extra}]|\\[\x20-\x7e])*"'
    sub = _SUB_U if utf8 else _SUB
    domain = rf"{sub}(?:\.{sub})*"
    local = re.compile(rf"(?:{dot_string}|{quoted})")
    return local, re.compile(domain), re.compile(rf"@{domain}(?:,@{domain})*")


_LEX = {False: _compile(False), True: _compile(True)}
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e]+")  # RFC 5321 §4.1.2 esmtp-value
_VALUE_U = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+")
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")  # RFC 3461 §4
_XTEXT_U = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e\u0080-\U0010ffff]|\+[0-9A-F]{2})*")
_DIGITS = re.compile(r"[0-9]{1,20}")
_ADDR_TYPE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+")  # RFC 3461 §4.2: atom
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9\-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+")

# RFC 5321 §4.5.3.1.1-3: limits a server must accept, and may refuse beyond.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256

NOTIFY_WORDS = frozenset({"SUCCESS", "FAILURE", "DELAY"})


def _syntax(detail: str) -> CommandError:
    return CommandError(R.SYNTAX(detail=detail))


def is_domain(text: str, *, utf8: bool = False) -> bool:
    """RFC 5321 §4.1.2 Domain, or an address literal (§4.1.3)."""
    if text.startswith("["):
        return is_address_literal(text)
    return len(text) <= MAX_DOMAIN and _LEX[utf8][1].fullmatch(text) is not None


def is_address_literal(text: str) -> bool:
    if len(text) < 3 or text[0] != "[" or text[-1] != "]":
        return False
    inner = text[1:-1]
    try:
        if inner[:5].upper() == "IPV6:":
            ipaddress.IPv6Address(inner[5:])
            return True
        if re.fullmatch(r"[0-9.]+", inner):
            ipaddress.IPv4Address(inner)
            return True
    except ValueError:
        return False
    return _GENERAL_LITERAL.fullmatch(inner) is not None


def parse_mailbox(text: str, *, utf8: bool) -> str:
    """Validate ``Local-part "@" (Domain / address-literal)``; return it unchanged."""
    local_re = _LEX[utf8][0]
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise CommandError(R.BAD_ADDRESS(detail="mailbox must be local-part@domain"))
    if not local_re.fullmatch(local):
        if not utf8 and not text.isascii():
            raise CommandError(R.NON_ASCII_ADDRESS())
        raise CommandError(R.BAD_ADDRESS(detail="invalid local-part"))
    if not is_domain(domain, utf8=utf8):
        if not utf8 and not domain.isascii():
            raise CommandError(R.NON_ASCII_ADDRESS())
        raise CommandError(R.BAD_ADDRESS(detail="invalid domain"))
    if len(local.encode()) > MAX_LOCAL_PART or len(domain.encode()) > MAX_DOMAIN:
        raise CommandError(R.PATH_TOO_LONG())
    return text


def parse_path(text: str, *, utf8: bool, null_ok: bool, postmaster_ok: bool) -> str:
    """RFC 5321 §4.1.2 Path / Reverse-path / Forward-path; returns the mailbox or ""."""
    if len(text.encode()) > MAX_PATH:
        raise CommandError(R.PATH_TOO_LONG())
    if len(text) < 2 or text[0] != "<" or text[-1] != ">":
        raise CommandError(R.BAD_ADDRESS(detail="path must be enclosed in <>"))
    inner = text[1:-1]
    if inner == "":
        if null_ok:
            return ""
        raise CommandError(R.BAD_ADDRESS(detail="the null path is not a recipient"))
    # RFC 5321 §4.1.1.3: RCPT TO:<Postmaster> without a domain MUST be accepted.
    if postmaster_ok and inner.lower() == "postmaster":
        return "postmaster"
    # RFC 5321 §4.1.2 / appendix C: a source route MUST be accepted, SHOULD be ignored.
    if inner.startswith("@"):
        route, colon, inner = inner.partition(":")
        if not colon or not _LEX[utf8][2].fullmatch(route):
            raise CommandError(R.BAD_ADDRESS(detail="invalid source route"))
    return parse_mailbox(inner, utf8=utf8)


def _split_params(words: list[str], *, utf8: bool) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    value_re = _VALUE_U if utf8 else _VALUE
    for word in words:
        key, eq, value = word.partition("=")
        if not _KEYWORD.fullmatch(key) or (eq and not value_re.fullmatch(value)):
            raise _syntax(f"bad parameter {word[:40]!r}")
        key = key.upper()
        given = value if eq else None
        if key in params:
            # RFC 5321 §4.1.2 / RFC 1869 §6 define the parameters as a list of keyword
            # [= value] and say nothing about repeats; the extensions treat them as a set
            # of keywords with one value each. An identical repeat leaves that set as it
            # was (Python's smtplib sends "SMTPUTF8 SMTPUTF8" when the caller already
            # gave SMTPUTF8 for an international message), so it is accepted; a repeat
            # with another value (SIZE=1 SIZE=2) is ambiguous and gets 501.
            if params[key] != given:
                raise _syntax(f"parameter {key} given twice with different values")
            continue
        params[key] = given
    return params


def _xtext(value: str | None, name: str, *, utf8: bool, limit: int = 100) -> str:
    pattern = _XTEXT_U if utf8 else _XTEXT
    if value is None or not pattern.fullmatch(value) or len(value) > limit:
        raise _syntax(f"{name} must be xtext of at most {limit} characters")
    return value


def _split_path(rest: str, prefix: str, relaxed: bool) -> tuple[str, list[str]]:
    if rest[: len(prefix)].upper() != prefix:
        raise _syntax(f"expected {prefix}<path>")
    rest = rest[len(prefix) :]
    if rest.startswith(" ") and relaxed:
        rest = rest.lstrip(" ")
    # The path may hold spaces inside a quoted local part; it ends at the first ">"
    # outside quotes.
    end, quoted, escaped = -1, False, False
    for index, char in enumerate(rest):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            end = index
            break
    if end < 0:
        raise CommandError(R.BAD_ADDRESS(detail="path must be enclosed in <>"))
    path, params = rest[: end + 1], rest[end + 1 :]
    if params and not params.startswith(" "):
        raise _syntax("parameters must follow the path after a space")
    words = params.split(" ")[1:] if params else []
    if any(word == "" for word in words):
        raise _syntax("empty parameter (one space between parameters)")
    return path, words


def parse_mail(rest: str, *, esmtp: bool, utf8_ok: bool, relaxed: bool) -> MailFrom:
    path, words = _split_path(rest, "FROM:", relaxed)
    if words and not esmtp:
        # RFC 5321 §4.1.1.2 / RFC 1869: parameters need an EHLO session.
        raise CommandError(R.PARAM_UNRECOGNIZED(detail="no parameters after HELO"))
    params = _split_params(words, utf8=utf8_ok)
    smtputf8 = "SMTPUTF8" in params
    if smtputf8 and not utf8_ok:
        raise CommandError(R.PARAM_UNRECOGNIZED(detail="SMTPUTF8"))
    if smtputf8 and params["SMTPUTF8"] is not None:
        raise _syntax("SMTPUTF8 takes no value")
    size: int | None = None
    body, ret, envid, auth = "7BIT", None, None, None
    for key, value in params.items():
        if key == "SIZE":  # RFC 1870 §6: size-value ::= 1*20DIGIT
            if value is None or not _DIGITS.fullmatch(value):
                raise _syntax("SIZE=<octets>")
            size = int(value)
        elif key == "BODY":  # RFC 6152 §2
            if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                if value is not None and value.upper() == "BINARYMIME":
                    raise CommandError(R.PARAM_NOT_IMPLEMENTED(detail="BODY=BINARYMIME"))
                raise _syntax("BODY=7BIT or BODY=8BITMIME")
            body = value.upper()
        elif key == "RET":  # RFC 3461 §4.3
            if value is None or value.upper() not in ("FULL", "HDRS"):
                raise _syntax("RET=FULL or RET=HDRS")
            ret = value.upper()
        elif key == "ENVID":  # RFC 3461 §4.4
            envid = _xtext(value, "ENVID", utf8=smtputf8)
        elif key == "AUTH":  # RFC 4954 §5: AUTH=<> or AUTH=xtext
            auth = value if value == "<>" else _xtext(value, "AUTH", utf8=smtputf8, limit=500)
        elif key != "SMTPUTF8":
            raise CommandError(R.PARAM_UNRECOGNIZED(detail=key))
    address = parse_path(path, utf8=smtputf8, null_ok=True, postmaster_ok=False)
    return MailFrom(address, size, body, smtputf8, ret, envid, auth)


def parse_rcpt(rest: str, *, esmtp: bool, smtputf8: bool, relaxed: bool) -> RcptTo:
    path, words = _split_path(rest, "TO:", relaxed)
    if words and not esmtp:
        raise CommandError(R.PARAM_UNRECOGNIZED(detail="no parameters after HELO"))
    params = _split_params(words, utf8=smtputf8)
    notify: frozenset[str] = frozenset()
    orcpt: str | None = None
    for key, value in params.items():
        if key == "NOTIFY":  # RFC 3461 §4.1
            items = (value or "").upper().split(",")
            chosen = frozenset(items)
            if items == ["NEVER"]:
                notify = chosen
            elif not value or len(chosen) != len(items) or not chosen <= NOTIFY_WORDS:
                raise _syntax("NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY")
            else:
                notify = chosen
        elif key == "ORCPT":  # RFC 3461 §4.2: addr-type ";" xtext
            addr_type, semi, text = (value or "").partition(";")
            if not semi or not _ADDR_TYPE.fullmatch(addr_type):
                raise _syntax("ORCPT=addr-type;xtext")
            _xtext(text, "ORCPT", utf8=smtputf8, limit=500)
            orcpt = value
        else:
            raise CommandError(R.PARAM_UNRECOGNIZED(detail=key))
    address = parse_path(path, utf8=smtputf8, null_ok=False, postmaster_ok=True)
    return RcptTo(address, notify, orcpt)


def parse_bdat(rest: str) -> Bdat:
    words = rest.split(" ")
    if not words or not _DIGITS.fullmatch(words[0]) or len(words) > 2:
        raise _syntax("BDAT <size> [LAST]")
    if len(words) == 2 and words[1].upper() != "LAST":
        # RFC 3030 §3: the chunk still follows; skip it to stay in step.
        raise CommandError(R.SYNTAX(detail="BDAT <size> [LAST]"), skip=int(words[0]))
    return Bdat(int(words[0]), len(words) == 2)


def _domain_arg(rest: str, verb: str) -> str:
    if not rest or " " in rest or not is_domain(rest, utf8=not rest.isascii()):
        raise _syntax(f"{verb} <domain or address literal>")
    return rest


def _no_args(command: Command) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        if rest:
            raise _syntax(f"{command.keyword} takes no arguments")
        return command

    return parse


def _required(kind: type[Vrfy] | type[Expn]) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        if not rest:
            raise _syntax(f"{kind.__name__.upper()} <string>")
        return kind(rest)

    return parse


def _auth(rest: str) -> Auth:
    words = rest.split(" ")
    if not rest or len(words) > 2 or not _KEYWORD.fullmatch(words[0]):
        raise _syntax("AUTH <mechanism> [initial-response]")
    return Auth(words[0].upper(), words[1].encode("ascii") if len(words) == 2 else None)


_SIMPLE: dict[str, Callable[[str], Command]] = {
    "HELO": lambda rest: Helo(_domain_arg(rest, "HELO")),
    "EHLO": lambda rest: Ehlo(_domain_arg(rest, "EHLO")),
    "DATA": _no_args(Data()),
    "RSET": _no_args(Rset()),
    "QUIT": _no_args(Quit()),
    "STARTTLS": _no_args(StartTls()),
    "NOOP": lambda rest: Noop(),  # RFC 5321 §4.1.1.9: any argument is ignored
    "VRFY": _required(Vrfy),
    "EXPN": _required(Expn),
    "HELP": lambda rest: Help(rest or None),
    "BDAT": parse_bdat,
    "AUTH": _auth,
}
# RFC 5321 §4.1.1 lists no SEND, SOML, SAML or TURN any more; §7.1 / appendix F.
OBSOLETE = frozenset({"SEND", "SOML", "SAML", "TURN"})


def split_verb(line: bytes) -> tuple[str, str]:
    """The upper-case verb and the rest, decoded (UTF-8 only matters for paths)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _syntax("command line is not UTF-8") from None
    verb, _, rest = text.partition(" ")
    if not verb.isascii() or not verb.isalpha():
        raise CommandError(R.UNRECOGNIZED())
    return verb.upper(), rest


def parse_command(
    line: bytes, *, esmtp: bool, smtputf8: bool, utf8_ok: bool, relaxed: bool = False
) -> Command:
    """Parse one command line. ``esmtp``: the session began with EHLO; ``smtputf8``:
    the current MAIL had SMTPUTF8; ``utf8_ok``: SMTPUTF8 was advertised."""
    verb, rest = split_verb(line)
    if verb == "MAIL":
        return parse_mail(rest, esmtp=esmtp, utf8_ok=utf8_ok, relaxed=relaxed)
    if verb == "RCPT":
        return parse_rcpt(rest, esmtp=esmtp, smtputf8=smtputf8, relaxed=relaxed)
    parse = _SIMPLE.get(verb)
    if parse is not None:
        return parse(rest)
    if verb in OBSOLETE:
        raise CommandError(R.NOT_IMPLEMENTED())
    raise CommandError(R.UNRECOGNIZED())
