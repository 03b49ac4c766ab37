"""An in-memory client/server pair for tests: no sockets, no event loop.

:class:`Session` drives a :class:`Connection` the way the server does and answers its
requests itself: a message is "delivered" into :attr:`Session.messages`, a STARTTLS
handshake "succeeds" at once. Feed it whole scripts or byte by byte.
"""

from __future__ import annotations

from ._connection import Connection
from ._events import (
    NEED_DATA,
    PAUSED,
    Closing,
    Delivered,
    Failed,
    Greeting,
    MessageReady,
    TlsEstablished,
    TlsRequested,
)
from .aliases import Directory
from .policy import SmtpPolicy


class Session:
    def __init__(self, policy: SmtpPolicy | None = None, directory: Directory | None = None,
                 *, tls: bool = False, relay: bool = False, fail: Failed | None = None) -> None:
        from reference_servers.auth import UserTable

        self.conn = Connection(policy or SmtpPolicy(hostname="mx.example.test"),
                               directory or Directory(UserTable.default()),
                               tls=tls, relay=relay, peer="127.0.0.1")
        self.messages: list[MessageReady] = []
        self.events: list[object] = []
        self.closed = False
        self.fail = fail
        self.greeting = self.conn.send(Greeting())

    def feed(self, data: bytes) -> bytes:
        """Give the server ``data``; return every byte it answers."""
        self.conn.receive_data(data)
        out = bytearray()
        while True:
            event = self.conn.next_event()
            out += self.conn.data_to_send()
            if event is NEED_DATA or event is PAUSED:
                return bytes(out)
            self.events.append(event)
            if isinstance(event, MessageReady):
                self.messages.append(event)
                out += self.conn.send(self.fail or Delivered(f"Q{len(self.messages)}"))
            elif isinstance(event, TlsRequested):
                out += self.conn.send(TlsEstablished())
            elif isinstance(event, Closing):
                self.closed = True

    def feed_bytewise(self, data: bytes) -> bytes:
        return b"".join(self.feed(data[i : i + 1]) for i in range(len(data)))

    def codes(self, data: bytes) -> list[int]:
        """The reply codes (last line of each reply) for ``data``."""
        return reply_codes(self.feed(data))


def reply_codes(output: bytes) -> list[int]:
    return [int(line[:3]) for line in output.split(b"\r\n") if line[3:4] == b" "]
