"""The server's fast paths: gathered pipelined replies, one-read RETR, cached status lines.

A maildrop of LF-stored files (as other programs write Maildir) of up to a few hundred
KB with dot lines, fetched with everything pipelined in one write, read slowly so the
server's gathering, write buffer limits and back-pressure all come into play; every
reply must still be in order and every body exactly the stuffed CRLF form of its file.
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path
from typing import Any

from reference_servers.pop3._replies import R, Reply
from reference_servers.pop3.maildrop import Maildrop
from reference_servers.store import Store
from reference_servers.wire import dot_stuff, dot_unstuff, to_crlf

from .test_pop3_interop import _data_dir, _raw


def _message(rng: random.Random, index: int, size: int) -> bytes:
    lines = [b"Subject: bulk %d\n\n" % index]
    total = len(lines[0])
    while total < size:
        line = b"x" * rng.randint(0, 90)
        if rng.random() < 0.1:
            line = b"." + line  # stuffed on the wire
        lines.append(line + b"\n")
        total += len(line) + 1
    return b"".join(lines)


def _write_maildir(maildir: Path, messages: list[bytes]) -> None:
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(messages):
        (maildir / "new" / f"1700000000.M{index}P1.bulk").write_bytes(data)


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> None:
        time.sleep(0.001)  # a slow client: the server's write buffer fills up
        chunk = self.sock.recv(16384)
        assert chunk, "server closed the connection"
        self.buf += chunk

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def body(self) -> bytes:
        """A multi-line body, unstuffed, with the CRLF of its last line."""
        if self.buf.startswith(b".\r\n"):
            self.buf = self.buf[3:]
            return b""
        while (end := self.buf.find(b"\r\n.\r\n")) < 0:
            self._fill()
        body, self.buf = self.buf[: end + 2], self.buf[end + 5 :]
        return dot_unstuff(body)


def test_bulk_pipelined_retrieval_is_exact_and_in_order(pop3_server: Any) -> None:
    rng = random.Random(1939)
    sizes = [0, 1, 40, *(rng.randint(1, 60_000) for _ in range(40)), 300_000, 700_000]
    messages = [_message(rng, i, size) for i, size in enumerate(sizes)]
    _write_maildir(_data_dir(pop3_server) / "mail" / "bob" / "Maildir", messages)
    count = len(messages)
    sock = _raw(pop3_server)
    sock.sendall(b"USER bob\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nBOGUS\r\n"
                 + b"".join(b"RETR %d\r\n" % n for n in range(1, count + 1))
                 + b"RETR %d\r\nLIST 1\r\nQUIT\r\n" % (count + 1))
    reader = _Reader(sock)
    assert reader.line().startswith(b"+OK")  # USER
    assert reader.line().startswith(b"+OK")  # PASS
    stat = reader.line().split()
    assert stat[:2] == [b"+OK", str(count).encode()]
    assert reader.line().startswith(b"+OK")  # LIST
    sizes_listed = [int(line.split()[1]) for line in reader.body().splitlines()]
    assert len(sizes_listed) == count and sum(sizes_listed) == int(stat[2])
    assert reader.line().startswith(b"+OK")  # UIDL
    assert len(reader.body().splitlines()) == count
    assert reader.line().startswith(b"-ERR unknown command BOGUS")
    for number, data in enumerate(messages, 1):
        # RFC 1939 §11: the octet count is what RETR sends (CRLF, before stuffing).
        assert reader.line() == b"+OK %d octets" % sizes_listed[number - 1]
        body = reader.body()
        assert body == (to_crlf(data) + b"\r\n" if data and not data.endswith(b"\n")
                        else to_crlf(data))
        assert len(body) == sizes_listed[number - 1]
    assert reader.line().startswith(b"-ERR no such message")
    assert reader.line() == b"+OK 1 %d" % sizes_listed[0]
    assert reader.line().startswith(b"+OK bye")
    sock.close()


def test_retrieve_reads_to_the_end_of_a_file_that_grew(tmp_path: Path) -> None:
    store = Store(tmp_path / "mail", fsync=False)
    store.deliver("alice", b"Subject: a\r\n\r\nshort\r\n")
    drop = Maildrop.open(store, "alice")
    try:
        path = drop.info(1).path
        # Maildir files never change; if one does, RETR still sends the whole file.
        grown = path.read_bytes() + b"more\r\n" * 50_000
        path.write_bytes(grown)
        assert drop.retrieve(1) == grown
        os.truncate(path, 5)
        assert drop.retrieve(1) == grown[:5]
    finally:
        drop.release()


def _old_render(reply: Reply, *args: object) -> bytes:
    """The status line as the reply table rendered it before its prefix was cached."""
    text = reply.template.format(*args) if args else reply.template
    parts = [b"+OK" if reply.ok else b"-ERR"]
    if reply.code is not None:
        parts.append(b"[" + reply.code.value.encode("ascii") + b"]")
    if text:
        parts.append(text.encode("utf-8"))
    return b" ".join(parts)[:510] + b"\r\n"


def test_cached_status_lines_render_as_before() -> None:
    replies = [v for v in vars(R).values() if isinstance(v, Reply)]
    assert len(replies) > 40
    for reply in replies:
        for args in [(), ("x",), (1, 2), ("ü" * 600,), ("",)]:
            try:
                expected = _old_render(reply, *args)
            except IndexError:  # too few arguments for the template
                continue
            assert reply.render(*args) == expected
    assert dot_stuff(b".") == b"..\r\n.\r\n"  # the wire layer the bodies rely on
