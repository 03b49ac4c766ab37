"""The two ways of making a delivery durable: per-file fsync, and syncfs per group commit."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from reference_servers.store import Store, _store
from reference_servers.store._durable import sync_filesystem, syncfs_available
from reference_servers.store._folder import UIDLIST_FILE
from reference_servers.store._store import resolve_sync_method

BODY = b"Subject: sync\r\n\r\nbody\r\n"

needs_syncfs = pytest.mark.skipif(not syncfs_available(), reason="syncfs(2) is Linux-only")


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one of auto, fsync, syncfs"):
        Store(tmp_path, sync="fdatasync")


def test_auto_prefers_syncfs_where_the_kernel_has_it() -> None:
    assert resolve_sync_method("auto") == ("syncfs" if syncfs_available() else "fsync")
    assert resolve_sync_method("fsync") == "fsync"


@needs_syncfs
def test_sync_filesystem_reports_a_missing_directory(tmp_path: Path) -> None:
    sync_filesystem(tmp_path)  # a plain success
    with pytest.raises(FileNotFoundError):
        sync_filesystem(tmp_path / "gone")


@needs_syncfs
@pytest.mark.parametrize("many", [False, True])
def test_files_and_uids_are_synced_before_any_rename_and_the_renames_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, many: bool) -> None:
    store = Store(tmp_path / "mail", sync="syncfs")
    inbox = store.mailbox("alice").folder()
    seen: list[tuple[int, int, bytes]] = []

    def spy(path: Path) -> None:
        # What a crash right after this syncfs would leave: tmp files, uid list, new/.
        seen.append((len(list((inbox.path / "tmp").iterdir())),
                     len(list((inbox.path / "new").iterdir())),
                     (inbox.path / UIDLIST_FILE).read_bytes()))
        sync_filesystem(path)

    monkeypatch.setattr(_store, "sync_filesystem", spy)
    if many:
        infos = store.deliver_many([("alice", BODY), ("alice", BODY)])
    else:
        infos = [store.deliver("alice", BODY)]
    count = len(infos)
    assert len(seen) == 2, "one syncfs before the renames, one after"
    (tmp_before, new_before, uidlist), (tmp_after, new_after, _) = seen
    assert (tmp_before, new_before) == (count, 0)  # written, not yet visible
    for info in infos:  # each UID is recorded before its message can be seen
        assert f"\n{info.uid} ".encode() in uidlist
    assert (tmp_after, new_after) == (0, count)
    assert [inbox.read(info.uid) for info in infos] == [BODY] * count


@needs_syncfs
def test_two_syncs_per_batch_however_many_folders(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "mail", sync="syncfs")
    users = [f"user{i}" for i in range(6)]
    store.deliver_many([(user, BODY) for user in users])  # create the folders
    calls: list[Path] = []
    monkeypatch.setattr(_store, "sync_filesystem", calls.append)
    infos = store.deliver_many([(user, BODY) for user in users + users[::-1]])
    assert len(calls) == 2  # every uid list and file before the renames, then the renames
    assert [info.uid for info in infos] == [2] * 6 + [3] * 6


def test_group_commits_over_the_same_folders_in_any_order_never_deadlock(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "mail", sync="syncfs")
    users = [f"user{i}" for i in range(5)]

    def deliver(order: list[str]) -> None:
        for _ in range(20):
            store.deliver_many([(user, BODY) for user in order])

    threads = [threading.Thread(target=deliver, args=(users if i % 2 else users[::-1],))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "group commits deadlocked"
    for user in users:
        assert [m.uid for m in store.mailbox(user).folder().messages()] == list(range(1, 81))


@needs_syncfs
def test_a_failing_syncfs_fails_the_delivery_and_leaves_nothing_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "mail", sync="syncfs")
    inbox = store.mailbox("alice").folder()

    def broken(_path: Path) -> None:
        raise OSError(errno.EIO, "syncfs: Input/output error")

    monkeypatch.setattr(_store, "sync_filesystem", broken)
    with pytest.raises(OSError, match="Input/output"):
        store.deliver_many([("alice", BODY), ("alice", BODY)])
    with pytest.raises(OSError, match="Input/output"):
        store.deliver("alice", BODY)
    assert inbox.messages() == []
    assert list((inbox.path / "tmp").iterdir()) == []
    monkeypatch.undo()
    # The UIDs the failed commits recorded are never handed out again.
    assert store.deliver("alice", BODY).uid == 4


@pytest.mark.parametrize("method", ["fsync", "syncfs"])
def test_both_methods_deliver_the_same_mailbox(tmp_path: Path, method: str) -> None:
    if method == "syncfs" and not syncfs_available():
        pytest.skip("syncfs(2) is Linux-only")
    store = Store(tmp_path / method, sync=method)
    first = store.deliver("alice", BODY, flags=["\\Seen"])
    rest = store.deliver_many([("alice", BODY), ("bob", BODY)])
    inbox = store.mailbox("alice").folder()
    assert [m.uid for m in inbox.messages()] == [first.uid, rest[0].uid] == [1, 2]
    assert inbox.get(1).flags == frozenset({"\\Seen"})
    assert store.mailbox("bob").folder().read(rest[1].uid) == BODY
