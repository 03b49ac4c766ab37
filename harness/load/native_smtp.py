"""A lean asyncio SMTP client for the native engine, on the harness's shared framing.

Only what load needs: greeting, EHLO (HELO fallback), STARTTLS, AUTH PLAIN, one message
transaction with PIPELINING when offered (RFC 2920), RSET, QUIT. Replies are framed by
:class:`harness.client.SmtpFramer`, the same code that frames replies for replay and the
locust users, so both engines agree on what a reply is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib

from ..client import ConnectionClosed, ProtocolViolation, SmtpFramer, SmtpReply
from ..client.tls import client_context
from ..target import Target, TlsMode

_RECV = 65536


class SmtpError(Exception):
    """A step of the session failed; ``code`` is the reply code, or "" when none came."""

    def __init__(self, step: str, code: str, text: str) -> None:
        super().__init__(f"{step} {code}: {text}" if code else f"{step}: {text}")
        self.code = code


class AsyncSmtp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 target: Target) -> None:
        self.reader, self.writer, self.target = reader, writer, target
        self.framer = SmtpFramer(target.max_response)
        self.keywords: dict[str, str] = {}

    @classmethod
    async def connect(cls, target: Target, *, starttls: bool = False,
                      auth: bool = False) -> AsyncSmtp:
        """Connect, read the greeting, EHLO, and upgrade/authenticate as asked."""
        context = None
        if target.tls == TlsMode.IMPLICIT:
            context = client_context(verify=target.verify, cafile=target.cafile)
        try:
            async with asyncio.timeout(target.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    target.host, target.port, ssl=context,
                    server_hostname=target.server_name if context else None)
        except (OSError, TimeoutError) as exc:
            raise SmtpError("connect", "", f"{type(exc).__name__}: {exc}") from None
        session = cls(reader, writer, target)
        try:
            async with asyncio.timeout(target.step_timeout):
                await session._expect("greeting", 220)
                await session.ehlo()
                if starttls or target.tls == TlsMode.STARTTLS:
                    await session.starttls()
                if auth and target.username is not None:
                    await session.auth_plain(target.username, target.password or "")
        except BaseException:
            session.abort()
            raise
        return session

    async def reply(self) -> SmtpReply:
        while True:
            reply = self.framer.next_reply()
            if reply is not None:
                return reply
            data = await self.reader.read(_RECV)
            if not data:
                raise ConnectionClosed("connection closed while waiting for a reply")
            self.framer.feed(data)

    async def _expect(self, step: str, code: int) -> SmtpReply:
        try:
            reply = await self.reply()
        except (ConnectionClosed, ProtocolViolation, OSError) as exc:
            raise SmtpError(step, "", str(exc)) from None
        if reply.code != code:
            raise SmtpError(step, str(reply.code), _first_line(reply))
        return reply

    async def command(self, step: str, line: bytes, code: int) -> SmtpReply:
        self.writer.write(line + b"\r\n")
        return await self._expect(step, code)

    async def ehlo(self) -> None:
        helo = self.target.helo.encode()
        self.writer.write(b"EHLO " + helo + b"\r\n")
        reply = await self._read("EHLO")
        if reply.code == 250:
            self.keywords = reply.keywords()
            return
        # RFC 5321 §3.2: a server that does not know EHLO gets HELO.
        await self.command("HELO", b"HELO " + helo, 250)
        self.keywords = {}

    async def starttls(self) -> None:
        await self.command("STARTTLS", b"STARTTLS", 220)
        if self.framer.buffer.drain():
            # Octets after the 220 would be read as if protected (CVE-2011-0411 class).
            raise SmtpError("STARTTLS", "", "server sent data after its 220, before TLS")
        context = client_context(verify=self.target.verify, cafile=self.target.cafile)
        try:
            await self.writer.start_tls(context, server_hostname=self.target.server_name)
        except (OSError, ConnectionError) as exc:
            raise SmtpError("STARTTLS", "", f"handshake failed: {exc}") from None
        await self.ehlo()  # RFC 3207 §4.2: forget what was learnt before TLS

    async def auth_plain(self, user: str, password: str) -> None:
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        await self.command("AUTH", b"AUTH PLAIN " + token, 235)

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.keywords

    async def _read(self, step: str) -> SmtpReply:
        try:
            return await self.reply()
        except (ConnectionClosed, ProtocolViolation, OSError) as exc:
            raise SmtpError(step, "", str(exc)) from None

    async def send_message(self, sender: str, recipients: list[str], data: bytes,
                           *, pipelining: bool) -> str:
        """One transaction; returns "" when every recipient was accepted, else a note.

        ``data`` is already dot-stuffed and ends with CRLF.CRLF. Raises SmtpError when the
        message was not accepted (the code of the reply that refused it).
        """
        commands = [f"MAIL FROM:<{sender}>".encode(),
                    *(f"RCPT TO:<{r}>".encode() for r in recipients), b"DATA"]
        if pipelining:
            # RFC 2920 §3.1: MAIL, RCPT and DATA may go in one batch; DATA is the last.
            self.writer.write(b"\r\n".join(commands) + b"\r\n")
            replies = [await self._read(c.split()[0].decode()) for c in commands]
        else:
            replies = []
            for command in commands:
                self.writer.write(command + b"\r\n")
                replies.append(await self._read(command.split()[0].decode()))
                if replies[0].code != 250:
                    break
        mail, rcpts = replies[0], replies[1:len(commands) - 1]
        if mail.code != 250:
            await self._reset(pipelined_data=pipelining and replies[-1].code == 354)
            raise SmtpError("MAIL", str(mail.code), _first_line(mail))
        refused = [r for r in rcpts if r.code not in (250, 251)]
        data_reply = replies[-1]
        if data_reply.code != 354:
            await self._reset()
            first = refused[0] if refused else data_reply
            step = "RCPT" if refused else "DATA"
            raise SmtpError(step, str(first.code), _first_line(first))
        self.writer.write(data)
        final = await self._read("end of data")
        if final.code != 250:
            raise SmtpError("end of data", str(final.code), _first_line(final))
        if refused:
            return f"{len(refused)} of {len(rcpts)} recipients refused ({refused[0].code})"
        return ""

    async def _reset(self, pipelined_data: bool = False) -> None:
        if pipelined_data:
            # A server that said 354 after a failed MAIL waits for data: end it empty.
            self.writer.write(b".\r\n")
            await self._read("end of data")
        await self.command("RSET", b"RSET", 250)

    async def quit(self) -> None:
        with contextlib.suppress(SmtpError, OSError, TimeoutError):
            async with asyncio.timeout(self.target.read_timeout):
                await self.command("QUIT", b"QUIT", 221)
        self.abort()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def _first_line(reply: SmtpReply) -> str:
    return reply.lines[0].decode("utf-8", "replace") if reply.lines else ""
