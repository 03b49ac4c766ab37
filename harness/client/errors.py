"""What can go wrong talking to a server, as types the runner turns into results.

A :class:`ProtocolViolation` is the server's fault (a malformed or oversized response) and
makes a case fail; :class:`ConnectError` means the target could not be reached at all, which
is an error of the run, not a verdict on the server.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of everything the client raises on purpose."""


class ConnectError(ClientError):
    """The TCP connection (or the implicit-TLS handshake) could not be established."""


class ProtocolViolation(ClientError):
    """The server sent something that cannot be a response of this protocol."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class ResponseTooLarge(ProtocolViolation):
    """One response (or one line of it) grew past the configured cap."""


class ReadTimeout(ClientError):
    """No octet arrived within the per-read timeout."""

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


class StepTimeout(ReadTimeout):
    """Octets kept trickling in, but the whole response did not arrive within the step's time."""


class ConnectionClosed(ClientError):
    """The server closed the connection before a complete response."""

    def __init__(self, message: str, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


class TlsError(ClientError):
    """The TLS handshake failed, or STARTTLS was attempted with unread data pending."""
