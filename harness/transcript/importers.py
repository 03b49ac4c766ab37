"""Import telnet-style session logs and RFC-style ``C:``/``S:`` transcripts as YAML cases.

Telnet logs look like a terminal: ``$ telnet mail.example.test 25``, telnet's own lines
(``Trying ...``, ``Connected to ...``, ``Escape character is '^]'.``), then the server's
replies and the typed commands interleaved, and author comments on lines starting with
``=``. Which lines are the server's is decided per protocol: SMTP reply codes (and the
message text between 354 and the lone ``.``), ``+OK``/``-ERR`` (and a multi-line body when
the command has one), IMAP ``*``, ``+`` and the tags of pending commands.

RFC transcripts prefix every line with ``C:`` or ``S:``; ``<open connection>``-style
stage directions are dropped, ``<close connection>`` becomes ``expect: closed``.

Replies become expectations on what is stable between servers (the SMTP code, the POP3
status, the IMAP tagged status); their text is kept as a comment next to the step. IMAP
literals the client sends become ``{literal}`` placeholders with ``literal:`` data, and
continuation data (AUTHENTICATE) becomes ``send_raw``, which carries no tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..client import (
    ImapFramer,
    ImapResponse,
    Pop3Framer,
    Pop3Response,
    ProtocolViolation,
    SmtpFramer,
    SmtpReply,
    expects_body,
)
from .loader import load_text
from .model import Case
from .writer import DraftStep, dump_case

_TELNET_CHATTER = re.compile(
    r"^(Trying |Connected to |Escape character is|Connection closed by foreign host|"
    r"Connection to .* closed|telnet> )"
)
_COMMAND = re.compile(r"^\s*(?:\S*[$#%>]\s+)?(?:telnet|nc|openssl s_client)\b\s*(.*)$")
_RFC = re.compile(r"^\s*([CS]):(.*)$")
_PORTS = {25: "smtp", 465: "smtp", 587: "smtp", 2525: "smtp", 24: "lmtp", 110: "pop3",
          995: "pop3", 143: "imap", 993: "imap"}
_SMTP_REPLY = re.compile(r"^[1-5][0-5][0-9]([ -]|$)")
_IMAP_TAGGED = re.compile(r"^(\S+) (OK|NO|BAD)\b", re.IGNORECASE)
_LITERAL_MARK = re.compile(r"~?\{(\d+)(\+?)\}$")  # RFC 3501 §4.3, RFC 7888 {n+}


class TranscriptImportError(Exception):
    pass


@dataclass
class _Event:
    # "C" a command line, "S" a server line, "L" the exact octets of an IMAP literal,
    # "T" the rest of a command line after a literal, "note", "closed", "tls"
    kind: str
    text: str = ""
    literals: list[str] = field(default_factory=list)  # IMAP: for "{literal}" in text
    literal_plus: bool = False


@dataclass
class Reply:
    """One server response as the importer framed it, kept for the recorder."""

    command: str  # what it answers (IMAP: without the tag), "" when unknown
    response: SmtpReply | Pop3Response | ImapResponse
    untagged: list[ImapResponse] = field(default_factory=list)  # IMAP: before the completion


def detect_format(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    rfc = sum(bool(_RFC.match(line)) for line in lines)
    return "rfc" if lines and rfc >= len(lines) / 2 else "telnet"


def import_text(text: str, *, source: str = "transcript", protocol: str | None = None,
                default_protocol: str | None = None, title: str | None = None) -> str:
    """The YAML text of a case made from a telnet log or a C:/S: transcript."""
    kind = detect_format(text)
    if kind == "rfc":
        events, guessed = _rfc_events(text)
    else:
        events, guessed = _telnet_events(text, protocol)
    protocol = protocol or guessed or _guess_from_replies(events) or default_protocol
    if protocol is None:
        raise TranscriptImportError(f"{source}: cannot tell the protocol; pass --protocol")
    if kind == "telnet":
        events = _classify_telnet(events, protocol)
    events = escape_dollars(events)
    if protocol == "imap":
        events = join_literals(events)
    steps = _steps(events, protocol)
    if not steps:
        raise TranscriptImportError(f"{source}: no commands or replies found")
    header = {"protocol": protocol,
              "title": title or f"imported from {Path(source).name}",
              "start": "connected"}
    preamble = [f"Imported from {source} ({'RFC C:/S:' if kind == 'rfc' else 'telnet'} style) "
                "by mailharness import.",
                "Expectations keep what is stable across servers; reply texts are comments."]
    return dump_case(header, steps, preamble)


def import_log(path: Path, *, protocol: str | None = None,
               default_protocol: str | None = None) -> Case:
    """Import and load in one go (what ``replay`` does with a non-YAML file)."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise TranscriptImportError(f"{path}: {exc.strerror}") from None
    yaml_text = import_text(text, source=str(path), protocol=protocol,
                            default_protocol=default_protocol)
    [case] = load_text(yaml_text, path.with_suffix(path.suffix + ".yaml"))
    return case


# -- reading the two formats -----------------------------------------------------------------


def _rfc_events(text: str) -> tuple[list[_Event], str | None]:
    matched = [(m.group(1), m.group(2)) for m in map(_RFC.match, text.splitlines()) if m]
    # RFC 1939 indents after "S:" ("S:    +OK"), RFC 5321 uses one space: strip the common part.
    indent = min((len(body) - len(body.lstrip(" ")) for _, body in matched
                  if body.strip() and not _is_stage(body)), default=0)
    events = []
    for who, body in matched:
        content = body[indent:] if body[:indent].strip() == "" else body.lstrip(" ")
        if _is_stage(content):
            if "close" in content.lower():
                events.append(_Event("closed"))
            continue
        events.append(_Event(who, content))
    return events, None


def _is_stage(body: str) -> bool:
    """``<open connection>``, ``<the POP3 server sends message 1>``: stage directions."""
    stage = body.strip()
    return stage.startswith("<") and stage.endswith(">") and " " in stage


def _telnet_events(text: str, protocol: str | None) -> tuple[list[_Event], str | None]:
    guessed = None
    events: list[_Event] = []
    for line in text.splitlines():
        command = _COMMAND.match(line)
        if command and not events:
            words = command.group(1).replace(":", " ").split()
            ports = [int(word) for word in words if word.isdigit()]
            guessed = _PORTS.get(ports[-1]) if ports else None
            continue
        if line.startswith("="):
            events.append(_Event("note", line[1:].strip()))
        elif _TELNET_CHATTER.match(line):
            if line.startswith("Connection"):
                events.append(_Event("closed"))
        else:
            events.append(_Event("?", line))
    return events, guessed


def _guess_from_replies(events: list[_Event]) -> str | None:
    for event in events:
        if event.kind in ("?", "S"):
            if _SMTP_REPLY.match(event.text):
                return "smtp"
            if event.text.startswith(("+OK", "-ERR")):
                return "pop3"
            if event.text.startswith("* "):
                return "imap"
    return None


def _classify_telnet(events: list[_Event], protocol: str) -> list[_Event]:
    """Decide for each unlabelled line whether the server or the user wrote it."""
    out: list[_Event] = []
    in_data = False  # SMTP: the user is typing a message (after 354, until ".")
    body = False  # POP3: a multi-line body is arriving (until ".")
    last_command = ""
    tags: list[str] = []
    literal_left = 0  # IMAP: octets of a client literal still to come
    tail = False  # IMAP: the next client line continues a command (after its literal)
    for event in events:
        if event.kind != "?":
            out.append(event)
            continue
        line = event.text
        if protocol in ("smtp", "lmtp"):
            if in_data:
                out.append(_Event("C", line))
                in_data = line != "."
            elif _SMTP_REPLY.match(line):
                out.append(_Event("S", line))
                in_data = line.startswith("354")
            elif line.strip():
                out.append(_Event("C", line))
        elif protocol == "pop3":
            if body:
                out.append(_Event("S", line))
                body = line != "."
            elif line.startswith(("+OK", "-ERR", "+ ")) or line == "+":
                out.append(_Event("S", line))
                body = line.startswith("+OK") and expects_body(last_command.encode())
            elif line.strip():
                out.append(_Event("C", line))
                last_command = line
        else:
            if literal_left > 0 and not (line.startswith("+ ") or line == "+"):
                # the user is typing literal octets: message text, whatever it looks like
                out.append(_Event("C", line))
                literal_left -= len(line.encode("utf-8", "surrogateescape")) + 2
                continue
            tagged = _IMAP_TAGGED.match(line)
            if line.startswith(("* ", "+ ")) or line == "+" or (tagged and tagged.group(1) in tags):
                out.append(_Event("S", line))
                if tagged and tagged.group(1) in tags:
                    tags.remove(tagged.group(1))
                tail = False
            elif line.strip() or tail:
                # after a literal, SP, ")" or the bare CRLF continue the command (RFC 3501 §9)
                tail = tail and (line == "" or line[0] in " )")
                out.append(_Event("C", line))
                if not tail:
                    tags.append(line.split(" ", 1)[0])
                marker = _LITERAL_MARK.search(line)
                literal_left = int(marker.group(1)) if marker else 0
                tail = marker is not None
    return out


# -- events to steps ---------------------------------------------------------------------------


def escape_dollars(events: list[_Event]) -> list[_Event]:
    """What the client sent is literal text: a ``$`` in it must not read as a variable."""
    return [_Event(e.kind, e.text.replace("$", "$$"), e.literals, e.literal_plus)
            if e.kind in ("C", "L", "T") else e for e in events]


def join_literals(events: list[_Event]) -> list[_Event]:
    """IMAP commands with client literals as one event: ``{literal}`` placeholders + data.

    A command line ending in ``{n}`` (or ``{n+}``, RFC 7888) is followed by the server's
    ``+`` go-ahead (dropped: the runner waits for it itself), then n octets: one "L" event
    (the recorder knows the exact octets) or, in a log, the client lines that add up to n
    with their CRLFs. A line that then starts with SP or ")", or is empty, is the rest of
    the command (RFC 3501 §9), which may announce another literal (MULTIAPPEND).
    """
    out: list[_Event] = []
    index = 0
    while index < len(events):
        event = events[index]
        index += 1
        if event.kind not in ("C", "T") or not _LITERAL_MARK.search(event.text):
            out.append(_Event("C", event.text) if event.kind == "T" else event)
            continue
        text, literals, plus = event.text, [], False
        while (marker := _LITERAL_MARK.search(text)) is not None:
            size, plus = int(marker.group(1)), plus or bool(marker.group(2))
            text = text[: marker.start()] + "{literal}"
            while index < len(events) and events[index].kind == "S" and \
                    events[index].text.startswith("+"):
                index += 1
            if index < len(events) and events[index].kind == "L":
                literals.append(events[index].text)
                index += 1
            else:
                lines: list[str] = []
                while index < len(events) and events[index].kind == "C" and \
                        sum(len(line.encode("utf-8", "surrogateescape")) + 2
                            for line in lines) < size:
                    lines.append(events[index].text)
                    index += 1
                literals.append("".join(line + "\r\n" for line in lines))
            if index < len(events) and (events[index].kind == "T" or (
                    events[index].kind == "C" and events[index].text[:1] in ("", " ", ")"))):
                text += events[index].text
                index += 1
            else:
                break
        out.append(_Event("C", text, literals, plus))
    return out


def _steps(events: list[_Event], protocol: str) -> list[DraftStep]:
    steps: list[DraftStep] = []
    notes: list[str] = []
    framer = _Framer(protocol)
    current: DraftStep | None = None
    sasl_data = False  # IMAP: the server asked for continuation data (AUTHENTICATE)
    for event in events:
        if event.kind == "note":
            notes.append(event.text)
        elif event.kind == "closed":
            if not (steps and steps[-1].expects == ["closed"]):
                steps.append(DraftStep(expects=["closed"], notes=notes))
                notes = []
            current = None
        elif event.kind == "C" and sasl_data:
            # No tag in front of continuation data: send_raw, not send (which would add one).
            current = DraftStep(send_raw=event.text + "\r\n", notes=notes)
            notes = []
            steps.append(current)
            sasl_data = False
        elif event.kind == "C":
            if current is None or current.expects or not current.send or \
                    current.send_raw is not None:
                current = DraftStep(notes=notes)
                notes = []
                steps.append(current)
            line = event.text
            if protocol == "imap":
                line = line.split(" ", 1)[1] if " " in line else line
            current.send.append(line)
            current.literals += event.literals
            current.literal_plus = current.literal_plus or event.literal_plus
            framer.command(event.text)
        else:
            if current is None or (not current.send and current.send_raw is None
                                   and current.expects and framer.idle()):
                current = DraftStep(notes=notes)
                notes = []
                steps.append(current)
            for expect, reply, parsed in framer.server_line(event.text):
                current.expects.append(expect)
                current.replies.append(reply)
                current.responses.append(parsed)
                sasl_data = protocol == "imap" and isinstance(expect, dict) and \
                    expect.get("continuation") is True
    return [step for step in steps if step.send or step.expects or step.send_raw is not None]


class _Framer:
    """Groups server lines into responses with the client's own framers."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.smtp = SmtpFramer()
        self.pop3 = Pop3Framer()
        self.imap = ImapFramer()
        self.commands: list[str] = []
        self.imap_commands: dict[str, str] = {}  # tag -> command without it
        self.untagged: list[ImapResponse] = []
        self.partial = False

    def idle(self) -> bool:
        return not self.partial

    def command(self, line: str) -> None:
        self.commands.append(line)
        tag, _, rest = line.partition(" ")
        self.imap_commands[tag] = rest

    def server_line(self, line: str) -> list[tuple[dict[str, object] | str, str, Reply]]:
        data = line.encode("utf-8", "surrogateescape") + b"\r\n"
        out: list[tuple[dict[str, object] | str, str, Reply]] = []
        try:
            if self.protocol in ("smtp", "lmtp"):
                self.smtp.feed(data)
                while (reply := self.smtp.next_reply()) is not None:
                    lines = reply.text.split("\n")
                    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
                    out.append(({"code": reply.code}, lines[0] + more, Reply("", reply)))
            elif self.protocol == "pop3":
                self.pop3.feed(data)
                command = self.commands[0] if self.commands else ""
                response = self.pop3.next_response(expects_body(command.encode()))
                if response is not None:
                    if self.commands:
                        self.commands.pop(0)
                    more = f" (+{len(response.body)} lines)" if response.body is not None else ""
                    out.append((response.status, response.line.decode("utf-8", "replace") + more,
                                Reply(command, response)))
            else:
                self.imap.feed(data)
                while (imap_response := self.imap.next_response()) is not None:
                    out += self._imap(imap_response)
        except ProtocolViolation as exc:
            raise TranscriptImportError(f"not a {self.protocol} reply: {line!r} ({exc})") from None
        self.partial = not out
        return out

    def _imap(self, response: ImapResponse) -> list[tuple[dict[str, object] | str, str, Reply]]:
        if response.kind == "tagged":
            command = self.imap_commands.pop(response.tag or "", "")
            untagged, self.untagged = self.untagged, []
            return [(response.status or "OK", response.text, Reply(command, response, untagged))]
        if not self.commands:
            return [({"status": response.status} if response.status else {"match": "."},
                     response.text, Reply("", response))]
        if response.kind == "continuation":
            untagged, self.untagged = self.untagged, []
            return [({"continuation": True}, response.text, Reply("", response, untagged))]
        self.untagged.append(response)
        return []
