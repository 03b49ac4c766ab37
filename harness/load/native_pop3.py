"""A lean asyncio POP3 client for the native engine (RFC 1939), on the shared framing."""

from __future__ import annotations

import asyncio
import contextlib

from ..client import ConnectionClosed, Pop3Framer, Pop3Response, ProtocolViolation, expects_body
from ..client.tls import client_context
from ..target import Target, TlsMode

_RECV = 65536


class Pop3Error(Exception):
    def __init__(self, step: str, status: str, text: str) -> None:
        super().__init__(f"{step} {status}: {text}" if status else f"{step}: {text}")
        self.status = status


class AsyncPop3:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 target: Target) -> None:
        self.reader, self.writer, self.target = reader, writer, target
        self.framer = Pop3Framer(target.max_response)

    @classmethod
    async def connect(cls, target: Target) -> AsyncPop3:
        context = None
        if target.tls == TlsMode.IMPLICIT:
            context = client_context(verify=target.verify, cafile=target.cafile)
        try:
            async with asyncio.timeout(target.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    target.host, target.port, ssl=context,
                    server_hostname=target.server_name if context else None)
        except (OSError, TimeoutError) as exc:
            raise Pop3Error("connect", "", f"{type(exc).__name__}: {exc}") from None
        session = cls(reader, writer, target)
        try:
            await session.response("greeting", multiline=False)
            if target.tls == TlsMode.STARTTLS:
                await session.command(b"STLS")
                if session.framer.buffer.drain():
                    raise Pop3Error("STLS", "", "server sent data after +OK, before TLS")
                tls = client_context(verify=target.verify, cafile=target.cafile)
                await writer.start_tls(tls, server_hostname=target.server_name)
        except BaseException:
            session.abort()
            raise
        return session

    async def response(self, step: str, *, multiline: bool) -> Pop3Response:
        try:
            while True:
                response = self.framer.next_response(multiline)
                if response is not None:
                    break
                data = await self.reader.read(_RECV)
                if not data:
                    raise ConnectionClosed("connection closed while waiting for a response")
                self.framer.feed(data)
        except (ConnectionClosed, ProtocolViolation, OSError) as exc:
            raise Pop3Error(step, "", str(exc)) from None
        if not response.ok:
            raise Pop3Error(step, response.status, response.line.decode("utf-8", "replace"))
        return response

    async def command(self, line: bytes) -> Pop3Response:
        self.writer.write(line + b"\r\n")
        step = line.split()[0].decode("ascii", "replace").upper()
        return await self.response(step, multiline=expects_body(line))

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
