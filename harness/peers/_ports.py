"""Free loopback ports, and waiting until a started server answers on one."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterable

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports that were free a moment ago.

    All sockets stay bound until every port is chosen, so the ports are distinct; the
    kernel may still hand one to somebody else before the caller binds it (servers
    such as Postfix and Dovecot cannot be told to bind port 0 and report it).
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = LOOPBACK) -> int:
    return free_ports(1, host)[0]


def read_greeting(host: str, port: int, timeout: float = 2.0) -> bytes:
    """The first line a server sends, or b'' when it closes; raises OSError on refusal."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.split(b"\n", 1)[0]


def wait_for_greeting(
    host: str,
    port: int,
    prefix: bytes,
    *,
    deadline: float,
    alive: Callable[[], bool] | None = None,
    owners: Callable[[], Iterable[int]] | None = None,
) -> bytes:
    """Poll until a connection to host:port is greeted by a line starting with `prefix`.

    A bound listening socket is not enough: Postfix's master and Dovecot bind before the
    process that speaks the protocol exists, so we wait for the protocol's own greeting.
    `alive` lets the caller stop early when the server process already died; with
    `owners`, the listening socket must also belong to one of the pids it returns.
    Raises TimeoutError (with the last error seen) when `deadline` (time.monotonic) passes.
    """
    last: str = "no attempt"
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ChildProcessError(f"server exited before {host}:{port} answered ({last})")
        try:
            remaining = deadline - time.monotonic()
            line = read_greeting(host, port, timeout=max(0.2, min(2.0, remaining)))
            if not line.startswith(prefix):
                last = f"unexpected greeting {line!r}"
            elif owners is not None and not listened_by(host, port, owners()):
                last = f"another process listens on {host}:{port} too"
            else:
                return line
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not greet with {prefix!r} in time ({last})")


def _listening_inodes(host: str, port: int) -> set[str]:
    """Socket inodes listening on host:port (IPv4, Linux /proc/net/tcp)."""
    packed = socket.inet_aton(host)
    local = f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"
    inodes: set[str] = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == local and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    return inodes


def listened_by(host: str, port: int, pids: Iterable[int]) -> bool:
    """Whether `pids` alone hold every socket listening on host:port.

    Ports are chosen before the server binds them; under parallel test runs another
    program may take one first, and a greeting alone would mistake it for ours. "Alone"
    because Postfix programs (smtp-sink among them) bind with SO_REUSEPORT: a second
    sink on a busy port starts fine and the kernel splits connections between the two.
    """
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(host, port)}
    if not wanted:
        return False
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            with contextlib.suppress(OSError):
                wanted.discard(os.readlink(f"{fd_dir}/{name}"))
        if not wanted:
            return True
    return False


def someone_listens(host: str, port: int) -> bool:
    return bool(_listening_inodes(host, port))
