"""The asyncio transport around :class:`Connection`: sockets, TLS, timers, the store.

No protocol logic lives here: the connection decides every reply; this module moves
bytes, runs the deliveries and the TLS handshake the connection asks for, and tells it
how they went. Replies to pipelined commands leave in one write per batch of input
(RFC 2920 §3.2), which is also what makes the server fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from reference_servers.store import StoreError

from ..workers import SessionCounter, pool_stopper, sessions_for, spread
from ._connection import Connection
from ._events import (
    NEED_DATA,
    PAUSED,
    AuthFailed,
    Busy,
    Closing,
    Delivered,
    Failed,
    Greeting,
    MessageReady,
    ShuttingDown,
    TimedOut,
    TlsEstablished,
    TlsRequested,
)
from ._trace import received_header, return_path_header
from .aliases import Aliases, Directory
from .delivery import GroupDeliverer
from .dsn import success_dsn, wants_success
from .policy import SmtpPolicy

if TYPE_CHECKING:
    from reference_servers.embedded import ServerContext

log = logging.getLogger("reference_servers.smtp")

_ids = itertools.count(1)


@dataclass
class Shared:
    """What every SMTP listener of one context shares."""

    directory: Directory
    deliverer: GroupDeliverer
    relay: Any | None = None  # reference_servers.relay.RelayQueue when running
    protocols: set[SmtpProtocol] = field(default_factory=set)


def _shared(ctx: ServerContext) -> Shared:
    shared = ctx.services.get("smtp")
    if shared is None:
        settings = ctx.settings("smtp")
        aliases_file = settings.get("aliases_file")
        aliases = Aliases.load(aliases_file) if aliases_file else None
        directory = Directory(ctx.users, aliases, settings.get("postmaster"))
        shared = Shared(directory, GroupDeliverer(ctx.store), ctx.services.get("relay"))
        ctx.services["smtp"] = shared
    return shared


def new_queue_id() -> str:
    # Unique across processes and restarts: time, pid, counter.
    return f"{time.time_ns() // 1000:X}{os.getpid():X}{next(_ids):X}"


class SmtpProtocol(asyncio.Protocol):
    def __init__(self, kind: str, policy: SmtpPolicy, ctx: ServerContext, shared: Shared,
                 *, implicit_tls: bool, sessions: SessionCounter) -> None:
        self.kind = kind
        self.policy = policy
        self.ctx = ctx
        self.shared = shared
        self.sessions = sessions  # this listener's open sessions, in every process
        self.implicit_tls = implicit_tls
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.peer_ip = "unknown"
        self._loop = asyncio.get_running_loop()
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False  # a delivery or a handshake is in progress
        # While start_tls() runs, what reaches data_received() is already decrypted: see
        # _upgrade(). None outside a handshake.
        self._early: list[bytes] | None = None
        self._counted = False
        self._task: asyncio.Task[None] | None = None

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer_ip = str(peer[0]) if peer else "unknown"
        conn = Connection(self.policy, self.shared.directory, tls=self.implicit_tls,
                          relay=self.shared.relay is not None, peer=self.peer_ip,
                          tls_available=self.ctx.tls is not None)
        self.conn = conn
        if not self.sessions.try_enter(self.policy.max_connections):
            # RFC 5321 §3.1: a server that cannot serve may answer 421 at once.
            transport.write(conn.send(Busy()))
            transport.close()
            return
        self._counted = True
        self.shared.protocols.add(self)
        transport.write(conn.send(Greeting()))
        self._last = self._loop.time()
        self._arm(conn.idle_timeout)

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self._last = self._loop.time()
        if self._early is not None:
            self._early.append(data)
            return
        self.conn.receive_data(data)
        if not self._busy:
            self._pump()

    def eof_received(self) -> bool:
        if self._early is not None:
            self._early.append(b"")
            return True
        if self.conn is not None:
            self.conn.receive_data(b"")
            if not self._busy:
                self._pump()
        return self._busy  # keep the transport open until a delivery finishes

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._counted = False
            self.sessions.leave()
        self.shared.protocols.discard(self)
        self.transport = None

    # -- driving the connection ----------------------------------------------------------

    def _pump(self, prefix: bytes = b"") -> None:
        conn, transport = self.conn, self.transport
        assert conn is not None
        out = bytearray(prefix)
        close = False
        while True:
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                break
            if isinstance(event, MessageReady):
                self._start(self._deliver(event))
                break
            if isinstance(event, TlsRequested):
                out += conn.data_to_send()
                if transport is not None and out:
                    transport.write(bytes(out))
                out.clear()
                self._early = []
                self._start(self._upgrade())  # pauses reading before the 220 can be answered
                break
            if isinstance(event, AuthFailed) and self.policy.auth_failure_delay > 0:
                # Hold the 535 (and anything queued with it) back for a while.
                out += conn.data_to_send()
                self._start(self._delayed(bytes(out), self.policy.auth_failure_delay))
                return
            if isinstance(event, Closing):
                close = True
                break
        out += conn.data_to_send()
        if transport is None:
            return
        if out:
            transport.write(bytes(out))
        if close:
            transport.close()

    def _start(self, job: Coroutine[Any, Any, None]) -> None:
        self._busy = True
        if self.transport is not None:
            # Pipelined input waits in the kernel, not in our memory, while we are busy.
            self.transport.pause_reading()
        task: asyncio.Task[None] = self._loop.create_task(job)
        self._task = task  # keep a reference: the loop holds tasks only weakly

    def _resume(self, prefix: bytes = b"") -> None:
        self._busy = False
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        self._last = self._loop.time()
        self._pump(prefix)

    async def _delayed(self, output: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        self._resume(output)

    async def _deliver(self, ready: MessageReady) -> None:
        assert self.conn is not None
        queue_id = new_queue_id()
        try:
            await self._store(ready, queue_id)
        except (OSError, StoreError) as exc:
            log.error("delivery %s failed: %s", queue_id, exc)
            storage_full = isinstance(exc, OSError) and exc.errno == 28  # ENOSPC
            result = self.conn.send(Failed(temporary=True, storage_full=storage_full))
        except Exception:
            log.exception("delivery %s failed", queue_id)
            result = self.conn.send(Failed(temporary=True))
        else:
            result = self.conn.send(Delivered(queue_id))
        self._resume(result)

    async def _store(self, ready: MessageReady, queue_id: str) -> None:
        env = ready.envelope
        if ready.bare_lf or ready.bare_cr:
            log.warning("message %s from %s kept with %d bare LF and %d bare CR", queue_id,
                        self.peer_ip, ready.bare_lf, ready.bare_cr)
        single = env.recipients[0].address if len(env.recipients) == 1 else None
        trace = received_header(env, hostname=self.policy.hostname, peer_ip=self.peer_ip,
                                queue_id=queue_id, when=datetime.now(UTC), for_address=single)
        remote = [r for r in env.recipients if r.remote]
        if remote:
            await self._enqueue(ready, remote, trace + ready.content)
        users = env.local_users
        if users:
            data = return_path_header(env) + trace + ready.content
            await self.shared.deliverer.deliver([(user, data) for user in users])
            notify = wants_success(env)
            if notify:
                await self._notify_success(ready, notify, trace + ready.content)

    async def _notify_success(self, ready: MessageReady, recipients: list[Any],
                              data: bytes) -> None:
        """Queue the NOTIFY=SUCCESS report before the 250 (see :mod:`.dsn`).

        A DSN that cannot be written is logged, never a reason to fail the message that
        is already delivered.
        """
        env = ready.envelope
        try:
            now = time.time()
            dsn_env, dsn = success_dsn(env, data, recipients, reporting_mta=self.policy.hostname,
                                       arrival=now, now=now)
            relay = self.shared.relay
            if relay is not None:  # the queue delivers it, locally or to the next hop
                await asyncio.to_thread(relay.enqueue, dsn_env, dsn)
                return
            user = self.shared.directory.users.local_user_for(env.mail_from)
            if user is None:
                log.warning("success DSN for <%s> dropped: no relay queue", env.mail_from)
                return
            await self.shared.deliverer.deliver([(user, b"Return-Path: <>\r\n" + dsn)])
        except Exception:
            log.exception("success DSN for <%s> failed", env.mail_from)

    async def _enqueue(self, ready: MessageReady, recipients: list[Any], data: bytes) -> None:
        from reference_servers.relay import QueuedEnvelope, QueuedRecipient

        env = ready.envelope
        queued = tuple(QueuedRecipient(address, r.notify, r.orcpt if address == r.address
                                       else None)
                       for r in recipients for address in r.remote)
        envelope = QueuedEnvelope(env.mail_from, queued, envid=env.envid, ret=env.ret,
                                  smtputf8=env.smtputf8, body=env.body)
        relay = self.shared.relay
        assert relay is not None
        await asyncio.to_thread(relay.enqueue, envelope, data)

    async def _upgrade(self) -> None:
        """Run the TLS handshake, then tell the connection and replay the early bytes.

        Reading was paused in the same callback that queued the 220 (``_start``), and
        start_tls() hands the raw transport to its SSL protocol, so from here on only the
        TLS layer calls data_received(). It does so *before* start_tls() returns to us:
        when the client's first command arrives with (or just after) its Finished
        message, the SSL protocol decrypts and delivers it in the same callback that
        completes the handshake, and our coroutine only resumes on a later loop turn.
        Those bytes are legitimate TLS-protected input; they wait in ``_early`` until the
        connection has left the TLS state. Feeding them earlier would have the core
        discard them as plaintext pipelined after STARTTLS (RFC 3207 §4), and the client
        would wait for an EHLO reply that never comes.
        """
        assert self.conn is not None and self.transport is not None
        try:
            transport = await self._loop.start_tls(
                self.transport, self, self.ctx.tls, server_side=True,
                ssl_handshake_timeout=self.policy.tls_handshake_timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            self._early = None
            log.info("TLS handshake with %s failed: %s", self.peer_ip, exc)
            if self.transport is not None:
                self.transport.abort()
            return
        early, self._early = self._early or [], None
        if transport is None:
            return
        self.transport = transport
        self.conn.send(TlsEstablished())
        for chunk in early:
            self.conn.receive_data(chunk)
        self._busy = False
        self._last = self._loop.time()
        self._pump()

    # -- idle timeout (RFC 5321 §4.5.3.2) ---------------------------------------------------

    def _arm(self, delay: float) -> None:
        self._timer = self._loop.call_later(max(delay, 0.01), self._check_idle)

    def _check_idle(self) -> None:
        self._timer = None
        conn, transport = self.conn, self.transport
        if conn is None or transport is None:
            return
        timeout = conn.idle_timeout
        idle = self._loop.time() - self._last
        if self._busy or idle < timeout:
            self._arm(timeout - idle if not self._busy else timeout)
            return
        # RFC 5321 §4.5.3.2: the server closes after its timeout, with 421.
        transport.write(conn.send(TimedOut()))
        transport.close()

    def shutdown(self) -> None:
        if self.conn is not None and self.transport is not None and not self._busy:
            with contextlib.suppress(Exception):
                self.transport.write(self.conn.send(ShuttingDown()))
            self.transport.close()


async def start_listener(kind: str, host: str, port: int, ctx: ServerContext, *,
                         worker: bool = False,
                         sessions: SessionCounter | None = None) -> asyncio.Server:
    """The embedded-mode entry point (see :mod:`reference_servers.embedded`).

    With the ``workers`` setting above 1, ``workers - 1`` more processes listen on the same
    port (SO_REUSEPORT) and the kernel spreads sessions over all of them; ``worker`` is True
    in those processes. A worker queues relayed mail into the shared spool; the serving
    process's relay worker picks it up from there (see ``relay.rescan_interval``).
    """
    policy = SmtpPolicy.for_listener(kind, ctx.settings("smtp"), hostname=ctx.hostname)
    shared = _shared(ctx)
    if worker and shared.relay is None:
        shared.relay = _enqueue_only_relay(ctx)
    loop = asyncio.get_running_loop()
    implicit = policy.implicit_tls
    extra = 0 if worker else policy.workers - 1
    counter = sessions_for(extra, sessions)  # max_connections holds across the workers

    def factory() -> SmtpProtocol:
        return SmtpProtocol(kind, policy, ctx, shared, implicit_tls=implicit, sessions=counter)

    server = await loop.create_server(
        factory, host, port, ssl=ctx.tls if implicit else None,
        ssl_handshake_timeout=policy.tls_handshake_timeout if implicit else None,
        backlog=1024, reuse_address=True, reuse_port=True if extra or worker else None,
        start_serving=not extra,  # with workers: listen once they all do (see spread)
    )
    if extra:
        await spread(server, __name__, kind, host, ctx, extra, counter)
    return server


def _enqueue_only_relay(ctx: ServerContext) -> Any | None:
    """A relay queue that writes into the spool but runs no delivery worker."""
    try:
        from reference_servers.relay import relay_for_context
    except ImportError:
        return None
    return relay_for_context(ctx)


async def start_services(ctx: ServerContext) -> list[Callable[[], Awaitable[None]]]:
    """Start the relay queue (when the relay package is present) before any listener."""
    stoppers: list[Callable[[], Awaitable[None]]] = []
    try:
        from reference_servers.relay import relay_for_context
    except ImportError:
        log.warning("no relay package: mail to foreign domains will be refused")
        relay = None
    else:
        relay = relay_for_context(ctx)
        await relay.start()
        ctx.services["relay"] = relay
        stoppers.append(relay.stop)
    shared = _shared(ctx)
    shared.relay = relay

    async def close_sessions() -> None:
        for protocol in list(shared.protocols):
            protocol.shutdown()


    stoppers[:0] = [pool_stopper(ctx), close_sessions]
    return stoppers
