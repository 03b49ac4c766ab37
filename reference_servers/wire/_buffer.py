"""A sans-IO receive buffer: CRLF lines with a length limit, exact octet reads, skips.

Every protocol core owns one :class:`ReceiveBuffer`. Bytes go in with :meth:`feed`,
whatever their chunking; lines and octet runs come out. Memory stays bounded: a line
longer than the limit is dropped as it arrives (the buffer then skips to the next LF)
and reported once as :class:`LineTooLong`, never read without end.

Line endings (RFC 5321 §2.3.8, RFC 1939 §3, RFC 3501 §2.2): only CRLF ends a line.
A bare LF or a bare CR is either rejected (:class:`BareLineEnding`) or tolerated and
counted, per :class:`EolPolicy`; it is never silently turned into something else.
"""

from __future__ import annotations

from enum import Enum

from ._errors import BareLineEnding, LineTooLong

CR, LF, CRLF = b"\r", b"\n", b"\r\n"


class EolPolicy(Enum):
    """What to do with a bare CR or bare LF."""

    REJECT = "reject"  # raise BareLineEnding; the line is consumed and dropped
    TOLERATE = "tolerate"  # bare LF ends a command line, bare CR stays as data; both are counted


class ReceiveBuffer:
    """Incoming bytes, handed out as lines or exact octet runs.

    ``max_line`` counts the line *including* its CRLF, as RFC 5321 §4.5.3.1.4 does
    ("The maximum total length of a command line including the command word and the
    <CRLF> is 512 octets").
    """

    def __init__(
        self,
        max_line: int = 512,
        *,
        bare_lf: EolPolicy = EolPolicy.REJECT,
        bare_cr: EolPolicy = EolPolicy.REJECT,
    ) -> None:
        if max_line < 3:
            raise ValueError("max_line must leave room for at least one octet and CRLF")
        self.max_line = max_line
        self.bare_lf = bare_lf
        self.bare_cr = bare_cr
        self.bare_lf_seen = 0
        self.bare_cr_seen = 0
        self._data = bytearray()
        self._skipping = False  # dropping the tail of an over-long line until its LF

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._skipping:
            end = data.find(LF)
            if end < 0:
                return
            data = data[end + 1 :]
            self._skipping = False
        self._data += data

    def clear(self) -> bytes:
        """Drop and return everything buffered (e.g. data pipelined before STARTTLS)."""
        dropped = bytes(self._data)
        self._data.clear()
        self._skipping = False
        return dropped

    def next_line(self) -> bytes | None:
        """Return the next complete line without its terminator, or None if none yet.

        Raises :class:`LineTooLong` (the line is dropped) or :class:`BareLineEnding`
        (policy REJECT; the line is dropped). Either way the buffer stays usable.
        """
        data = self._data
        end = data.find(LF)
        if end < 0:
            if len(data) >= self.max_line:
                # Even if the next octet were LF, the line would exceed the limit.
                data.clear()
                self._skipping = True
                raise LineTooLong(f"line longer than {self.max_line} octets", limit=self.max_line)
            return None
        if end + 1 > self.max_line:
            del data[: end + 1]
            raise LineTooLong(f"line longer than {self.max_line} octets", limit=self.max_line)
        if end > 0 and data[end - 1] == 13:
            line = bytes(data[: end - 1])
        else:
            line = bytes(data[:end])
            self.bare_lf_seen += 1
            if self.bare_lf is EolPolicy.REJECT:
                del data[: end + 1]
                raise BareLineEnding("bare LF: lines must end with CRLF")
        del data[: end + 1]
        if CR in line:
            self.bare_cr_seen += 1
            if self.bare_cr is EolPolicy.REJECT:
                raise BareLineEnding("bare CR inside a line")
        return line

    def read_exact(self, count: int) -> bytes | None:
        """Return exactly ``count`` octets (an IMAP literal, a BDAT chunk) or None."""
        if count < 0:
            raise ValueError("count must not be negative")
        if len(self._data) < count:
            return None
        chunk = bytes(self._data[:count])
        del self._data[:count]
        return chunk

    def skip(self, count: int) -> int:
        """Discard up to ``count`` octets (an over-size chunk); return how many went."""
        gone = min(count, len(self._data))
        del self._data[:gone]
        return gone

    def take_all(self) -> bytes:
        """Return and drop all buffered octets (for readers that frame data themselves)."""
        return self.clear()

    # Dot-terminated data is framed by DotReader, which works on this buffer's bytes.
    @property
    def raw(self) -> bytearray:
        return self._data
