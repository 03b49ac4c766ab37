"""A folder against its files: delivery, reads, flags, removal, UIDs, sync with disk."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reference_servers.store import (
    InvalidFlag,
    MailboxNotFound,
    MessageNotFound,
    Store,
    StoreError,
)
from reference_servers.store import _folder as folder_module

from .conftest import MSG


def test_deliver_then_read_back(store: Store) -> None:
    info = store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder("inbox")
    assert info.uid == 1 and inbox.uidnext == 2
    assert info.size == len(MSG) and info.flags == frozenset()
    assert info.internaldate.tzinfo is not None
    assert abs(info.internaldate - datetime.now(UTC)) < timedelta(minutes=1)
    assert info.path.parent.name == "new"
    assert inbox.read(1) == MSG
    assert inbox.messages() == [info]
    assert inbox.get(1) == info
    assert not list((inbox.path / "tmp").iterdir())


def test_uids_strictly_increase_and_are_never_reused(tmp_path: Path, store: Store) -> None:
    uids = [store.deliver("alice", MSG).uid for _ in range(3)]
    assert uids == [1, 2, 3]
    inbox = store.mailbox("alice").folder()
    validity = inbox.uidvalidity
    inbox.remove([3])
    assert [m.uid for m in inbox.messages()] == [1, 2]
    # A new process (new Store) must not hand out 3 again.
    again = Store(tmp_path / "mail")
    assert again.deliver("alice", MSG).uid == 4
    assert again.mailbox("alice").folder().uidvalidity == validity


def test_internaldate_and_flags_on_delivery(store: Store) -> None:
    when = datetime(2020, 2, 29, 13, 14, 15, tzinfo=timezone(timedelta(hours=-5)))
    info = store.deliver("alice", MSG, flags=["\\seen", "$Label1"], internaldate=when)
    assert info.internaldate == when
    assert info.flags == {"\\Seen", "$Label1"}
    assert info.path.parent.name == "cur" and info.path.name.endswith(":2,Sa")
    reread = Store(store.root).mailbox("alice").folder().get(info.uid)
    assert reread.internaldate == when and reread.flags == info.flags
    with pytest.raises(ValueError):
        store.deliver("alice", MSG, internaldate=datetime(2020, 1, 1))  # naive


def test_lf_file_reports_crlf_size(store: Store) -> None:
    inbox = store.mailbox("alice").folder()
    lf = b"Subject: x\n\nline one\nline two\n"
    (inbox.path / "new" / "1.foreign.host").write_bytes(lf)
    (msg,) = inbox.messages()
    assert msg.size == len(lf.replace(b"\n", b"\r\n"))
    assert inbox.read(msg.uid) == lf  # stored bytes exactly, no rewriting
    assert store.deliver("alice", lf).size == msg.size


def test_set_flags_replaces_and_survives_reopen(store: Store) -> None:
    info = store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    flagged = inbox.set_flags(info.uid, ["\\Flagged", "\\Seen", "Work"])
    assert flagged.flags == {"\\Flagged", "\\Seen", "Work"}
    assert flagged.path.name.endswith(":2,FSa") and flagged.path.parent.name == "cur"
    assert flagged.key == info.key and flagged.uid == info.uid
    assert inbox.set_flags(info.uid, ["\\Deleted"]).flags == {"\\Deleted"}
    other = Store(store.root).mailbox("alice").folder()
    assert other.get(info.uid).flags == {"\\Deleted"}
    assert other.read(info.uid) == MSG
    with pytest.raises(InvalidFlag):
        inbox.set_flags(info.uid, ["\\Recent"])
    with pytest.raises(MessageNotFound):
        inbox.set_flags(99, ["\\Seen"])


def test_foreign_info_letters_are_kept(store: Store) -> None:
    inbox = store.mailbox("alice").folder()
    (inbox.path / "cur" / "5.x.host:2,PS").write_bytes(MSG)
    (msg,) = inbox.messages()
    assert msg.flags == {"\\Seen"}
    changed = inbox.set_flags(msg.uid, ["\\Answered"])
    assert changed.path.name == "5.x.host:2,PR"


def test_keyword_limit(store: Store) -> None:
    info = store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    inbox.set_flags(info.uid, [f"k{i}" for i in range(24)])
    with pytest.raises(StoreError):
        inbox.set_flags(info.uid, ["x1", "x2", "x3"])  # 27 keywords in all
    # The failed call must not leave x1/x2 half-registered in memory only.
    assert inbox.get(info.uid).flags == {f"k{i}" for i in range(24)}
    assert inbox.set_flags(info.uid, ["x3"]).flags == {"x3"}
    assert Store(store.root).mailbox("alice").folder().get(info.uid).flags == {"x3"}
    assert "x1" not in (inbox.path / folder_module.KEYWORDS_FILE).read_text()


def test_folder_recreated_by_another_process_gets_a_fresh_lock(store: Store) -> None:
    mine = store.mailbox("alice").create_folder("Work")
    mine.deliver(MSG)
    theirs = Store(store.root).mailbox("alice")
    theirs.delete_folder("Work")
    theirs.create_folder("Work")
    # Our cached Folder now points at a new directory with a new lock file.
    assert mine.deliver(MSG).uid == 1
    lock_fd = mine._flock._fd
    assert lock_fd is not None
    assert os.fstat(lock_fd).st_ino == os.stat(mine.path / folder_module.LOCK_FILE).st_ino
    assert [m.uid for m in mine.messages()] == [1]


def test_read_follows_a_rename_by_another_process(store: Store) -> None:
    info = store.deliver("alice", MSG)
    mine = store.mailbox("alice").folder()
    theirs = Store(store.root).mailbox("alice").folder()
    assert mine.get(info.uid).path == info.path
    theirs.set_flags(info.uid, ["\\Seen"])
    assert mine.read(info.uid) == MSG  # the cached path is stale; read must cope
    assert mine.get(info.uid).flags == {"\\Seen"}
    assert mine.set_flags(info.uid, ["\\Seen", "\\Answered"]).flags == {"\\Seen", "\\Answered"}


def test_removal_by_another_process_is_seen(store: Store) -> None:
    a = store.deliver("alice", MSG)
    b = store.deliver("alice", MSG)
    mine = store.mailbox("alice").folder()
    assert len(mine.messages()) == 2
    os.unlink(a.path)
    assert [m.uid for m in mine.messages()] == [b.uid]
    with pytest.raises(MessageNotFound):
        mine.read(a.uid)
    mine.remove([a.uid, b.uid, 12345])  # unknown and gone UIDs are ignored
    assert mine.messages() == []


def test_claim_new_moves_to_cur_once(store: Store) -> None:
    first = store.deliver("alice", MSG)
    second = store.deliver("alice", MSG, flags=["\\Seen"])
    session1 = store.mailbox("alice").folder()
    session2 = Store(store.root).mailbox("alice").folder()
    assert session1.claim_new() == [first.uid]
    assert session2.claim_new() == []
    msgs = session2.messages()
    assert all(m.path.parent.name == "cur" for m in msgs)
    assert [m.uid for m in msgs] == [first.uid, second.uid]


def test_foreign_files_get_the_next_uids(store: Store) -> None:
    store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    for i, name in enumerate(["200.b.host", "100.a.host:2,S"]):
        path = inbox.path / ("cur" if ":" in name else "new") / name
        path.write_bytes(MSG)
        os.utime(path, (1000 + i, 1000 + i))
    msgs = inbox.messages()
    assert [m.uid for m in msgs] == [1, 2, 3]
    assert [m.key for m in msgs[1:]] == ["200.b.host", "100.a.host"]  # by arrival time
    assert inbox.uidnext == 4


def test_junk_in_the_directories_is_not_a_message(store: Store, tmp_path: Path) -> None:
    inbox = store.mailbox("alice").folder()
    secret = tmp_path / "secret"
    secret.write_bytes(b"not yours")
    os.symlink(secret, inbox.path / "new" / "1.link.host")
    (inbox.path / "new" / ".hidden").write_bytes(b"x")
    os.mkdir(inbox.path / "cur" / "2.dir.host")
    assert inbox.messages() == []


def test_lost_uid_list_changes_uidvalidity(store: Store) -> None:
    store.deliver("alice", MSG)
    store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    old = inbox.uidvalidity
    os.unlink(inbox.path / folder_module.UIDLIST_FILE)
    assert inbox.uidvalidity > old  # RFC 3501 §2.3.1.1
    assert [m.uid for m in inbox.messages()] == [1, 2]
    assert inbox.read(2) == MSG


@pytest.mark.parametrize("damage", [b"garbage\n", b"\xff\xfe", b""])
def test_corrupt_uid_list_changes_uidvalidity(store: Store, damage: bytes) -> None:
    store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    old = inbox.uidvalidity
    (inbox.path / folder_module.UIDLIST_FILE).write_bytes(damage)
    fresh = Store(store.root).mailbox("alice").folder()
    assert fresh.uidvalidity > old
    assert [m.uid for m in fresh.messages()] == [1]
    assert fresh.deliver(MSG).uid == 2


def test_unchanged_folder_does_not_rescan(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    inbox.messages()
    calls = []
    real_scan = folder_module.scan
    monkeypatch.setattr(folder_module, "scan", lambda p: calls.append(p) or real_scan(p))
    # Pretend the directory changes are old enough to trust their mtimes.
    monkeypatch.setattr(folder_module, "_MTIME_SLACK_NS", -10**18)
    inbox.messages()
    inbox.messages()
    assert calls == []
    store.deliver("alice", MSG)
    assert len(inbox.messages()) == 4 and len(calls) == 1


def test_a_large_index_is_used_instead_of_reading_bodies(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = Store(store.root, fsync=False)
    for _ in range(50):
        fast.deliver("alice", MSG)
    opened: list[Path] = []
    real_measure = folder_module.measure
    monkeypatch.setattr(folder_module, "measure",
                        lambda p, b: opened.append(p) or real_measure(p, b))
    reopened = Store(store.root).mailbox("alice").folder()
    assert len(reopened.messages()) == 50
    assert opened == []  # every size and date came from the uid list


def test_threads_delivering_to_one_folder(store: Store) -> None:
    inbox = store.mailbox("alice").folder()
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                results.append(inbox.deliver(MSG).uid)
                inbox.messages()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == list(range(1, 41))
    assert [m.uid for m in inbox.messages()] == list(range(1, 41))


def test_deleted_folder_raises(store: Store) -> None:
    box = store.mailbox("alice")
    folder = box.create_folder("Trash")
    box.delete_folder("Trash")
    with pytest.raises(MailboxNotFound):
        folder.messages()
    with pytest.raises(MailboxNotFound):
        folder.deliver(MSG)


def test_old_tmp_files_are_cleaned(store: Store) -> None:
    inbox = store.mailbox("alice").folder()
    stale = inbox.path / "tmp" / "1.crashed.host"
    stale.write_bytes(b"half a mess")
    os.utime(stale, (1000, 1000))
    recent = inbox.path / "tmp" / "2.inflight.host"
    recent.write_bytes(b"being written")
    inbox.messages()
    assert not stale.exists() and recent.exists()


def test_a_message_added_during_a_scan_waits_for_the_next_sync(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """readdir may return an entry added during the scan and miss an earlier one (POSIX
    leaves it unspecified). Showing the later one first would let a smaller UID appear
    after a larger one; the UIDNEXT cut-off taken before the scan prevents that, even when
    files of other programs force a renumbering pass that sees the newer uid list."""
    store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    assert [m.uid for m in inbox.messages()] == [1]
    other = Store(store.root)
    real_scan = folder_module.scan
    calls = []

    def foreign(path: Path, name: str) -> None:
        (path / "new" / name).write_bytes(MSG)

    def racy_scan(path: Path) -> dict[str, tuple[str, str]]:
        calls.append(path)
        if len(calls) == 1:
            foreign(path, "100.foreign1.host")  # unknown: forces a second pass
            return real_scan(path)
        listing = real_scan(path)
        if len(calls) == 2:
            other.deliver("alice", MSG)  # this readdir misses it...
            late = other.deliver("alice", MSG)  # ...and returns this later one
            listing[late.key] = ("new", late.path.name)
            foreign(path, "101.foreign2.host")  # unknown again: the passes run out
            listing["101.foreign2.host"] = ("new", "101.foreign2.host")
        return listing

    monkeypatch.setattr(folder_module, "scan", racy_scan)
    first = [m.uid for m in inbox.messages()]
    second = [m.uid for m in inbox.messages()]
    assert second == [1, 2, 3, 4, 5]
    assert first == [1, 2]  # everything at or above the cut-off waited
