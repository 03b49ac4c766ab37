"""Folder hierarchy, subscriptions and user isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_servers.store import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    Store,
    StoreError,
)

from .conftest import MSG


def test_mailbox_layout_is_created_on_demand(store: Store) -> None:
    box = store.mailbox("alice")
    assert box.user == "alice"
    assert box.path == store.root / "alice" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        assert (box.path / sub).is_dir()
    assert box.list_folders() == ["INBOX"]


def test_create_list_and_maildirplusplus_layout(store: Store) -> None:
    box = store.mailbox("alice")
    folder = box.create_folder("Lists/ietf")
    assert folder.name == "Lists/ietf"
    assert (box.path / ".Lists.ietf" / "maildirfolder").is_file()
    box.create_folder("Archive")
    assert box.list_folders() == ["INBOX", "Archive", "Lists/ietf"]
    with pytest.raises(MailboxExists):
        box.create_folder("Archive")
    with pytest.raises(MailboxExists):
        box.create_folder("inbox")
    with pytest.raises(MailboxNotFound):
        box.folder("Nope")
    assert box.folder("Nope", create=True).name == "Nope"
    assert not any(p.name.startswith("mailharness-staging") for p in box.path.iterdir())


def test_deliver_to_a_folder(store: Store) -> None:
    store.mailbox("alice").create_folder("Sent")
    info = store.deliver("alice", MSG, folder="Sent")
    assert store.mailbox("alice").folder("Sent").read(info.uid) == MSG
    assert store.mailbox("alice").folder().messages() == []
    with pytest.raises(MailboxNotFound):
        store.deliver("alice", MSG, folder="Missing")


def test_each_folder_has_its_own_uids_and_validity(store: Store) -> None:
    box = store.mailbox("alice")
    a, b = box.create_folder("A"), box.create_folder("B")
    assert a.deliver(MSG).uid == 1 and b.deliver(MSG).uid == 1
    assert len({box.folder().uidvalidity, a.uidvalidity, b.uidvalidity}) == 3


def test_delete_then_recreate_gets_a_new_uidvalidity(store: Store) -> None:
    box = store.mailbox("alice")
    old = box.create_folder("Tmp")
    old.deliver(MSG)
    before = old.uidvalidity
    box.delete_folder("Tmp")
    assert box.list_folders() == ["INBOX"]
    new = box.create_folder("Tmp")
    # RFC 3501 §2.3.1.1: same name, new mailbox -> new UIDVALIDITY, even within a second.
    assert new.uidvalidity > before
    assert new.messages() == []
    with pytest.raises(StoreError):
        box.delete_folder("INBOX")
    with pytest.raises(MailboxNotFound):
        box.delete_folder("Never")


def test_rename_moves_inferiors_and_keeps_uids(store: Store) -> None:
    box = store.mailbox("alice")
    box.create_folder("Work").deliver(MSG)
    box.create_folder("Work/2024").deliver(MSG)
    validity = box.folder("Work").uidvalidity
    box.rename_folder("Work", "Old/Work")
    assert box.list_folders() == ["INBOX", "Old/Work", "Old/Work/2024"]
    moved = box.folder("Old/Work")
    assert moved.uidvalidity == validity and [m.uid for m in moved.messages()] == [1]
    assert box.folder("Old/Work/2024").read(1) == MSG
    box.create_folder("X")
    with pytest.raises(MailboxExists):
        box.rename_folder("Old/Work", "X")
    with pytest.raises(MailboxNotFound):
        box.rename_folder("Nope", "Y")
    with pytest.raises(InvalidMailboxName):
        box.rename_folder("X", "X/child")


def test_rename_inbox_moves_messages_and_leaves_it_empty(store: Store) -> None:
    store.deliver("alice", MSG)
    store.deliver("alice", MSG, flags=["\\Seen"])
    box = store.mailbox("alice")
    box.rename_folder("INBOX", "Saved")
    assert box.folder().messages() == []
    saved = box.folder("Saved").messages()
    assert [m.uid for m in saved] == [1, 2]
    assert saved[1].flags == {"\\Seen"}
    assert store.deliver("alice", MSG).uid == 3  # INBOX keeps counting


def test_subscriptions_persist(store: Store) -> None:
    box = store.mailbox("alice")
    assert box.subscriptions() == set()
    box.subscribe("Lists/ietf")
    box.subscribe("inbox")
    box.subscribe("Gone")  # RFC 3501 §6.3.6: a name need not exist
    box.unsubscribe("Gone")
    assert Store(store.root).mailbox("alice").subscriptions() == {"INBOX", "Lists/ietf"}
    assert (box.path / "subscriptions").read_text().splitlines() == ["INBOX", "Lists/ietf"]
    with pytest.raises(InvalidMailboxName):
        box.subscribe("../x")


@pytest.mark.parametrize("name", ["../bob", "/etc", "a/../../x", "a\x00", ".."])
def test_hostile_names_never_touch_the_disk(store: Store, tmp_path: Path, name: str) -> None:
    box = store.mailbox("alice")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for action in (box.create_folder, box.delete_folder, box.folder,
                   lambda n: box.rename_folder("INBOX", n), box.subscribe):
        with pytest.raises(InvalidMailboxName):
            action(name)
    with pytest.raises(InvalidMailboxName):
        store.mailbox(name)
    with pytest.raises(InvalidMailboxName):
        store.deliver(name, MSG)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_users_are_isolated(store: Store) -> None:
    store.deliver("alice", MSG)
    assert store.mailbox("bob").folder().messages() == []
