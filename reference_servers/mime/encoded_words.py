"""RFC 2047 encoded words: decoding (lenient, with problems reported) and encoding."""

from __future__ import annotations

import binascii
import codecs
import re

# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="; RFC 2231 §5
# adds an optional "*language" after the charset.
_WORD = re.compile(r"=\?([^?\s*]+)(?:\*([^?\s]*))?\?([bBqQ])\?([^?\s]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_WSP = frozenset(" \t\r\n")


def lookup_charset(name: str) -> str | None:
    """The Python codec for a MIME charset name, or None when Python knows none."""
    try:
        return codecs.lookup(name.strip().lower()).name
    except (LookupError, ValueError):
        return None


def _decode_text(encoding: str, text: str) -> bytes | None:
    raw = text.encode("ascii", "surrogateescape")
    if encoding in "bB":
        raw = raw.rstrip(b"=")
        if len(raw) % 4 == 1:
            return None  # no valid base64 has this length (RFC 4648 §4)
        try:
            return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
        except binascii.Error:
            return None
    # RFC 2047 §4.2: "_" always stands for SPACE (hex 20) in the Q encoding.
    raw = raw.replace(b"_", b" ")
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_words(value: str) -> tuple[str, list[str]]:
    """Decode every encoded word in ``value``; return the text and the problems found.

    Adjacent words with only linear white space between them are joined without it
    (RFC 2047 §6.2); their octets are joined before charset decoding so a character
    split across two words, though forbidden by §5, still comes out whole. A word that
    cannot be decoded is left as it was and reported.
    """
    problems: list[str] = []
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending and pending_charset is not None:
            out.append(b"".join(pending).decode(pending_charset, "replace"))
        pending.clear()
        pending_charset = None

    for m in _WORD.finditer(value):
        gap = value[pos : m.start()]
        joinable = pending and not (set(gap) - _WSP)
        if not joinable:
            flush()
            out.append(gap)
        word = m.group(0)
        if len(word) > 75:  # RFC 2047 §2
            problems.append(f"encoded word longer than 75 characters: {word[:30]}...")
        codec = lookup_charset(m.group(1))
        decoded = _decode_text(m.group(3), m.group(4)) if codec else None
        if codec is None:
            problems.append(f"unknown charset {m.group(1)!r} in encoded word")
        elif decoded is None:
            problems.append(f"undecodable encoded text in {word[:40]!r}")
        if codec is None or decoded is None:
            flush()
            out.append(word)
        else:
            if pending_charset not in (None, codec):
                flush()
            pending.append(decoded)
            pending_charset = codec
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out), problems


def has_malformed_word(value: str) -> bool:
    """True when ``=?`` starts something that is not a well-formed encoded word."""
    idx = value.find("=?")
    while idx >= 0:
        m = _WORD.match(value, idx)
        if m is None:
            return True
        idx = value.find("=?", m.end())  # "==?=" at the end of a B word is not a new one
    return False


def encode_words(text: str, charset: str = "utf-8", encoding: str = "B") -> str:
    """Encode ``text`` as encoded words of at most 75 characters each (RFC 2047 §2),
    never splitting a character between two words (§5)."""
    prefix = f"=?{charset}?{encoding}?"
    room = 75 - len(prefix) - 2
    words: list[str] = []
    chunk = ""
    for ch in text:
        candidate = chunk + ch
        if len(_encode_chunk(candidate, charset, encoding)) > room and chunk:
            words.append(prefix + _encode_chunk(chunk, charset, encoding) + "?=")
            chunk = ch
        else:
            chunk = candidate
    if chunk or not words:
        words.append(prefix + _encode_chunk(chunk, charset, encoding) + "?=")
    return " ".join(words)


def _encode_chunk(chunk: str, charset: str, encoding: str) -> str:
    data = chunk.encode(charset)
    if encoding.upper() == "B":
        return binascii.b2a_base64(data, newline=False).decode("ascii")
    out = []
    for byte in data:
        # RFC 2047 §5(3): in a phrase only letters, digits and !*+-/ may stay literal.
        if (chr(byte).isalnum() and byte < 128) or chr(byte) in "!*+-/":
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return "".join(out)
