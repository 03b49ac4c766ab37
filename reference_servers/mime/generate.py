"""Build messages: an :class:`Entity` tree rendered to wire bytes, and back from a parse.

``render(from_parsed(parse(render(e)))) == render(e)``: the parser and the generator
are inverse on what the generator writes, which the tests check.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ._model import MessagePart
from .decode import decoded_payload, encode_base64, encode_qp
from .encoded_words import encode_words
from .params import TSPECIALS

CRLF = b"\r\n"
_FOLD_AT = 78  # RFC 5322 §2.1.1: lines SHOULD be no more than 78 characters
# "*", "'" and "%" are token characters (RFC 2045 §5.1) but carry RFC 2231 meaning, so
# some readers (the stdlib among them) misread them bare; quoting costs nothing.
_NEEDS_QUOTES = TSPECIALS | frozenset(" \t*'%")
_RESERVED = frozenset(
    {"mime-version", "content-type", "content-transfer-encoding", "content-disposition"}
)
_ATTR_CHARS = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~]")


@dataclass
class Entity:
    """A message or body part to render.

    ``body`` is the decoded content of a leaf; ``parts`` the children of a multipart;
    ``message`` what a message/rfc822 part holds. ``cte`` None picks one: 7bit for
    short-lined ASCII text, quoted-printable for other text, base64 for the rest.
    ``preamble`` None writes none; b"" writes an empty line before the first boundary.
    """

    content_type: str = "text/plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    cte: str | None = None
    parts: list[Entity] = field(default_factory=list)
    message: Entity | None = None
    boundary: str | None = None
    preamble: bytes | None = None
    epilogue: bytes = b""
    disposition: str | None = None
    disposition_params: list[tuple[str, str]] = field(default_factory=list)

    @property
    def maintype(self) -> str:
        return self.content_type.split("/", 1)[0].lower()


def fold(name: str, value: str) -> bytes:
    """One header field, non-ASCII text as RFC 2047 words, folded before white space so
    that unfolding (RFC 5322 §2.2.3) gives the value back exactly."""
    if not value.isascii():
        value = encode_words(value)
    words = value.split(" ")
    lines: list[str] = []
    head = line = f"{name}:"
    for word in words:
        piece = " " + word
        # Never fold before the first word: a value that starts on a continuation line
        # reads back with a leading space in some parsers (the stdlib's among them).
        if len(line) + len(piece) > _FOLD_AT and word and line != head:
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _param(name: str, value: str) -> list[str]:
    if not value.isascii():
        # RFC 2231 §3, §4: extended values, split into numbered sections when long.
        encoded = "".join(
            ch if _ATTR_CHARS.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode())
            for ch in value
        )
        chunks: list[str] = []
        cur = "utf-8''"
        for token in re.findall(r"%[0-9A-F]{2}|.", encoded):
            if len(cur) + len(token) > 60:
                chunks.append(cur)
                cur = ""
            cur += token
        chunks.append(cur)
        if len(chunks) == 1:
            return [f"{name}*={chunks[0]}"]
        return [f"{name}*{i}*={c}" for i, c in enumerate(chunks)]
    if value and not set(value) & _NEEDS_QUOTES and value.isprintable():
        return [f"{name}={value}"]
    return ['{}="{}"'.format(name, value.replace("\\", "\\\\").replace('"', '\\"'))]


def _typed_field(name: str, head: str, params: list[tuple[str, str]]) -> bytes:
    items = [head + (";" if params else "")]
    for i, (k, v) in enumerate(params):
        rendered = _param(k, v)
        last = i == len(params) - 1
        items.extend(
            r + ("" if last and j == len(rendered) - 1 else ";") for j, r in enumerate(rendered)
        )
    return fold(name, " ".join(items))


def _choose_cte(entity: Entity) -> str:
    if entity.maintype != "text":
        return "base64"
    body = entity.body
    # RFC 5322 §2.1.1 and §2.3: 7bit lines are at most 998 octets and end in CRLF only.
    bare = body.replace(CRLF, b"")
    if (
        body.isascii()
        and b"\r" not in bare
        and b"\n" not in bare
        and all(len(line) <= 998 for line in body.split(CRLF))
    ):
        return "7bit"
    return "quoted-printable"


def _encode(entity: Entity, cte: str) -> bytes:
    if cte == "base64":
        return encode_base64(entity.body)
    if cte == "quoted-printable":
        return encode_qp(entity.body)
    return entity.body


def _pick_boundary(content: bytes) -> str:
    """A boundary derived from the content it encloses, so rendering is deterministic,
    and checked not to occur in it (RFC 2046 §5.1.1). "=_" cannot start a line of
    base64 or quoted-printable."""
    seed = hashlib.sha1(content).hexdigest()
    for n in range(1000):
        boundary = f"=_{seed[:24]}{n or ''}"
        if b"--" + boundary.encode() not in content:
            return boundary
    raise AssertionError("unreachable: no free boundary")


def render(entity: Entity, top: bool = True) -> bytes:
    """Wire bytes, CRLF line endings. A top-level message gets MIME-Version (RFC 2045 §4)."""
    head: list[bytes] = [fold(k, v) for k, v in entity.headers if k.lower() not in _RESERVED]
    if top:
        head.append(b"MIME-Version: 1.0\r\n")
    params = list(entity.params)
    if entity.maintype == "multipart":
        rendered = [render(p, top=False) for p in entity.parts]
        if entity.boundary is None:
            entity.boundary = _pick_boundary(b"".join(rendered))
        params.append(("boundary", entity.boundary))
        delim = b"--" + entity.boundary.encode()
        body = b"" if entity.preamble is None else entity.preamble + CRLF
        for r in rendered:
            body += delim + CRLF + r + CRLF
        body += delim + b"--" + CRLF + entity.epilogue
        cte = entity.cte
    elif entity.message is not None:
        body = render(entity.message, top=True)
        cte = entity.cte
    elif entity.maintype == "message":
        # RFC 2046 §5.2.2, §5.2.3: message/partial and external-body are always 7bit, the
        # default (RFC 2045 §6.1), so no header is written unless one was asked for.
        cte = entity.cte
        body = entity.body
    else:
        cte = entity.cte or _choose_cte(entity)
        body = _encode(entity, cte)
    head.append(_typed_field("Content-Type", entity.content_type, params))
    if cte is not None:
        head.append(fold("Content-Transfer-Encoding", cte))
    if entity.disposition is not None:
        head.append(
            _typed_field("Content-Disposition", entity.disposition, entity.disposition_params)
        )
    return b"".join(head) + CRLF + body


def from_parsed(part: MessagePart) -> Entity:
    """An :class:`Entity` that renders the parsed part again (decoded bodies re-encoded)."""
    ct = part.content_type
    explicit_cte = part.header("content-transfer-encoding") is not None
    entity = Entity(
        content_type=f"{ct.maintype}/{ct.subtype}",
        params=[(p.name, p.value) for p in ct.params if p.name != "boundary"],
        headers=[(h.name, h.text) for h in part.headers if h.key not in _RESERVED],
        cte=part.cte if explicit_cte else None,
    )
    if part.disposition is not None:
        entity.disposition = part.disposition[0]
        entity.disposition_params = [(p.name, p.value) for p in part.disposition[1]]
    if part.is_multipart:
        entity.boundary = ct.param("boundary")
        entity.parts = [from_parsed(c) for c in part.children]
        if part.preamble is not None:
            entity.preamble = part.data[part.preamble[0] : part.preamble[1]]
        if part.epilogue is not None:
            entity.epilogue = part.data[part.epilogue[0] : part.epilogue[1]]
    elif part.message is not None:
        entity.message = from_parsed(part.message)
    else:
        entity.body = decoded_payload(part)
    return entity
