"""Writing transcripts as YAML people can read: one step a block, replies kept as comments.

The importers and the recorder build :class:`DraftStep` lists and call :func:`dump_case`;
the output is then loaded back through the ordinary loader, so anything written here has
passed the same schema as a hand-written case.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass
class DraftStep:
    send: list[str] = field(default_factory=list)
    send_raw: str | None = None
    literals: list[str] = field(default_factory=list)  # IMAP: one per {literal} in send
    literal_plus: bool = False
    starttls: bool | str = False  # True: STARTTLS and handshake; "handshake": only that
    expects: list[dict[str, Any] | str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)  # what the server said, as comments
    notes: list[str] = field(default_factory=list)  # comment lines written above the step
    connection: str | None = None
    # The parsed server responses behind ``expects`` (not written): the recorder reads
    # volatile values out of them and refines the expectation in place.
    responses: list[Any] = field(default_factory=list)


def scalar(value: Any) -> str:
    """One YAML scalar on one line, quoted only when YAML needs it."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True)
    text = text.removesuffix("\n").removesuffix("\n...").rstrip("\n")
    if "\n" in text:  # safe_dump fell back to a multi-line style: use JSON-style quoting
        text = yaml.safe_dump(value, default_style='"', width=math.inf).rstrip("\n")
    return text


def _flow(expect: dict[str, Any] | str) -> str:
    if isinstance(expect, str):
        return scalar(expect)
    items = ", ".join(f"{key}: {_flow_value(value)}" for key, value in expect.items())
    return "{" + items + "}"


def _flow_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_flow_scalar(item) for item in value) + "]"
    return _flow_scalar(value)


def _flow_scalar(value: Any) -> str:
    """Inside ``{...}``/``[...]`` a plain scalar must not hold , [ ] { }: quote patterns."""
    text = scalar(value)
    if isinstance(value, str) and not text.startswith(("'", '"')) and \
            not re.fullmatch(r"[\w.+-]+(?: [\w.+-]+)*", text):
        return "'" + value.replace("'", "''") + "'"
    return text


def _comment(text: str) -> str:
    return " ".join(text.replace("\r", "\\r").split("\n"))


def dump_case(header: dict[str, Any], steps: list[DraftStep], preamble: list[str]) -> str:
    out = [f"# {_comment(line)}" if line else "#" for line in preamble]
    for key, value in header.items():
        if value is None:
            continue
        rendered = _flow_value(value) if isinstance(value, list) else scalar(value)
        out.append(f"{key}: {rendered}")
    out.append("steps:")
    for step in steps:
        out += [f"  # {_comment(note)}" for note in step.notes]
        body: list[str] = []
        if step.connection:
            body.append(f"connection: {scalar(step.connection)}")
        if step.starttls:
            body.append("starttls: handshake" if step.starttls == "handshake" else "starttls: true")
        if len(step.send) == 1:
            body.append(f"send: {scalar(step.send[0])}")
        elif step.send:
            body.append("send:")
            body += [f"  - {scalar(line)}" for line in step.send]
        if len(step.literals) == 1:
            body.append(f"literal: {scalar(step.literals[0])}")
        elif step.literals:
            body.append("literal:")
            body += [f"  - {scalar(text)}" for text in step.literals]
        if step.literal_plus:
            body.append("literal_plus: true")
        if step.send_raw is not None:
            body.append("send_raw: " + yaml.safe_dump(step.send_raw, default_style='"',
                                                      width=math.inf).rstrip("\n"))
        if len(step.expects) == 1:
            reply = f"  # {_comment(step.replies[0])}" if step.replies else ""
            body.append(f"expect: {_flow(step.expects[0])}{reply}")
        elif step.expects:
            body.append("expect:")
            for index, expect in enumerate(step.expects):
                reply = f"  # {_comment(step.replies[index])}" if index < len(step.replies) else ""
                body.append(f"  - {_flow(expect)}{reply}")
        if not body:
            continue
        out.append(f"  - {body[0]}")
        out += [f"    {line}" for line in body[1:]]
    return "\n".join(out) + "\n"
