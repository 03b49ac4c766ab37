"""A tiny SMTP server for the load tests: answers 250 to everything, stores each message
in a Maildir, and (when asked) silently drops every Nth message after answering 250, so
the tests can prove that delivery accounting notices; and (when asked) answers every Nth
message's end of data late, a slow server for the pacing tests."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class LossySmtp:
    def __init__(self, maildir: Path, drop_every: int = 0, pipelining: bool = True,
                 slow_every: int = 0, slow_seconds: float = 0.0) -> None:
        self.maildir = maildir
        self.slow_every, self.slow_seconds = slow_every, slow_seconds
        self.drop_every = drop_every
        self.pipelining = pipelining
        self.accepted = 0
        self.dropped: list[int] = []
        self.batched_commands = 0  # MAIL commands that arrived together with RCPT and DATA
        self._lock = threading.Lock()
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)

    def _store(self, message: bytes) -> int:
        with self._lock:
            self.accepted += 1
            number = self.accepted
            if self.drop_every and number % self.drop_every == 0:
                self.dropped.append(number)
                return number
        name = f"{uuid.uuid4().hex}.test"
        tmp = self.maildir / "tmp" / name
        tmp.write_bytes(message)
        os.rename(tmp, self.maildir / "new" / name)
        return number

    def handle(self, conn) -> None:  # type: ignore[no-untyped-def]
        conn.send(b"220 lossy.test ESMTP\r\n")
        while True:
            line = conn.recv_line()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                extra = b"250-PIPELINING\r\n" if self.pipelining else b""
                conn.send(b"250-lossy.test\r\n" + extra + b"250 8BITMIME\r\n")
            elif verb == b"MAIL":
                if b"DATA\r\n" in bytes(conn._pending):
                    self.batched_commands += 1
                conn.send(b"250 ok\r\n")
            elif verb in (b"RCPT", b"RSET", b"HELO", b"NOOP"):
                conn.send(b"250 ok\r\n")
            elif verb == b"DATA":
                conn.send(b"354 go\r\n")
                lines = []
                while (body := conn.recv_line()) not in (b".\r\n", b""):
                    lines.append(body[1:] if body.startswith(b".") else body)
                number = self._store(b"".join(lines))
                if self.slow_every and number % self.slow_every == 0:
                    conn.idle(self.slow_seconds)
                conn.send(b"250 queued\r\n")
            elif verb == b"QUIT":
                conn.send(b"221 bye\r\n")
                return
            else:
                conn.send(b"500 what\r\n")


@pytest.fixture
def lossy_smtp(fake_server, tmp_path: Path) -> Iterator[Callable[..., tuple[LossySmtp, str]]]:  # type: ignore[no-untyped-def]
    def start(drop_every: int = 0, pipelining: bool = True, slow_every: int = 0,
              slow_seconds: float = 0.0) -> tuple[LossySmtp, str]:
        server = LossySmtp(tmp_path / f"Maildir-{uuid.uuid4().hex[:6]}", drop_every, pipelining,
                           slow_every, slow_seconds)
        running = fake_server(server.handle)
        return server, f"smtp://127.0.0.1:{running.port}"

    yield start
