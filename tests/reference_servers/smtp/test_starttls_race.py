"""Regression: the first command inside TLS must not be lost after STARTTLS.

The asyncio SSL protocol completes the server handshake and, in the same callback,
decrypts whatever application data came with the client's Finished message and hands
it to our protocol, before ``loop.start_tls()`` returns to the server. The server used to
pass those bytes to the core while it was still in the STARTTLS state, and the core
dropped them as plaintext pipelined after STARTTLS: the client's EHLO got no answer and
the client timed out (aiosmtplib ``SMTPReadTimeoutError``, 5 s stalls in the conformance
probe). Under load the server reads the Finished and the EHLO together, which is why it
was intermittent; the first test here makes it deterministic by sending both in one
segment, the second reproduces the original symptom with 50 concurrent sessions.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_servers.embedded import EmbeddedThread, ServeConfig
from reference_servers.tls import client_context

DEADLINE = 4.0  # seconds for a whole session; aiosmtplib's read timeout was 5 s


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    data_dir = tmp_path_factory.mktemp("smtp-starttls-race")
    config = ServeConfig(data_dir=data_dir, ports={"smtp": 0})
    with EmbeddedThread(config) as thread:
        assert thread.servers is not None
        port = thread.servers.port("smtp")
        assert port is not None
        yield port, data_dir


def _read_reply(sock: socket.socket, buf: bytearray) -> bytes:
    while True:
        end = 0
        for line in bytes(buf).split(b"\r\n")[:-1]:
            end += len(line) + 2
            if line[3:4] == b" ":
                reply = bytes(buf[:end])
                del buf[:end]
                return reply
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed; pending {bytes(buf)!r}")
        buf += chunk


def test_command_in_same_segment_as_client_finished(running: tuple[int, Path]) -> None:
    port, data_dir = running
    ctx = client_context(data_dir)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3  # the client speaks first after Finished
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        buf = bytearray()
        assert _read_reply(sock, buf).startswith(b"220")
        sock.sendall(b"EHLO client.test\r\n")
        assert _read_reply(sock, buf).startswith(b"250")
        sock.sendall(b"STARTTLS\r\n")
        assert _read_reply(sock, buf).startswith(b"220")
        assert not buf
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    sock.sendall(outgoing.read())
                data = sock.recv(65536)
                assert data, "server closed during the handshake"
                incoming.write(data)
        # The client Finished and the first command leave in one segment.
        tls.write(b"EHLO client.test\r\n")
        sock.sendall(outgoing.read())
        plain = bytearray()
        while not plain.endswith(b"\r\n") or b"250 " not in plain:
            try:
                plain += tls.read(65536)
            except ssl.SSLWantReadError:
                data = sock.recv(65536)  # a lost EHLO shows up as socket.timeout here
                assert data, f"server closed; got {bytes(plain)!r}"
                incoming.write(data)
        assert b"250-STARTTLS" not in plain  # RFC 3207 §4.2: not offered again
        tls.write(b"QUIT\r\n")
        sock.sendall(outgoing.read())


async def _session(port: int, ctx: ssl.SSLContext) -> float:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line[3:4] != b"-":
                return line

    try:
        async with asyncio.timeout(DEADLINE):
            assert (await reply()).startswith(b"220")
            writer.write(b"EHLO client.test\r\n")
            assert (await reply()).startswith(b"250")
            writer.write(b"STARTTLS\r\n")
            assert (await reply()).startswith(b"220")
            await writer.start_tls(ctx, server_hostname="localhost")
            writer.write(b"EHLO client.test\r\n")
            assert (await reply()).startswith(b"250")
            writer.write(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
                         b"RSET\r\nQUIT\r\n")
            for code in (b"250", b"250", b"250", b"221"):
                assert (await reply()).startswith(code)
    finally:
        writer.close()
    return time.monotonic() - started


def test_fifty_concurrent_starttls_sessions(running: tuple[int, Path]) -> None:
    port, data_dir = running
    ctx = client_context(data_dir)

    async def run() -> list[float | BaseException]:
        return await asyncio.gather(*(_session(port, ctx) for _ in range(50)),
                                    return_exceptions=True)

    for _ in range(3):
        results = asyncio.run(run())
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, f"{len(failures)}/50 sessions failed: {failures[:3]!r}"
