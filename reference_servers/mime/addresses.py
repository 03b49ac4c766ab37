"""RFC 5322 §3.4 addresses and groups, with the obsolete syntax of §4.4 read but flagged."""

from __future__ import annotations

from dataclasses import dataclass, field

_SPECIALS = frozenset('()<>[]:;@\\,."')
_WSP = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class Mailbox:
    name: str | None  # display name, quotes removed; RFC 2047 words left encoded
    route: str | None  # obs-route "@a,@b" (RFC 5322 §4.4), without the final ":"
    local: str  # local-part as written: a quoted local part keeps its quotes
    domain: str | None

    @property
    def addr_spec(self) -> str:
        return self.local if self.domain is None else f"{self.local}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    members: tuple[Mailbox, ...]


@dataclass(slots=True)
class AddressList:
    items: list[Mailbox | Group] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    obsolete: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Tok:
    kind: str  # "atom", "qs" (quoted string), "dl" (domain literal) or a special char
    text: str  # the value (quoted string unescaped)
    raw: str  # as written
    space: bool  # white space or a comment came before it


def _tokenize(s: str, problems: list[str]) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(s)
    space = False
    while i < n:
        c = s[i]
        if c in _WSP:
            i += 1
            space = True
        elif c == "(":
            depth = 0
            while i < n:
                ch = s[i]
                i += 1
                if ch == "\\":
                    i += 1
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
            if depth:
                problems.append("unterminated comment")
            space = True
        elif c == '"' or c == "[":
            close = '"' if c == '"' else "]"
            j = i + 1
            out: list[str] = []
            while j < n and s[j] != close:
                if s[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(s[j])
                j += 1
            if j >= n:
                problems.append("unterminated " + ("quoted string" if c == '"' else "literal"))
            toks.append(_Tok("qs" if c == '"' else "dl", "".join(out), s[i : j + 1], space))
            i = j + 1
            space = False
        elif c in _SPECIALS:
            toks.append(_Tok(c, c, c, space))
            i += 1
            space = False
        else:
            j = i
            while j < n and s[j] not in _SPECIALS and s[j] not in _WSP:
                j += 1
            atom = s[i:j]
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in atom):
                problems.append(f"control character in {atom!r}")
            toks.append(_Tok("atom", atom, atom, space))
            i = j
            space = False
    return toks


class _Parser:
    def __init__(self, toks: list[_Tok], out: AddressList) -> None:
        self.toks = toks
        self.i = 0
        self.out = out

    def peek(self) -> str:
        return self.toks[self.i].kind if self.i < len(self.toks) else ""

    def phrase(self, stop: str) -> str | None:
        words: list[str] = []
        while self.i < len(self.toks) and self.toks[self.i].kind not in stop:
            t = self.toks[self.i]
            if t.kind == ".":
                self.out.obsolete.append("'.' in a display name (obs-phrase)")
            elif t.kind not in ("atom", "qs"):
                self.out.problems.append(f"unexpected {t.raw!r} in a display name")
            if words and t.space:
                words.append(" ")
            words.append(t.text)
            self.i += 1
        return "".join(words) if words else None

    def _kind_ahead(self) -> str:
        for t in self.toks[self.i :]:
            if t.kind in ":<@,;>":
                return t.kind
        return ""

    def addr_spec(self, stop: str) -> tuple[str, str | None]:
        local: list[str] = []
        while self.peek() not in stop and self.peek() != "@":
            t = self.toks[self.i]
            if t.kind not in ("atom", "qs", "."):
                self.out.problems.append(f"unexpected {t.raw!r} in a local part")
            elif t.space and local:
                self.out.obsolete.append("white space inside a local part (obs-local-part)")
            local.append(t.raw)
            self.i += 1
        if not local:
            self.out.problems.append("empty local part")
        if self.peek() != "@":
            self.out.problems.append(f"no '@' in {''.join(local)!r}")
            return "".join(local), None
        self.i += 1
        domain: list[str] = []
        while self.peek() not in stop and self.peek() != "":
            t = self.toks[self.i]
            if t.kind not in ("atom", "dl", "."):
                self.out.problems.append(f"unexpected {t.raw!r} in a domain")
            domain.append(t.raw)
            self.i += 1
        text = "".join(domain)
        if not text or text.startswith(".") or text.endswith(".") or ".." in text:
            self.out.problems.append(f"malformed domain {text!r}")
        return "".join(local), text

    def mailbox(self, stop: str) -> Mailbox | None:
        if self._kind_ahead() == "<":
            name = self.phrase("<")
            self.i += 1
            route = None
            if self.peek() == "@":
                start = self.i
                while self.peek() not in (":", ">", ""):
                    self.i += 1
                route = "".join(t.raw for t in self.toks[start : self.i])
                self.out.obsolete.append("source route in an address (obs-route)")
                if self.peek() == ":":
                    self.i += 1
            local, domain = self.addr_spec(">" + stop)
            if self.peek() == ">":
                self.i += 1
            else:
                self.out.problems.append("'<' without '>'")
            return Mailbox(name, route, local, domain)
        if self.peek() in stop:
            return None
        local, domain = self.addr_spec(stop)
        return Mailbox(None, None, local, domain)

    def address_list(self) -> None:
        while self.i < len(self.toks):
            if self.peek() == ",":
                self.out.obsolete.append("empty element in an address list (obs-addr-list)")
                self.i += 1
                continue
            if self._kind_ahead() == ":":
                self.group()
            else:
                mbox = self.mailbox(",")
                if mbox is not None:
                    self.out.items.append(mbox)
            if self.peek() == ",":
                self.i += 1
            elif self.i < len(self.toks):
                self.out.problems.append(f"unexpected {self.toks[self.i].raw!r}")
                while self.peek() not in (",", ""):
                    self.i += 1

    def group(self) -> None:
        name = self.phrase(":") or ""
        self.i += 1
        members: list[Mailbox] = []
        while self.peek() not in (";", ""):
            if self.peek() == ",":
                self.i += 1
                continue
            mbox = self.mailbox(",;")
            if mbox is None:
                self.out.problems.append(f"unexpected {self.toks[self.i].raw!r} in a group")
                self.i += 1
            else:
                members.append(mbox)
        if self.peek() == ";":
            self.i += 1
        else:
            self.out.problems.append(f"group {name!r} without ';'")
        self.out.items.append(Group(name, tuple(members)))


def parse_address_list(value: str) -> AddressList:
    """Parse an address-list (RFC 5322 §3.4); problems and obsolete forms are listed."""
    out = AddressList()
    _Parser(_tokenize(value, out.problems), out).address_list()
    return out


def mailboxes(value: str) -> list[Mailbox]:
    """Every mailbox of an address list, group members included."""
    result: list[Mailbox] = []
    for item in parse_address_list(value).items:
        result.extend(item.members if isinstance(item, Group) else (item,))
    return result
