"""Content-Type and Content-Disposition: RFC 2045 §5.1 syntax, RFC 2183, RFC 2231 parameters."""

from __future__ import annotations

import re
import urllib.parse

from ._model import ContentType, Param
from .encoded_words import lookup_charset

# RFC 2045 §5.1: tspecials must be quoted inside a parameter value.
TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
_TOKEN_STOP = TSPECIALS | frozenset(" \t\r\n")
_SECTION = re.compile(r"^(?P<base>[^*]+)\*(?:(?P<idx>[0-9]+)(?P<enc>\*)?)?$")


class _Scanner:
    """Walks a structured field body: tokens, quoted strings, comments (RFC 5322 §3.2.2)."""

    __slots__ = ("i", "problems", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.i = 0
        self.problems: list[str] = []

    def at_end(self) -> bool:
        return self.i >= len(self.s)

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_cfws(self) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "(":
                self._comment()
            else:
                return

    def _comment(self) -> None:
        depth = 0
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            self.i += 1
            if c == "\\":
                self.i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return
        self.problems.append("unterminated comment")

    def token(self) -> str:
        start = self.i
        s = self.s
        while self.i < len(s) and s[self.i] not in _TOKEN_STOP:
            self.i += 1
        return s[start : self.i]

    def quoted(self) -> str:
        """A quoted-string, the opening quote at the cursor; quoted-pairs unescaped."""
        s = self.s
        self.i += 1
        out: list[str] = []
        while self.i < len(s):
            c = s[self.i]
            self.i += 1
            if c == "\\" and self.i < len(s):
                out.append(s[self.i])
                self.i += 1
            elif c == '"':
                return "".join(out)
            else:
                out.append(c)
        self.problems.append("unterminated quoted string")
        return "".join(out)


def _parse_params(sc: _Scanner) -> list[tuple[str, str]]:
    raw: list[tuple[str, str]] = []
    while True:
        sc.skip_cfws()
        if sc.at_end():
            return raw
        if sc.peek() != ";":
            sc.problems.append(f"expected ';' at {sc.s[sc.i : sc.i + 20]!r}")
            nxt = sc.s.find(";", sc.i)
            if nxt < 0:
                return raw
            sc.i = nxt
        sc.i += 1
        sc.skip_cfws()
        if sc.at_end():
            return raw  # a trailing ";" is common and harmless
        name = sc.token()
        sc.skip_cfws()
        if not name or sc.peek() != "=":
            sc.problems.append(f"malformed parameter at {sc.s[sc.i : sc.i + 20]!r}")
            continue
        sc.i += 1
        sc.skip_cfws()
        if sc.peek() == '"':
            value = sc.quoted()
        else:
            end = sc.s.find(";", sc.i)
            end = len(sc.s) if end < 0 else end
            value = sc.s[sc.i : end].strip()
            sc.i = end
            # RFC 2045 §5.1: a value with tspecials or spaces must be a quoted-string.
            if not value or set(value) & _TOKEN_STOP:
                sc.problems.append(f"parameter {name!r} needs quoting: {value!r}")
        raw.append((name.lower(), value))


def _percent_decode(text: str) -> bytes:
    return urllib.parse.unquote_to_bytes(text)


def assemble_params(raw: list[tuple[str, str]], problems: list[str]) -> list[Param]:
    """Join RFC 2231 continuations and decode extended values (RFC 2231 §3, §4).

    An extended ``name*`` wins over a plain ``name`` given as well, since a sender that
    writes both means the plain one as a fallback for older readers.
    """
    order: list[str] = []
    plain: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, value in raw:
        m = _SECTION.match(name)
        if m is None:
            if name in plain:
                problems.append(f"duplicate parameter {name!r}")
                continue
            plain[name] = value
            if name not in order:
                order.append(name)
            continue
        base = m.group("base")
        idx = int(m.group("idx")) if m.group("idx") is not None else 0
        encoded = m.group("idx") is None or m.group("enc") is not None
        segs = sections.setdefault(base, {})
        if idx in segs:
            problems.append(f"duplicate RFC 2231 section {name!r}")
            continue
        segs[idx] = (value, encoded)
        if base not in order:
            order.append(base)
    params: list[Param] = []
    for name in order:
        pieces = sections.get(name)
        if not pieces:
            params.append(Param(name, plain[name]))
            continue
        params.append(_join_sections(name, pieces, problems))
    return params


def _join_sections(name: str, segs: dict[int, tuple[str, bool]], problems: list[str]) -> Param:
    indexes = sorted(segs)
    if indexes != list(range(len(indexes))):
        problems.append(f"RFC 2231 sections of {name!r} are not numbered 0..n")
    charset = language = None
    chunks: list[bytes] = []
    for n, idx in enumerate(indexes):
        value, encoded = segs[idx]
        if n == 0 and encoded:
            # RFC 2231 §4: the first encoded section carries charset'language'.
            parts = value.split("'", 2)
            if len(parts) == 3:
                charset, language, value = parts[0] or None, parts[1] or None, parts[2]
            else:
                problems.append(f"RFC 2231 value of {name!r} lacks charset'language'")
        if encoded:
            chunks.append(_percent_decode(value))
        else:
            chunks.append(value.encode("utf-8", "surrogateescape"))
    data = b"".join(chunks)
    codec = lookup_charset(charset) if charset else "utf-8"
    if codec is None:
        problems.append(f"unknown charset {charset!r} in parameter {name!r}")
        codec = "utf-8"
    text = data.decode(codec, "surrogateescape" if codec == "utf-8" else "replace")
    return Param(name, text, charset, language)


def parse_content_type(value: str) -> tuple[ContentType | None, list[str]]:
    """Parse a Content-Type field body; None when type/subtype is not there."""
    sc = _Scanner(value)
    sc.skip_cfws()
    maintype = sc.token()
    sc.skip_cfws()
    if not maintype or sc.peek() != "/":
        sc.problems.append(f"no type/subtype in {value[:40]!r}")
        return None, sc.problems
    sc.i += 1
    sc.skip_cfws()
    subtype = sc.token()
    if not subtype:
        sc.problems.append(f"no subtype in {value[:40]!r}")
        return None, sc.problems
    params = assemble_params(_parse_params(sc), sc.problems)
    return ContentType(maintype.lower(), subtype.lower(), params), sc.problems


def parse_disposition(value: str) -> tuple[tuple[str, list[Param]] | None, list[str]]:
    """Parse a Content-Disposition field body (RFC 2183 §2)."""
    sc = _Scanner(value)
    sc.skip_cfws()
    kind = sc.token()
    if not kind:
        sc.problems.append(f"no disposition type in {value[:40]!r}")
        return None, sc.problems
    params = assemble_params(_parse_params(sc), sc.problems)
    return (kind.lower(), params), sc.problems
