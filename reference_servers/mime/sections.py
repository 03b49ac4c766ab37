"""BODY[section] (RFC 3501 §6.4.5, RFC 9051 §6.4.5) and BINARY[section] (RFC 3516 §4.2).

Every result is a slice of the original message octets, so partial fetches
(``<origin.octets>``) are a further slice of what is returned here.
"""

from __future__ import annotations

import re

from ._model import MessagePart
from .decode import decode_body

_SPEC = re.compile(
    r"(?P<nums>[1-9][0-9]*(?:\.[1-9][0-9]*)*)?"
    r"(?:(?:^|(?<=[0-9])\.)(?P<text>HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?"
    r"(?:\s+\((?P<fields>[^)]*)\))?",
    re.IGNORECASE,
)
_CRLF = b"\r\n"


def parse_spec(spec: str) -> tuple[list[int], str, list[str]] | None:
    """Split a section spec into part numbers, the text part (upper case) and field
    names; None when the spec is not valid section syntax."""
    m = _SPEC.fullmatch(spec.strip())
    if m is None:
        return None
    nums = [int(n) for n in m.group("nums").split(".")] if m.group("nums") else []
    text = (m.group("text") or "").upper()
    fields_raw = m.group("fields")
    if text.startswith("HEADER.FIELDS"):
        if fields_raw is None:
            return None
        # header-list = "(" header-fld-name *(SP header-fld-name) ")" (RFC 3501 §9).
        names = [f.strip('"').lower() for f in fields_raw.split()]
        if not names:
            return None
        return nums, text, names
    if fields_raw is not None:
        return None
    if text == "MIME" and not nums:
        return None  # RFC 3501 §6.4.5: MIME must be prefixed by one or more part numbers
    return nums, text, []


def resolve(msg: MessagePart, nums: list[int]) -> MessagePart | None:
    """The part a dotted part number names, or None.

    A message (the top-level one or one inside message/rfc822) that is not multipart
    has exactly one part, numbered 1: its body (RFC 3501 §6.4.5). A number after a
    message/rfc822 part addresses the parts of the message it holds.
    """
    node = msg
    in_message = True
    for n in nums:
        if node.message is not None and not in_message:
            node, in_message = node.message, True
        if node.children:
            if n > len(node.children):
                return None
            node, in_message = node.children[n - 1], False
        elif node.is_multipart:
            return None  # a multipart whose parts could not be found has none to address
        elif in_message and n == 1:
            in_message = False
        else:
            return None
    return node


def _header_fields(target: MessagePart, names: list[str], exclude: bool) -> bytes:
    wanted = set(names)
    out: list[bytes] = []
    for h in target.headers:
        if (h.key in wanted) != exclude:
            out.append(h.raw if h.raw.endswith(b"\n") else h.raw + _CRLF)
    # RFC 3501 §6.4.5: the subset returned includes the blank line that ends a header.
    out.append(_CRLF)
    return b"".join(out)


def section(msg: MessagePart, spec: str) -> bytes | None:
    """The octets of ``BODY[spec]``; None when the section does not exist or the spec is
    not valid. ``spec`` is what stands between the brackets, e.g. ``"1.2.MIME"``."""
    parsed = parse_spec(spec)
    if parsed is None:
        return None
    nums, text, names = parsed
    node = resolve(msg, nums)
    if node is None:
        return None
    data = msg.data
    if text == "":
        if not nums:
            return data[msg.start : msg.end]
        return data[node.body_start : node.end]
    if text == "MIME":
        return data[node.start : node.body_start]
    if nums:
        # RFC 3501 §6.4.5: HEADER, HEADER.FIELDS and TEXT after a part number address the
        # message inside a message/rfc822 part, and nothing else.
        if node.message is None:
            return None
        node = node.message
    if text == "HEADER":
        return data[node.start : node.body_start]
    if text == "TEXT":
        return data[node.body_start : node.end]
    return _header_fields(node, names, exclude=text.endswith(".NOT"))


def binary_section(msg: MessagePart, spec: str) -> bytes | None:
    """The octets of ``BINARY[spec]`` (RFC 3516 §4.2): the part's body with its transfer
    encoding removed. Raises :class:`~.decode.UnknownCTE` for an encoding this library
    cannot remove, so that the server can answer ``[UNKNOWN-CTE]`` (RFC 3516 §4.3)."""
    parsed = parse_spec(spec)
    if parsed is None or parsed[1]:
        return None  # section-binary is part numbers only (RFC 3516 §5)
    nums = parsed[0]
    if not nums:
        return msg.data[msg.start : msg.end]
    node = resolve(msg, nums)
    if node is None:
        return None
    if node.is_multipart or node.message is not None:
        return node.body  # only identity encodings are allowed there (RFC 2045 §6.4)
    return decode_body(node.body, node.cte)
