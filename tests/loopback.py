"""Raw-socket helpers for tests that watch what a server sends before any client library
would: greetings, refusals, and closes."""

from __future__ import annotations

import socket


def first_line(sock: socket.socket) -> bytes:
    """Read up to the first CRLF, or whatever came before the server closed."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1000)
        if not chunk:
            break
        data += chunk
    return data


def greeting(port: int, host: str = "127.0.0.1") -> bytes:
    """Connect, read the server's first line (its greeting or its refusal), disconnect."""
    with socket.create_connection((host, port), timeout=10) as sock:
        return first_line(sock)
