"""Shared by the MIME tests: the structure of a parse, ours and the stdlib's, comparably."""

from __future__ import annotations

import email
import email.message
import email.policy
from typing import Any

from reference_servers.mime import MessagePart, decoded_payload

Tree = tuple[str, Any]  # (content type, list of subtrees or the decoded payload)


def ours(part: MessagePart) -> Tree:
    ctype = part.content_type.mimetype
    if part.message is not None:
        return ctype, [ours(part.message)]
    if part.children:
        return ctype, [ours(c) for c in part.children]
    if part.is_multipart:
        return ctype, None  # no parts found: the stdlib keeps a str payload
    return ctype, decoded_payload(part)


def stdlib(msg: email.message.Message) -> Tree:
    ctype = msg.get_content_type()
    if msg.is_multipart():
        payload = msg.get_payload()
        assert isinstance(payload, list)
        return ctype, [stdlib(p) for p in payload]
    if msg.get_content_maintype() == "multipart":
        return ctype, None
    return ctype, msg.get_payload(decode=True)


def stdlib_parse(data: bytes) -> email.message.Message:
    return email.message_from_bytes(data, policy=email.policy.default)


def check_invariants(part: MessagePart, lo: int, hi: int) -> None:
    """Every range lies inside its parent's and in order; headers lie in the header block."""
    assert lo <= part.start <= part.body_start <= part.end <= hi
    for h in part.headers:
        assert part.start <= h.offset and h.offset + len(h.raw) <= part.body_start
        assert part.data[h.offset : h.offset + len(h.raw)] == h.raw
    prev = part.body_start
    for c in part.children:
        assert c.start >= prev
        check_invariants(c, part.body_start, part.end)
        prev = c.end
    if part.message is not None:
        check_invariants(part.message, part.body_start, part.end)
