"""The client every part of the harness drives servers with (replay, conformance, fuzz, load).

Framing is sans-IO (:mod:`.smtp`, :mod:`.pop3`, :mod:`.imap`) so the asyncio load engine
can reuse it; :class:`Session` wraps it around a blocking socket.
"""

from .errors import (
    ClientError,
    ConnectError,
    ConnectionClosed,
    ProtocolViolation,
    ReadTimeout,
    ResponseTooLarge,
    StepTimeout,
    TlsError,
)
from .imap import ImapFramer, ImapResponse
from .log import LogEntry, SessionLog, format_entries, visible
from .pop3 import Pop3Framer, Pop3Response, expects_body
from .session import Session, make_framer
from .smtp import SmtpFramer, SmtpReply

__all__ = [
    "ClientError",
    "ConnectError",
    "ConnectionClosed",
    "ImapFramer",
    "ImapResponse",
    "LogEntry",
    "Pop3Framer",
    "Pop3Response",
    "ProtocolViolation",
    "ReadTimeout",
    "ResponseTooLarge",
    "Session",
    "SessionLog",
    "SmtpFramer",
    "SmtpReply",
    "StepTimeout",
    "TlsError",
    "expects_body",
    "format_entries",
    "make_framer",
    "visible",
]
