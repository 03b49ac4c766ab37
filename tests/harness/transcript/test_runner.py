"""The runner against scripted servers: pass, fail (with the line and a diff), skip, error."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.target import parse_target, profile_from_target
from harness.transcript import CaseResult, Runner, Status, load_file

Start = Callable[..., Any]
Server = Any


def run(text: str, url: str, tmp_path: Path) -> CaseResult:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    [case] = load_file(path)
    return Runner(profile_from_target(parse_target(url))).run(case)


SMTP_OK = """\
protocol: smtp
title: a whole SMTP session
steps:
  - expect: {code: 220, match: "^220 (?P<server>\\\\S+)"}
  - send: EHLO client.example.test
    expect: {code: 250, match: "(?m)^250[ -]PIPELINING$"}
  - send: ["MAIL FROM:<a@example.test>", "RCPT TO:<b@example.test>", "DATA"]
    expect: [{code: 250, enhanced: 2.0.0}, 250, 354]
  - send_message: "Subject: $server\\n\\n.leading dot\\n"
    expect: 250
  - send_raw: "RCPT TO:<nobody@example.test>\\r\\n"
    expect: {code: 5xx, enhanced: 5.1.1}
  - send: QUIT
    expect: 221
  - expect: closed
"""


def test_smtp_session_passes(smtp_fake: Server, tmp_path: Path) -> None:
    result = run(SMTP_OK, smtp_fake.url(), tmp_path)
    assert result.status == Status.PASS, result.reason
    assert len(result.steps) == 7
    data_step = result.steps[3]
    # A message is data: no variables are substituted in it.
    assert data_step.sent == b"Subject: $server\r\n\r\n..leading dot\r\n.\r\n"
    assert result.steps[2].received.count(b"\r\n") == 3
    assert result.to_dict()["steps"][0]["line"] == 4


def test_mismatch_fails_at_the_step_line_with_a_diff(smtp_fake: Server, tmp_path: Path) -> None:
    text = ("protocol: smtp\ntitle: t\nsteps:\n  - expect: 220\n"
            "  - send: RCPT TO:<nobody@example.test>\n    expect: {code: 250}\n"
            "  - send: QUIT\n    expect: 221\n")
    result = run(text, smtp_fake.url(), tmp_path)
    assert result.status == Status.FAIL
    assert len(result.steps) == 2  # stops at the first failure
    failed = result.failed_step
    assert failed is not None and failed.location.line == 5
    assert "expected code 250, got 550" in failed.message
    assert failed.diff == ["- code 250", "+ 550 5.1.1 no such user"]
    assert result.location.line == 5 and "case.yaml:5" in result.reason


def test_silent_server_fails_within_the_step_timeout(fake_server: Start, tmp_path: Path) -> None:
    server = fake_server(lambda conn: conn.idle(5))
    text = "protocol: smtp\ntitle: t\ntimeout: 0.5\nsteps:\n  - expect: 220\n"
    started = time.monotonic()
    result = run(text, server.url(query="timeout=2"), tmp_path)
    assert result.status == Status.FAIL and "StepTimeout" in result.steps[0].message
    assert time.monotonic() - started < 2


def test_early_close_is_a_failure(fake_server: Start, tmp_path: Path) -> None:
    server = fake_server(lambda conn: conn.send(b"220 hi\r\n"))
    text = ("protocol: smtp\ntitle: t\nsteps:\n  - expect: 220\n"
            "  - send: NOOP\n    expect: 250\n")
    result = run(text, server.url(), tmp_path)
    assert result.status == Status.FAIL and "ConnectionClosed" in result.steps[1].message


def test_expect_closed_fails_when_the_server_stays(fake_server: Start, tmp_path: Path) -> None:
    server = fake_server(lambda conn: (conn.send(b"221 bye\r\n"), conn.idle(5)))
    text = "protocol: smtp\ntitle: t\nsteps:\n  - expect: 221\n  - expect: closed\n"
    started = time.monotonic()
    result = run(text, server.url(query="timeout=0.3&step_timeout=0.6"), tmp_path)
    assert result.status == Status.FAIL and "stayed open" in result.steps[1].message
    assert time.monotonic() - started < 2


def test_unreachable_target_is_an_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"smtp://127.0.0.1:{sock.getsockname()[1]}"
        result = run("protocol: smtp\ntitle: t\nsteps: [{expect: 220}]\n", url, tmp_path)
    assert result.status == Status.ERROR and "cannot connect" in result.steps[0].message


def test_undefined_variable_is_an_error(smtp_fake: Server, tmp_path: Path) -> None:
    text = "protocol: smtp\ntitle: t\nsteps:\n  - expect: 220\n  - send: MAIL FROM:<$nope>\n"
    result = run(text, smtp_fake.url(), tmp_path)
    assert result.status == Status.ERROR and "$nope" in result.reason


def test_requires_gates_on_advertised_capabilities(smtp_fake: Server, tmp_path: Path) -> None:
    base = "protocol: smtp\ntitle: t\nrequires: [{}]\nsteps: [{{expect: 220}}]\n"
    assert run(base.format("pipelining"), smtp_fake.url(), tmp_path).status == Status.PASS
    skipped = run(base.format("CHUNKING"), smtp_fake.url(), tmp_path)
    assert skipped.status == Status.SKIP and "CHUNKING" in skipped.reason


def test_other_protocol_without_endpoint_is_skipped(smtp_fake: Server, tmp_path: Path) -> None:
    text = "protocol: pop3\ntitle: t\nsteps: [{expect: +OK}]\n"
    result = run(text, smtp_fake.url(), tmp_path)
    assert result.status == Status.SKIP and "no pop3 endpoint" in result.reason


def test_starttls_step_and_greeted_start(smtp_starttls_fake: Server, tmp_path: Path) -> None:
    text = ("protocol: smtp\ntitle: t\nstart: greeted\nsteps:\n"
            "  - starttls: true\n  - send: EHLO again\n    expect: 250\n")
    result = run(text, smtp_starttls_fake.url(), tmp_path)
    assert result.status == Status.PASS, result.reason
    assert any(b"TLS established" in e.data for e in result.log.entries)
    # With smtp+starttls, "greeted" already upgraded: a second STARTTLS gets a 500 here.
    upgraded = run(text, smtp_starttls_fake.url("smtp+starttls"), tmp_path)
    assert upgraded.status == Status.FAIL and "STARTTLS refused" in upgraded.reason


POP3 = """\
protocol: pop3
title: POP3 with a body, byte-stuffing and APOP
steps:
  - expect: {status: +OK, match: "(?P<stamp><.*>)"}
  - send: APOP $user $apop
    expect: +OK
  - send: LIST
    expect: {status: +OK, body: ["1 $size1", "2 19"]}
  - send: RETR 1
    expect: {status: OK, body_match: '^Subject: one\\n\\n\\.hidden dot\\nbody$'}
  - send: STAT
    expect: {status: +OK, match: '^\\+OK 2 '}
  - send: BOGUS
    expect: -ERR
  - send: QUIT
    expect: +OK
  - expect: closed
"""


def test_pop3_session(pop3_fake: Server, tmp_path: Path) -> None:
    url = pop3_fake.url("pop3", "timeout=1").replace("://", "://alice:secret@")
    result = run(POP3.replace("$size1", "35"), url, tmp_path)
    assert result.status == Status.PASS, (result.reason, result.steps[-1].diff)
    # $apop is MD5(timestamp + password), RFC 1939 §7
    import hashlib

    digest = hashlib.md5(b"<1896.697170952@fake.example.test>secret").hexdigest()
    assert f"APOP alice {digest}".encode() in result.steps[1].sent


def test_pop3_authenticated_start_and_second_connection(pop3_fake: Server, tmp_path: Path
                                                        ) -> None:
    text = ("protocol: pop3\ntitle: t\nstart: authenticated\n"
            "connections: {other: {start: greeted}}\nsteps:\n"
            "  - send: STAT\n    expect: +OK\n"
            "  - connection: other\n    send: USER x\n    expect: +OK\n")
    url = pop3_fake.url("pop3").replace("://", "://alice:secret@")
    result = run(text, url, tmp_path)
    assert result.status == Status.PASS, result.reason
    assert {e.connection for e in result.log.entries} == {"main", "other"}


IMAP = """\
protocol: imap
title: IMAP literals, pipelining, captures
steps:
  - expect: {status: OK, code: CAPABILITY}
  - send: 'APPEND INBOX {literal}'
    literal: "Subject: x\r\n\r\nhi\r\n"
    expect: {tag: OK, code: 'APPENDUID (?P<validity>\\d+) (?P<uid>\\d+)'}
  - send: 'APPEND INBOX {literal}'
    literal: "x"
    literal_plus: true
    expect: OK
  - send: [SELECT INBOX, NOOP]
    expect:
      - {tag: OK, untagged: ['OK \\[UIDNEXT (?P<uidnext>\\d+)\\]', '^\\d+ EXISTS'],
         unordered: true, forbid: [BYE]}
      - OK
  - send: UID FETCH $uid BODY[]
    expect: {tag: OK, untagged: ['FETCH \\(UID $uid BODY\\[\\] \\{5\\}']}
  - send: LOGOUT
    tag: bye1
    expect: {tag: OK, untagged: [BYE]}
"""


def test_imap_session(imap_fake: Server, tmp_path: Path) -> None:
    result = run(IMAP, imap_fake.url("imap"), tmp_path)
    assert result.status == Status.PASS, (result.reason, result.failed_step and
                                          result.failed_step.diff)
    assert b"bye1 LOGOUT\r\n" in result.steps[-1].sent
    assert b"{1+}\r\n" in result.steps[2].sent


def test_imap_selected_start_creates_and_selects_a_fixture_mailbox(imap_fake: Server,
                                                                   tmp_path: Path) -> None:
    text = ("protocol: imap\ntitle: t\nstart: selected\nmessages: 2\nsteps:\n"
            "  - send: EXAMINE $mailbox\n    expect: OK\n")
    result = run(text, imap_fake.url("imap").replace("://", "://alice:secret@"), tmp_path)
    assert result.status == Status.PASS, result.reason
    sent = result.log.sent("main")
    assert b'LOGIN "alice" "secret"' in sent and sent.count(b" APPEND harness-") == 2
    assert b"EXAMINE harness-" in result.steps[0].sent
    assert b"LOGIN" not in result.steps[0].sent  # the start state is not the step's exchange


def test_authenticated_start_needs_a_user(smtp_fake: Server, tmp_path: Path) -> None:
    text = "protocol: smtp\ntitle: t\nstart: authenticated\nsteps: [{send: NOOP}]\n"
    result = run(text, smtp_fake.url(), tmp_path)
    assert result.status == Status.ERROR and "needs user 1" in result.reason
