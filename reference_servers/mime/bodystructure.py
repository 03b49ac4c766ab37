"""BODY and BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 9051 §7.5.2) as typed values.

Choices where the RFCs leave room, following Dovecot where it has one:
- media types, subtypes, disposition types, encodings and parameter names are sent in
  upper case (all are case-insensitive; RFC 2045 §5.1, §6.1; RFC 2183 §2);
- RFC 2231 continuations are joined; a value that had a charset goes out again as one
  ``NAME*`` parameter in ``charset'language'%XX`` form, so nothing is lost;
- a text part without a charset parameter gets ``("CHARSET" "US-ASCII")``, the default
  RFC 2046 §4.1.2 says must be assumed;
- a multipart with no parts (boundary missing or never found) gets one empty
  ``"TEXT" "PLAIN"`` part, as the grammar needs ``1*body``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from ._imapstr import NIL, nstring, plist, string
from ._model import MessagePart, Param
from .encoded_words import lookup_charset
from .envelope import Envelope, envelope

Params = tuple[tuple[bytes, bytes], ...]


def _u(text: str) -> bytes:
    return text.upper().encode("utf-8", "surrogateescape")


def _params(params: list[Param]) -> Params:
    out: list[tuple[bytes, bytes]] = []
    for p in params:
        if p.charset is not None:
            encoded = urllib.parse.quote(p.value.encode(_codec(p.charset), "replace"), safe="")
            value = f"{p.charset}'{p.language or ''}'{encoded}"
            out.append((_u(p.name) + b"*", value.encode("ascii")))
        else:
            out.append((_u(p.name), p.value.encode("utf-8", "surrogateescape")))
    return tuple(out)


def _codec(charset: str) -> str:
    return lookup_charset(charset) or "utf-8"


def _param_list(params: Params | None) -> bytes:
    if not params:
        return NIL  # body-fld-param is "(" string SP string ... ")" / nil: never "()"
    return plist([string(k) + b" " + string(v) for k, v in params])


@dataclass(frozen=True, slots=True)
class Extension:
    """body-ext-1part / body-ext-mpart, after the md5 (or, for multiparts, the params)."""

    disposition: tuple[bytes, Params] | None
    language: tuple[bytes, ...] | None
    location: bytes | None

    def to_imap(self) -> bytes:
        dsp = NIL
        if self.disposition is not None:
            dsp = plist([string(self.disposition[0]), _param_list(self.disposition[1])])
        if not self.language:
            lang = NIL
        elif len(self.language) == 1:
            lang = string(self.language[0])
        else:
            lang = plist([string(x) for x in self.language])
        return b" ".join([dsp, lang, nstring(self.location)])


@dataclass(frozen=True, slots=True)
class SinglePart:
    """body-type-basic, body-type-text (``lines`` set) or body-type-msg (``envelope`` and
    ``body`` set as well)."""

    type: bytes
    subtype: bytes
    params: Params
    id: bytes | None
    description: bytes | None
    encoding: bytes
    size: int
    lines: int | None = None
    envelope: Envelope | None = None
    body: BodyStructure | None = None
    md5: bytes | None = None
    ext: Extension | None = None  # None: BODY, not BODYSTRUCTURE

    def to_imap(self) -> bytes:
        items = [
            string(self.type),
            string(self.subtype),
            _param_list(self.params),
            nstring(self.id),
            nstring(self.description),
            string(self.encoding),
            b"%d" % self.size,
        ]
        if self.envelope is not None and self.body is not None:
            items += [self.envelope.to_imap(), self.body.to_imap()]
        if self.lines is not None:
            items.append(b"%d" % self.lines)
        if self.ext is not None:
            items += [nstring(self.md5), self.ext.to_imap()]
        return plist(items)


@dataclass(frozen=True, slots=True)
class MultiPart:
    parts: tuple[BodyStructure, ...]
    subtype: bytes
    params: Params | None = None
    ext: Extension | None = None  # None: BODY, not BODYSTRUCTURE

    def to_imap(self) -> bytes:
        out = b"(" + b"".join(p.to_imap() for p in self.parts) + b" " + string(self.subtype)
        if self.ext is not None:
            out += b" " + _param_list(self.params) + b" " + self.ext.to_imap()
        return out + b")"


BodyStructure = SinglePart | MultiPart

EMPTY_TEXT = SinglePart(b"TEXT", b"PLAIN", ((b"CHARSET", b"US-ASCII"),), None, None, b"7BIT", 0, 0)


def _value(part: MessagePart, name: str) -> bytes | None:
    h = part.header(name)
    return None if h is None else h.value


def _extension(part: MessagePart) -> Extension:
    dsp = None
    if part.disposition is not None:
        dsp = (_u(part.disposition[0]), _params(part.disposition[1]))
    lang = None
    raw_lang = _value(part, "content-language")
    if raw_lang is not None:
        # RFC 3282 §2: a comma-separated list of language tags.
        tags = [t.strip() for t in raw_lang.split(b",") if t.strip()]
        lang = tuple(tags) or None
    return Extension(dsp, lang, _value(part, "content-location"))


def bodystructure(part: MessagePart, extensible: bool = True) -> BodyStructure:
    """BODYSTRUCTURE (``extensible``) or BODY of a message or of one of its parts."""
    ct = part.content_type
    ext = _extension(part) if extensible else None
    if ct.maintype == "multipart":
        kids = tuple(bodystructure(c, extensible) for c in part.children) or (EMPTY_TEXT,)
        return MultiPart(kids, _u(ct.subtype), _params(ct.params), ext)
    params = _params(ct.params)
    if ct.maintype == "text" and ct.param("charset") is None:
        # RFC 2046 §4.1.2: with no charset parameter, US-ASCII "must be assumed".
        params += ((b"CHARSET", b"US-ASCII"),)
    common = dict(
        type=_u(ct.maintype),
        subtype=_u(ct.subtype),
        params=params,
        id=_value(part, "content-id"),
        description=_value(part, "content-description"),
        encoding=_u(part.cte),
        size=part.body_size,
        md5=_value(part, "content-md5") if extensible else None,
        ext=ext,
    )
    if part.message is not None:
        inner = part.message
        return SinglePart(
            **common,  # type: ignore[arg-type]
            envelope=envelope(inner),
            body=bodystructure(inner, extensible),
            lines=part.body_lines,
        )
    if ct.maintype == "text":
        return SinglePart(**common, lines=part.body_lines)  # type: ignore[arg-type]
    return SinglePart(**common)  # type: ignore[arg-type]
