"""The native engine: bounded runs against a test server and the reference servers, with
delivery accounting over a Maildir and over POP3."""

from __future__ import annotations

import pytest

from harness.load.accounting import DeliveryTracker, MaildirSource, Pop3Source
from harness.load.config import LoadConfig
from harness.load.native import run_native
from harness.target import parse_target


def _run(target: str, **kwargs: object) -> tuple:  # type: ignore[type-arg]
    config = LoadConfig("smtp", target, **kwargs)  # type: ignore[arg-type]
    return config, run_native(config)


def test_closed_loop_reuse_with_pipelining_is_clean(lossy_smtp) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp()
    config = LoadConfig("smtp", url, users=4, duration=5, messages=200, connection="reuse")
    tracker = DeliveryTracker(MaildirSource(server.maildir), config.run_id)
    tracker.start()
    result = run_native(config)
    accounting = tracker.finish(result.rows, settle=5)
    messages = [r for r in result.rows if r.name == "smtp:message"]
    assert len(messages) == 200 and all(r.ok and r.code == "250" for r in messages)
    assert len({r.message_id for r in messages}) == 200
    assert accounting.clean and accounting.accepted == 200 and not accounting.lost
    assert accounting.end_to_end.count == 200
    assert server.batched_commands == 200  # MAIL, RCPT and DATA went out as one batch


def test_no_pipelining_when_not_offered(lossy_smtp) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp(pipelining=False)
    _, result = _run(url, users=2, duration=5, messages=20, connection="new")
    assert sum(r.ok for r in result.rows) == 20
    assert server.batched_commands == 0


def test_accounting_catches_what_a_lossy_server_drops(lossy_smtp) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp(drop_every=7)
    config = LoadConfig("smtp", url, users=3, duration=5, messages=70, connection="reuse")
    tracker = DeliveryTracker(MaildirSource(server.maildir), config.run_id)
    tracker.start()
    result = run_native(config)
    accounting = tracker.finish(result.rows, settle=1)
    assert all(r.ok for r in result.rows)  # every message was answered 250...
    assert len(server.dropped) == 10
    assert len(accounting.lost) == 10 and not accounting.clean  # ...and 10 never arrived
    assert accounting.accepted == 70 and accounting.end_to_end.count == 60


def test_open_loop_holds_the_rate_and_stops_by_duration(lossy_smtp) -> None:  # type: ignore[no-untyped-def]
    _, url = lossy_smtp()
    _, result = _run(url, users=5, duration=2, rate=50, connection="reuse")
    messages = [r for r in result.rows if r.name == "smtp:message"]
    assert 90 <= len(messages) <= 101  # 2 s at 50/s
    assert result.ended - result.started < 2 + 3
    assert result.unsent == 0


def test_unreachable_target_gives_error_rows_and_stops() -> None:
    from harness.peers._ports import free_port

    _, result = _run(f"smtp://127.0.0.1:{free_port()}", users=2, duration=1, messages=10)
    assert result.rows and all(not r.ok and r.code == "" for r in result.rows)
    assert "connect" in result.rows[0].error


def test_two_processes_split_the_work(lossy_smtp) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp()
    config = LoadConfig("smtp", url, users=4, duration=8, messages=100, connection="reuse")
    result = run_native(config, processes=2)
    ids = [r.message_id for r in result.rows if r.ok]
    assert len(ids) == 100 and len(set(ids)) == 100
    assert {i.split(".")[1] for i in ids} == {"0", "1"}
    assert server.accepted == 100


def _require(reference_servers, *kinds: str) -> None:  # type: ignore[no-untyped-def]
    for kind in kinds:
        if not reference_servers.available(kind):
            pytest.skip(f"the reference {kind} server is not built yet")


def test_native_against_reference_smtp_accounted_in_maildir(reference_servers) -> None:  # type: ignore[no-untyped-def]
    _require(reference_servers, "smtp")
    maildir = reference_servers.data_dir / "mail" / "alice" / "Maildir"
    config = LoadConfig("smtp", reference_servers.url("smtp"), users=4, duration=10,
                        messages=200, connection="reuse")
    tracker = DeliveryTracker(MaildirSource(maildir), config.run_id)
    tracker.start()
    result = run_native(config)
    accounting = tracker.finish(result.rows, settle=10)
    errors = [r for r in result.rows if not r.ok]
    assert not errors, errors[:3]
    assert accounting.accepted == 200 and accounting.clean, accounting


def test_native_against_reference_smtp_accounted_over_pop3(reference_servers) -> None:  # type: ignore[no-untyped-def]
    _require(reference_servers, "smtp", "pop3")
    config = LoadConfig("smtp", reference_servers.url("smtp"), users=4, duration=10,
                        messages=100, connection="new")
    source = Pop3Source(parse_target(reference_servers.url("pop3", user="alice")))
    tracker = DeliveryTracker(source, config.run_id)
    tracker.start()
    result = run_native(config)
    accounting = tracker.finish(result.rows, settle=10)
    assert all(r.ok for r in result.rows)
    assert accounting.accepted == 100 and accounting.clean, accounting


def test_native_pop3_load_against_reference(reference_servers) -> None:  # type: ignore[no-untyped-def]
    _require(reference_servers, "smtp", "pop3")
    for mailbox in ("alice", "bob"):
        run_native(LoadConfig("smtp", reference_servers.url("smtp"), users=2, duration=5,
                              messages=5, recipients=(f"{mailbox}@example.test",)))
    # Two users, two maildrops: a maildrop is locked per session (RFC 1939 §8).
    config = LoadConfig("pop3", reference_servers.url("pop3"), users=2, duration=5,
                        messages=16, accounts=("alice:secret", "bob:secret"))
    result = run_native(config)
    sessions = [r for r in result.rows if r.name == "pop3:session"]
    assert len(sessions) == 16 and all(r.ok for r in sessions), sessions[:3]
    assert sum(1 for r in result.rows if r.name == "pop3:RETR") == 16


def test_one_maildrop_many_sessions_reports_in_use(reference_servers) -> None:  # type: ignore[no-untyped-def]
    _require(reference_servers, "smtp", "pop3")
    run_native(LoadConfig("smtp", reference_servers.url("smtp"), users=1, duration=5,
                          messages=2, recipients=("bob@example.test",)))
    config = LoadConfig("pop3", reference_servers.url("pop3", user="bob"), users=4,
                        duration=3, messages=40)
    result = run_native(config)
    refused = [r for r in result.rows if r.name == "pop3:session" and not r.ok]
    assert refused and all(r.code == "-ERR" for r in refused)
