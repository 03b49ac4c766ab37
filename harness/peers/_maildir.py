"""Just enough Maildir for the peers and their tests: create, deliver, count, wait.

Independent of reference_servers.store on purpose: the harness must never share code
with the servers it checks (see DESIGN.md).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path

SUBDIRS = ("tmp", "new", "cur")


def make_maildir(path: Path, uid: int | None = None, gid: int | None = None) -> Path:
    """Create path/{tmp,new,cur} (and parents), owned by uid:gid when given."""
    for sub in SUBDIRS:
        (path / sub).mkdir(parents=True, exist_ok=True)
    if uid is not None and gid is not None:
        for target in (path, *(path / sub for sub in SUBDIRS)):
            os.chown(target, uid, gid)
    return path


def unique_name() -> str:
    return f"{time.time_ns()}.{uuid.uuid4().hex}.{socket.gethostname()}"


def deliver_durably(maildir: Path, message: bytes, subdir: str = "new", info: str = "") -> Path:
    """The Maildir protocol with the fsyncs that make it survive a crash.

    Write under tmp/, fsync the file, rename into new/ (or cur/), fsync the directory so
    the rename itself is on disk: only then may an SMTP server answer 250.
    """
    name = unique_name()
    tmp_path = maildir / "tmp" / name
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(message)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    final = maildir / subdir / (name + info)
    os.rename(tmp_path, final)
    dir_fd = os.open(maildir / subdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return final


def message_files(maildir: Path) -> list[Path]:
    """Delivered messages (new/ and cur/), oldest name first."""
    files: list[Path] = []
    for sub in ("new", "cur"):
        directory = maildir / sub
        if directory.is_dir():
            files.extend(p for p in directory.iterdir() if not p.name.startswith("."))
    return sorted(files, key=lambda p: p.name)


def wait_for_messages(maildir: Path, count: int, timeout: float) -> list[Path]:
    """Poll until at least `count` messages are in the Maildir; raise TimeoutError if not."""
    deadline = time.monotonic() + timeout
    while True:
        files = message_files(maildir)
        if len(files) >= count or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if len(files) < count:
        raise TimeoutError(f"{maildir}: {len(files)} of {count} messages after {timeout} s")
    return files
