"""RelayQueue: what the SMTP server sees of the relay (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .envelope import QueuedEnvelope, domain_of
from .routes import RouteTable
from .settings import RelaySettings
from .spool import Entry, Spool
from .worker import DeliveryWorker

if TYPE_CHECKING:
    from ..embedded import ServerContext


class RelayQueue:
    def __init__(
        self,
        queue_dir: Path,
        *,
        routes: RouteTable,
        hostname: str,
        local_delivery: Callable[[str, bytes], object],
        is_local: Callable[[str], bool],
        settings: Mapping[str, Any] | RelaySettings | None = None,
    ) -> None:
        if not isinstance(settings, RelaySettings):
            settings = RelaySettings.from_mapping(settings)
        self.settings = settings
        self.routes = routes
        self.hostname = hostname
        self._local_delivery = local_delivery
        self._is_local = is_local
        self._spool = Spool(Path(queue_dir))
        # Serialises enqueue against start(): every entry is either found by the
        # recovery scan or announced to a worker that exists.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: DeliveryWorker | None = None
        self._lock_fd: int | None = None

    @property
    def directory(self) -> Path:
        return self._spool.dir

    def enqueue(self, envelope: QueuedEnvelope, data: bytes) -> str:
        """Store the message durably and hand it to the worker; return its queue id.

        Blocking (fsync); call it from a thread. When it returns, the message survives
        a crash, so the SMTP server may send its 250 (RFC 5321 §6.1).
        """
        with self._lock:
            entry = self._spool.create(envelope, data)
            loop, worker = self._loop, self._worker
        if loop is not None and worker is not None:
            # A closing loop raises RuntimeError; the entry then waits on disk.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(worker.notify, entry.id)
        return entry.id

    def pending(self) -> list[str]:
        """The ids of the entries still on disk, oldest first."""
        return self._spool.ids()

    @property
    def running(self) -> bool:
        return self._worker is not None

    async def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("the relay queue is already running")
        self._lock_fd = await asyncio.to_thread(_lock_dir, self._spool.dir)
        loop = asyncio.get_running_loop()
        worker = DeliveryWorker(
            self._spool,
            routes=self.routes,
            hostname=self.hostname,
            local_delivery=self._local_delivery,
            is_local=self._is_local,
            settings=self.settings,
            enqueue=self.enqueue,
        )

        def recover() -> list[Entry]:
            with self._lock:
                entries = self._spool.recover()
                self._loop, self._worker = loop, worker
                return entries

        try:
            entries = await asyncio.to_thread(recover)
        except BaseException:
            self._release()
            raise
        worker.start(entries)

    async def stop(self) -> None:
        worker = self._worker
        with self._lock:
            self._loop, self._worker = None, None
        if worker is not None:
            await worker.stop()
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None


def _lock_dir(directory: Path) -> int:
    """Hold an exclusive flock so two workers never deliver the same entries."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"another relay worker is running on {directory}") from None
    return fd


def relay_for_context(
    ctx: ServerContext,
    *,
    local_delivery: Callable[[str, bytes], object] | None = None,
) -> RelayQueue:
    """The relay queue of one embedded server, configured from its context.

    Routes come from ``settings["smtp"]["routes"]`` (named servers resolved through
    ``settings["smtp"]["server_directory"]``, which the topology fills in), options from
    ``settings["smtp"]["relay"]``; local recipients go into ``ctx.store``.
    """
    smtp = ctx.settings("smtp")
    routes = RouteTable.from_settings(smtp.get("routes"), directory=smtp.get("server_directory"))

    def is_local(address: str) -> bool:
        return ctx.users.is_local_domain(domain_of(address))

    def deliver_local(address: str, data: bytes) -> None:
        user = ctx.users.local_user_for(address)
        if user is None:
            raise LookupError(address)
        ctx.store.deliver(user, data)

    return RelayQueue(
        ctx.data_dir / "queue",
        routes=routes,
        hostname=ctx.hostname,
        local_delivery=local_delivery or deliver_local,
        is_local=is_local,
        settings=smtp.get("relay"),
    )
