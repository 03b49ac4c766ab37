"""Dot-stuffing for SMTP DATA (RFC 5321 §4.5.2) and POP3 multi-line responses (RFC 1939 §3).

Only ``CRLF . CRLF`` ends the data. ``LF . LF``, ``CR . CR`` and the mixed forms are
data, never an end: treating them as one is what SMTP smuggling exploits. Bare CR and
bare LF inside the data are counted so that a strict server can refuse the message
(after reading to the real end, so the session stays in step) and a lenient one can
keep it as it came and log it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._buffer import CRLF, ReceiveBuffer

END = b"\r\n.\r\n"


def dot_stuff(content: bytes) -> bytes:
    """Frame ``content`` for the wire: stuff leading dots and add the ``.CRLF`` end.

    The content is made to end in CRLF first (RFC 5321 §4.1.1.4: the data ends with
    CRLF before the terminating dot). An empty content becomes just ``.CRLF``.
    """
    if not content:
        return b".\r\n"
    if not content.endswith(CRLF):
        content += CRLF
    # RFC 5321 §4.5.2 / RFC 1939 §3: a line that starts with "." gets one more. The
    # searches run in C and most bodies have no such line, so they cost one scan.
    if content[:1] == b".":
        content = b"." + content
    if b"\n." in content:
        content = content.replace(b"\r\n.", b"\r\n..")
    return content + b".\r\n"


def frame_multiline(data: bytes) -> bytes:
    """``dot_stuff(to_crlf(data))`` (POP3 RETR/TOP, relay); see :func:`frame_multiline_parts`."""
    return b"".join(frame_multiline_parts(data))


def frame_multiline_parts(data: bytes) -> list[bytes | memoryview]:
    """``dot_stuff(to_crlf(data))`` as pieces for ``transport.writelines``.

    The body is copied once at most (to widen bare LFs to CRLF); the stuffing octets
    go in as pieces of their own between views of it, so a 50 KB message with a few
    dot lines costs one C pass and no further copies.
    """
    if not data:
        return [b".\r\n"]
    wire = to_crlf(data)
    # dot_stuff appends CRLF to content that does not end with one (RFC 5321 §4.1.1.4).
    end = b".\r\n" if wire.endswith(CRLF) else b"\r\n.\r\n"
    dots = _dot_lines(wire)
    if not dots:
        return [wire, end]
    view = memoryview(wire)
    parts: list[bytes | memoryview] = []
    start = 0
    for at in dots:
        # RFC 1939 §3 / RFC 5321 §4.5.2: a line starting with "." gets one more.
        parts += (view[start:at], b".")
        start = at
    parts += (view[start:], end)
    return parts


_DENSE_HOPS = 64  # dots seen before checking whether they are dense
_DENSE_GAP = 256  # average octets per dot below which one C scan for "\n." is cheaper


def _dot_lines(wire: bytes) -> list[int]:
    """Offsets of the dots that start a line (at 0 or after LF), ascending.

    ``find(b".")`` is a memchr and skips most of a body at SIMD speed, but costs one
    Python step per dot; ``find(b"\n.")`` is a byte-wise C scan. Dot-sparse bodies (most
    mail) take the first, dot-dense ones switch to the second after a few dozen dots.
    """
    found: list[int] = []
    find = wire.find
    at = find(b".")
    hops = 0
    while at >= 0:
        if at == 0 or wire[at - 1] == 10:
            found.append(at)
        hops += 1
        if hops == _DENSE_HOPS and at < _DENSE_HOPS * _DENSE_GAP:
            at = find(b"\n.", at + 1)
            while at >= 0:
                found.append(at + 1)
                at = find(b"\n.", at + 2)
            return found
        at = find(b".", at + 1)
    return found


def dot_unstuff(stuffed: bytes) -> bytes:
    """Undo :func:`dot_stuff` for a complete body *without* its terminating ``.CRLF``.

    RFC 5321 §4.5.2: "If the first character is a period and there are other characters
    on the line, the first character is deleted." Only lines that start after a CRLF
    count as lines.
    """
    return (CRLF + stuffed).replace(b"\r\n.", b"\r\n")[2:]


def to_crlf(data: bytes) -> bytes:
    """Turn every bare LF into CRLF, leaving existing CRLFs alone (storage -> wire)."""
    if b"\n" not in data:
        return data
    if b"\r" not in data:
        return data.replace(b"\n", CRLF)
    if data.count(b"\n") == data.count(CRLF):
        return data
    return data.replace(CRLF, b"\n").replace(b"\n", CRLF)


@dataclass(frozen=True, slots=True)
class DotData:
    """The outcome of reading one dot-terminated body."""

    content: bytes  # unstuffed; empty when the body was discarded for size
    size: int  # unstuffed octets received, whether kept or not (approximate when discarded)
    too_big: bool  # over max_size: content was discarded as it arrived
    longest_line: int  # longest line in octets including its CRLF (0 when discarded)
    bare_lf: int  # LFs not preceded by CR
    bare_cr: int  # CRs not followed by LF


class DotReader:
    """Reads one dot-terminated body out of a :class:`ReceiveBuffer`, incrementally.

    Create one when the body starts (after ``354``) and call :meth:`read` after each
    feed. Memory is bounded by ``max_size`` plus one read: past the limit the body is
    discarded as it arrives and only the last four octets are kept to find the end.
    Whatever follows the terminator (pipelined commands) stays in the buffer.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._scan = 0  # where in the buffer the next search for END starts
        self._at_start = True  # nothing consumed yet: the body begins after a virtual CRLF
        self._discarded = 0  # unstuffed octets dropped because the body is too big
        self._discarding = False

    def read(self, buffer: ReceiveBuffer) -> DotData | None:
        data = buffer.raw
        if self._at_start:
            if len(data) < 3 and data in (b"", b".", b".\r"):
                return None
            if data[:3] == b".\r\n":
                del data[:3]
                return DotData(b"", 0, False, 0, 0, 0)
        end = data.find(END, self._scan)
        if end < 0:
            self._scan = max(0, len(data) - 4)
            if self._discarding or len(data) > self.max_size:
                self._check_size(data)
            return None
        body = bytes(data[: end + 2])
        del data[: end + 5]
        if self._discarding:
            size = self._discarded + _unstuffed_len(body, False)
            return DotData(b"", size, True, 0, 0, 0)
        content = dot_unstuff(body)
        size = len(content)
        bare_lf = content.count(b"\n") - content.count(CRLF)
        bare_cr = content.count(b"\r") - content.count(CRLF)
        longest = max(map(len, content.split(CRLF))) + 2 if content else 0
        return DotData(content, size, size > self.max_size, longest, bare_lf, bare_cr)

    def _check_size(self, data: bytearray) -> None:
        """Switch to (or continue) discarding once the body is certainly too big."""
        if not self._discarding:
            # Stuffing only ever adds one octet per line that starts with a dot.
            if _unstuffed_len(data, self._at_start) <= self.max_size:
                return
            self._discarding = True
        keep = 4  # enough to find END across the next read
        if len(data) <= keep:
            return
        dropped = data[: len(data) - keep]
        self._discarded += _unstuffed_len(dropped, self._at_start)
        self._at_start = False
        del data[: len(data) - keep]
        self._scan = 0


def _unstuffed_len(stuffed: bytes | bytearray, at_start: bool) -> int:
    dots = stuffed.count(b"\r\n.") + (1 if at_start and stuffed[:1] == b"." else 0)
    return len(stuffed) - dots
