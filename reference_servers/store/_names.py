"""User and folder names: validation, and the mapping to Maildir++ directory names.

A folder name is IMAP-style with "/" as the hierarchy separator ("Lists/ietf"); on disk it
is the Maildir++ directory ".Lists.ietf" under the user's Maildir. Components are written in
IMAP modified UTF-7 (RFC 3501 §5.1.3), as Dovecot does, so directory names are plain ASCII;
a "." inside a component (the on-disk separator) is written as its base64 form "&AC4-".

Every name that comes from a client passes through here before it touches the file system:
nothing may name a path outside the user's directory.
"""

from __future__ import annotations

import base64
import re

from ._errors import InvalidMailboxName

INBOX = "INBOX"
SEPARATOR = "/"
MAX_COMPONENTS = 32
# NAME_MAX on Linux: the whole Maildir++ directory name must fit in one path component.
MAX_DIRNAME_BYTES = 255
MAX_USER_LEN = 64

_USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]*\Z")
# IMAP LIST wildcards inside a name would make LIST patterns ambiguous (RFC 3501 §6.3.8).
_REFUSED_CHARS = frozenset("*%")


def validate_user(user: str) -> str:
    """Return ``user`` if it is a safe directory name, else raise InvalidMailboxName."""
    if not isinstance(user, str) or not user:
        raise InvalidMailboxName("user name is empty")
    if len(user) > MAX_USER_LEN:
        raise InvalidMailboxName(f"user name longer than {MAX_USER_LEN} characters")
    if not _USER_RE.match(user) or ".." in user:
        raise InvalidMailboxName(
            f"user name {user!r} refused: only letters, digits and . _ + @ - are allowed, "
            "starting with a letter or digit, and no '..'"
        )
    return user


def normalize_folder(name: str) -> str:
    """Validate an IMAP-style folder name and return its canonical form.

    "INBOX" is case-insensitive (RFC 3501 §5.1), also as the first component of a child.
    """
    if not isinstance(name, str):
        raise InvalidMailboxName("folder name must be a string")
    if not name:
        raise InvalidMailboxName("folder name is empty")
    if name.startswith(SEPARATOR):
        raise InvalidMailboxName(f"folder name {name!r} refused: absolute names are not allowed")
    parts = name.split(SEPARATOR)
    if len(parts) > MAX_COMPONENTS:
        raise InvalidMailboxName(f"folder name refused: more than {MAX_COMPONENTS} levels")
    for part in parts:
        _check_component(name, part)
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    canonical = SEPARATOR.join(parts)
    if len(folder_dirname(canonical).encode("ascii")) > MAX_DIRNAME_BYTES:
        raise InvalidMailboxName("folder name refused: too long")
    return canonical


def _check_component(name: str, part: str) -> None:
    if not part:
        raise InvalidMailboxName(
            f"folder name {name!r} refused: empty hierarchy level (leading, trailing or '//')"
        )
    if part in (".", ".."):
        raise InvalidMailboxName(f"folder name {name!r} refused: '.' and '..' are not allowed")
    for ch in part:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            raise InvalidMailboxName(
                f"folder name {name!r} refused: control character U+{code:04X}"
            )
        if ch in _REFUSED_CHARS:
            raise InvalidMailboxName(f"folder name {name!r} refused: wildcard {ch!r}")
        if 0xD800 <= code <= 0xDFFF:
            raise InvalidMailboxName(f"folder name {name!r} refused: lone surrogate")


def folder_dirname(canonical: str) -> str:
    """The Maildir++ directory name for a canonical folder name ("" for INBOX itself)."""
    if canonical == INBOX:
        return ""
    return "." + ".".join(mutf7_encode(part, escape_dot=True) for part in canonical.split("/"))


def folder_from_dirname(dirname: str) -> str | None:
    """The folder name for a Maildir++ directory name, or None if it is not one of ours."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    parts = dirname[1:].split(".")
    try:
        decoded = [mutf7_decode(part) for part in parts]
        return normalize_folder(SEPARATOR.join(decoded))
    except (InvalidMailboxName, ValueError):
        return None


def mutf7_encode(text: str, *, escape_dot: bool = False) -> str:
    """IMAP modified UTF-7 (RFC 3501 §5.1.3); ``escape_dot`` also base64-encodes ".".

    Encoding "." is outside RFC 3501's canonical form, but only this module reads it back.
    """
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ","))
            out.append("-")
            pending.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E and not (escape_dot and ch == "."):
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(text: str) -> str:
    """Decode IMAP modified UTF-7; raises ValueError on malformed input."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "&":
            if not 0x20 <= ord(ch) <= 0x7E:
                raise ValueError(f"non-ASCII character in modified UTF-7: {ch!r}")
            out.append(ch)
            i += 1
            continue
        end = text.find("-", i + 1)
        if end < 0:
            raise ValueError("unterminated base64 run in modified UTF-7")
        chunk = text[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
            raw = base64.b64decode(padded, validate=True)
            if len(raw) % 2:
                raise ValueError("odd number of octets in modified UTF-7 run")
            out.append(raw.decode("utf-16-be"))
        i = end + 1
    return "".join(out)
