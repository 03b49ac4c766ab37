"""Maildir file names: unique base names, the ``:2,<flags>`` info part, S=/W= sizes.

A base name is ``<secs>.M<usecs>P<pid>Q<n>.<host>,S=<file size>,W=<wire size>``: the
classic Maildir form (https://cr.yp.to/proto/maildir.html) with Dovecot's S= (physical)
and W= (virtual, CRLF) size fields, so a reader need not open the file to learn its size.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading

INFO_SEP = ":"
INFO_PREFIX = "2,"
MAX_KEY_LEN = 70  # RFC 1939 §7: a unique-id is 1 to 70 characters in 0x21-0x7E
_counter = itertools.count(1)
_counter_lock = threading.Lock()
_SIZE_RE = re.compile(r",([SW])=(\d+)")


def _safe_host() -> str:
    # The Maildir spec: "/" and ":" in the host name are written as \057 and \072. We go
    # further and keep only 0x21-0x7E so the name can serve as a POP3 unique-id.
    host = os.uname().nodename or "localhost"
    host = host.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")
    return "".join(ch for ch in host if 0x21 <= ord(ch) <= 0x7E and ch != ".") or "localhost"


_HOST = _safe_host()


def unique_base(file_size: int, wire_size: int, now_ns: int) -> str:
    """A fresh base name, unique on this host (time, pid and an in-process counter)."""
    with _counter_lock:
        n = next(_counter)
    secs, rest = divmod(now_ns, 1_000_000_000)
    stem = f"{secs}.M{rest // 1000}P{os.getpid()}Q{n}"
    sizes = f",S={file_size},W={wire_size}"
    room = MAX_KEY_LEN - len(stem) - len(sizes) - 1
    if room < 1:
        # Only with absurd sizes or pids; the host is the part we can shorten safely.
        return f"{stem}.h{sizes}"[:MAX_KEY_LEN]
    return f"{stem}.{_HOST[:room]}{sizes}"


def split_name(filename: str) -> tuple[str, str | None]:
    """Split a Maildir file name into (base, info); info is None without ":2,"."""
    base, sep, info = filename.partition(INFO_SEP)
    if not sep:
        return base, None
    if info.startswith(INFO_PREFIX):
        return base, info[len(INFO_PREFIX) :]
    # An experimental or foreign info ("1,..."): keep the base, ignore the info.
    return base, None


def join_name(base: str, letters: str) -> str:
    """A cur/ file name; the flag letters in ASCII order, as the Maildir spec requires."""
    return f"{base}{INFO_SEP}{INFO_PREFIX}{''.join(sorted(set(letters)))}"


def sizes_from_name(base: str) -> tuple[int | None, int | None]:
    """(S=, W=) from a base name; None where absent."""
    found: dict[str, int] = {}
    for field, value in _SIZE_RE.findall(base):
        found.setdefault(field, int(value))
    return found.get("S"), found.get("W")


def wire_size(data: bytes) -> int:
    """Octets on the wire: every bare LF becomes CRLF (RFC 5321 §2.3.8, RFC 1939 §3)."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def key_for(base: str) -> str:
    """The POP3-safe unique id for a base name.

    Our own names are already 1..70 octets of 0x21-0x7E. A foreign program may write longer
    names or odd characters; such a name maps to a stable digest instead, so UIDL stays
    conformant and still survives restarts (RFC 1939 §7).
    """
    # isascii + isprintable is 0x20-0x7E; excluding space leaves 0x21-0x7E.
    if 0 < len(base) <= MAX_KEY_LEN and base.isascii() and base.isprintable() \
            and " " not in base:
        return base
    digest = hashlib.sha256(os.fsencode(base)).hexdigest()[:40]
    return f"X{digest}"
