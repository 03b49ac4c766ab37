"""Telnet and RFC imports: classification per protocol, and import -> YAML -> replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.target import parse_target, profile_from_target
from harness.transcript import Runner, Status, load_text
from harness.transcript.importers import TranscriptImportError, detect_format, import_text

TELNET_SMTP = """\
$ telnet fake.example.test 25
Trying 127.0.0.1...
Connected to fake.example.test.
Escape character is '^]'.
220 fake.example.test ESMTP ready
= say hello
EHLO me.example.test
250-fake.example.test
250-PIPELINING
250 8BITMIME
MAIL FROM:<a@example.test>
250 2.0.0 OK
RCPT TO:<nobody@example.test>
550 5.1.1 no such user
RCPT TO:<b@example.test>
250 2.1.5 OK
DATA
354 go ahead
Subject: 250 looks like a reply but is message text

.
250 2.0.0 queued
QUIT
221 2.0.0 bye
Connection closed by foreign host.
"""


def steps(text: str) -> list[Any]:
    [case] = load_text(text, Path("imported.yaml"))
    return list(case.steps)


def test_telnet_smtp_classification() -> None:
    text = import_text(TELNET_SMTP, source="log")
    loaded = steps(text)
    assert loaded[0].expects[0].codes == ("220",) and loaded[0].action is None
    assert loaded[1].action.lines == ("EHLO me.example.test",)
    assert loaded[1].note is None and "# say hello" in text
    data = loaded[6]
    assert data.action.lines == ("Subject: 250 looks like a reply but is message text", "", ".")
    assert [s.expects[0].codes for s in loaded[2:4]] == [("250",), ("550",)]
    assert loaded[-1].expects[0].closed
    assert "# 250-fake.example.test (+2 lines)" in text


def test_protocol_detection() -> None:
    assert "protocol: pop3" in import_text("+OK hi\nUSER a\n+OK\n", source="x")
    assert "protocol: imap" in import_text("* OK hi\na1 NOOP\na1 OK done\n", source="x")
    assert "protocol: pop3" in import_text("$ telnet h 110\n-ERR busy\n", source="x")
    with pytest.raises(TranscriptImportError, match="protocol"):
        import_text("hello\nthere\n", source="x")


def test_pop3_bodies_are_server_lines() -> None:
    log = "+OK ready\nLIST\n+OK 2\n1 10\n2 20\n.\nLIST 1\n+OK 1 10\nQUIT\n+OK bye\n"
    loaded = steps(import_text(log, source="x"))
    assert [s.action.lines for s in loaded[1:]] == [("LIST",), ("LIST 1",), ("QUIT",)]
    assert [s.expects[0].status for s in loaded] == ["+OK"] * 4


def test_imap_tags_are_dropped_and_regenerated() -> None:
    log = "* OK ready\na1 LOGIN alice secret\na1 OK done\na2 SELECT INBOX\n* 1 EXISTS\na2 NO\n"
    loaded = steps(import_text(log, source="x"))
    assert loaded[1].action.lines == ("LOGIN alice secret",)
    assert loaded[2].expects[0].tag == "NO"


RFC_POP3 = """\
   S: <wait for connection on TCP port 110>
   C: <open connection>
   S:    +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>
   C:    USER alice
   S:    +OK
   C:    LIST
   S:    +OK 2 messages (320 octets)
   S:    1 120
   S:    2 200
   S:    .
   C:    QUIT
   S:    +OK dewey POP3 server signing off (maildrop empty)
   C:  <close connection>
   S:  <wait for next connection>
"""


def test_rfc_style_with_stage_directions() -> None:
    assert detect_format(RFC_POP3) == "rfc"
    loaded = steps(import_text(RFC_POP3, source="rfc"))
    assert [s.action.lines if s.action else None for s in loaded] == [
        None, ("USER alice",), ("LIST",), ("QUIT",), None]
    assert loaded[-1].expects[0].closed


def test_round_trip_import_yaml_replay(smtp_fake: Any, pop3_fake: Any) -> None:
    smtp_case = load_text(import_text(TELNET_SMTP.replace("EHLO", "EHLO"), source="log"),
                          Path("smtp.yaml"))[0]
    result = Runner(profile_from_target(parse_target(smtp_fake.url()))).run(smtp_case)
    assert result.status == Status.PASS, result.reason
    pop3_case = load_text(import_text(RFC_POP3, source="rfc"), Path("pop3.yaml"))[0]
    result = Runner(profile_from_target(parse_target(pop3_fake.url("pop3")))).run(pop3_case)
    assert result.status == Status.PASS, result.reason


def test_a_wrong_reply_in_the_log_fails_the_replay(smtp_fake: Any) -> None:
    log = TELNET_SMTP.replace("550 5.1.1 no such user", "250 2.1.5 OK")
    case = load_text(import_text(log, source="log"), Path("smtp.yaml"))[0]
    result = Runner(profile_from_target(parse_target(smtp_fake.url()))).run(case)
    assert result.status == Status.FAIL and "got 550" in result.reason
