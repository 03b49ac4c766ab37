"""POP3 worker processes on one port (reference_servers/workers.py): sessions spread over
the processes, the maildrop lock holds across them (RFC 1939 §8), and stopping the
server stops every worker."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest

from reference_servers.embedded import LISTENERS, EmbeddedThread, ServeConfig
from reference_servers.pop3.policy import PolicyError, Pop3Policy
from tests import loopback

_PID = re.compile(rb"<(\d+)\.")  # the APOP timestamp names the serving process (RFC 1939 §7)


def _connect(port: int) -> tuple[socket.socket, int]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    greeting = b""
    while not greeting.endswith(b"\r\n"):
        greeting += sock.recv(1000)
    match = _PID.search(greeting)
    assert greeting.startswith(b"+OK") and match, greeting
    return sock, int(match.group(1))


def _command(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += sock.recv(1000)
    return reply


def _pop3_only(tmp_path: Path, **settings: object) -> ServeConfig:
    """Only the POP3 listener, on a free port, with these POP3 settings."""
    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports["pop3"] = 0
    return ServeConfig(data_dir=tmp_path / "data", ports=ports, settings={"pop3": settings})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_share_the_port_and_the_maildrop_lock(tmp_path: Path) -> None:
    with EmbeddedThread(_pop3_only(tmp_path, workers=2, auth_failure_delay=0)) as thread:
        assert thread.servers is not None
        port = thread.servers.port("pop3")
        assert port
        thread.servers.ctx.store.deliver("alice", b"Subject: hi\r\n\r\nbody\r\n")
        by_pid: dict[int, socket.socket] = {}
        extra: list[socket.socket] = []
        for _ in range(64):  # the kernel hashes each connection to one of the listeners
            sock, pid = _connect(port)
            if pid in by_pid:
                extra.append(sock)
            else:
                by_pid[pid] = sock
            if len(by_pid) == 2:
                break
        assert len(by_pid) == 2, "every session landed in one process"
        assert os.getpid() in by_pid
        first, second = by_pid.values()
        assert _command(first, b"USER alice").startswith(b"+OK")
        assert _command(first, b"PASS secret").startswith(b"+OK")
        # Another process holds alice's maildrop: the flock'd lock file says so.
        assert _command(second, b"USER alice").startswith(b"+OK")
        assert _command(second, b"PASS secret").startswith(b"-ERR [IN-USE]")
        assert _command(first, b"RETR 1").startswith(b"+OK")
        assert _command(first, b"QUIT").startswith(b"+OK")
        for sock in [*by_pid.values(), *extra]:
            sock.close()
        # Released by QUIT in one process, the lock is free for the other.
        sock, _ = _connect(port)
        assert _command(sock, b"USER alice").startswith(b"+OK")
        assert _command(sock, b"PASS secret").startswith(b"+OK")
        sock.close()
        workers = [pid for pid in by_pid if pid != os.getpid()]
    assert workers and not any(_alive(pid) for pid in workers)


def test_workers_setting_is_bounded() -> None:
    assert Pop3Policy.from_settings({"workers": 4}).workers == 4
    for bad in (0, 65):
        with pytest.raises(PolicyError):
            Pop3Policy.from_settings({"workers": bad})


def test_the_connection_limit_holds_across_the_workers(tmp_path: Path) -> None:
    with EmbeddedThread(_pop3_only(tmp_path, workers=2, max_connections=3)) as thread:
        assert thread.servers is not None
        port = thread.servers.port("pop3")
        assert port is not None
        held = [_connect(port) for _ in range(3)]
        try:
            # However the kernel spread the three, the listener is full in every process.
            for _ in range(4):
                assert loopback.greeting(port).startswith(b"-ERR [SYS/TEMP]")
        finally:
            for sock, _pid in held:
                sock.close()
        deadline = time.monotonic() + 5
        # Once the server has seen them close, sessions are admitted again.
        while not (first := loopback.greeting(port)).startswith(b"+OK") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.startswith(b"+OK"), first
