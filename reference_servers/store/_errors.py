"""The store's error types: one base class, so a server can answer any of them with NO/-ERR."""

from __future__ import annotations


class StoreError(Exception):
    """Something about a store operation failed; the message is safe to show a client."""


class InvalidMailboxName(StoreError, ValueError):
    """A user or folder name is refused (it could leave the user's directory, or is malformed)."""


class MailboxNotFound(StoreError, LookupError):
    """The folder (or the user's mailbox) does not exist."""


class MailboxExists(StoreError):
    """A folder of that name already exists."""


class MessageNotFound(StoreError, LookupError):
    """No message with that UID in the folder (never was, or was expunged)."""
