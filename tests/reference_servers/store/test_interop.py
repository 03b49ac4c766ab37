"""Interop with Python's mailbox.Maildir, a Maildir reader and writer we did not write."""

from __future__ import annotations

import mailbox

from reference_servers.store import Store

from .conftest import MSG


def _maildir(store: Store, user: str) -> mailbox.Maildir:
    return mailbox.Maildir(store.root / user / "Maildir", factory=None, create=False)


def test_maildir_reads_what_the_store_writes(store: Store) -> None:
    bodies = [MSG, b"Subject: two\r\n\r\nsecond\r\n"]
    for data in bodies:
        store.deliver("alice", data)
    store.mailbox("alice").create_folder("Lists/ietf")
    store.deliver("alice", b"Subject: list\r\n\r\nietf\r\n", folder="Lists/ietf")
    md = _maildir(store, "alice")
    assert sorted(md.get_bytes(k) for k in md.iterkeys()) == sorted(bodies)
    # A Maildir++ folder name uses "." as separator on disk.
    assert md.list_folders() == ["Lists.ietf"]
    sub = md.get_folder("Lists.ietf")
    assert [m["Subject"] for m in sub] == ["list"]
    assert set(md.keys()) == {m.key for m in store.mailbox("alice").folder().messages()}


def test_flags_set_through_the_store_show_in_maildir(store: Store) -> None:
    info = store.deliver("alice", MSG)
    store.mailbox("alice").folder().set_flags(
        info.uid, ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"])
    msg = _maildir(store, "alice")[info.key]
    assert msg.get_flags() == "DFRST"
    assert msg.get_subdir() == "cur"


def test_maildir_writes_are_seen_by_the_store(store: Store) -> None:
    store.deliver("alice", MSG)
    inbox = store.mailbox("alice").folder()
    validity = inbox.uidvalidity
    md = _maildir(store, "alice")
    text = "Subject: from mailbox\n\nwritten with LF endings\n"
    key = md.add(mailbox.MaildirMessage(text))
    msgs = inbox.messages()
    assert [m.uid for m in msgs] == [1, 2]
    assert msgs[1].key == key
    assert msgs[1].size == len(text.replace("\n", "\r\n").encode())
    assert inbox.uidvalidity == validity
    # Flags set by the other program: the store sees them, the UID stays.
    stored = md[key]
    stored.set_flags("SF")
    stored.set_subdir("cur")
    md[key] = stored
    again = inbox.get(2)
    assert again.flags == {"\\Seen", "\\Flagged"}
    assert again.key == key
    md.remove(key)
    assert [m.uid for m in inbox.messages()] == [1]


def test_folders_made_by_maildir_appear(store: Store) -> None:
    (store.root / "carol").mkdir()
    md = mailbox.Maildir(store.root / "carol" / "Maildir", create=True)
    sub = md.add_folder("Projects")
    sub.add(mailbox.MaildirMessage(MSG))
    box = store.mailbox("carol")
    assert box.list_folders() == ["INBOX", "Projects"]
    (msg,) = box.folder("Projects").messages()
    assert msg.uid == 1 and box.folder("Projects").read(1).endswith(b"body line\n")
