"""Reading a Maildir folder's directories: which messages exist, and facts about new ones."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ._filenames import sizes_from_name, split_name, wire_size

SUBDIRS = ("new", "cur")

# base name -> (subdir, file name)
Listing = dict[str, tuple[str, str]]


def scan(folder: Path) -> Listing:
    """List new/ then cur/.

    new/ first: a reader moving a message new/ -> cur/ while we list is then seen in one of
    the two (if it left new/ before we listed new/, it is in cur/ by the time we list cur/).
    """
    found: Listing = {}
    for sub in SUBDIRS:
        with os.scandir(folder / sub) as entries:
            for entry in entries:
                # Dot files are other programs' temporaries; symlinks could point outside
                # the user's directory, so only regular files count as messages.
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                base, _ = split_name(entry.name)
                if base:
                    found[base] = (sub, entry.name)
    return found


def measure(path: Path, base: str) -> tuple[int, int] | None:
    """(wire size, mtime ns) for a file we have no record of; None if it vanished.

    The wire size comes from a W= field when the writer left one; otherwise we read the
    file once and count bare LFs (a file written by another program may use LF endings).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    _, w_size = sizes_from_name(base)
    if w_size is not None:
        return w_size, st.st_mtime_ns
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return wire_size(b"".join(chunks)), st.st_mtime_ns
