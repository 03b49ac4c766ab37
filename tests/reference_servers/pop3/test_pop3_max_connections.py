"""The connection limit: past it a session is told -ERR [SYS/TEMP] (RFC 3206 §4) instead
of the greeting and closed, and a freed slot is usable again."""

from __future__ import annotations

import socket
from pathlib import Path

from reference_servers.embedded import LISTENERS, EmbeddedThread, ServeConfig
from tests.loopback import first_line


def test_third_session_is_refused_and_a_freed_slot_is_reused(tmp_path: Path) -> None:
    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports["pop3"] = 0
    config = ServeConfig(data_dir=tmp_path, ports=ports,
                         settings={"pop3": {"max_connections": 2}})
    with EmbeddedThread(config) as thread:
        assert thread.servers is not None
        port = thread.servers.port("pop3")
        first = socket.create_connection(("127.0.0.1", port), timeout=10)
        second = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert first_line(first).startswith(b"+OK")
        assert first_line(second).startswith(b"+OK")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as third:
            assert first_line(third).startswith(b"-ERR [SYS/TEMP] ")
            assert third.recv(100) == b""  # closed by the server
        first.sendall(b"QUIT\r\n")
        assert first_line(first).startswith(b"+OK")
        first.close()
        for _ in range(50):  # the server notices the close on its next loop turn
            with socket.create_connection(("127.0.0.1", port), timeout=10) as again:
                line = first_line(again)
            if line.startswith(b"+OK"):
                break
        assert line.startswith(b"+OK")
        second.close()
