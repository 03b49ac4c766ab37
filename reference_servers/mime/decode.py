"""Content-Transfer-Encodings (RFC 2045 §6): decoding, encoding and strict checks."""

from __future__ import annotations

import binascii
import re

from ._model import MessagePart
from .encoded_words import lookup_charset

IDENTITY = frozenset({"7bit", "8bit", "binary"})
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]+")
_B64_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_QP_TRAILING_WS = re.compile(rb"[ \t]+(?=\r?\n|\Z)")
_EIGHT_BIT = re.compile(rb"[\x80-\xff]")
_QP_BAD_ESCAPE = re.compile(rb"=(?![0-9A-F]{2}|\r?\n|\Z)")


class UnknownCTE(ValueError):
    """The body's transfer encoding is not one this library can remove (RFC 3516 §4.3:
    the IMAP server answers BINARY with [UNKNOWN-CTE])."""

    def __init__(self, cte: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding {cte!r}")
        self.cte = cte


def decode_base64(raw: bytes) -> bytes:
    """Decode leniently: RFC 2045 §6.8 says characters outside the alphabet "must be
    ignored"; a truncated final quantum is completed rather than dropped."""
    try:
        return binascii.a2b_base64(raw)
    except binascii.Error:
        pass
    clean = _B64_JUNK.sub(b"", raw)
    data = clean.rstrip(b"=").replace(b"=", b"")
    if len(data) % 4 == 1:
        data = data[:-1]  # a lone sextet carries no whole octet
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def decode_qp(raw: bytes) -> bytes:
    # RFC 2045 §6.7 (3): trailing white space on a line was added in transport and must
    # be deleted when decoding (the stdlib keeps it).
    if b" \n" in raw or b"\t\n" in raw or b" \r" in raw or b"\t\r" in raw or raw[-1:] in b" \t":
        raw = _QP_TRAILING_WS.sub(b"", raw)
    return binascii.a2b_qp(raw)


def decode_body(raw: bytes, cte: str) -> bytes:
    """Remove a transfer encoding; raises :class:`UnknownCTE` for one not in RFC 2045."""
    cte = cte.lower()
    if cte in IDENTITY:
        return raw
    if cte == "base64":
        return decode_base64(raw)
    if cte == "quoted-printable":
        return decode_qp(raw)
    raise UnknownCTE(cte)


def decoded_payload(part: MessagePart) -> bytes:
    """The body of a leaf part with its transfer encoding removed; an unknown encoding
    leaves the octets as they are (use :func:`decode_body` to be told)."""
    try:
        return decode_body(part.body, part.cte)
    except UnknownCTE:
        return part.body


def charset_of(part: MessagePart) -> str:
    """The Python codec for the part's charset; us-ascii by default (RFC 2046 §4.1.2)."""
    name = part.content_type.param("charset") or "us-ascii"
    return lookup_charset(name) or "utf-8"


def text_content(part: MessagePart) -> str:
    """The decoded text of a text/* part; octets the charset cannot map are replaced."""
    return decoded_payload(part).decode(charset_of(part), "replace")


# -- encoding (for the generator) ---------------------------------------------------
def encode_base64(data: bytes, eol: bytes = b"\r\n") -> bytes:
    """Base64 in lines of 76 characters (RFC 2045 §6.8)."""
    enc = binascii.b2a_base64(data, newline=False)
    return b"".join(enc[i : i + 76] + eol for i in range(0, len(enc), 76))


def encode_qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF line breaks kept as hard breaks (RFC 2045 §6.7)."""
    return binascii.b2a_qp(data, istext=True)


# -- strict checks (for the validator) ------------------------------------------------
def base64_problems(raw: bytes) -> list[tuple[int, str]]:
    """Why ``raw`` is not base64 as RFC 2045 §6.8 writes it: (0-based line, reason)."""
    problems: list[tuple[int, str]] = []
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    total = 0
    for n, line in enumerate(lines):
        if not _B64_LINE.fullmatch(line):
            problems.append((n, "characters outside the base64 alphabet"))
            break
        if len(line) > 76:
            problems.append((n, "line longer than 76 characters"))
            break
        total += len(line)
    body = b"".join(lines)
    if b"=" in body.rstrip(b"="):
        problems.append((0, "padding '=' before the end of the data"))
    elif total % 4:
        problems.append((0, "data length is not a multiple of 4"))
    return problems


def qp_problems(raw: bytes) -> list[tuple[int, str]]:
    """Why ``raw`` is not quoted-printable as RFC 2045 §6.7 writes it: (0-based line,
    reason); the first bad line only."""
    for n, line in enumerate(raw.replace(b"\r\n", b"\n").split(b"\n")):
        if len(line) > 76:
            return [(n, "line longer than 76 characters (rule 5)")]
        if _QP_BAD_ESCAPE.search(line):
            return [(n, "'=' not followed by two upper-case hex digits (rule 1)")]
        if _EIGHT_BIT.search(line):
            return [(n, "8-bit octet not encoded (rule 2)")]
    return []
