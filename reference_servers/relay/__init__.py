"""The relay: the client-MTA half of the reference SMTP server (RFC 5321 §3.6, §4.5.4).

Mail for a domain that is not local is queued durably on disk, delivered over SMTP to
the next hop from a static route table (no DNS), retried with exponential back-off on
4xx replies and connection failures, and bounced to its sender as an RFC 3464 delivery
status notification on 5xx or when it expires.

The interface the SMTP server codes against::

    @dataclass(frozen=True)
    class QueuedRecipient:
        address: str                          # forward-path without <>, as received
        notify: frozenset[str] = frozenset()  # RFC 3461 NOTIFY, upper-case:
                                              #   {"NEVER"} or a subset of SUCCESS/FAILURE/DELAY;
                                              #   empty = not given (failure DSNs only)
        orcpt: str | None = None              # RFC 3461 ORCPT exactly as received:
                                              #   "addr-type;xtext", e.g. "rfc822;bob@b.test"

    @dataclass(frozen=True)
    class QueuedEnvelope:
        mail_from: str                        # reverse-path without <>; "" is the null path
        recipients: tuple[QueuedRecipient, ...]
        envid: str | None = None              # RFC 3461 ENVID, the xtext as received
        ret: str | None = None                # "FULL" | "HDRS" | None
        smtputf8: bool = False                # MAIL had SMTPUTF8 (RFC 6531)
        body: str = "7BIT"                    # "7BIT" | "8BITMIME" | "BINARYMIME"

    class RelayQueue:
        def __init__(self, queue_dir: Path, *, routes: RouteTable, hostname: str,
                     local_delivery: Callable[[str, bytes], object],
                     is_local: Callable[[str], bool], settings: Mapping[str, Any]) -> None
        def enqueue(self, envelope: QueuedEnvelope, data: bytes) -> str
            # sync and thread-safe; the entry is on disk and fsync'd when it returns
            # (call it via asyncio.to_thread before sending 250). Returns the queue id.
        async def start(self) -> None   # picks up pending entries, starts the worker
        async def stop(self) -> None    # stops the worker; entries stay on disk
        def pending(self) -> list[str]  # queue ids still on disk, oldest first

- ``data`` is the message as received (after the server's own Received: line), CRLF.
- ``local_delivery(address, data)`` is called (in a worker thread) for every recipient
  for which ``is_local(address)`` is true, bounces to local senders included. ``data``
  already carries ``Return-Path:`` (RFC 5321 §4.4). It should raise LookupError for an
  unknown mailbox (a permanent failure), OSError for a transient one (retried).
- ``is_local(address)`` is true when the address's domain is served here.
- :func:`relay_for_context` builds all of it from an embedded ``ServerContext``:
  routes from ``settings["smtp"]["routes"]``, queue options from
  ``settings["smtp"]["relay"]`` (see :class:`RelaySettings`), the queue under
  ``<data_dir>/queue/``, local delivery into ``ctx.store``.
"""

from .envelope import QueuedEnvelope, QueuedRecipient
from .queue import RelayQueue, relay_for_context
from .routes import NextHop, RouteError, RouteTable
from .settings import RelaySettings

__all__ = [
    "NextHop",
    "QueuedEnvelope",
    "QueuedRecipient",
    "RelayQueue",
    "RelaySettings",
    "RouteError",
    "RouteTable",
    "relay_for_context",
]
