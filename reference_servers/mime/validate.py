"""Check a parsed message against RFC 2045-2049, 2047, 2231, 2183 and 5322.

Parse-time defects (recorded on the parts) and the checks here come out as one list of
:class:`Violation`, each with its rule, RFC section, part path and line.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from dataclasses import dataclass

from ._model import MessagePart
from .addresses import parse_address_list
from .decode import base64_problems, qp_problems
from .encoded_words import decode_words, has_malformed_word
from .rules import RULES, Severity

_LONG_LINE = re.compile(rb"[^\n]{999,}")
_BARE_EOL = re.compile(rb"(?<!\r)\n|\r(?!\n)")
_NOT_7BIT = re.compile(rb"[\x00\x80-\xff]")
# RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# RFC 5322 §3.3 date-time, comments after the zone allowed by the trailing CFWS.
_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s*,\s*)?(\d{1,2})\s+"
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(\d{4,})\s+"
    r"(\d\d):(\d\d)(?::(\d\d))?\s+([+-]\d{4})(?:\s*\([^)]*\))*\s*"
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# RFC 5322 §3.6: at most one of each of these in a message header.
_ONCE = (
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "message-id",
    "in-reply-to",
    "references",
    "subject",
)
_ADDRESS_FIELDS = (
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
)
_KNOWN_CTE = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    rfc: str
    severity: Severity
    path: str  # IMAP part number, "" for the top-level message
    line: int  # 1-based line in the original bytes
    message: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "rule": self.rule,
            "rfc": self.rfc,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.line,
            "message": self.message,
        }


class _Report:
    def __init__(self, root: MessagePart) -> None:
        self.data = root.data
        self.items: list[Violation] = []

    def add(self, rule: str, part: MessagePart, offset: int, message: str, lines: int = 0) -> None:
        r = RULES[rule]
        line = self.data.count(b"\n", 0, offset) + 1 + lines
        self.items.append(Violation(rule, r.rfc, r.severity, part.path, line, message))


def validate(root: MessagePart) -> list[Violation]:
    """Every violation found in the message, in the order of the parts."""
    report = _Report(root)
    _whole(root, report)
    if not root.header("mime-version") and any(
        h.key in ("content-type", "content-transfer-encoding") for h in root.headers
    ):
        # RFC 2045 §4: MIME messages MUST carry MIME-Version at the top level.
        report.add("mime-version-missing", root, root.start, "MIME-Version: 1.0 is required")
    _message_fields(root, report)
    _walk(root, report, [])
    report.items.sort(key=lambda v: v.line)
    return report.items


def _part_at(root: MessagePart, offset: int) -> MessagePart:
    node = root
    while True:
        nxt = node.message if node.message is not None else None
        for c in node.children:
            if c.start <= offset < c.end:
                nxt = c
        if nxt is None or not (nxt.start <= offset < max(nxt.end, nxt.start + 1)):
            return node
        node = nxt


def _whole(root: MessagePart, report: _Report) -> None:
    for m in _LONG_LINE.finditer(root.data):
        length = len(m.group(0).rstrip(b"\r"))
        if length > 998:
            report.add(
                "line-too-long", _part_at(root, m.start()), m.start(), f"line of {length} octets"
            )
    bare = _BARE_EOL.findall(root.data)
    if bare:
        first = _BARE_EOL.search(root.data)
        assert first is not None
        report.add(
            "bare-line-ending",
            _part_at(root, first.start()),
            first.start(),
            f"{len(bare)} bare CR or LF (first shown)",
        )


def _walk(part: MessagePart, report: _Report, boundaries: list[str]) -> None:
    for d in part.defects:
        report.add(d.rule, part, d.offset, d.detail)
    _headers(part, report)
    if part.is_message and part.path:
        _message_fields(part, report, top=False)
    if part.is_multipart:
        b = part.content_type.param("boundary")
        if b:
            if not _BOUNDARY.fullmatch(b):
                report.add("boundary-syntax", part, part.start, f"boundary {b!r}")
            for outer in boundaries:
                if b.startswith(outer) or outer.startswith(b):
                    report.add(
                        "boundary-not-unique", part, part.start, f"{b!r} nested in {outer!r}"
                    )
            boundaries = [*boundaries, b]
        for c in part.children:
            _walk(c, report, boundaries)
        return
    if part.message is not None:
        _walk(part.message, report, boundaries)
        return
    _body(part, report)


def _body(part: MessagePart, report: _Report) -> None:
    cte = part.cte
    if cte not in _KNOWN_CTE:
        report.add("cte-unknown", part, part.start, f"Content-Transfer-Encoding {cte!r}")
        return
    body = part.body
    if cte == "7bit":
        m = _NOT_7BIT.search(body)
        if m:
            # RFC 2045 §2.7: 7bit data has no octet over 127 and no NUL.
            report.add(
                "8bit-in-7bit",
                part,
                part.body_start + m.start(),
                f"octet 0x{body[m.start()]:02x} in a 7bit body",
            )
    elif cte == "base64":
        for n, p in base64_problems(body):
            report.add("base64-invalid", part, part.body_start, p, lines=n)
    elif cte == "quoted-printable":
        for n, p in qp_problems(body):
            report.add("qp-invalid", part, part.body_start, p, lines=n)


def _headers(part: MessagePart, report: _Report) -> None:
    for h in part.headers:
        if "=?" not in h.text:
            continue
        problems = decode_words(h.text)[1]
        if has_malformed_word(h.text):
            problems.append("'=?' that does not start a well-formed encoded word")
        for p in problems:
            report.add("encoded-word-malformed", part, h.offset, f"{h.name}: {p}")


def _message_fields(msg: MessagePart, report: _Report, top: bool = True) -> None:
    if not top:
        return  # RFC 2046 §5.2.1 relaxes RFC 822's required fields inside message/rfc822
    for key in _ONCE:
        found = msg.header_all(key)
        if len(found) > 1:
            report.add("header-duplicate", msg, found[1].offset, f"{found[1].name} repeated")
    date = msg.header("date")
    if date is None:
        report.add("date-missing", msg, msg.start, "an origination date is required")
    else:
        _date(msg, date.text, date.offset, report)
    sender = msg.header("from")
    if sender is None:
        report.add("from-missing", msg, msg.start, "an originator is required")
    else:
        parsed = parse_address_list(sender.text)
        if parsed.problems or not parsed.items:
            report.add(
                "from-malformed", msg, sender.offset, "; ".join(parsed.problems) or "no mailbox"
            )
        for o in parsed.obsolete:
            report.add("address-obsolete", msg, sender.offset, f"From: {o}")
    for h in msg.headers:
        if h.key in _ADDRESS_FIELDS:
            parsed = parse_address_list(h.text)
            for p in parsed.problems:
                report.add("address-malformed", msg, h.offset, f"{h.name}: {p}")
            for o in parsed.obsolete:
                report.add("address-obsolete", msg, h.offset, f"{h.name}: {o}")


def _date(msg: MessagePart, value: str, offset: int, report: _Report) -> None:
    m = _DATE.fullmatch(value.strip())
    if m is not None:
        day, month, year, hh, mm, ss, _zone = m.groups()
        try:
            dt.datetime(
                int(year),
                _MONTHS.index(month) + 1,
                int(day),
                int(hh),
                int(mm),
                min(int(ss or 0), 59),
            )
        except ValueError:
            report.add("date-malformed", msg, offset, f"impossible date {value!r}")
        return
    if email.utils.parsedate_tz(value) is not None:
        report.add("date-obsolete", msg, offset, f"Date {value!r}")
    else:
        report.add("date-malformed", msg, offset, f"Date {value!r}")
