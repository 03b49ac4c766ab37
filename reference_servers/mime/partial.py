"""message/partial: split a message into fragments and reassemble them (RFC 2046 §5.2.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .generate import fold
from .headers import parse_header_block
from .parse import parse

# RFC 2046 §5.2.2.1: these come from the enclosed message, every other field from the
# first enclosing one.
_FROM_INNER = ("subject", "message-id", "encrypted", "mime-version")
_EIGHT_BIT = re.compile(rb"[\x80-\xff]")


def _from_inner(key: str) -> bool:
    return key.startswith("content-") or key in _FROM_INNER


class PartialError(ValueError):
    """The fragments do not make up one whole message."""


def split_partial(message: bytes, max_body: int, ident: str) -> list[bytes]:
    """Fragments of at most ``max_body`` body octets each, cut at line ends.

    RFC 2046 §5.2.2: message/partial is always 7bit, so an 8-bit message must be
    re-encoded before it can be split; this refuses it.
    """
    if _EIGHT_BIT.search(message):
        raise PartialError("message/partial must be 7bit; encode the message first")
    if max_body < 1:
        raise PartialError("max_body must be positive")
    chunks: list[bytes] = []
    pos = 0
    while pos < len(message):
        end = min(pos + max_body, len(message))
        if end < len(message):
            nl = message.rfind(b"\n", pos, end)
            end = nl + 1 if nl >= 0 else end  # a line longer than max_body is cut
        chunks.append(message[pos:end])
        pos = end
    original = parse(message)
    outer = [h for h in original.headers if not _from_inner(h.key)]
    subject = original.header("subject")
    total = len(chunks)
    fragments = []
    for n, chunk in enumerate(chunks, 1):
        head = b"".join(h.raw if h.raw.endswith(b"\n") else h.raw + b"\r\n" for h in outer)
        if subject is not None:
            head += fold("Subject", f"{subject.text} (part {n} of {total})")
        head += b"MIME-Version: 1.0\r\n"
        head += fold(
            "Content-Type",
            f'message/partial; id="{ident}"; number={n}; total={total}',
        )
        fragments.append(head + b"\r\n" + chunk)
    return fragments


@dataclass(frozen=True, slots=True)
class _Fragment:
    number: int
    total: int | None
    data: bytes
    header_end: int


def reassemble_partial(fragments: list[bytes]) -> bytes:
    """The message the fragments carry, headers merged as RFC 2046 §5.2.2.1 says."""
    parsed = []
    ident = None
    for raw in fragments:
        msg = parse(raw)
        ct = msg.content_type
        if ct.mimetype != "message/partial":
            raise PartialError(f"not message/partial but {ct.mimetype}")
        if ident is None:
            ident = ct.param("id")
        elif ct.param("id") != ident:
            raise PartialError("fragments of different messages")
        try:
            number = int(ct.param("number") or "")
            total_text = ct.param("total")
            total = int(total_text) if total_text else None
        except ValueError as exc:
            raise PartialError("bad number or total") from exc
        parsed.append((msg, _Fragment(number, total, raw, msg.body_start)))
    parsed.sort(key=lambda item: item[1].number)
    totals = {f.total for _, f in parsed if f.total is not None}
    if len(totals) != 1:
        raise PartialError("total missing or inconsistent")
    total = totals.pop()
    if [f.number for _, f in parsed] != list(range(1, total + 1)):
        raise PartialError("fragments missing or repeated")
    enclosed = b"".join(m.body for m, _ in parsed)
    first = parsed[0][0]
    inner_fields, body_start = parse_header_block(enclosed, 0, len(enclosed), [])
    # RFC 2046 §5.2.2.1 (1)-(3): outer fields of fragment 1 except Content-*, Subject,
    # Message-ID, Encrypted, MIME-Version; then exactly those from the enclosed message.
    head = [h.raw for h in first.headers if not _from_inner(h.key)]
    head += [h.raw for h in inner_fields if _from_inner(h.key)]
    head = [h if h.endswith(b"\n") else h + b"\r\n" for h in head]
    sep = (
        enclosed[inner_fields[-1].offset + len(inner_fields[-1].raw) : body_start]
        if (inner_fields)
        else b"\r\n"
    )
    return b"".join(head) + sep + enclosed[body_start:]
