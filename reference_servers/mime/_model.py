"""The parse tree: parts that point into the original bytes instead of copying them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .encoded_words import decode_words


@dataclass(slots=True)
class Defect:
    """Something the parser could not make sense of; ``rule`` keys into :mod:`.rules`."""

    rule: str
    offset: int
    detail: str = ""


@dataclass(slots=True)
class HeaderField:
    """One header field exactly as it came, plus its unfolded value.

    ``raw`` is the whole field, folding and final line ending included, so that
    ``BODY[HEADER.FIELDS (...)]`` can return it unchanged. ``value`` is the field body
    unfolded (RFC 5322 §2.2.3: remove every CRLF that is followed by WSP) and stripped.
    """

    name: str
    key: str  # name.lower(): field names are case-insensitive (RFC 5322 §1.2.2)
    raw: bytes
    value: bytes
    offset: int

    @property
    def text(self) -> str:
        """The unfolded value as text; RFC 6532 allows UTF-8, anything else is kept."""
        return self.value.decode("utf-8", "surrogateescape")


@dataclass(slots=True)
class Param:
    """A Content-Type or Content-Disposition parameter after RFC 2231 reassembly."""

    name: str  # lower-case: attribute names are case-insensitive (RFC 2045 §5.1)
    value: str
    charset: str | None = None  # set when the value came RFC 2231 extended (name*=)
    language: str | None = None


@dataclass(slots=True)
class ContentType:
    maintype: str
    subtype: str
    params: list[Param] = field(default_factory=list)

    @property
    def mimetype(self) -> str:
        return f"{self.maintype}/{self.subtype}"

    def param(self, name: str) -> str | None:
        for p in self.params:
            if p.name == name:
                return p.value
        return None


@dataclass(eq=False, slots=True)
class MessagePart:
    """One entity of a message: its header block is ``data[start:body_start]`` (blank line
    included when there is one), its body ``data[body_start:end]``.

    ``path`` is the IMAP part number ("" for the top-level message; an encapsulated
    message/rfc822 message shares the path of the part that holds it).
    """

    data: bytes
    start: int
    body_start: int
    end: int
    path: str
    headers: list[HeaderField]
    content_type: ContentType
    explicit_type: bool  # False when the type is a default (RFC 2045 §5.2, RFC 2046 §5.1.5)
    cte: str  # lower-case Content-Transfer-Encoding, "7bit" by default (RFC 2045 §6.1)
    disposition: tuple[str, list[Param]] | None
    defects: list[Defect] = field(default_factory=list)
    children: list[MessagePart] = field(default_factory=list)
    message: MessagePart | None = None  # the encapsulated message of message/rfc822
    preamble: tuple[int, int] | None = None
    epilogue: tuple[int, int] | None = None
    is_message: bool = False  # a top-level or encapsulated message, not a body part

    # -- headers ---------------------------------------------------------------------
    def header(self, name: str) -> HeaderField | None:
        key = name.lower()
        for h in self.headers:
            if h.key == key:
                return h
        return None

    def header_all(self, name: str) -> list[HeaderField]:
        key = name.lower()
        return [h for h in self.headers if h.key == key]

    # -- bytes -----------------------------------------------------------------------
    @property
    def raw(self) -> bytes:
        return self.data[self.start : self.end]

    @property
    def header_bytes(self) -> bytes:
        return self.data[self.start : self.body_start]

    @property
    def body(self) -> bytes:
        return self.data[self.body_start : self.end]

    @property
    def body_size(self) -> int:
        return self.end - self.body_start

    @property
    def body_lines(self) -> int:
        """Lines of the body as on the wire: a final line without its line ending (the
        CRLF before a boundary belongs to the boundary, RFC 2046 §5.1.1) still counts."""
        if self.end == self.body_start:
            return 0
        lines = self.data.count(b"\n", self.body_start, self.end)
        if self.data[self.end - 1] != 0x0A:
            lines += 1
        return lines

    # -- structure -------------------------------------------------------------------
    @property
    def is_multipart(self) -> bool:
        return self.content_type.maintype == "multipart"

    def walk(self) -> Iterator[MessagePart]:
        """This part and every part below it, depth first, encapsulated messages included."""
        stack: list[MessagePart] = [self]
        while stack:
            part = stack.pop()
            yield part
            if part.message is not None:
                stack.append(part.message)
            stack.extend(reversed(part.children))

    @property
    def filename(self) -> str | None:
        """The file name from Content-Disposition, else Content-Type ``name``; RFC 2047
        words inside it are decoded too, as widespread practice (not the RFC) has them."""
        value = None
        if self.disposition is not None:
            value = next((p.value for p in self.disposition[1] if p.name == "filename"), None)
        if value is None:
            value = self.content_type.param("name")
        if value is None:
            return None
        return decode_words(value)[0] if "=?" in value else value
