"""The header block of an entity: fields with their raw bytes, unfolded values and offsets."""

from __future__ import annotations

import re

from ._model import Defect, HeaderField

# RFC 5322 §3.6.8: field-name = 1*ftext, ftext = %d33-57 / %d59-126. Like the stdlib we
# also take an empty name, so that ": x" stays a (defective) field rather than the body.
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]*:")
_FOLD = re.compile(rb"\r?\n")


def _field(data: bytes, start: int, colon: int, end: int) -> HeaderField:
    name = data[start : colon - 1].decode("latin-1")
    value = data[colon:end]
    if b"\n" in value:
        value = _FOLD.sub(b"", value)  # RFC 5322 §2.2.3 unfolding
    return HeaderField(name, name.lower(), data[start:end], value.strip(b" \t\r\n"), start)


def parse_header_block(
    data: bytes, start: int, limit: int, defects: list[Defect], unixfrom: bool = False
) -> tuple[list[HeaderField], int]:
    """Read header fields from ``data[start:limit]``; return them and where the body starts.

    The header ends at the first empty line (RFC 5322 §2.1), which belongs to the header
    block. A line that is neither a field nor a continuation ends the header too, with a
    defect, and is the first line of the body (as the stdlib does). Only LF and CRLF end
    lines: a bare CR is data.
    """
    fields: list[HeaderField] = []
    cur = -1  # start of the field being collected
    colon = -1
    pos = start
    find = data.find
    while pos < limit:
        nl = find(b"\n", pos, limit)
        line_end = limit if nl < 0 else nl + 1
        first = data[pos]
        if first == 0x0A or (first == 0x0D and line_end - pos == 2 and nl >= 0):
            if cur >= 0:
                fields.append(_field(data, cur, colon, pos))
            return fields, line_end
        if first == 0x20 or first == 0x09:
            if cur < 0:
                defects.append(Defect("header-syntax", pos, "first header line is a continuation"))
            pos = line_end
            continue
        m = _FIELD_NAME.match(data, pos, line_end)
        if m is not None:
            if cur >= 0:
                fields.append(_field(data, cur, colon, pos))
            cur, colon = pos, m.end()
            if colon - pos == 1:
                defects.append(Defect("header-syntax", pos, "header field with an empty name"))
        elif unixfrom and pos == start and data.startswith(b"From ", pos):
            pass  # an mbox "From " envelope line, kept in the header block but not a field
        else:
            if cur >= 0:
                fields.append(_field(data, cur, colon, pos))
            defects.append(
                Defect("header-syntax", pos, "line is not a header field; body assumed to start")
            )
            return fields, pos
        pos = line_end
    if cur >= 0:
        fields.append(_field(data, cur, colon, limit))
    return fields, limit
