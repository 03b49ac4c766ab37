"""Error types shared by every protocol core.

Modelled on h11: a :class:`RemoteProtocolError` means the peer broke the protocol and
carries the reply we should send back; a :class:`LocalProtocolError` means our own side
tried to do something the protocol forbids (a bug in the caller, never the peer's fault).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: something about the exchange breaks the protocol.

    ``reply`` is the exact bytes to send in answer, when the layer that raised the error
    knows them. The wire layer does not know SMTP from POP3, so its errors carry
    ``reply=None`` and a protocol core attaches the reply with :meth:`with_reply`.
    """

    def __init__(self, message: str, reply: bytes | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reply = reply

    def with_reply(self, reply: bytes) -> ProtocolError:
        """Return a copy of this error carrying ``reply``."""
        clone = type(self)(self.message, reply)
        clone.__dict__.update({k: v for k, v in self.__dict__.items() if k != "reply"})
        clone.reply = reply
        return clone


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids; answer with ``reply`` and go on."""


class LocalProtocolError(ProtocolError):
    """Our own side asked for something the protocol forbids (a programming error)."""


class LineTooLong(RemoteProtocolError):
    """A line exceeded the configured maximum; its bytes were discarded up to its end."""

    def __init__(self, message: str, reply: bytes | None = None, *, limit: int = 0) -> None:
        super().__init__(message, reply)
        self.limit = limit


class BareLineEnding(RemoteProtocolError):
    """A bare CR or bare LF arrived where only CRLF may end a line (policy: reject)."""
