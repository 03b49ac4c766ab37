"""The delivery loop: take due entries, try them, retry, bounce, forget.

One asyncio task schedules; at most ``concurrency`` entries are in delivery at once.
Each attempt settles every pending recipient of an entry as delivered, failed for
good, or still pending, and the entry file is rewritten before the next attempt is
planned. A DSN is enqueued *before* the entry that caused it is updated, so a crash
can repeat a notification but never lose one (RFC 5321 §6.1: losing the fact of a
failure is worse than a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from . import client
from .bounce import RecipientReport, build_dsn
from .client import Outcome, RecipientResult
from .envelope import QueuedEnvelope, QueuedRecipient, domain_of
from .routes import NextHop, RouteTable
from .settings import RelaySettings
from .spool import Entry, LastError, Spool

log = logging.getLogger(__name__)

LocalDelivery = Callable[[str, bytes], object]
Enqueue = Callable[[QueuedEnvelope, bytes], str]


class DeliveryWorker:
    def __init__(
        self,
        spool: Spool,
        *,
        routes: RouteTable,
        hostname: str,
        local_delivery: LocalDelivery,
        is_local: Callable[[str], bool],
        settings: RelaySettings,
        enqueue: Enqueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.routes = routes
        self.hostname = hostname
        self.local_delivery = local_delivery
        self.is_local = is_local
        self.settings = settings
        self.enqueue = enqueue
        self.clock = clock
        self._entries: dict[str, Entry] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- control (event-loop thread only) ----------------------------------------------

    def start(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            self._entries.setdefault(entry.id, entry)
        self._task = asyncio.create_task(self._run(), name="relay-worker")

    def notify(self, entry_id: str) -> None:
        """A new entry is on disk (called via call_soon_threadsafe by enqueue)."""
        if entry_id not in self._entries:
            entry = self.spool.load(entry_id)
            if entry is not None:
                self._entries[entry_id] = entry
        self._wake.set()

    async def stop(self) -> None:
        """Stop at once. An attempt cut short stays pending on disk and is made again
        after a restart (at-least-once delivery, as RFC 5321 §6.1 accepts)."""
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._inflight.clear()

    # -- scheduling -------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            now = self.clock()
            next_due: float | None = None
            for entry in list(self._entries.values()):
                if entry.id in self._inflight:
                    continue
                if entry.next_attempt <= now:
                    if len(self._inflight) >= self.settings.concurrency:
                        continue  # woken again when a delivery finishes
                    self._inflight[entry.id] = asyncio.create_task(self._attempt_entry(entry))
                elif next_due is None or entry.next_attempt < next_due:
                    next_due = entry.next_attempt
            self._wake.clear()
            # Wake up at least every rescan_interval: entries that another process wrote
            # into the spool are announced to no one but the directory.
            timeout = self.settings.rescan_interval
            if next_due is not None:
                timeout = min(timeout, max(next_due - now, 0.005))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            await self._adopt_foreign_entries()

    async def _adopt_foreign_entries(self) -> None:
        ids = await asyncio.to_thread(self.spool.ids)
        for entry_id in ids:
            if entry_id not in self._entries:
                entry = await asyncio.to_thread(self.spool.load, entry_id)
                if entry is not None:
                    self._entries.setdefault(entry_id, entry)

    async def _attempt_entry(self, entry: Entry) -> None:
        try:
            await self._attempt(entry)
        except Exception:
            # A bug or a full disk: keep the entry, try again after the back-off.
            log.exception("relay: attempt on queue entry %s failed", entry.id)
            entry.next_attempt = self.clock() + self.settings.retry_delay(entry.attempts)
        finally:
            self._inflight.pop(entry.id, None)
            self._wake.set()

    # -- one attempt --------------------------------------------------------------------

    async def _attempt(self, entry: Entry) -> None:
        data = await asyncio.to_thread(self.spool.read_data, entry.id)
        env = entry.envelope
        recipients = [env.recipient(address) for address in entry.pending]
        entry.attempts += 1
        results = await self._deliver(env, recipients, data)
        now = self.clock()
        entry.last_attempt = now
        reports, pending = self._settle(entry, results, now)
        if reports and env.mail_from:
            dsn_env, dsn = build_dsn(
                env, data, reports, reporting_mta=self.hostname, arrival=entry.arrival,
                default_ret=self.settings.bounce_ret, now=now,
            )
            queue_id = await asyncio.to_thread(self.enqueue, dsn_env, dsn)
            log.info("relay: %s: DSN %s queued for <%s>", entry.id, queue_id, env.mail_from)
        if any(r.action == "delayed" for r in reports):
            entry.delay_warned = True
        entry.pending = pending
        if not pending:
            await asyncio.to_thread(self.spool.remove, entry.id)
            self._entries.pop(entry.id, None)
            return
        entry.next_attempt = now + self.settings.retry_delay(entry.attempts)
        await asyncio.to_thread(self.spool.save, entry)

    def _settle(
        self, entry: Entry, results: Sequence[RecipientResult], now: float
    ) -> tuple[list[RecipientReport], list[str]]:
        """Decide each recipient's fate and which DSN blocks it earns (RFC 3461 §5.2)."""
        env = entry.envelope
        expired = now - entry.arrival >= self.settings.max_age
        warn = (
            self.settings.delay_warning is not None
            and not entry.delay_warned
            and now - entry.arrival >= self.settings.delay_warning
        )
        reports: list[RecipientReport] = []
        pending: list[str] = []
        for result in results:
            rcpt = env.recipient(result.address)
            if result.outcome is Outcome.DELIVERED:
                entry.last_errors.pop(result.address, None)
                action = self._success_action(rcpt, result)
                if action:
                    reports.append(_report(rcpt, action, result, now))
                continue
            if result.outcome is Outcome.PERMANENT:
                log.info("relay: %s: <%s> failed: %s", entry.id, rcpt.address, result.diagnostic)
                if rcpt.wants("FAILURE"):  # RFC 3461 §5.2.6
                    reports.append(_report(rcpt, "failed", result, now))
                continue
            entry.last_errors[result.address] = LastError(
                result.status, result.diagnostic, result.remote_mta, result.smtp_reply
            )
            if expired:
                # RFC 5321 §4.5.4.1: give up after the retry period and tell the sender;
                # RFC 3463 X.4.7: delivery time expired.
                log.info("relay: %s: <%s> expired: %s", entry.id, rcpt.address, result.diagnostic)
                if rcpt.wants("FAILURE"):
                    reports.append(_report(rcpt, "failed", result, now, status="4.4.7"))
                continue
            pending.append(result.address)
            if warn and rcpt.wants("DELAY"):  # RFC 3461 §5.2.5
                reports.append(_report(
                    rcpt, "delayed", result, now,
                    will_retry_until=entry.arrival + self.settings.max_age,
                ))
        return reports, pending

    def _success_action(self, rcpt: QueuedRecipient, result: RecipientResult) -> str | None:
        if not rcpt.wants("SUCCESS"):
            return None
        if self.is_local(rcpt.address):
            return "delivered"  # RFC 3461 §5.2.3: local delivery with NOTIFY=SUCCESS
        if result.dsn_relayed:
            # RFC 3461 §5.2.1: a next hop with DSN took NOTIFY along; reporting success
            # is now its job, not ours.
            return None
        return "relayed"  # RFC 3461 §5.2.2: the next hop cannot report, so we say so

    async def _deliver(
        self, env: QueuedEnvelope, recipients: Sequence[QueuedRecipient], data: bytes
    ) -> list[RecipientResult]:
        results: dict[str, RecipientResult] = {}
        groups: dict[NextHop, list[QueuedRecipient]] = {}
        for rcpt in recipients:
            if self.is_local(rcpt.address):
                results[rcpt.address] = await self._deliver_local(env, rcpt, data)
                continue
            domain = domain_of(rcpt.address)
            hop = self.routes.lookup(domain)
            if hop is not None:
                groups.setdefault(hop, []).append(rcpt)
            elif self.routes.has_route(domain):
                results[rcpt.address] = RecipientResult(
                    rcpt.address, Outcome.TRANSIENT, "4.4.3",
                    f"the next hop for {domain} is not running yet",
                )
            else:
                # RFC 3463 X.4.4: unable to route; there is no DNS to fall back on.
                results[rcpt.address] = RecipientResult(
                    rcpt.address, Outcome.PERMANENT, "5.4.4", f"no route to domain {domain}"
                )
        attempts = [
            client.deliver(hop, env, group, data, hostname=self.hostname, settings=self.settings)
            for hop, group in groups.items()
        ]
        for group_results in await asyncio.gather(*attempts):
            for result in group_results:
                results[result.address] = result
        return [results[r.address] for r in recipients]

    async def _deliver_local(
        self, env: QueuedEnvelope, rcpt: QueuedRecipient, data: bytes
    ) -> RecipientResult:
        # RFC 5321 §4.4: final delivery records the reverse-path as Return-Path.
        stored = f"Return-Path: <{env.mail_from}>\r\n".encode() + data
        try:
            await asyncio.to_thread(self.local_delivery, rcpt.address, stored)
        except LookupError as exc:
            return RecipientResult(
                rcpt.address, Outcome.PERMANENT, "5.1.1", f"no such local mailbox: {exc}"
            )
        except Exception as exc:
            log.warning("relay: local delivery to <%s> failed: %r", rcpt.address, exc)
            return RecipientResult(
                rcpt.address, Outcome.TRANSIENT, "4.3.0", f"local delivery failed: {exc!r}"
            )
        return RecipientResult(rcpt.address, Outcome.DELIVERED, "2.0.0", "delivered locally")


def _report(
    rcpt: QueuedRecipient,
    action: str,
    result: RecipientResult,
    now: float,
    *,
    status: str | None = None,
    will_retry_until: float | None = None,
) -> RecipientReport:
    return RecipientReport(
        recipient=rcpt,
        action=action,
        status=status or result.status,
        diagnostic=result.diagnostic,
        smtp_diagnostic=result.smtp_reply,
        remote_mta=result.remote_mta,
        last_attempt=now,
        will_retry_until=will_retry_until,
    )
