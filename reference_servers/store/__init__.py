"""The Maildir mail store shared by the SMTP, POP3, IMAP and web servers.

Maildir++ layout (INBOX at ``<root>/<user>/Maildir``, folder "A/B" in ``.A.B``), readable by
mutt, Dovecot and Python's :mod:`mailbox`. Delivery is atomic and durable (tmp/, fsync,
rename, fsync the directory); UIDs, UIDVALIDITY and UIDNEXT persist per folder in a uid list
kept consistent across processes by flock; flags live in the file names (``:2,<letters>``),
keywords map to a-z through a per-folder table.

    store = Store(data_dir / "mail")
    info = store.deliver("alice", message_bytes)
    inbox = store.mailbox("alice").folder("INBOX")
    for msg in inbox.messages():
        data = inbox.read(msg.uid)
"""

from ._errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    StoreError,
)
from ._flags import InvalidFlag
from ._folder import Folder
from ._mailbox import Mailbox
from ._message import MessageInfo
from ._names import INBOX, SEPARATOR
from ._store import SYNC_METHODS, Store, resolve_sync_method

__all__ = [
    "INBOX",
    "SEPARATOR",
    "SYNC_METHODS",
    "Folder",
    "InvalidFlag",
    "InvalidMailboxName",
    "Mailbox",
    "MailboxExists",
    "MailboxNotFound",
    "MessageInfo",
    "MessageNotFound",
    "Store",
    "StoreError",
    "resolve_sync_method",
]
