"""A delivery killed at each step never shows a partial message, never reuses a UID."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from reference_servers.store import Store
from reference_servers.store._durable import syncfs_available

STEPS = ["tmp-partial", "tmp-synced", "uid-recorded", "renamed", "dir-synced"]
VISIBLE_AFTER = {"renamed", "dir-synced"}
BIG = b"Subject: big\r\n\r\n" + b"x" * 200 + b"\r\n" * 1000 + b"y" * 100_000 + b"\r\n"
CRASHED = 17


def _die_at(step: str):
    def hook(name: str) -> None:
        if name == step:
            os._exit(CRASHED)  # no cleanup, no flush: as close to a crash as a test gets
    return hook


def _deliver(root: str, step: str, many: bool, sync: str) -> None:
    store = Store(root, sync=sync, hook=_die_at(step))
    if many:
        store.deliver_many([("alice", BIG), ("bob", BIG), ("alice", BIG)])
    else:
        store.deliver("alice", BIG)
    os._exit(0)


def _run_child(root: Path, step: str, *, many: bool, sync: str) -> int | None:
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=_deliver, args=(str(root), step, many, sync))
    proc.start()
    proc.join(30)
    return proc.exitcode


@pytest.fixture(params=["fsync", "syncfs"])
def sync(request: pytest.FixtureRequest) -> str:
    """Both ways of making a delivery durable go through the same steps."""
    if request.param == "syncfs" and not syncfs_available():
        pytest.skip("syncfs(2) is Linux-only")
    return str(request.param)


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_each_step_of_a_delivery(tmp_path: Path, step: str, sync: str) -> None:
    root = tmp_path / "mail"
    before = Store(root).deliver("alice", b"Subject: first\r\n\r\nfirst\r\n")
    validity = Store(root).mailbox("alice").folder().uidvalidity

    assert _run_child(root, step, many=False, sync=sync) == CRASHED

    inbox = Store(root).mailbox("alice").folder()
    msgs = inbox.messages()
    for m in msgs:
        data = inbox.read(m.uid)
        assert data in (BIG, b"Subject: first\r\n\r\nfirst\r\n")  # never a partial message
        assert m.size == len(data)
    if step in VISIBLE_AFTER:
        assert [m.uid for m in msgs] == [before.uid, before.uid + 1]
    else:
        assert [m.uid for m in msgs] == [before.uid]
    assert inbox.uidvalidity == validity
    # The next delivery never reuses a UID the crashed writer may have recorded.
    after = Store(root).deliver("alice", b"Subject: after\r\n\r\nafter\r\n")
    assert after.uid > before.uid + (1 if step in VISIBLE_AFTER | {"uid-recorded"} else 0)
    assert Store(root).mailbox("alice").folder().read(after.uid).endswith(b"after\r\n")


@pytest.mark.parametrize("step", ["tmp-synced", "uid-recorded", "renamed"])
def test_crash_during_group_commit(tmp_path: Path, step: str, sync: str) -> None:
    root = tmp_path / "mail"
    assert _run_child(root, step, many=True, sync=sync) == CRASHED
    store = Store(root)
    for user in ("alice", "bob"):
        folder = store.mailbox(user).folder()
        for m in folder.messages():
            assert folder.read(m.uid) == BIG
    # Killed before any rename: nothing shows; killed after the first folder's renames:
    # that folder's messages are complete.
    counts = [len(store.mailbox(u).folder().messages()) for u in ("alice", "bob")]
    assert counts == ([2, 0] if step == "renamed" else [0, 0])
