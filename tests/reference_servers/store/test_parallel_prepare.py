"""With sync="fsync", deliver_many syncs its tmp files in parallel threads; that must survive
a fork."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from reference_servers.store import Store

BODY = b"Subject: parallel\r\n\r\nbody\r\n"


def _child(root: str) -> None:
    Store(root, sync="fsync").deliver_many([("alice", BODY), ("bob", BODY), ("alice", BODY)])


def test_group_commit_in_a_forked_child_after_the_parent_used_the_pool(tmp_path: Path) -> None:
    root = tmp_path / "mail"
    store = Store(root, sync="fsync")
    # The parent's pool now has more idle threads than the child's batch needs, so a child
    # that reused the inherited (thread-less) pool would queue work nobody runs.
    store.deliver_many([("alice", BODY)] * 8 + [("bob", BODY)] * 8)
    child = multiprocessing.get_context("fork").Process(target=_child, args=(str(root),))
    child.start()
    child.join(timeout=20)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    assert len(store.mailbox("alice").folder().messages()) == 10
    assert len(store.mailbox("bob").folder().messages()) == 9


def test_parallel_batch_keeps_order_and_uids(tmp_path: Path) -> None:
    store = Store(tmp_path / "mail", sync="fsync")
    bodies = [b"Subject: %d\r\n\r\n%d\r\n" % (i, i) for i in range(40)]
    infos = store.deliver_many([("alice", body) for body in bodies])
    assert [info.uid for info in infos] == list(range(1, 41))
    folder = store.mailbox("alice").folder()
    assert [folder.read(info.uid) for info in infos] == bodies
