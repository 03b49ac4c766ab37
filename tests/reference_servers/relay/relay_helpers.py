"""Helpers for the relay tests (pytest-asyncio is not installed: tests use asyncio.run).

ScriptedHop is a tiny asyncio SMTP server whose replies the test decides.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Transaction:
    mail: str = ""
    rcpts: list[str] = field(default_factory=list)
    data: bytes = b""  # the raw stuffed bytes between 354 and the final dot


@dataclass
class ScriptedHop:
    extensions: list[str] = field(
        default_factory=lambda: ["PIPELINING", "SIZE 1000000", "8BITMIME", "DSN", "SMTPUTF8"]
    )
    ehlo_reply: str | None = None  # e.g. "502 5.5.1 no" to force HELO
    greeting: str = "220 hop.test ESMTP scripted"
    # (address, attempt number starting at 1) -> reply line for RCPT
    on_rcpt: Callable[[str, int], str] = lambda address, attempt: "250 2.1.5 ok"
    on_data: Callable[[int], str] = lambda attempt: "250 2.0.0 queued"
    transactions: list[Transaction] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    port: int = 0
    _rcpt_attempts: dict[str, int] = field(default_factory=dict)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def delivered(self) -> list[Transaction]:
        return [t for t in self.transactions if t.data]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        try:
            send(self.greeting)
            txn: Transaction | None = None
            accepted = 0
            while True:
                raw = await asyncio.wait_for(reader.readline(), 10)
                if not raw:
                    return
                line = raw.decode("utf-8").rstrip("\r\n")
                self.commands.append(line)
                verb = line.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    if self.ehlo_reply:
                        send(self.ehlo_reply)
                    else:
                        lines = ["hop.test", *self.extensions]
                        for item in lines[:-1]:
                            send(f"250-{item}")
                        send(f"250 {lines[-1]}")
                elif verb == "HELO":
                    send("250 hop.test")
                elif verb == "MAIL":
                    txn, accepted = Transaction(mail=line), 0
                    self.transactions.append(txn)
                    send("250 2.1.0 ok")
                elif verb == "RCPT":
                    assert txn is not None
                    address = line.split("<", 1)[1].split(">", 1)[0]
                    n = self._rcpt_attempts[address] = self._rcpt_attempts.get(address, 0) + 1
                    reply = self.on_rcpt(address, n)
                    if reply.startswith("2"):
                        txn.rcpts.append(line)
                        accepted += 1
                    send(reply)
                elif verb == "DATA":
                    if not accepted:
                        send("554 5.5.1 no valid recipients")
                        continue
                    send("354 go ahead")
                    body = b""
                    while not body.endswith(b"\r\n.\r\n") and body != b".\r\n":
                        chunk = await asyncio.wait_for(reader.readline(), 10)
                        if not chunk:
                            return
                        body += chunk
                    assert txn is not None
                    txn.data = body
                    send(self.on_data(len(self.delivered)))
                elif verb == "QUIT":
                    send("221 2.0.0 bye")
                    await writer.drain()
                    return
                elif verb in ("RSET", "NOOP"):
                    send("250 2.0.0 ok")
                else:
                    send("502 5.5.1 not implemented")
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
