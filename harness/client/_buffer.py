"""The sans-IO receive buffer under every framer: lines and octet runs, with a size cap.

Memory stays bounded: a framer asks for a line, and if no LF has arrived within the
remaining budget of the current response, that is :class:`ResponseTooLarge` at once, not
after the server has filled memory. The budget covers a whole response (all lines of a
multi-line reply, IMAP literals included) because that is what the caller holds at once.
"""

from __future__ import annotations

from .errors import ProtocolViolation, ResponseTooLarge


class ResponseBuffer:
    def __init__(self, max_response: int, *, allow_bare_lf: bool = False) -> None:
        self.max_response = max_response
        self.allow_bare_lf = allow_bare_lf
        self._data = bytearray()
        self._used = 0  # octets handed out for the response being framed

    def __len__(self) -> int:
        return len(self._data)

    def feed(self, data: bytes) -> None:
        self._data += data

    def begin_response(self) -> None:
        """A new response starts: its size budget starts from zero."""
        self._used = 0

    def peek(self) -> bytes:
        return bytes(self._data)

    def drain(self) -> bytes:
        """Everything buffered and not yet framed (e.g. what a server sent after STARTTLS)."""
        data = bytes(self._data)
        self._data.clear()
        return data

    def _budget(self) -> int:
        return self.max_response - self._used

    def take_line(self) -> bytes | None:
        """The next line including its CRLF, or None until it is complete.

        RFC 5321 §2.3.8, RFC 1939 §3 and RFC 3501 §2.2 all end lines with CRLF; a bare LF
        is a protocol violation unless the framer was told to tolerate it.
        """
        end = self._data.find(b"\n", 0, self._budget())
        if end < 0:
            if len(self._data) >= self._budget():
                raise ResponseTooLarge(
                    f"response exceeds {self.max_response} octets without ending its line",
                    bytes(self._data[:200]),
                )
            return None
        line = bytes(self._data[: end + 1])
        del self._data[: end + 1]
        self._used += len(line)
        if not line.endswith(b"\r\n") and not self.allow_bare_lf:
            raise ProtocolViolation("line ends in a bare LF, not CRLF", line)
        return line

    def take(self, count: int) -> bytes | None:
        """Exactly ``count`` octets, or None until they have all arrived."""
        if count > self._budget():
            raise ResponseTooLarge(
                f"a literal of {count} octets exceeds the response cap of {self.max_response}"
            )
        if len(self._data) < count:
            return None
        chunk = bytes(self._data[:count])
        del self._data[:count]
        self._used += count
        return chunk


def strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(b"\n") else line
