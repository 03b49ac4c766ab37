"""Group commit across sessions (reference_servers/smtp/delivery.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from reference_servers.smtp.delivery import GroupDeliverer
from reference_servers.store import MessageInfo, Store

BODY = b"Subject: group\r\n\r\nbody\r\n"


def test_concurrent_sessions_share_commits_and_each_gets_its_own_message(
        tmp_path: Path) -> None:
    store = Store(tmp_path)
    deliverer = GroupDeliverer(store)

    async def sessions() -> list[list[MessageInfo]]:
        return await asyncio.gather(*(
            deliverer.deliver([("alice", BODY + b"%d\r\n" % i)]) for i in range(40)))

    results = asyncio.run(sessions())
    assert deliverer.messages == 40
    assert deliverer.batches < 40  # sessions that finished DATA together shared a commit
    inbox = store.mailbox("alice").folder()
    for i, (info,) in enumerate(results):
        assert inbox.read(info.uid) == BODY + b"%d\r\n" % i
    assert sorted(info.uid for (info,) in results) == list(range(1, 41))


class _FailingStore(Store):
    """A store whose batches fail whenever they hold a delivery for ``bad``."""

    def deliver_many(self, deliveries: Sequence[tuple[str, bytes]]) -> list[MessageInfo]:
        if any(user == "bad" for user, _ in deliveries):
            raise OSError(5, "Input/output error")
        return super().deliver_many(deliveries)


def test_a_failing_delivery_fails_alone(tmp_path: Path) -> None:
    store = _FailingStore(tmp_path)
    deliverer = GroupDeliverer(store)

    async def sessions() -> list[list[MessageInfo] | BaseException]:
        users = ["alice", "bad", "bob", "alice"]
        return await asyncio.gather(
            *(deliverer.deliver([(user, BODY)]) for user in users), return_exceptions=True)

    results = asyncio.run(sessions())
    assert isinstance(results[1], OSError)
    good = [r for i, r in enumerate(results) if i != 1]
    assert all(isinstance(r, list) and len(r) == 1 for r in good)
    assert len(store.mailbox("alice").folder().messages()) == 2
    assert len(store.mailbox("bob").folder().messages()) == 1


@pytest.mark.parametrize("committers", [1, 2])
def test_every_message_is_committed_whatever_the_number_of_committers(
        tmp_path: Path, committers: int) -> None:
    store = Store(tmp_path)
    deliverer = GroupDeliverer(store, workers=committers, max_batch=3)

    async def sessions() -> None:
        await asyncio.gather(*(deliverer.deliver([("alice", BODY), ("bob", BODY)])
                               for _ in range(10)))

    asyncio.run(sessions())
    assert deliverer.messages == 20
    assert deliverer.batches >= 4  # at most 3 sessions per batch
    for user in ("alice", "bob"):
        assert len(store.mailbox(user).folder().messages()) == 10
