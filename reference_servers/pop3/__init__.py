"""The reference POP3 server: RFC 1939 with CAPA (RFC 2449), STLS (RFC 2595) and SASL
(RFC 5034), on the shared Maildir store.

The sans-IO core is ``_events``, ``_state``, ``_parser``, ``_replies`` and
``_connection``; ``session`` decides the answers, ``maildrop`` is a session's view of the
store, ``policy`` the settings, and ``server`` the asyncio transport.
"""

from ._connection import Connection
from ._parser import ParseError
from ._replies import Code, R, Reply
from ._state import State
from .policy import Mode, PolicyError, Pop3Policy

__all__ = ["Code", "Connection", "Mode", "ParseError", "PolicyError", "Pop3Policy", "R",
           "Reply", "State"]
