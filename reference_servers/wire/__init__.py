"""The wire layer shared by every protocol core: sans-IO, no asyncio, socket or ssl.

- :class:`ReceiveBuffer`: CRLF lines with a length limit, exact octet reads (IMAP
  literals, BDAT chunks), skips, and a policy for bare CR and bare LF.
- :class:`DotReader`, :func:`dot_stuff`, :func:`dot_unstuff`: dot-terminated bodies,
  where only CRLF.CRLF ends the data.
- The error types, which carry the reply to send.
"""

from ._buffer import CRLF, EolPolicy, ReceiveBuffer
from ._dots import (
    DotData,
    DotReader,
    dot_stuff,
    dot_unstuff,
    frame_multiline,
    frame_multiline_parts,
    to_crlf,
)
from ._errors import (
    BareLineEnding,
    LineTooLong,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "CRLF",
    "BareLineEnding",
    "DotData",
    "DotReader",
    "EolPolicy",
    "LineTooLong",
    "LocalProtocolError",
    "ProtocolError",
    "ReceiveBuffer",
    "RemoteProtocolError",
    "dot_stuff",
    "dot_unstuff",
    "frame_multiline",
    "frame_multiline_parts",
    "to_crlf",
]
