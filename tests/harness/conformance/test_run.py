from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.conformance import Lane, RunError, run_cases, select
from harness.target import Profile, User, parse_target, profile_from_target
from harness.transcript import Case, Status, load_text

from ..conftest import FakeServer
from .conftest import SPECS, LockingPop3, SlowGreeter

ALICE, BOB = User("alice", "secret", "alice@example.test"), User("bob", "secret",
                                                                 "bob@example.test")


def reference_profile(refs: Any) -> Profile:
    endpoints = {kind: parse_target(refs.url(kind)) for kind in ("smtp", "pop3")}
    return Profile(endpoints, (ALICE, BOB), "example.test", name="references")


def cases(text: str, count: int, tmp_path: Path) -> list[Case]:
    return [load_text(text, tmp_path / f"c{n}.yaml")[0] for n in range(count)]


def test_reference_run_passes_and_gates_on_capabilities(reference_servers: Any) -> None:
    if not (reference_servers.available("smtp") and reference_servers.available("pop3")):
        pytest.skip("the reference SMTP and POP3 servers are not built")
    seen: list[str] = []
    run = run_cases(reference_profile(reference_servers), select(SPECS).cases, workers=4,
                    on_result=lambda r: seen.append(r.case.id))
    statuses = {r.case.id: r.status for r in run.results}
    assert statuses.pop("extension") == Status.SKIP
    assert set(statuses.values()) == {Status.PASS}, [r.reason for r in run.results]
    skipped = next(r for r in run.results if r.case.id == "extension")
    assert skipped.reason == "the target does not advertise XNOTHING"
    assert "EHLO" not in run.capabilities["smtp"] and "PIPELINING" in run.capabilities["smtp"]
    assert "UIDL" in run.capabilities["pop3"]
    assert sorted(seen) == sorted(r.case.id for r in run.results)  # every result reported


def test_a_failure_carries_its_step_line_and_bytes(picky_server: FakeServer) -> None:
    profile = profile_from_target(parse_target(picky_server.url()))
    run = run_cases(profile, select(SPECS, ["smtp"]).cases)
    by_title = {r.case.title: r for r in run.results}
    failed = by_title["NOOP is answered with 250"]
    assert failed.status == Status.FAIL
    step = failed.failed_step
    assert step is not None and step.location.line == 8  # "- send: NOOP" in commands.yaml
    assert step.sent == b"NOOP\r\n" and step.received.startswith(b"502 5.5.1")
    assert by_title["an unknown command is answered with 500"].status == Status.PASS


def test_cases_run_concurrently_on_separate_connections(
        fake_server: Callable[..., FakeServer], tmp_path: Path) -> None:
    greeter = SlowGreeter(0.25)
    server = fake_server(greeter)
    text = "protocol: smtp\ntitle: slow\nsteps:\n  - expect: 220\n  - send: QUIT\n    expect: 221\n"
    profile = profile_from_target(parse_target(server.url()))
    parallel = run_cases(profile, cases(text, 6, tmp_path), workers=6)
    assert all(r.status == Status.PASS for r in parallel.results)
    assert greeter.peak >= 3 and parallel.duration < 1.2
    greeter.peak = 0
    serial = run_cases(profile, cases(text, 4, tmp_path), workers=1)
    assert greeter.peak == 1 and serial.duration >= 1.0


POP3_CASE = """protocol: pop3
title: stat
start: authenticated
steps:
  - send: STAT
    expect: +OK
  - sleep: 0.05
  - send: QUIT
    expect: +OK
"""


def test_mailbox_cases_never_share_a_user(fake_server: Callable[..., FakeServer],
                                          tmp_path: Path) -> None:
    pop3 = LockingPop3()
    server = fake_server(pop3)
    profile = Profile({"pop3": parse_target(server.url("pop3"))}, (ALICE, BOB))
    run = run_cases(profile, cases(POP3_CASE, 6, tmp_path), workers=6)
    assert all(r.status == Status.PASS for r in run.results), [r.reason for r in run.results]
    assert pop3.collisions == 0 and set(pop3.logins) == {b"alice"}


def test_lanes_let_mailbox_cases_run_in_parallel(fake_server: Callable[..., FakeServer],
                                                 tmp_path: Path) -> None:
    pop3 = LockingPop3()
    server = fake_server(pop3)
    profile = Profile({"pop3": parse_target(server.url("pop3"))}, (ALICE, BOB))
    lanes = [Lane(n, (User(f"u{n}", "pw", f"u{n}@x.test"),)) for n in range(3)]
    run = run_cases(profile, cases(POP3_CASE, 9, tmp_path), workers=6, lanes=lanes)
    assert all(r.status == Status.PASS for r in run.results)
    assert pop3.collisions == 0
    assert set(pop3.logins) == {b"u0", b"u1", b"u2"}


def test_serial_cases_run_alone(fake_server: Callable[..., FakeServer], tmp_path: Path) -> None:
    greeter = SlowGreeter(0.1)
    server = fake_server(greeter)
    text = ("protocol: smtp\ntitle: alone\ntags: [serial]\nsteps:\n  - expect: 220\n"
            "  - send: QUIT\n    expect: 221\n")
    profile = profile_from_target(parse_target(server.url()))
    run = run_cases(profile, cases(text, 3, tmp_path), workers=4)
    assert all(r.status == Status.PASS for r in run.results)
    assert greeter.peak == 1


def test_an_endpoint_that_does_not_answer_stops_the_run(tmp_path: Path) -> None:
    profile = profile_from_target(parse_target("smtp://127.0.0.1:9?connect_timeout=1"))
    text = "protocol: smtp\ntitle: t\nsteps:\n  - expect: 220\n"
    with pytest.raises(RunError, match="does not answer"):
        run_cases(profile, cases(text, 1, tmp_path))


def test_a_protocol_without_endpoint_is_skipped(smtp_fake: FakeServer, tmp_path: Path) -> None:
    profile = profile_from_target(parse_target(smtp_fake.url()))
    text = "protocol: pop3\ntitle: t\nsteps:\n  - expect: +OK\n"
    run = run_cases(profile, cases(text, 1, tmp_path))
    assert run.results[0].status == Status.SKIP
    assert "no pop3 endpoint" in run.results[0].reason
