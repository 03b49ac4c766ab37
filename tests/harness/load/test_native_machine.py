"""The native engine's sans-IO SMTP machine: what goes out in which write, and the
one-line-reply shortcut agreeing with the shared framer."""

from __future__ import annotations

import pytest

from harness.client import SmtpFramer
from harness.load.native_smtp import WAIT, Job, SmtpMachine, _simple_replies, envelope
from harness.target import parse_target

_EHLO_PIPELINING = b"250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
_EHLO_PLAIN = b"250-sink.test\r\n250 8BITMIME\r\n"


def _machine(jobs: list[Job], *, limit: int = 100) -> tuple[SmtpMachine, list[tuple]]:  # type: ignore[type-arg]
    done: list[tuple] = []  # type: ignore[type-arg]

    def claim() -> Job | str | None:
        return jobs.pop(0) if jobs else None

    machine = SmtpMachine(parse_target("smtp://127.0.0.1:25"), claim,
                          lambda job, code, error: done.append((job[0], code, error)),
                          job=claim(), limit=limit)  # type: ignore[arg-type]
    return machine, done


def _job(number: int) -> Job:
    return (f"id{number}", envelope("a@x.test", ["b@y.test"]), b"content %d\r\n.\r\n" % number,
            0.0, 1)


def test_content_and_next_envelope_share_one_write_with_pipelining() -> None:
    machine, done = _machine([_job(1), _job(2), _job(3)])
    assert machine.receive(b"220 hi\r\n") == b"EHLO client.example.test\r\n"
    first = machine.receive(_EHLO_PIPELINING)
    assert first == b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
    # RFC 2920 §3.1: the content opens the next group, which MAIL/RCPT/DATA then ends.
    write = machine.receive(b"250 ok\r\n250 ok\r\n354 go\r\n")
    assert write == b"content 1\r\n.\r\n" + first
    write = machine.receive(b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    assert write == b"content 2\r\n.\r\n" + first
    # No message left: the last content is followed by QUIT (also last in its group).
    write = machine.receive(b"250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    assert write == b"content 3\r\n.\r\nQUIT\r\n"
    assert machine.receive(b"250 queued\r\n221 bye\r\n") == b""
    assert machine.finished
    assert done == [("id1", "250", ""), ("id2", "250", ""), ("id3", "250", "")]


def test_one_command_per_write_without_pipelining() -> None:
    machine, done = _machine([_job(1), _job(2)])
    machine.receive(b"220 hi\r\n")
    assert machine.receive(_EHLO_PLAIN) == b"MAIL FROM:<a@x.test>\r\n"
    assert machine.receive(b"250 ok\r\n") == b"RCPT TO:<b@y.test>\r\n"
    assert machine.receive(b"250 ok\r\n") == b"DATA\r\n"
    assert machine.receive(b"354 go\r\n") == b"content 1\r\n.\r\n"  # nothing chained
    assert machine.receive(b"250 queued\r\n") == b"MAIL FROM:<a@x.test>\r\n"
    assert done == [("id1", "250", "")]


def test_new_connection_per_message_pipelines_quit_after_content() -> None:
    machine, done = _machine([_job(1), _job(2)], limit=1)
    machine.receive(b"220 hi\r\n")
    machine.receive(_EHLO_PIPELINING)
    assert machine.receive(b"250 ok\r\n250 ok\r\n354 go\r\n") == b"content 1\r\n.\r\nQUIT\r\n"
    machine.receive(b"250 queued\r\n221 bye\r\n")
    assert machine.finished and done == [("id1", "250", "")]


def test_refusals_fail_the_message_and_reset() -> None:
    machine, done = _machine([_job(1), _job(2)])
    machine.receive(b"220 hi\r\n")
    machine.receive(_EHLO_PIPELINING)
    assert machine.receive(b"250 ok\r\n550 5.1.1 no such user\r\n554 no valid recipients\r\n") \
        == b"RSET\r\n"
    assert done == [("id1", "550", "RCPT 550: 5.1.1 no such user")]
    assert machine.receive(b"250 reset\r\n").startswith(b"MAIL FROM:")


def test_end_of_data_refusal_and_connection_loss_are_reported_once() -> None:
    machine, done = _machine([_job(1), _job(2)])
    machine.receive(b"220 hi\r\n")
    machine.receive(_EHLO_PIPELINING)
    machine.receive(b"250 ok\r\n250 ok\r\n354 go\r\n")  # content 1 + envelope 2 in flight
    machine.receive(b"452 4.3.1 full\r\n")
    machine.fail("", "connection closed")
    machine.fail("", "again")
    assert done == [("id1", "452", "end of data 452: 4.3.1 full"), ("id2", "", "connection closed")]


def test_wait_idles_until_resume() -> None:
    jobs: list[Job | str] = [WAIT, WAIT]  # at the content, then at its 250
    done: list[str] = []
    machine = SmtpMachine(parse_target("smtp://127.0.0.1:25"), lambda: jobs.pop(0),  # type: ignore[arg-type,return-value]
                          lambda job, code, error: done.append(code), job=_job(1), limit=5)
    machine.receive(b"220 hi\r\n")
    machine.receive(_EHLO_PIPELINING)
    assert machine.receive(b"250 ok\r\n250 ok\r\n354 go\r\n") == b"content 1\r\n.\r\n"
    assert machine.receive(b"250 queued\r\n") == b"" and machine.idle
    assert machine.resume(_job(2)).startswith(b"MAIL FROM:")


@pytest.mark.parametrize("data", [
    b"250 ok\r\n", b"250 ok\r\n250 2.1.5 ok\r\n354 go on\r\n", b"250\r\n", b"221 bye\r\n",
    b"250-multi\r\n250 line\r\n", b"250 ok\n", b"250 ok", b"250 a\rb\r\n", b"2500 x\r\n",
    b"650 x\r\n", b"250-x\r\n", b"", b"250 ok\r\n250-half\r\n", b"hello\r\n",
])
def test_shortcut_agrees_with_the_framer(data: bytes) -> None:
    lines = _simple_replies(data)
    if lines is None:
        return  # the framer takes it, whatever it is
    framer = SmtpFramer()
    framer.feed(data)
    framed = []
    while (reply := framer.next_reply()) is not None:
        framed.append((reply.code, reply.lines, reply.raw))
    assert not len(framer.buffer)
    assert [(int(x[:3]), (x[4:],), x + b"\r\n") for x in lines] == framed
