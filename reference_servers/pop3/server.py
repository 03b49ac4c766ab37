"""The asyncio transport around the POP3 core: sockets, timers, TLS, threads. No protocol
logic lives here: the :class:`Connection` frames, the :class:`Session` decides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from ..workers import SessionCounter, pool_stopper, sessions_for, spread
from . import _events as ev
from ._connection import Chunk, Connection
from ._parser import ParseError
from ._replies import R
from .policy import Pop3Policy
from .session import Action, Session, needs_thread

log = logging.getLogger("reference_servers.pop3")

KINDS = ("pop3", "pop3s")
_READ_PAUSE_AT = 1 << 20  # pipelined input buffered beyond this pauses reading
_FLUSH_AT = 1 << 17  # replies gathered beyond this are written before the next command
# Transport buffer: above the high mark the session waits for the client to read. A
# RETR reply is up to a few hundred KB; asyncio's default 64 KB would pause on most.
_WRITE_HIGH, _WRITE_LOW = 1 << 19, 1 << 17
_TLS_HANDSHAKE_TIMEOUT = 30.0


class _Pop3Protocol(asyncio.Protocol):
    def __init__(self, ctx: Any, policy: Pop3Policy, implicit_tls: bool,
                 active: set[_Pop3Protocol], sessions: SessionCounter) -> None:
        self._ctx = ctx
        self._policy = policy
        self._implicit_tls = implicit_tls
        self._active = active  # the sessions this listener serves in this process
        self._sessions = sessions  # ... and their count in every process of the listener
        self._counted = False
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._conn = Connection(
            secure=implicit_tls,
            max_command_line=policy.max_command_line,
            max_sasl_line=policy.max_sasl_line,
            bare_lf=policy.bare_lf,
        )
        self._session: Session | None = None
        self._wake = asyncio.Event()
        self._writable: asyncio.Future[None] | None = None
        self._lost = False
        self._reading_paused = False
        self._last_activity = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._out: list[Chunk] = []  # replies not yet written
        self._out_size = 0

    # -- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio's.
        self._transport = cast(asyncio.Transport, transport)
        if not self._sessions.try_enter(self._policy.max_connections):
            self._lost = True
            self._transport.write(self._conn.refuse())
            self._transport.close()
            return
        self._counted = True
        self._active.add(self)
        self._transport.set_write_buffer_limits(_WRITE_HIGH, _WRITE_LOW)
        self._session = Session(
            store=self._ctx.store,
            users=self._ctx.users,
            hostname=self._ctx.hostname,
            policy=self._policy,
            tls_available=self._ctx.tls is not None,
            secure=self._implicit_tls,
        )
        self._transport.write(self._conn.greeting(self._session.greeting_text()))
        self._idle_timer = self._loop.call_later(self._policy.idle_timeout, self._check_idle)
        self._task = self._loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        self._conn.receive_data(data)
        if self._conn.buffered > _READ_PAUSE_AT and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake.set()

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._active.discard(self)
        if self._counted:
            self._counted = False
            self._sessions.leave()
        self._lost = True
        self._wake.set()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _check_idle(self) -> None:
        # RFC 1939 §3: when the autologout timer expires "the session does NOT enter the
        # UPDATE state--the server should close the TCP connection without removing any
        # messages or sending any response to the client".
        idle = self._loop.time() - self._last_activity
        if idle >= self._policy.idle_timeout:
            if self._transport is not None:
                self._transport.abort()
            return
        self._idle_timer = self._loop.call_later(
            self._policy.idle_timeout - idle, self._check_idle
        )

    # -- the session loop --------------------------------------------------------------------

    async def _run(self) -> None:
        session = self._session
        assert session is not None
        conn = self._conn
        try:
            while not self._lost and not conn.closed:
                try:
                    command = conn.next_event()
                except ParseError as exc:
                    assert exc.reply is not None
                    await self._queue([exc.reply])
                    continue
                if command is ev.NEED_DATA:
                    await self._flush()
                    await self._wait_for_data()
                    continue
                assert isinstance(command, ev.Command)
                if needs_thread(command):
                    await self._flush()  # earlier replies need not wait for the thread
                    action = await asyncio.to_thread(session.handle, command)
                else:
                    action = session.handle(command)
                if action.delay or action.close or action.start_tls:
                    await self._flush()
                    if not await self._respond(action):
                        break
                    continue
                await self._queue(conn.send_parts(action.response))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("POP3 session failed")
            self._out.append(R.INTERNAL.render())
            self._write(self._out)
        finally:
            session.close()
            if self._transport is not None:
                self._transport.close()

    # Replies to pipelined commands (RFC 2449 §6.6) are gathered and written with one
    # writelines once the input holds no complete command, or every _FLUSH_AT octets:
    # a session's 1,000 pipelined RETRs cost a few dozen sends, not a thousand.

    async def _queue(self, parts: list[Chunk]) -> None:
        self._out += parts
        self._out_size += sum(map(len, parts))
        if self._out_size >= _FLUSH_AT:
            await self._flush()

    async def _flush(self) -> None:
        if self._out:
            self._write(self._out)
            self._out = []
            self._out_size = 0
            await self._drain()

    async def _respond(self, action: Action) -> bool:
        """Send one response; False when the session is over."""
        if action.delay:
            await asyncio.sleep(action.delay)
        if action.start_tls and self._transport is not None:
            # Stop reading *before* the +OK goes out: the client's first TLS record
            # must reach the TLS layer, never our plaintext buffer.
            self._transport.pause_reading()
        self._write(self._conn.send_parts(action.response))
        await self._drain()
        if action.close or self._lost:
            return False
        if action.start_tls:
            return await self._start_tls()
        return True

    async def _start_tls(self) -> bool:
        assert self._transport is not None
        try:
            transport = await self._loop.start_tls(
                self._transport, self, self._ctx.tls, server_side=True,
                ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT,
            )
        except (TimeoutError, OSError) as exc:
            log.info("POP3 STLS handshake failed: %s", exc)
            return False
        if transport is None:
            return False
        self._transport = transport
        return True

    def _write(self, parts: list[Chunk]) -> None:
        if self._transport is not None and not self._lost:
            self._last_activity = self._loop.time()
            self._transport.writelines(parts)

    async def _drain(self) -> None:
        if self._writable is not None and not self._writable.done():
            await self._writable

    async def _wait_for_data(self) -> None:
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        self._wake.clear()
        await self._wake.wait()


async def start_listener(kind: str, host: str, port: int, ctx: Any, *,
                         worker: bool = False,
                         sessions: SessionCounter | None = None) -> asyncio.Server:
    """Listen for ``pop3`` (plain, STLS available) or ``pop3s`` (implicit TLS, RFC 8314).

    With the ``workers`` setting above 1, ``workers - 1`` more processes listen on the
    same port (SO_REUSEPORT) and the kernel spreads sessions over all of them; ``worker``
    is True in those processes.
    """
    if kind not in KINDS:
        raise ValueError(f"the POP3 server has no listener kind {kind!r}")
    policy = Pop3Policy.from_settings(ctx.settings("pop3"))
    implicit = kind == "pop3s"
    extra = 0 if worker else policy.workers - 1
    counter = sessions_for(extra, sessions)  # max_connections holds across the workers
    loop = asyncio.get_running_loop()
    active: set[_Pop3Protocol] = set()
    server = await loop.create_server(
        lambda: _Pop3Protocol(ctx, policy, implicit, active, counter),
        host,
        port,
        ssl=ctx.tls if implicit else None,
        ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT if implicit else None,
        reuse_address=True,
        reuse_port=True if extra or worker else None,
        start_serving=not extra,  # with workers: listen once they all do (see spread)
    )
    if extra:
        await spread(server, __name__, kind, host, ctx, extra, counter)
    return server


async def start_services(ctx: Any) -> list[Callable[[], Awaitable[None]]]:
    """Nothing runs before the listeners; this stops their worker processes at the end."""
    return [pool_stopper(ctx)]
