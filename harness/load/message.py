"""The load corpus: messages of a chosen size that carry a unique id and a digest of
their body, so delivery accounting can find each one again and tell if it was damaged.

Deliberately independent of any MIME library (the reference one must not be imported by
the harness, see DESIGN.md): a plain RFC 5322 message, 7-bit text, lines under 78 octets.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass

ID_HEADER = b"X-Mailharness-Id"
DIGEST_HEADER = b"X-Mailharness-Digest"
_LINE = 76  # body line length without CRLF (RFC 5322 §2.1.1: SHOULD be at most 78)
_ID_RE = re.compile(rb"^" + ID_HEADER + rb":[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_DIGEST_RE = re.compile(rb"^" + DIGEST_HEADER + rb":[ \t]*([0-9a-f]+)",
                        re.IGNORECASE | re.MULTILINE)


def _filler() -> bytes:
    # 4096 distinct body lines; a message takes a run of them starting at an offset
    # derived from its id, so bodies differ without generating random data per message.
    alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-"
    # Octet b becomes alphabet[b % len(alphabet)]: one translate, not a generator per
    # line (every engine process builds this at import).
    table = bytes(alphabet[b % len(alphabet)] for b in range(256))
    lines = []
    for number in range(4096):
        seed = hashlib.sha256(number.to_bytes(4, "big")).digest() * 3
        lines.append(seed[:_LINE].translate(table) + b"\r\n")
    return b"".join(lines)


_FILLER = _filler()
_FILLER_LINES = len(_FILLER) // (_LINE + 2)


def body_digest(body: bytes) -> str:
    """The digest of a body with CRLF line ends (what the header carries)."""
    return hashlib.sha256(body).hexdigest()[:32]


def _body(message_id: str, octets: int) -> bytes:
    lines = max(1, -(-octets // (_LINE + 2)))
    start = int(hashlib.blake2s(message_id.encode(), digest_size=4).hexdigest(), 16)
    start %= _FILLER_LINES
    out = bytearray()
    while lines > 0:
        take = min(lines, _FILLER_LINES - start)
        out += _FILLER[start * (_LINE + 2) : (start + take) * (_LINE + 2)]
        lines -= take
        start = 0
    # The first line names the id, so even a truncated body says whose it was.
    head = f"load message {message_id}".encode()[:_LINE].ljust(_LINE, b".") + b"\r\n"
    out[: len(head)] = head
    if octets <= len(head):
        return head
    # Cut to the exact size; the last line may be short but still ends in CRLF.
    cut = bytes(out[: octets - 2])
    if cut.endswith(b"\r"):
        cut = cut[:-1] + b"x"
    return cut + b"\r\n"


def make_message(message_id: str, size: int, sender: str, recipients: list[str]) -> bytes:
    """A message of about ``size`` octets (headers included, never below ~400), CRLF lines.

    Not dot-stuffed: :func:`for_data` does that for the wire. The body never starts a line
    with "." anyway (the filler alphabet puts "." only inside lines), so stuffing is a no-op
    for generated bodies, but the function stays correct for any input.
    """
    headers = (
        f"From: <{sender}>\r\n"
        f"To: {', '.join(f'<{r}>' for r in recipients)}\r\n"
        f"Subject: mailharness load {message_id}\r\n"
        f"Message-ID: <{message_id}@load.mailharness.test>\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        f"{ID_HEADER.decode()}: {message_id}\r\n"
    ).encode()
    digest_line = len(DIGEST_HEADER) + 2 + 32 + 2
    body = _body(message_id, size - len(headers) - digest_line - 2)
    return (headers + DIGEST_HEADER + b": " + body_digest(body).encode() + b"\r\n\r\n" + body)


def for_data(message: bytes) -> bytes:
    """The octets to send after a 354: dot-stuffed (RFC 5321 §4.5.2), ending in CRLF.CRLF."""
    if message.startswith(b"."):
        message = b"." + message
    message = message.replace(b"\r\n.", b"\r\n..")
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message + b".\r\n"


def _fill(octets: int) -> bytes:
    """Whole filler lines making ``octets`` octets (the last one cut short), CRLF ends."""
    if octets < 2:
        return b""
    copies = -(-octets // len(_FILLER))
    cut = (_FILLER * copies)[: octets - 2]
    if cut.endswith(b"\r"):
        cut = cut[:-1] + b"x"
    return cut + b"\r\n"


class MessageTemplate:
    """Wire-ready messages of one size and one recipient list, for the native engine's
    hot path: everything is built once, and a message only patches in its id and the
    digest of its body.

    The body is the filler (the same for every message of this template) followed by one
    line naming the id; the line comes last so the SHA-256 state of the fixed part is
    computed once and only the tail is hashed per message. The result is what
    :func:`for_data` would make of a message: dot-stuffed, ending in CRLF.CRLF, and
    :func:`inspect` finds its id and checks its digest like any other.
    """

    def __init__(self, size: int, sender: str, recipients: list[str], id_length: int) -> None:
        probe = "\0" * id_length
        headers = make_message(probe, size, sender, recipients).split(b"\r\n\r\n", 1)[0]
        parts = headers.split(probe.encode())
        digest_at = parts[-1].index(DIGEST_HEADER + b": ") + len(DIGEST_HEADER) + 2
        self._parts = (*parts[:-1], parts[-1][:digest_at])
        self._after_digest = parts[-1][digest_at + 32:] + b"\r\n\r\n"
        total_body = size - len(headers) - 4
        self._tail_pad = _LINE - len(b"load message ") - id_length
        fixed = _fill(total_body - _LINE - 2)
        self._fixed_wire = for_data(fixed)[:-3] if fixed else b""
        self._state = hashlib.sha256(fixed)
        self.id_length = id_length

    def render(self, message_id: str) -> bytes:
        """The octets to send after the 354 for ``message_id`` (of ``id_length`` chars)."""
        mid = message_id.encode()
        tail = b"load message " + mid + b"." * self._tail_pad + b"\r\n"
        state = self._state.copy()
        state.update(tail)
        parts = self._parts
        out = [parts[0]]
        for part in parts[1:]:
            out += (mid, part)
        out += (state.hexdigest()[:32].encode(), self._after_digest, self._fixed_wire,
                tail, b".\r\n")
        return b"".join(out)


@dataclass(frozen=True)
class Found:
    """What accounting learns from one stored copy of a message."""

    message_id: str
    intact: bool  # the body's digest matches the header


def inspect(raw: bytes) -> Found | None:
    """The id and integrity of a stored message (LF or CRLF line ends), None if not ours.

    Servers prepend trace headers (Received, Return-Path) and Maildir files may use bare LF,
    so only the body is compared, with line ends normalized to CRLF.
    """
    split = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: split.start()], raw[split.end():]) if split else (raw, b"")
    found = _ID_RE.search(head)
    if found is None:
        return None
    digest = _DIGEST_RE.search(head)
    normalized = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    intact = digest is not None and body_digest(normalized) == digest.group(1).decode()
    return Found(found.group(1).decode("ascii", "replace"), intact)


class IdSource:
    """Unique ids ``<run>.<process>.<sequence>``: unique across processes and runs."""

    def __init__(self, run_id: str, process: int | str = 0) -> None:
        self.prefix = f"{run_id}.{process}."
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self._counter)}"
