"""Named endpoints (``endpoint:``), the ``wait_maildrop`` step and ``$domain_upper``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.target import Profile, User, parse_target, profile_from_target
from harness.transcript import CaseResult, LoadError, Runner, Status, load_file

Server = Any


def _case(text: str, tmp_path: Path) -> Any:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    [case] = load_file(path)
    return case


def _refusing(conn: Any) -> None:
    conn.send(b"554 refuse.example.test No SMTP service here\r\n")
    while (line := conn.recv_line()) and not line.upper().startswith(b"QUIT"):
        conn.send(b"503 5.5.1 no service\r\n")
    conn.send(b"221 bye\r\n")


REFUSE = """\
protocol: smtp
title: named endpoint
endpoint: smtp-refuse
steps:
  - expect: 554
  - send: EHLO x
    expect: 503
  - send: QUIT
    expect: 221
"""


def test_a_named_endpoint_is_used(smtp_fake: Server, fake_server: Any, tmp_path: Path) -> None:
    refuse = fake_server(_refusing)
    profile = Profile({"smtp": parse_target(smtp_fake.url()),
                       "smtp-refuse": parse_target(refuse.url())})
    result = Runner(profile).run(_case(REFUSE, tmp_path))
    assert result.status == Status.PASS, result.reason
    assert result.target.endswith(f":{refuse.port}")


def test_a_missing_named_endpoint_skips_with_the_name(smtp_fake: Server, tmp_path: Path) -> None:
    profile = profile_from_target(parse_target(smtp_fake.url()))
    result = Runner(profile).run(_case(REFUSE, tmp_path))
    assert result.status == Status.SKIP
    assert "'smtp-refuse' endpoint" in result.reason
    assert not smtp_fake.connections  # skipped before connecting


def test_a_named_endpoint_of_another_protocol_is_an_error(smtp_fake: Server, pop3_fake: Server,
                                                          tmp_path: Path) -> None:
    profile = Profile({"smtp": parse_target(smtp_fake.url()),
                       "smtp-refuse": parse_target(pop3_fake.url("pop3"))})
    result = Runner(profile).run(_case(REFUSE, tmp_path))
    assert result.status == Status.ERROR and "speaks pop3" in result.reason


def test_a_named_endpoint_on_another_connection(smtp_fake: Server, fake_server: Any,
                                                tmp_path: Path) -> None:
    text = ("protocol: smtp\ntitle: t\nconnections: {r: {endpoint: smtp-refuse}}\nsteps:\n"
            "  - expect: 220\n  - connection: r\n    expect: 554\n")
    profile = Profile({"smtp": parse_target(smtp_fake.url())})
    assert Runner(profile).run(_case(text, tmp_path)).status == Status.SKIP
    refuse = fake_server(_refusing)
    profile = Profile({**profile.endpoints, "smtp-refuse": parse_target(refuse.url())})
    result = Runner(profile).run(_case(text, tmp_path))
    assert result.status == Status.PASS, result.reason


WAIT = """\
protocol: pop3
title: wait for the maildrop
start: authenticated
steps:
  - wait_maildrop: {count}
    timeout: 0.5
  - send: STAT
    expect: {{status: +OK, match: '^\\+OK 2 '}}
"""


def _pop3_profile(pop3_fake: Server) -> Profile:
    return Profile({"pop3": parse_target(pop3_fake.url("pop3"))},
                   (User("alice", "secret", "alice@example.test"),), "example.test")


def test_wait_maildrop_returns_once_the_messages_are_there(pop3_fake: Server,
                                                           tmp_path: Path) -> None:
    result = Runner(_pop3_profile(pop3_fake)).run(_case(WAIT.format(count=2), tmp_path))
    assert result.status == Status.PASS, result.reason
    # The wait logged in and out on its own session before the case's connection opened.
    assert b"STAT" in b"".join(e.data for e in result.log.entries if e.direction == "C")
    assert len(pop3_fake.connections) == 2


def test_wait_maildrop_fails_the_step_after_its_timeout(pop3_fake: Server,
                                                        tmp_path: Path) -> None:
    result: CaseResult = Runner(_pop3_profile(pop3_fake)).run(
        _case(WAIT.format(count=3), tmp_path))
    assert result.status == Status.FAIL
    assert "3 message(s) did not arrive" in result.reason and "holds 2" in result.reason
    assert result.steps[0].location.line == 5


def test_wait_maildrop_is_for_pop3_steps(tmp_path: Path) -> None:
    text = "protocol: smtp\ntitle: t\nsteps:\n  - wait_maildrop: 1\n"
    with pytest.raises(LoadError, match="wait_maildrop"):
        _case(text, tmp_path)


def test_domain_upper(smtp_fake: Server, tmp_path: Path) -> None:
    text = ("protocol: smtp\ntitle: t\nstart: greeted\nsteps:\n"
            "  - send: MAIL FROM:<a@$domain_upper>\n    expect: 250\n")
    profile = profile_from_target(parse_target(smtp_fake.url(), {"domain": "Example.test"}))
    result = Runner(profile).run(_case(text, tmp_path))
    assert result.status == Status.PASS, result.reason
    assert result.steps[0].sent == b"MAIL FROM:<a@EXAMPLE.TEST>\r\n"
