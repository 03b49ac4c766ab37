from __future__ import annotations

from pathlib import Path

import pytest

from harness.transcript import LoadError, load_file, load_text
from harness.transcript.model import Send, SendMessage, SendRaw, StartTls

GOOD = """\
protocol: smtp
title: EHLO is answered with 250 and the extension list
rfc: RFC 5321 §4.1.1.1
level: MUST
requires: [pipelining]
start: connected
steps:
  - expect: {code: 220}
  - send: "EHLO client.example.test"
    expect: {code: 250, match: "(?m)^250[ -]PIPELINING"}
  - send_raw: "MAIL FROM:<a@b>\\r\\n\\x00\\xe9"
  - send_message: {text: "Subject: hi\\n\\n.dot\\n"}
  - starttls: true
  - send: [RSET, NOOP]
    expect: [250, {code: 2xx}]
  - send: "QUIT"
    expect: {code: 221}
  - expect: closed
"""


def load(text: str, tmp_path: Path, name: str = "case.yaml") -> list:  # type: ignore[type-arg]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_file(path)


def test_a_good_case(tmp_path: Path) -> None:
    [case] = load(GOOD, tmp_path)
    assert (case.id, case.protocol, case.level, case.requires) == (
        "case", "smtp", "MUST", ("PIPELINING",))
    assert [s.location.line for s in case.steps] == [8, 9, 11, 12, 13, 14, 16, 18]
    assert case.steps[1].expects[0].codes == ("250",)
    assert case.steps[1].expects[0].location.line == 10
    assert isinstance(case.steps[2].action, SendRaw)
    assert case.steps[2].action.data == "MAIL FROM:<a@b>\r\n\x00\xe9"
    assert isinstance(case.steps[3].action, SendMessage)
    assert isinstance(case.steps[4].action, StartTls)
    send = case.steps[5].action
    assert isinstance(send, Send) and send.lines == ("RSET", "NOOP")
    assert [e.codes for e in case.steps[5].expects] == [("250",), ("2xx",)]
    assert case.steps[7].expects[0].closed


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("protocol: smtp\ntitle: t\nsteps:\n  - sned: X\n", 4, "unknown key 'sned'"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send: X\n    expect: {code: 250}\n"
         "  - send: Y\n    send_raw: \"Z\"\n", 6, "one action per step"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send: X\n    expect:\n      status: OK\n", 6,
         "not an expectation for smtp"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send: X\n    expect: {code: 2222}\n", 5, "code"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send: X\n    expect: {match: '(unclosed'}\n", 5,
         "bad regular expression"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send_raw: MAIL\\r\\n\n", 4, "double quotes"),
        ("protocol: smtp\ntitle: t\ntitle: u\nsteps: [{send: X}]\n", 3, "duplicate key"),
        ("protocol: smtp\nsteps: [{send: X}]\n", 1, "'title' is a required property"),
        ("protocol: pop3\ntitle: t\nstart: selected\nsteps: [{send: X}]\n", 3, "only for imap"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send: 'A {literal}'\n    literal: x\n", 5,
         "for imap only"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send: [unclosed\n", 5, "YAML"),
        ("protocol: imap\ntitle: t\nsteps:\n  - send: 'APPEND x {literal}'\n", 4, "placeholders"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - send_message: {file: nope.eml}\n", 4,
         "cannot read message file"),
        ("protocol: smtp\ntitle: t\nsteps:\n  - {}\n", 4, "steps.0"),
    ],
)
def test_errors_point_at_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(LoadError) as info:
        load(text, tmp_path)
    assert any(l == line and message in m for l, m in info.value.problems), info.value.problems  # noqa: E741
    assert f"case.yaml:{line}:" in str(info.value)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = "protocol: smtp\ntitle: t\nsteps:\n  - sned: X\n  - send: Y\n    expect: {code: 9}\n"
    with pytest.raises(LoadError) as info:
        load(text, tmp_path)
    assert [line for line, _ in info.value.problems] == [4, 6]


def test_multi_document_files_and_connections(tmp_path: Path) -> None:
    text = (
        "protocol: smtp\ntitle: a\nsteps: [{expect: 220}]\n---\n"
        "protocol: smtp\ntitle: b\nconnections:\n  pop: {protocol: pop3, start: authenticated}\n"
        "steps:\n  - connection: pop\n    send: STAT\n    expect: +OK\n"
        "  - connection: other\n    expect: 220\n"
    )
    first, second = load(text, tmp_path)
    assert (first.id, second.id) == ("case#1", "case#2")
    assert second.connections["pop"].protocol == "pop3"
    assert second.connections["other"].protocol == "smtp"
    assert second.steps[0].expects[0].status == "+OK"
    assert second.location.line == 5


def test_message_file_is_relative_to_the_case(tmp_path: Path) -> None:
    (tmp_path / "m.eml").write_bytes(b"Subject: x\n\nbody\n")
    [case] = load("protocol: smtp\ntitle: t\nsteps:\n  - send_message: {file: m.eml}\n", tmp_path)
    assert case.steps[0].action.content == b"Subject: x\n\nbody\n"  # type: ignore[union-attr]


def test_imap_expectations(tmp_path: Path) -> None:
    text = (
        "protocol: imap\ntitle: t\nstart: selected\nmessages: 2\nsteps:\n"
        "  - send: 'APPEND INBOX {literal}'\n    literal: 'hi'\n"
        "    expect: {tag: OK, code: 'APPENDUID \\d+ (?P<uid>\\d+)', untagged: ['\\d+ EXISTS'],"
        " forbid: ['BYE'], unordered: true}\n"
        "  - send: NOOP\n    expect: NO\n"
    )
    [case] = load(text, tmp_path)
    expect = case.steps[0].expects[0]
    assert (expect.tag, expect.untagged, expect.forbid, expect.unordered) == (
        "OK", (r"\d+ EXISTS",), ("BYE",), True)
    assert expect.resp_code is not None and case.steps[1].expects[0].tag == "NO"


def test_load_text_rejects_an_empty_file() -> None:
    with pytest.raises(LoadError, match="no case"):
        load_text("# nothing\n", Path("empty.yaml"))
