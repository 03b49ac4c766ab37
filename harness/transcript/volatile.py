"""Volatile values in a recording: captured where the server says them, reused as ``$name``.

A value the server hands out and the client then sends back (an IMAP UID from APPENDUID,
COPYUID, FETCH or UID SEARCH, UIDVALIDITY and UIDNEXT, a POP3 message number from STAT,
LIST or UIDL, a UIDL, an SMTP queue id) differs on another server. So where it is first
seen, the response's expectation gets a pattern with a named group (``(?P<uid1>\\d+)``),
and every later command that carries the value sends ``$uid1`` instead.

Which values count is decided by position, not by equality alone: a number in the
sequence set of ``UID FETCH``/``UID STORE``... is a UID, in ``FETCH``/``STORE``... a
sequence number, in ``RETR``/``DELE``/``TOP``/``LIST n``/``UIDL n`` a POP3 message
number; and a value the client sent before the server said it is the client's own. Longer
tokens (queue ids, UIDLs, UIDVALIDITY) are replaced wherever they appear as a whole word.

A value from a listing is found again by its place there: the first line (or number) from
the start, the last one from the end, others by their index. A client that took "the
newest message" then takes the newest one on the other server too.

With ``match_text`` every reply's first line is also matched, with dates, message ids,
queue ids, session-id-like tokens and numbers turned into patterns (:func:`generalize`):
that pins a recording to one implementation's wording, not to one instance's values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..client import ImapResponse, Pop3Response, SmtpReply
from .importers import Reply
from .writer import DraftStep

_WORD = re.compile(r"[^\s()\[\]<>,:]+")
_NUMBER = re.compile(r"(?<![\w.$])\d+(?![\w.])")
_QUEUE = re.compile(r"(?i)\b(queued as|queue id|id=)\s*([A-Za-z0-9][\w.-]*)")
_IMAP_SET_VERBS = {"FETCH", "STORE", "COPY", "MOVE", "EXPUNGE"}
_POP3_NUMBER_VERBS = {"RETR", "DELE", "TOP", "LIST", "UIDL"}


@dataclass
class _Source:
    kind: str  # "uid", "seq", "msg" (typed positions) or "token" (anywhere as a word)
    value: str
    base: str  # the variable name's stem
    step: DraftStep
    expect: int  # index into step.expects
    field: str  # "match", "body_match", "code" (IMAP response code), "untagged"
    order: int  # IMAP untagged: the response's index among the command's untagged
    pattern: str  # with "{G}" where the named group goes
    name: str | None = None


_Add = Callable[..., None]  # add(kind, value, base, field, pattern, order=0)


class _Namer:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def name(self, base: str) -> str:
        numbered = base in ("uid", "seq", "msg", "uidl")
        number = 1
        while True:
            name = f"{base}{number}" if numbered or number > 1 else base
            if name not in self.used:
                self.used.add(name)
                return name
            number += 1


def variablize(steps: list[DraftStep], protocol: str, *, match_text: bool = False) -> list[str]:
    """Capture reused server values and substitute them; returns "$name: where" notes."""
    sources: dict[tuple[str, str], _Source] = {}
    client_said: set[str] = set()
    namer = _Namer()
    for step in steps:
        step.send = [_substitute(line, protocol, sources, namer) for line in step.send]
        for line in step.send:
            client_said |= set(_WORD.findall(line))
        for index, reply in enumerate(step.responses):
            if not isinstance(reply, Reply):
                continue
            for source in _sources(reply, protocol, step, index):
                if source.kind == "token" and source.value.isdigit() and len(source.value) < 4:
                    continue  # a small number anywhere in a command is too likely a coincidence
                key = (source.kind, source.value)
                if key not in sources and source.value not in client_said:
                    sources[key] = source
            if match_text:
                _match_text(step, index, reply, protocol)
    used = [source for source in sources.values() if source.name is not None]
    _attach(used)
    return [f"${s.name}: {s.value} in the recording, captured from its first appearance"
            for s in used]


# -- substitution in commands ----------------------------------------------------------------


def _substitute(line: str, protocol: str, sources: dict[tuple[str, str], _Source],
                namer: _Namer) -> str:
    def use(kind: str, value: str) -> str | None:
        source = sources.get((kind, value))
        if source is None:
            return None
        if source.name is None:
            source.name = namer.name(source.base)
        return "$" + source.name

    words = line.split(" ")
    typed: tuple[int, str] | None = None
    verb = words[0].upper() if words else ""
    if protocol == "imap" and verb == "UID" and len(words) > 2:
        typed = (2, "uid")
    elif protocol == "imap" and verb in _IMAP_SET_VERBS and len(words) > 1:
        typed = (1, "seq")
    elif protocol == "pop3" and verb in _POP3_NUMBER_VERBS and len(words) > 1:
        typed = (1, "msg")
    for position, word in enumerate(words):
        if typed and position == typed[0]:
            whole = use(typed[1], word)

            def number(found: re.Match[str], kind: str = typed[1]) -> str:
                return use(kind, found.group(0)) or found.group(0)

            words[position] = whole or _NUMBER.sub(number, word)
        else:
            words[position] = _WORD.sub(
                lambda found: use("token", found.group(0)) or found.group(0), word)
    return " ".join(words)


# -- where values come from ------------------------------------------------------------------


def _sources(reply: Reply, protocol: str, step: DraftStep, index: int) -> list[_Source]:
    response = reply.response
    found: list[_Source] = []

    def add(kind: str, value: str, base: str, field: str, pattern: str, order: int = 0) -> None:
        found.append(_Source(kind, value, base, step, index, field, order, pattern))

    if isinstance(response, SmtpReply) and 200 <= response.code < 300:
        queue = _QUEUE.search(response.text)
        if queue:
            add("token", queue.group(2), "queue_id", "match",
                r"\A[\s\S]*?" + _escape(queue.group(1)) + r"\s*{G}[\w.-]+)")
    elif isinstance(response, Pop3Response) and response.ok:
        _pop3_sources(reply.command, response, add)
    elif isinstance(response, ImapResponse):
        _imap_sources(reply, add)
    return found


def _pop3_sources(command: str, response: Pop3Response, add: _Add) -> None:
    words = command.split()
    verb = words[0].upper() if words else ""
    line = response.line.decode("utf-8", "replace").split()
    if verb == "STAT" and len(line) >= 2 and line[1].isdigit():
        add("msg", line[1], "count", "match", r"\A\+OK {G}\d+)")
    if verb == "UIDL" and len(words) == 2 and len(line) >= 3:
        add("token", line[2], "uidl", "match", r"\A\+OK \d+ {G}\S+)")
    if verb in ("LIST", "UIDL") and len(words) == 1 and response.body:
        body = [item.decode("utf-8", "replace").split() for item in response.body]
        for number, fields in enumerate(body):
            if len(fields) < 2 or not fields[0].isdigit():
                continue
            if number == len(body) - 1 and number > 0:  # the last entry: from the end
                where = r"\A(?:[\s\S]*\n)?"
                tail = r"\Z"
            else:
                where = r"\A(?:[^\n]*\n){" + str(number) + "}" if number else r"\A"
                tail = ""
            add("msg", fields[0], "msg", "body_match", where + r"{G}\d+) \S+" + tail)
            if verb == "UIDL":
                add("token", fields[1], "uidl", "body_match", where + r"\d+ {G}\S+)" + tail)


def _imap_sources(reply: Reply, add: _Add) -> None:
    final = reply.response
    assert isinstance(final, ImapResponse)
    words = reply.command.upper().split()
    uid_command = bool(words) and words[0] == "UID"
    code = final.code or ""
    if final.kind == "tagged":
        appended = re.match(r"APPENDUID (\d+) ([\d:,]+)", code)
        if appended:
            add("token", appended.group(1), "uidvalidity", "code", r"APPENDUID {G}\d+)")
            add("uid", appended.group(2), "uid", "code", r"APPENDUID \d+ {G}[\d:,]+)")
        copied = re.match(r"COPYUID (\d+) ([\d:,]+) ([\d:,]+)", code)
        if copied:
            add("token", copied.group(1), "uidvalidity", "code", r"COPYUID {G}\d+)")
            add("uid", copied.group(3), "uid", "code", r"COPYUID \d+ [\d:,]+ {G}[\d:,]+)")
    for order, response in enumerate(reply.untagged):
        data = response.data
        for name in ("UIDVALIDITY", "UIDNEXT"):
            found = re.match(r"OK \[" + name + r" (\d+)\]", data)
            if found:
                kind = "token" if name == "UIDVALIDITY" else "uid"
                add(kind, found.group(1), name.lower(), "untagged",
                    r"\AOK \[" + name + r" {G}\d+)\]", order)
        fetch = re.match(r"(\d+) FETCH \(", data)
        if fetch:
            seq = r"\d+" if uid_command else fetch.group(1)
            add("seq", fetch.group(1), "seq", "untagged", r"\A{G}\d+) FETCH \(", order)
            uid = re.search(r"\bUID (\d+)", data)
            if uid:
                add("uid", uid.group(1), "uid", "untagged",
                    r"\A" + seq + r" FETCH \([\s\S]*?\bUID {G}\d+)", order)
        search = re.match(r"SEARCH((?: \d+)+)\s*$", data)
        if search:
            numbers = search.group(1).split()
            for position, number in enumerate(numbers):
                if position == len(numbers) - 1 and position > 0:
                    pattern = r"\ASEARCH(?: \d+)* {G}\d+)\s*\Z"
                else:
                    skip = r"(?: \d+){" + str(position) + "}" if position else ""
                    pattern = r"\ASEARCH" + skip + r" {G}\d+)"
                add("uid" if uid_command else "seq", number, "uid" if uid_command else "seq",
                    "untagged", pattern, order)


# -- patterns into expectations --------------------------------------------------------------


def _attach(used: list[_Source]) -> None:
    """Each expectation gets one pattern per response: its captures as lookaheads."""
    grouped: dict[tuple[int, int, str, int], list[_Source]] = {}
    for source in used:
        key = (id(source.step), source.expect, source.field, source.order)
        grouped.setdefault(key, []).append(source)
    for sources in grouped.values():
        first = sources[0]
        parts = [s.pattern.replace("{G}", f"(?P<{s.name}>") for s in sources]
        pattern = parts[0] if len(parts) == 1 else "".join(f"(?={part})" for part in parts)
        expect = _as_dict(first.step, first.expect)
        if first.field == "untagged":
            untagged = expect.setdefault("untagged", [])
            untagged.append((first.order, pattern))
        elif first.field in expect:  # a match_text pattern is there: capture in front of it
            expect[first.field] = f"(?={pattern}){expect[first.field]}"
        else:
            expect[first.field] = pattern
    for step in {id(s.step): s.step for s in used}.values():
        for entry in step.expects:
            if isinstance(entry, dict) and "untagged" in entry:
                entry["untagged"] = [p for _, p in sorted(entry["untagged"])]


def _as_dict(step: DraftStep, index: int) -> dict[str, Any]:
    expect = step.expects[index]
    if isinstance(expect, str):
        key = "tag" if expect in ("OK", "NO", "BAD") else "status"
        expect = {key: expect}
        step.expects[index] = expect
    return expect


# -- reply texts as patterns -----------------------------------------------------------------

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_VOLATILE = [  # (what it finds, the pattern that replaces it), most specific first
    (rf"(?:{_DAY}, )?\d{{1,2}} {_MONTH} \d{{4}} \d\d:\d\d(?::\d\d)? [+-]\d{{4}}(?: \([^)]*\))?",
     None),  # RFC 5322 §3.3 date-time
    (rf"\d{{1,2}}-{_MONTH}-\d{{4}} \d\d:\d\d:\d\d [+-]\d{{4}}", None),  # IMAP date-time
    (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?", None),  # ISO 8601
    (rf"{_DAY} {_MONTH} [ \d]\d \d\d:\d\d:\d\d \d{{4}}", None),  # ctime()
    (r"\d\d:\d\d:\d\d", None),
    (r"<[^<>\s]+>", r"<[^<>\s]+>"),  # message ids, APOP timestamps, session ids
    (r"(?<=(?i:queued as ))[\w.-]+|(?<=id=)[\w.-]+", r"[\w.-]+"),  # queue ids
    (r"(?<![\w.-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Za-z])[\w+/=-]{8,}(?![\w.-])",
     r"[\w+/=-]+"),  # session ids, hashes, queue ids elsewhere
    (r"(?<![\w.])\d+(?![\w.])", r"\d+"),  # counts, sizes, numbers
]
_COMBINED = re.compile("|".join(f"({found})" for found, _ in _VOLATILE))


def generalize(text: str) -> str:
    """A regex that matches text like this one with other volatile values."""
    out: list[str] = []
    position = 0
    for found in _COMBINED.finditer(text):
        out.append(_escape(text[position:found.start()]))
        rule = next(index for index, group in enumerate(found.groups()) if group is not None)
        out.append(_VOLATILE[rule][1] or _VOLATILE[rule][0])
        position = found.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    """re.escape for readers: only metacharacters; ``$`` as \\x24 (``$name`` is a variable)."""
    return re.sub(r"([.^*+?{}\[\]\\|()])", r"\\\1", text).replace("$", r"\x24")


def _match_text(step: DraftStep, index: int, reply: Reply, protocol: str) -> None:
    response = reply.response
    if isinstance(response, SmtpReply):
        first = response.text.split("\n", 1)[0]
        pattern = _escape(first[:4]) + generalize(first[4:])  # the code stays as it is
    elif isinstance(response, Pop3Response):
        pattern = generalize(response.line.decode("utf-8", "surrogateescape"))
    elif response.kind == "tagged":
        pattern = r"\S+ " + generalize(response.data)  # the tag is the runner's
    else:
        pattern = generalize(response.text)
    _as_dict(step, index)["match"] = r"\A" + pattern + r"(?:\n|\Z)"  # the first line, whole
