"""File-system primitives: fsync of files and directories, atomic replace, flock locks.

A rename is only durable once the directory holding the new entry is fsync'd (POSIX says
nothing about rename durability; on Linux ext4/xfs the directory fsync is what commits it).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_syncfs = _load_syncfs()


def syncfs_available() -> bool:
    return _syncfs is not None


def sync_filesystem(path: Path) -> None:
    """syncfs(2): commit every dirty file and directory entry of the file system holding
    ``path`` in one call, the way PostgreSQL's ``recovery_init_sync_method=syncfs`` does.

    One journal commit for a whole batch instead of one fsync per file: measured here with
    batches of 25 small files, about twice the files per second at a quarter of the CPU.
    Since Linux 5.8 syncfs reports write-back errors of the file system (EIO, ENOSPC) like
    fsync does.
    """
    if _syncfs is None:
        raise OSError("syncfs(2) is not available on this system")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"syncfs {path}: {os.strerror(error)}")
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, fsync: bool) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never a mix."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


def write_new_file(path: str | Path, data: bytes, *, fsync: bool, mtime_ns: int | None,
                   on_partial: Callable[[], None] | None = None) -> None:
    """Create ``path`` (it must not exist) holding ``data``; fsync it when asked.

    ``on_partial`` runs when half the data is written: crash tests kill the writer there.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        half = len(data) // 2
        _write_all(fd, data[:half])
        if on_partial is not None:
            on_partial()
        _write_all(fd, data[half:])
        if mtime_ns is not None:
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FileLock:
    """An exclusive flock(2) lock on a lock file.

    flock locks belong to the open file description, so two FileLock objects exclude each
    other even inside one process (fcntl/lockf locks would not). Callers that share one
    FileLock between threads must serialise with their own threading lock first.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self, *, shared: bool = False) -> Iterator[None]:
        while True:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            # If the lock file was removed or replaced (its folder deleted and made again
            # by another process), a lock on our old descriptor excludes no one: reopen.
            mine = os.fstat(fd)
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is not None and (current.st_dev, current.st_ino) == (
                    mine.st_dev, mine.st_ino):
                break
            fcntl.flock(fd, fcntl.LOCK_UN)
            self.close()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
