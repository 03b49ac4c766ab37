"""A small asyncio SMTP client: one transaction to one next hop, per-recipient results.

All protocol framing lives in :mod:`._framing` (sans-IO); this module only moves
bytes, keeps the RFC 5321 §4.5.3.2 timeouts and decides what each reply means for
each recipient. Connection-level failures become a transient result for every
recipient not yet settled (RFC 5321 §4.5.4.1: the client retries later).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from ..wire import dot_stuff, to_crlf
from ._framing import Reply, ReplyError, ReplyReader, bdat_last, command, mail_from, parse_ehlo
from ._framing import rcpt_to as rcpt_command
from .envelope import QueuedEnvelope, QueuedRecipient
from .routes import NextHop
from .settings import RelaySettings

_CHUNK = 64 * 1024


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class RecipientResult:
    address: str
    outcome: Outcome
    status: str  # enhanced status code for the DSN Status field (RFC 3464 §2.3.4)
    diagnostic: str  # what the next hop said, or what went wrong (Diagnostic-Code)
    remote_mta: str | None = None  # who said it (Remote-MTA), None if nobody answered
    smtp_reply: bool = False  # diagnostic is an SMTP reply ("smtp;" diagnostic type)
    dsn_relayed: bool = False  # the next hop supports DSN and took NOTIFY/ORCPT with it


class _Failure(Exception):
    """The session cannot go on; every recipient not yet settled gets this result."""

    def __init__(self, outcome: Outcome, status: str, diagnostic: str, *, reply: bool = False):
        super().__init__(diagnostic)
        self.outcome, self.status, self.diagnostic, self.reply = outcome, status, diagnostic, reply

    @classmethod
    def from_reply(cls, reply: Reply, what: str) -> _Failure:
        outcome = Outcome.PERMANENT if reply.code >= 500 else Outcome.TRANSIENT
        return cls(outcome, _status(reply), f"{reply} (in reply to {what})", reply=True)


def _status(reply: Reply) -> str:
    # RFC 3463 §3.1: with no enhanced code given, "X.0.0" is the generic status of the class.
    return reply.enhanced or f"{str(reply.code)[0]}.0.0"


def _outcome(reply: Reply) -> Outcome:
    if reply.positive:
        return Outcome.DELIVERED
    return Outcome.PERMANENT if reply.code >= 500 else Outcome.TRANSIENT


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Session:
    def __init__(self, hop: NextHop, settings: RelaySettings) -> None:
        self.hop = hop
        self.settings = settings
        self.timeouts = settings.timeouts
        self.reader = ReplyReader()
        self.stream_reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.tls = False

    async def connect(self) -> None:
        try:
            self.stream_reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.hop.host, self.hop.port), self.timeouts.connect
            )
        except (OSError, TimeoutError) as exc:
            raise _Failure(
                Outcome.TRANSIENT, "4.4.1", f"cannot connect to {self.hop}: {exc or 'timeout'}"
            ) from None

    async def send(self, data: bytes, timeout: float) -> None:
        assert self.writer is not None
        try:
            for start in range(0, len(data), _CHUNK):
                self.writer.write(data[start : start + _CHUNK])
                await asyncio.wait_for(self.writer.drain(), timeout)
        except (OSError, TimeoutError) as exc:
            raise _Failure(
                Outcome.TRANSIENT, "4.4.2", f"connection to {self.hop} lost while sending: "
                f"{exc or 'timeout'}"
            ) from None

    async def reply(self, timeout: float, what: str) -> Reply:
        assert self.stream_reader is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                reply = self.reader.next_reply()
            except ReplyError as exc:
                raise _Failure(Outcome.TRANSIENT, "4.5.0", f"{self.hop}: {exc}") from None
            if reply is not None:
                return reply
            try:
                chunk = await asyncio.wait_for(
                    self.stream_reader.read(_CHUNK), max(deadline - loop.time(), 0)
                )
            except TimeoutError:
                # RFC 5321 §4.5.3.2: the client gives up on this attempt when a timer expires.
                raise _Failure(
                    Outcome.TRANSIENT, "4.4.2", f"{self.hop}: timeout waiting for reply to {what}"
                ) from None
            except OSError as exc:
                raise _Failure(
                    Outcome.TRANSIENT, "4.4.2", f"{self.hop}: connection lost: {exc}"
                ) from None
            if not chunk:
                raise _Failure(
                    Outcome.TRANSIENT, "4.4.2",
                    f"{self.hop}: connection closed while waiting for reply to {what}",
                )
            self.reader.feed(chunk)

    async def transact(self, line: bytes, timeout: float) -> Reply:
        await self.send(line, timeout)
        return await self.reply(timeout, line.split(b" ", 1)[0].strip().decode())

    async def starttls(self) -> None:
        assert self.writer is not None
        context = ssl.create_default_context()
        verify = self.settings.tls_verify
        if verify is None:
            # Loopback next hops run with the harness's self-signed certificates.
            verify = not _is_loopback(self.hop.host)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            await asyncio.wait_for(
                self.writer.start_tls(context, server_hostname=self.hop.host),
                self.timeouts.mail,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise _Failure(
                Outcome.TRANSIENT, "4.7.0", f"{self.hop}: TLS handshake failed: {exc}"
            ) from None
        # RFC 3207 §4.2: nothing received before the handshake counts after it.
        self.reader.discard()
        self.tls = True

    async def close(self) -> None:
        if self.writer is None:
            return
        with contextlib.suppress(Exception):
            self.writer.write(command("QUIT"))
            await asyncio.wait_for(self.writer.drain(), 2)
            await asyncio.wait_for(self.reply(2, "QUIT"), 2)
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        self.writer = None


async def deliver(
    hop: NextHop,
    envelope: QueuedEnvelope,
    recipients: Sequence[QueuedRecipient],
    data: bytes,
    *,
    hostname: str,
    settings: RelaySettings,
) -> list[RecipientResult]:
    """One SMTP transaction carrying ``data`` to ``recipients`` via ``hop``."""
    session = _Session(hop, settings)
    results: dict[str, RecipientResult] = {}
    try:
        await session.connect()
        await _transaction(session, envelope, recipients, data, hostname, results)
    except _Failure as failure:
        for rcpt in recipients:
            if rcpt.address not in results:
                results[rcpt.address] = RecipientResult(
                    rcpt.address, failure.outcome, failure.status, failure.diagnostic,
                    hop.host if failure.reply else None, failure.reply,
                )
    finally:
        await session.close()
    return [results[r.address] for r in recipients]


async def _hello(session: _Session, hostname: str) -> dict[str, str]:
    t = session.timeouts
    reply = await session.transact(command("EHLO", hostname), t.mail)
    if reply.code == 250:
        return parse_ehlo(reply)
    if reply.code >= 500:
        # RFC 5321 §3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
        reply = await session.transact(command("HELO", hostname), t.mail)
        if reply.code == 250:
            return {}
    raise _Failure.from_reply(reply, "EHLO/HELO")


async def _transaction(
    session: _Session,
    envelope: QueuedEnvelope,
    recipients: Sequence[QueuedRecipient],
    data: bytes,
    hostname: str,
    results: dict[str, RecipientResult],
) -> None:
    t, hop = session.timeouts, session.hop
    greeting = await session.reply(t.greeting, "the greeting")
    if greeting.code != 220:
        # RFC 5321 §3.1: a server refusing service greets with 554; with no other
        # host to try, that is a reason to try this one again later, not to bounce.
        raise _Failure(Outcome.TRANSIENT, _status(greeting).replace("5.", "4.", 1),
                       f"{greeting} (greeting)", reply=True)
    ext = await _hello(session, hostname)
    if "STARTTLS" in ext and session.settings.starttls != "never":
        reply = await session.transact(command("STARTTLS"), t.mail)
        if reply.code == 220:
            await session.starttls()
            # RFC 3207 §4.2: the client MUST discard what it knew and send EHLO again.
            ext = await _hello(session, hostname)
        elif session.settings.starttls == "required":
            raise _Failure.from_reply(reply, "STARTTLS")
    if session.settings.starttls == "required" and not session.tls:
        raise _Failure(Outcome.TRANSIENT, "4.7.0", f"{hop} does not offer STARTTLS (required)")
    _check_extensions(ext, envelope, data, hop)

    dsn = "DSN" in ext
    mail_params = _mail_params(ext, envelope, len(data), dsn)
    rcpt_lines = [rcpt_command(r.address, _rcpt_params(r) if dsn else []) for r in recipients]
    use_bdat = envelope.body == "BINARYMIME"
    pipelining = "PIPELINING" in ext and session.settings.pipelining
    mail_line = mail_from(envelope.mail_from, mail_params)

    if pipelining:
        # RFC 2920 §3.1: MAIL, RCPT... and DATA may go in one group; DATA ends it.
        group = mail_line + b"".join(rcpt_lines) + (b"" if use_bdat else command("DATA"))
        await session.send(group, t.mail)
        mail_reply = await session.reply(t.mail, "MAIL")
        rcpt_replies = [await session.reply(t.rcpt, "RCPT") for _ in recipients]
    else:
        mail_reply = await session.transact(mail_line, t.mail)
        if not mail_reply.positive:
            raise _Failure.from_reply(mail_reply, "MAIL")
        rcpt_replies = [await session.transact(line, t.rcpt) for line in rcpt_lines]

    accepted: list[QueuedRecipient] = []
    for rcpt, reply in zip(recipients, rcpt_replies, strict=True):
        if not mail_reply.positive:
            reply = mail_reply  # the RCPT replies after a failed MAIL say nothing new
        if reply.positive:
            accepted.append(rcpt)
        else:
            results[rcpt.address] = RecipientResult(
                rcpt.address, _outcome(reply), _status(reply),
                f"{reply} (in reply to RCPT TO)", hop.host, True,
            )

    if use_bdat:
        if not accepted:
            return
        await session.send(bdat_last(data), t.data_block)
        final = await session.reply(t.data_end, "BDAT")
    else:
        if pipelining:
            data_reply = await session.reply(t.data_init, "DATA")
        elif accepted:
            data_reply = await session.transact(command("DATA"), t.data_init)
        else:
            return
        if data_reply.code != 354:
            if accepted:
                raise _Failure.from_reply(data_reply, "DATA")
            return
        # RFC 5321 §4.5.2: dot-stuffing; only CRLF ends a line on the wire (§2.3.8).
        payload = dot_stuff(to_crlf(data)) if accepted else b".\r\n"
        await session.send(payload, t.data_block)
        final = await session.reply(t.data_end, "end of data")
        if not accepted:
            return  # RFC 2920 §3.1: a 354 with no valid recipient still needs the dot
    for rcpt in accepted:
        results[rcpt.address] = RecipientResult(
            rcpt.address, _outcome(final), _status(final), f"{final} (in reply to end of data)",
            hop.host, True, dsn and final.positive,
        )


def _check_extensions(ext: dict[str, str], env: QueuedEnvelope, data: bytes, hop: NextHop) -> None:
    size = ext.get("SIZE", "")
    if "SIZE" in ext and size.isdigit() and int(size) > 0 and len(data) > int(size):
        # RFC 1870 §6: a message larger than the advertised limit is not sent.
        raise _Failure(Outcome.PERMANENT, "5.3.4",
                       f"{hop} accepts at most {size} octets; the message has {len(data)}")
    if env.body == "8BITMIME" and "8BITMIME" not in ext:
        # RFC 6152 §3: 8-bit data must not go to a server without 8BITMIME; this relay
        # does not convert, so it returns the message.
        raise _Failure(Outcome.PERMANENT, "5.6.3", f"{hop} does not support 8BITMIME")
    if env.body == "BINARYMIME" and not {"BINARYMIME", "CHUNKING"} <= ext.keys():
        # RFC 3030 §3: BINARYMIME needs BDAT, hence both extensions.
        raise _Failure(Outcome.PERMANENT, "5.6.3", f"{hop} does not support BINARYMIME")
    if env.smtputf8 and "SMTPUTF8" not in ext:
        # RFC 6531 §3.2: an SMTPUTF8 message must not be relayed to a server without it.
        raise _Failure(Outcome.PERMANENT, "5.6.7", f"{hop} does not support SMTPUTF8")


def _mail_params(ext: dict[str, str], env: QueuedEnvelope, size: int, dsn: bool) -> list[str]:
    params = []
    if "SIZE" in ext:
        params.append(f"SIZE={size}")  # RFC 1870 §5: the size estimate
    if env.body != "7BIT":
        params.append(f"BODY={env.body}")
    if env.smtputf8:
        params.append("SMTPUTF8")
    if dsn:
        # RFC 3461 §5.2.1: a relay passes RET and ENVID on to a next hop that has DSN.
        if env.ret:
            params.append(f"RET={env.ret}")
        if env.envid:
            params.append(f"ENVID={env.envid}")
    return params


def _rcpt_params(rcpt: QueuedRecipient) -> list[str]:
    params = []
    if rcpt.notify:
        params.append("NOTIFY=" + ",".join(sorted(rcpt.notify)))
    if rcpt.orcpt:
        params.append(f"ORCPT={rcpt.orcpt}")
    return params
