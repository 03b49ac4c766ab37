"""IMAP string syntax for the views (RFC 3501 §4.3, §9; RFC 9051 §4.3)."""

from __future__ import annotations

import re

# QUOTED-CHAR excludes CR, LF and NUL, and 8-bit octets outside UTF8=ACCEPT; those need
# a literal (RFC 3501 §4.3, §9 "quoted", RFC 9051 §9).
_NEEDS_LITERAL = re.compile(rb"[\x00\r\n\x80-\xff]")

NIL = b"NIL"


def string(value: bytes) -> bytes:
    if _NEEDS_LITERAL.search(value):
        return b"{%d}\r\n%s" % (len(value), value)
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def nstring(value: bytes | None) -> bytes:
    return NIL if value is None else string(value)


def plist(items: list[bytes]) -> bytes:
    return b"(" + b" ".join(items) + b")"
