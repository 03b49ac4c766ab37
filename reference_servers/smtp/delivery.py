"""Durable delivery off the event loop, with group commit across sessions.

Every session's message goes into one shared batch; a worker thread hands the whole
batch to :meth:`Store.deliver_many`, which makes the batch durable at once (one syncfs
before and one after the renames, or each file's fsync and one fsync per directory).
While one batch is being synced the next one fills up, so under load many sessions share
one sync. One committer per process is the default: measured with smtp-source (50
sessions, 2 server processes), two committers made smaller batches whose syncs waited for
each other: 3,100 vs 3,500-4,200 msg/s reusing connections, 2,000 vs 2,500 with a new
connection per message, and more CPU per message. Each caller still gets its own
outcome: if a batch fails, its parts are retried one by one so that a single bad
delivery fails alone. The 250 reply is sent only after the awaited call returns
(RFC 5321 §6.1: once accepted, the server is responsible for the message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from reference_servers.store import MessageInfo, Store

log = logging.getLogger("reference_servers.smtp")

Batch = list[tuple[list[tuple[str, bytes]], "asyncio.Future[list[MessageInfo]]"]]


class GroupDeliverer:
    def __init__(self, store: Store, *, workers: int = 1, max_batch: int = 512) -> None:
        self.store = store
        self.workers = workers
        self.max_batch = max_batch
        self._pending: Batch = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # for the benchmark report: how many deliver_many calls
        self.messages = 0

    async def deliver(self, items: Sequence[tuple[str, bytes]]) -> list[MessageInfo]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[MessageInfo]] = loop.create_future()
        self._pending.append((list(items), future))
        if self._running < self.workers:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit(batch)
        finally:
            self._running -= 1

    async def _commit(self, batch: Batch) -> None:
        flat = [item for items, _ in batch for item in items]
        try:
            infos = await asyncio.to_thread(self.store.deliver_many, flat)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc=exc)
                return
            for part in batch:  # isolate the failing delivery
                await self._commit([part])
            return
        self.batches += 1
        self.messages += len(flat)
        start = 0
        for items, future in batch:
            _settle(future, infos[start : start + len(items)])
            start += len(items)


def _settle(future: asyncio.Future[list[MessageInfo]], result: list[MessageInfo] | None = None,
            *, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result or [])
