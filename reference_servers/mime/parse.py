"""Bytes to a :class:`MessagePart` tree, byte-faithfully; never raises on any input."""

from __future__ import annotations

from ._model import ContentType, Defect, MessagePart, Param
from .headers import parse_header_block
from .params import parse_content_type, parse_disposition

# Deeper nesting than this is not parsed further (a defect instead): it bounds recursion
# and the rescanning of the same octets, whatever the input.
MAX_DEPTH = 60
IDENTITY_CTES = frozenset({"7bit", "8bit", "binary"})
MESSAGE_SUBTYPES = frozenset({"rfc822", "global"})  # RFC 2046 §5.2.1, RFC 6532 §3.7


def default_text() -> ContentType:
    # RFC 2045 §5.2: no (or an invalid) Content-Type means text/plain; charset=us-ascii.
    return ContentType("text", "plain", [Param("charset", "US-ASCII")])


def parse(data: bytes) -> MessagePart:
    """Parse a whole message. Any bytes are accepted; problems become defects."""
    data = bytes(data)
    return _entity(data, 0, len(data), "", None, 0, is_message=True)


def _entity(
    data: bytes,
    start: int,
    end: int,
    path: str,
    default: ContentType | None,
    depth: int,
    is_message: bool,
) -> MessagePart:
    defects: list[Defect] = []
    headers, body_start = parse_header_block(data, start, end, defects, unixfrom=start == 0)
    ctype: ContentType | None = None
    explicit = False
    cte = "7bit"
    disposition = None
    for h in headers:
        key = h.key
        if key == "content-type" and ctype is None and not explicit:
            ctype, problems = parse_content_type(h.text)
            explicit = ctype is not None
            for p in problems:
                defects.append(Defect("content-type-malformed", h.offset, p))
        elif key == "content-transfer-encoding" and cte == "7bit":
            cte = h.text.strip().lower() or "7bit"
        elif key == "content-disposition" and disposition is None:
            disposition, problems = parse_disposition(h.text)
            for p in problems:
                defects.append(Defect("content-disposition-malformed", h.offset, p))
    if ctype is None:
        ctype = default if default is not None else default_text()
        if default is not None:
            ctype = ContentType(default.maintype, default.subtype, list(default.params))
    part = MessagePart(
        data, start, body_start, end, path, headers, ctype, explicit, cte, disposition, defects
    )
    part.is_message = is_message
    if depth >= MAX_DEPTH:
        if ctype.maintype == "multipart" or ctype.mimetype in ("message/rfc822", "message/global"):
            defects.append(Defect("nesting-too-deep", start, f"more than {MAX_DEPTH} levels"))
        return part
    if ctype.maintype == "multipart":
        _multipart(part, depth)
    elif ctype.maintype == "message" and ctype.subtype in MESSAGE_SUBTYPES:
        if cte in IDENTITY_CTES:
            part.message = _entity(data, body_start, end, path, None, depth + 1, is_message=True)
        else:
            # RFC 2046 §5.2.1: no encoding other than 7bit, 8bit or binary is permitted
            # for message/rfc822, so the body is left opaque.
            defects.append(Defect("cte-not-allowed", start, f"{cte} on {ctype.mimetype}"))
    return part


def _line_end(data: bytes, pos: int, end: int) -> int:
    nl = data.find(b"\n", pos, end)
    return end if nl < 0 else nl + 1


def _multipart(part: MessagePart, depth: int) -> None:
    data, s, e = part.data, part.body_start, part.end
    defects = part.defects
    boundary = part.content_type.param("boundary")
    if not boundary:
        # RFC 2046 §5.1.1: the boundary parameter is required for every multipart.
        defects.append(Defect("boundary-missing", part.start, "multipart without boundary"))
        part.preamble = (s, e)
        return
    if part.cte not in IDENTITY_CTES:
        # RFC 2045 §6.4: only 7bit, 8bit or binary are permitted on a multipart entity.
        defects.append(Defect("cte-not-allowed", part.start, f"{part.cte} on multipart"))
    delim = b"--" + boundary.encode("utf-8", "surrogateescape")
    # (start of delimiter line, end of delimiter line, is close delimiter)
    marks: list[tuple[int, int, bool]] = []
    pos = s
    find = data.find
    while True:
        i = find(delim, pos, e)
        if i < 0:
            break
        if i != s and data[i - 1] != 0x0A:
            pos = i + 1
            continue
        j = i + len(delim)
        close = data.startswith(b"--", j) and j + 2 <= e
        k = j + 2 if close else j
        line_end = _line_end(data, k, e)
        # RFC 2046 §5.1.1: only linear white space may follow the boundary on its line.
        if data[k:line_end].strip(b" \t\r\n"):
            defects.append(Defect("boundary-in-content", i, "line starts with the boundary"))
            pos = j
            continue
        marks.append((i, line_end, close))
        if close:
            break
        pos = line_end
    if not marks:
        defects.append(Defect("boundary-not-found", s, f"no delimiter line for {boundary!r}"))
        part.preamble = (s, e)
        return
    if marks[0][2]:
        defects.append(Defect("boundary-not-found", marks[0][0], "close delimiter comes first"))
    if marks[0][0] > s:
        part.preamble = (s, _before_eol(data, s, marks[0][0]))
    if not marks[-1][2]:
        defects.append(Defect("multipart-not-closed", e, f"no close delimiter for {boundary!r}"))
    else:
        part.epilogue = (marks[-1][1], e)
    prefix = part.path + "." if part.path else ""
    default = ContentType("message", "rfc822") if part.content_type.subtype == "digest" else None
    for n, (_, body_from, close) in enumerate(marks):
        if close:
            break
        if n + 1 < len(marks):
            child_end = max(body_from, _before_eol(data, body_from, marks[n + 1][0]))
        else:
            child_end = e
        part.children.append(
            _entity(data, body_from, child_end, f"{prefix}{n + 1}", default, depth + 1, False)
        )


def _before_eol(data: bytes, floor: int, i: int) -> int:
    """Where content ends before the delimiter at ``i``: the CRLF preceding a boundary is
    conceptually attached to it (RFC 2046 §5.1.1)."""
    if i > floor and data[i - 1] == 0x0A:
        i -= 1
        if i > floor and data[i - 1] == 0x0D:
            i -= 1
    return i
