"""What every private peer shares: its base directory, start errors with the log tail,
and the process ids a benchmark samples for CPU time."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self


class PeerStartError(RuntimeError):
    """A peer did not come up in time; the message carries the tail of its log."""

    def __init__(self, what: str, reason: str, log_tail: str = "") -> None:
        message = f"{what} did not start: {reason}"
        if log_tail:
            message += f"\n--- log tail ---\n{log_tail}"
        super().__init__(message)


def log_tail(*paths: Path, lines: int = 40) -> str:
    """The last `lines` lines of whichever of `paths` exist, each under its name."""
    parts: list[str] = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        tail = "\n".join(text.splitlines()[-lines:])
        if tail:
            parts.append(f"[{path}]\n{tail}")
    return "\n".join(parts)


def ensure_traversable(path: Path) -> None:
    """Raise unless unprivileged users can reach `path`.

    Postfix and Dovecot start as root but their daemons run as postfix, dovecot,
    dovenull and the mail user; pytest's tmp_path lives under a 0700 directory that
    they cannot enter, which otherwise fails late with an obscure 'permission denied'.
    """
    path = path.resolve()
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise PermissionError(
                f"{parent} is not traversable by other users (mode "
                f"{stat.filemode(parent.stat().st_mode)}); the daemons of a private peer "
                f"drop root privileges, so use harness.peers.private_base_dir() instead"
            )


@contextlib.contextmanager
def private_base_dir(prefix: str = "mh-peer-") -> Iterator[Path]:
    """A short, world-traversable temporary directory, removed afterwards.

    Short because Unix socket paths are limited to 107 bytes and Dovecot puts its
    sockets under base_dir; world-traversable (0755) for the reason in ensure_traversable.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        path.chmod(0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def user_ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def descendants(pid: int) -> list[int]:
    """`pid` and every live process below it, from /proc (Linux only)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                # The command name may contain spaces and parentheses: split after the last ')'.
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, up to ``timeout`` seconds for an orderly exit, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_remaining(pids: list[int]) -> None:
    """SIGKILL whichever of `pids` are still alive (the last resort of every stop())."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Peer:
    """What every peer shares: a context manager that starts it and always stops it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
