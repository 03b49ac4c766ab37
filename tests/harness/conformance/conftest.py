"""Scripted servers and paths shared by the conformance tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import FakeConnection, FakeServer

DATA = Path(__file__).parent / "data"
SPECS = DATA / "specs"


def picky_smtp(conn: FakeConnection) -> None:
    """An SMTP server that gets NOOP wrong (502), with markup and 8-bit bytes in the text."""
    conn.send(b"220 picky.example.test ESMTP\r\n")
    while True:
        line = conn.recv_line()
        if not line:
            return
        verb = line[:4].upper()
        if verb == b"EHLO":
            conn.send(b"250-picky.example.test\r\n250 PIPELINING\r\n")
        elif verb == b"NOOP":
            conn.send(b"502 5.5.1 [bold]no[/bold] <script>\xff\r\n")
        elif verb in (b"RSET", b"MAIL", b"RCPT"):
            conn.send(b"250 2.0.0 fine\r\n")
        elif verb == b"QUIT":
            conn.send(b"221 2.0.0 bye\r\n")
            return
        else:
            conn.send(b"500 5.5.2 what\r\n")


@pytest.fixture
def picky_server(fake_server: Callable[..., FakeServer]) -> FakeServer:
    return fake_server(picky_smtp)


class SlowGreeter:
    """Greets after ``delay`` seconds; records how many connections were open at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.open = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, conn: FakeConnection) -> None:
        with self._lock:
            self.open += 1
            self.peak = max(self.peak, self.open)
        closed = False
        try:
            time.sleep(self.delay)
            conn.send(b"220 slow.example.test\r\n")
            while (line := conn.recv_line()) and not line.upper().startswith(b"QUIT"):
                conn.send(b"250 ok\r\n")
            # The session ends for the client when it reads 221, so it stops counting as open
            # before that reply: otherwise the next case's connection can be accepted before
            # this thread gets back to decrement, and the count sees an overlap that never was.
            self._close()
            closed = True
            conn.send(b"221 bye\r\n")
        finally:
            if not closed:
                self._close()

    def _close(self) -> None:
        with self._lock:
            self.open -= 1


class LockingPop3:
    """A POP3 server that, like RFC 1939 §4 asks, locks a maildrop per user: it records any
    moment two sessions of one user are logged in at once."""

    def __init__(self) -> None:
        self.active: dict[bytes, int] = {}
        self.collisions = 0
        self.logins: list[bytes] = []
        self._lock = threading.Lock()

    def __call__(self, conn: FakeConnection) -> None:
        conn.send(b"+OK ready\r\n")
        user = b""
        held = None
        try:
            while line := conn.recv_line():
                verb, _, arg = line.strip().partition(b" ")
                verb = verb.upper()
                if verb == b"USER":
                    user = arg
                    conn.send(b"+OK\r\n")
                elif verb == b"PASS":
                    with self._lock:
                        self.logins.append(user)
                        if self.active.get(user):
                            self.collisions += 1
                        self.active[user] = self.active.get(user, 0) + 1
                        held = user
                    time.sleep(0.05)  # hold the lock long enough for a collision to show
                    conn.send(b"+OK locked\r\n")
                elif verb == b"CAPA":
                    conn.send(b"+OK\r\nUSER\r\n.\r\n")
                elif verb == b"QUIT":
                    # Unlock before the reply, as a real server does (RFC 1939 §6): the client
                    # may log in again the moment it reads +OK.
                    self._release(held)
                    held = None
                    conn.send(b"+OK bye\r\n")
                    return
                else:
                    conn.send(b"+OK 0 0\r\n")
        finally:
            self._release(held)

    def _release(self, user: bytes | None) -> None:
        if user is not None:
            with self._lock:
                self.active[user] -= 1
