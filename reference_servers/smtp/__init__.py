"""The reference SMTP server (RFC 5321 and its extensions): a sans-IO core and a thin
asyncio server. See ``_connection.Connection`` for the core's surface."""

from ._connection import Connection
from ._events import NEED_DATA, PAUSED
from ._replies import Reply
from ._state import State
from .aliases import Aliases, Directory
from .policy import SmtpPolicy

__all__ = ["NEED_DATA", "PAUSED", "Aliases", "Connection", "Directory", "Reply",
           "SmtpPolicy", "State"]
