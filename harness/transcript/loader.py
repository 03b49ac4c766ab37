"""Load transcript YAML: parse with line numbers, validate against the schema, build the model.

Nothing is sent before a file has passed all of this; every problem is reported as
``file:line: message`` (all of them, not only the first), so a broken suite is fixed in
one go. The JSON Schema (``schema.json``, package data) checks shape and types; the checks
here are the ones a schema cannot express well: one action per step, which expectation
keys a protocol understands, regexes that compile, raw bytes written visibly.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from ._yamltree import Document, YamlTreeError, load_documents
from .model import (
    MAIN,
    Action,
    Case,
    Close,
    ConnectionSpec,
    Expect,
    Location,
    Send,
    SendMessage,
    SendRaw,
    Sleep,
    StartTls,
    Step,
    WaitMaildrop,
)
from .variables import check_pattern

_ACTIONS = ("send", "send_raw", "send_message", "starttls", "sleep", "close", "wait_maildrop")
_CODE = re.compile(r"[1-5][0-9xX][0-9xX]")
_KEYS = {
    "smtp": {"closed", "code", "enhanced", "match", "forbid"},
    "pop3": {"closed", "status", "body", "body_match", "multiline", "match", "forbid"},
    "imap": {"closed", "tag", "code", "status", "untagged", "may", "unordered", "continuation",
             "match", "forbid"},
}
_KEYS["lmtp"] = _KEYS["smtp"]
_START = {"selected": ("imap",), "maildrop": ("pop3",)}


class LoadError(Exception):
    """One or more problems in a transcript file, each with its line."""

    def __init__(self, file: str, problems: list[tuple[int, str]]) -> None:
        self.file = file
        self.problems = sorted(problems)
        super().__init__("\n".join(f"{file}:{line}: {message}" for line, message in self.problems))


@cache
def schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def load_file(path: str | Path) -> list[Case]:
    """Every case in a YAML file (one per YAML document)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(str(path), [(1, f"cannot read: {exc}")]) from None
    return load_text(text, path)


def load_text(text: str, path: Path) -> list[Case]:
    try:
        documents = load_documents(text)
    except YamlTreeError as exc:
        raise LoadError(str(path), [(exc.line, f"YAML: {exc}")]) from None
    documents = [doc for doc in documents if doc.value is not None]
    if not documents:
        raise LoadError(str(path), [(1, "no case in this file")])
    cases, problems = [], []
    for number, document in enumerate(documents):
        builder = _Builder(path, document, number if len(documents) > 1 else None)
        case = builder.build()
        problems += builder.problems
        if case is not None:
            cases.append(case)
    if problems:
        raise LoadError(str(path), problems)
    return cases


def _schema_problems(document: Document) -> list[tuple[int, str]]:
    problems = []
    for error in _validator().iter_errors(document.value):
        if error.context:
            error = best_match(error.context) or error
        problems.append((document.line_of(_error_path(error)), _describe(error)))
    return problems


def _error_path(error: ValidationError) -> tuple[str | int, ...]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        if extra:
            return (*path, extra[0])
    return path


def _describe(error: ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "the case"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = sorted(set(error.instance) - set(allowed))
        return f"{where}: unknown key {', '.join(map(repr, extra))}; known: {', '.join(allowed)}"
    return f"{where}: {error.message}"


class _Builder:
    def __init__(self, path: Path, document: Document, number: int | None) -> None:
        self.path = path
        self.doc = document
        self.number = number
        self.problems: list[tuple[int, str]] = []

    def problem(self, at: tuple[str | int, ...], message: str) -> None:
        self.problems.append((self.doc.line_of(at), message))

    def location(self, at: tuple[str | int, ...]) -> Location:
        return Location(str(self.path), self.doc.line_of(at))

    def build(self) -> Case | None:
        self.problems += _schema_problems(self.doc)
        if self.problems:
            return None
        data: dict[str, Any] = self.doc.value
        protocol = data["protocol"]
        main = ConnectionSpec(protocol, data.get("start", "connected"), data.get("user", 1),
                              data.get("messages", 0), data.get("endpoint"))
        connections = {MAIN: main}
        for name, spec in (data.get("connections") or {}).items():
            if name == MAIN:
                self.problem(("connections", name), f"{MAIN!r} is the case's own connection")
            connections[name] = ConnectionSpec(
                spec.get("protocol", protocol), spec.get("start", "connected"),
                spec.get("user", 1), spec.get("messages", 0), spec.get("endpoint"),
            )
        for name, spec in connections.items():
            allowed = _START.get(spec.start)
            if allowed and spec.protocol not in allowed:
                at = ("start",) if name == MAIN else ("connections", name, "start")
                self.problem(at, f"start {spec.start!r} exists only for {', '.join(allowed)}")
        steps = []
        for index, raw in enumerate(data["steps"]):
            name = raw.get("connection", MAIN)
            if name not in connections:
                # An undeclared name is another connection like the main one.
                connections[name] = main
            step = self.step(index, raw, connections[name].protocol)
            if step is not None:
                steps.append(step)
        case_id = data.get("id") or self.path.stem
        if self.number is not None:
            case_id = f"{case_id}#{self.number + 1}"
        return Case(
            id=case_id, path=self.path, location=Location(str(self.path), self.doc.line),
            protocol=protocol, title=data["title"], steps=tuple(steps), connections=connections,
            rfc=data.get("rfc"), level=data.get("level"),
            requires=tuple(c.upper() for c in data.get("requires", ())),
            tags=tuple(data.get("tags", ())), timeout=data.get("timeout"),
            description=data.get("description"), covers=tuple(data.get("covers", ())),
        )

    def step(self, index: int, raw: dict[str, Any], protocol: str) -> Step | None:
        at: tuple[str | int, ...] = ("steps", index)
        actions = [key for key in _ACTIONS if key in raw]
        if len(actions) > 1:
            self.problem(at, f"one action per step, this one has {' and '.join(actions)}")
            return None
        action = self.action(at, raw, actions[0] if actions else None, protocol)
        expects = raw.get("expect")
        if expects is None:
            expects = []
        elif not isinstance(expects, list):
            expects = [expects]
        built = []
        for number, item in enumerate(expects):
            where = (*at, "expect") if not isinstance(raw["expect"], list) else (
                *at, "expect", number)
            expect = self.expect(where, item, protocol)
            if expect is not None:
                built.append(expect)
        if action is None and not built:
            self.problem(at, "a step needs an action (send, send_raw, ...) or an expect")
        return Step(index, self.location(at), raw.get("connection", MAIN), action, tuple(built),
                    raw.get("timeout"), raw.get("note"))

    def action(self, at: tuple[str | int, ...], raw: dict[str, Any], kind: str | None,
               protocol: str) -> Action | None:
        for key, only in (("literal", "imap"), ("literal_plus", "imap"), ("tag", "imap")):
            if key in raw and protocol != only:
                self.problem((*at, key), f"{key!r} is for {only} only")
        if ("literal" in raw or "tag" in raw) and kind != "send":
            self.problem(at, "'literal' and 'tag' go with 'send'")
        if kind == "send":
            lines = raw["send"] if isinstance(raw["send"], list) else [raw["send"]]
            literals = raw.get("literal", [])
            literals = literals if isinstance(literals, list) else [literals]
            placeholders = sum(line.count("{literal}") for line in lines)
            if placeholders != len(literals):
                self.problem((*at, "send"), f"{placeholders} {{literal}} placeholders but "
                                            f"{len(literals)} literals")
            return Send(tuple(lines), tuple(literals), raw.get("literal_plus", False),
                        raw.get("tag"))
        if kind == "send_raw":
            data = raw["send_raw"]
            if self.doc.styles.get((*at, "send_raw")) != '"' and "\\" in data:
                self.problem((*at, "send_raw"), 'write send_raw in double quotes ("...") so '
                             "that \\r, \\n, \\x00 are escapes, not backslashes")
            bad = [char for char in data if ord(char) > 0xFF]
            if bad:
                self.problem((*at, "send_raw"), f"send_raw holds octets only (\\x00-\\xff); "
                             f"{bad[0]!r} is not one: write its UTF-8 octets as \\xNN")
            return SendRaw(data)
        if kind == "send_message":
            if protocol not in ("smtp", "lmtp"):
                self.problem((*at, "send_message"), "send_message is for SMTP/LMTP DATA")
            return self.message((*at, "send_message"), raw["send_message"])
        if kind == "starttls":
            return StartTls(command=raw["starttls"] is True)
        if kind == "sleep":
            return Sleep(float(raw["sleep"]))
        if kind == "close":
            return Close()
        if kind == "wait_maildrop":
            if protocol != "pop3":
                self.problem((*at, "wait_maildrop"), "wait_maildrop waits for a POP3 maildrop: "
                             "put it on a pop3 connection's step")
            return WaitMaildrop(int(raw["wait_maildrop"]))
        return None

    def message(self, at: tuple[str | int, ...], spec: str | dict[str, Any]) -> SendMessage | None:
        if isinstance(spec, str):
            return SendMessage(spec.encode("utf-8"), "inline")
        if "text" in spec:
            return SendMessage(spec["text"].encode("utf-8"), "inline", spec.get("terminate", True))
        file = self.path.parent / spec["file"]
        try:
            content = file.read_bytes()
        except OSError as exc:
            self.problem(at, f"cannot read message file {file}: {exc.strerror}")
            return None
        return SendMessage(content, str(file), spec.get("terminate", True))

    def expect(self, at: tuple[str | int, ...], item: Any, protocol: str) -> Expect | None:
        location = self.location(at)
        if item == "closed":
            return Expect(location, closed=True)
        if isinstance(item, int):
            item = {"code": item}
        elif isinstance(item, str):
            item = ({"tag": item} if protocol == "imap" else {"status": item})
        unknown = set(item) - _KEYS[protocol]
        if unknown:
            self.problem(at, f"{', '.join(sorted(unknown))}: not an expectation for {protocol}"
                             f" (known: {', '.join(sorted(_KEYS[protocol]))})")
            return None
        fields: dict[str, Any] = {"location": location}
        for key in ("closed", "enhanced", "body_match", "multiline", "unordered", "continuation",
                    "match", "tag"):
            if key in item:
                fields[key] = item[key]
        for key in ("forbid", "untagged", "may"):
            if key in item:
                value = item[key]
                fields[key] = tuple(value) if isinstance(value, list) else (value,)
        if "body" in item:
            fields["body"] = tuple(item["body"])
        if "status" in item:
            fields["status"] = self.status(at, item["status"], protocol)
        if "code" in item:
            if protocol == "imap":
                if not isinstance(item["code"], str):
                    self.problem((*at, "code"), "an IMAP response code is text, e.g. UIDNEXT")
                fields["resp_code"] = str(item["code"])
            else:
                fields["codes"] = self.codes((*at, "code"), item["code"])
        for key in ("match", "body_match", "resp_code"):
            self.check_regex((*at, key), fields.get(key))
        for key in ("forbid", "untagged", "may"):
            for pattern in fields.get(key, ()) or ():
                self.check_regex((*at, key), pattern)
        return Expect(**fields)

    def status(self, at: tuple[str | int, ...], value: str, protocol: str) -> str | None:
        if protocol == "pop3":
            normal = {"OK": "+OK", "ERR": "-ERR"}.get(value, value)
            if normal not in ("+OK", "-ERR", "+"):
                self.problem((*at, "status"), f"POP3 status is +OK, -ERR or +, not {value}")
            return normal
        if protocol == "imap":
            if value not in ("OK", "NO", "BAD", "PREAUTH", "BYE"):
                self.problem((*at, "status"), f"IMAP status is OK/NO/BAD/PREAUTH/BYE: {value}")
            return value
        self.problem((*at, "status"), "SMTP replies have a code, not a status")
        return None

    def codes(self, at: tuple[str | int, ...], value: Any) -> tuple[str, ...]:
        values = value if isinstance(value, list) else [value]
        codes = []
        for code in values:
            text = str(code)
            if not _CODE.fullmatch(text):
                self.problem(at, f"reply code {text!r}: three digits, or x for any (2xx, 25x)")
            codes.append(text.lower())
        return tuple(codes)

    def check_regex(self, at: tuple[str | int, ...], pattern: str | None) -> None:
        if pattern is None:
            return
        problem = check_pattern(pattern)
        if problem:
            self.problem(at, problem)
