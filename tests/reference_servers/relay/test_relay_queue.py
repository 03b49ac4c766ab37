"""The queue and the worker end to end against a scripted next hop (real sockets)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

from reference_servers.relay import (
    NextHop,
    QueuedEnvelope,
    QueuedRecipient,
    RelayQueue,
    RouteTable,
)
from tests.reference_servers.relay.relay_helpers import ScriptedHop

MESSAGE = (
    b"From: alice@a.test\r\nTo: bob@b.test\r\nSubject: hello\r\nMessage-ID: <m1@a.test>\r\n"
    b"\r\nfirst line\r\n.leading dot\r\nSECRET-BODY-MARKER\r\n"
)
FAST = {
    "retry_initial": 0.05,
    "retry_max": 0.2,
    "max_age": 30,
    "timeouts": {"connect": 2, "greeting": 2, "mail": 2, "rcpt": 2, "data_init": 2,
                 "data_block": 2, "data_end": 2},
}


class Mailboxes:
    """Stands in for the store: what local_delivery was given, per address."""

    def __init__(self) -> None:
        self.boxes: dict[str, list[bytes]] = {}

    def deliver(self, address: str, data: bytes) -> None:
        if not address.endswith("@a.test"):
            raise AssertionError(f"local delivery for a remote address {address}")
        if address.startswith("nobody@"):
            raise LookupError(address)
        self.boxes.setdefault(address, []).append(data)

    def parsed(self, address: str) -> list[EmailMessage]:
        return [
            email.message_from_bytes(d, policy=email.policy.default)  # type: ignore[misc]
            for d in self.boxes.get(address, [])
        ]


def make_queue(tmp: Path, port: int, boxes: Mailboxes, **settings: object) -> RelayQueue:
    return RelayQueue(
        tmp / "queue",
        routes=RouteTable({"b.test": NextHop("127.0.0.1", port)}),
        hostname="mta-a.test",
        local_delivery=boxes.deliver,
        is_local=lambda address: address.lower().endswith("@a.test"),
        settings={**FAST, **settings},
    )


async def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def envelope(*rcpts: QueuedRecipient, sender: str = "alice@a.test", **kw: object) -> QueuedEnvelope:
    return QueuedEnvelope(sender, rcpts or (QueuedRecipient("bob@b.test"),), **kw)  # type: ignore[arg-type]


def dsn_parts(msg: EmailMessage) -> tuple[list[dict[str, str]], EmailMessage, EmailMessage]:
    """(per-message + per-recipient field blocks, the status part, the returned part)."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    text, status, returned = msg.get_payload()  # type: ignore[misc]
    assert text.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    blocks = [dict(block.items()) for block in status.get_payload()]
    return blocks, status, returned


def test_enqueue_is_durable_and_survives_a_restart(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        await hop.start()
        boxes = Mailboxes()
        try:
            first = make_queue(tmp_path, hop.port, boxes)
            queue_id = await asyncio.to_thread(first.enqueue, envelope(), MESSAGE)
            # Both files are complete on disk when enqueue returns.
            state = json.loads((tmp_path / "queue" / f"{queue_id}.json").read_text())
            assert state["pending"] == ["bob@b.test"]
            assert (tmp_path / "queue" / f"{queue_id}.msg").read_bytes() == MESSAGE
            assert first.pending() == [queue_id]
            del first  # never started: nothing was delivered
            assert hop.transactions == []

            second = make_queue(tmp_path, hop.port, boxes)
            assert second.pending() == [queue_id]
            await second.start()
            try:
                await wait_for(lambda: not second.pending())
            finally:
                await second.stop()
            assert len(hop.delivered) == 1
            txn = hop.delivered[0]
            assert txn.mail.startswith("MAIL FROM:<alice@a.test>")
            assert txn.rcpts == ["RCPT TO:<bob@b.test>"]
            # Dot-stuffed on the wire (RFC 5321 §4.5.2).
            assert b"\r\n..leading dot\r\n" in txn.data
            assert txn.data.endswith(b"SECRET-BODY-MARKER\r\n.\r\n")
            assert list((tmp_path / "queue").glob("*.json")) == []
            assert list((tmp_path / "queue").glob("*.msg")) == []
        finally:
            await hop.stop()

    run(body)


def test_recover_discards_an_incomplete_enqueue(tmp_path: Path) -> None:
    boxes = Mailboxes()
    queue = make_queue(tmp_path, 9, boxes)
    (tmp_path / "queue" / "0000deadbeef.msg").write_bytes(b"half")
    (tmp_path / "queue" / "x.json.1234.tmp").write_bytes(b"{")

    async def body() -> None:
        await queue.start()
        await queue.stop()

    run(body)
    assert sorted(p.name for p in (tmp_path / "queue").iterdir()) == [".lock"]


def test_two_workers_cannot_share_a_queue(tmp_path: Path) -> None:
    async def body() -> None:
        boxes = Mailboxes()
        one, two = make_queue(tmp_path, 9, boxes), make_queue(tmp_path, 9, boxes)
        await one.start()
        try:
            try:
                await two.start()
            except RuntimeError as exc:
                assert "another relay worker" in str(exc)
            else:
                raise AssertionError("second worker started")
        finally:
            await one.stop()
        await two.start()  # the lock is released by stop()
        await two.stop()

    run(body)


def test_4xx_is_retried_with_backoff_then_delivered(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.on_rcpt = lambda addr, n: "451 4.3.0 try again later" if n < 3 else "250 2.1.5 ok"
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes)
        await queue.start()
        try:
            queue_id = await asyncio.to_thread(queue.enqueue, envelope(), MESSAGE)
            await wait_for(lambda: len(hop.delivered) == 1)
            await wait_for(lambda: not queue.pending())
        finally:
            await queue.stop()
            await hop.stop()
        assert queue_id
        rcpt_lines = [c for c in hop.commands if c.startswith("RCPT")]
        assert len(rcpt_lines) == 3
        assert boxes.boxes == {}  # a temporary failure bounces nothing

    run(body)


def test_connection_failure_is_retried(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        await hop.start()
        port = hop.port
        await hop.stop()  # nothing listens there now
        boxes = Mailboxes()
        queue = make_queue(tmp_path, port, boxes)
        await queue.start()
        try:
            queue_id = await asyncio.to_thread(queue.enqueue, envelope(), MESSAGE)
            path = tmp_path / "queue" / f"{queue_id}.json"
            await wait_for(lambda: json.loads(path.read_text())["attempts"] >= 2)
            state = json.loads(path.read_text())
            assert state["last_errors"]["bob@b.test"]["status"] == "4.4.1"
            # Exponential back-off: 0.05 s, then 0.1 s, ... capped at 0.2 s.
            assert state["next_attempt"] > state["last_attempt"]
        finally:
            await queue.stop()
        assert queue.pending() == [queue_id]  # still queued, nothing bounced
        assert boxes.boxes == {}

    run(body)


def test_5xx_bounces_to_the_local_sender_as_rfc3464(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.on_rcpt = lambda addr, n: (
            "550 5.1.1 <bob@b.test>: no such user" if addr == "bob@b.test" else "250 2.1.5 ok"
        )
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes)
        await queue.start()
        try:
            env = envelope(
                QueuedRecipient("bob@b.test", frozenset({"FAILURE"}), "rfc822;bob+2Borig@b.test"),
                QueuedRecipient("carol@b.test"),
                envid="QQ314159+2Bx", ret="HDRS",
            )
            await asyncio.to_thread(queue.enqueue, env, MESSAGE)
            await wait_for(lambda: "alice@a.test" in boxes.boxes)
            await wait_for(lambda: not queue.pending())
        finally:
            await queue.stop()
            await hop.stop()
        # carol was delivered; the DSN passed ENVID/RET/ORCPT on (the hop offers DSN).
        assert len(hop.delivered) == 1
        assert "RET=HDRS" in hop.delivered[0].mail
        assert "ENVID=QQ314159+2Bx" in hop.delivered[0].mail
        assert any("ORCPT=rfc822;bob+2Borig@b.test" in c for c in hop.commands)

        [raw] = boxes.boxes["alice@a.test"]
        assert raw.startswith(b"Return-Path: <>\r\n")  # RFC 3461 §6.1 / RFC 5321 §4.5.5
        [msg] = boxes.parsed("alice@a.test")
        assert msg["Auto-Submitted"] == "auto-replied"
        blocks, _, returned = dsn_parts(msg)
        per_message, *per_rcpt = blocks
        assert per_message["Reporting-MTA"] == "dns; mta-a.test"
        assert per_message["Original-Envelope-Id"] == "QQ314159+x"  # xtext decoded
        assert len(per_rcpt) == 1  # only bob failed
        [bob] = per_rcpt
        assert bob["Final-Recipient"] == "rfc822; bob@b.test"
        assert bob["Original-Recipient"] == "rfc822;bob+orig@b.test"
        assert bob["Action"] == "failed"
        assert bob["Status"] == "5.1.1"
        assert bob["Remote-MTA"] == "dns; 127.0.0.1"
        assert bob["Diagnostic-Code"].startswith("smtp; 550 5.1.1 <bob@b.test>: no such user")
        # RET=HDRS: the header comes back, the body does not (RFC 3461 §4.3).
        assert returned.get_content_type() == "text/rfc822-headers"
        returned_text = returned.get_payload()
        assert "Subject: hello" in returned_text
        assert "SECRET-BODY-MARKER" not in returned_text

    run(body)


def test_ret_full_returns_the_whole_message(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.on_rcpt = lambda addr, n: "554 5.7.1 relay denied"
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes)
        await queue.start()
        try:
            await asyncio.to_thread(queue.enqueue, envelope(ret="FULL"), MESSAGE)
            await wait_for(lambda: "alice@a.test" in boxes.boxes)
        finally:
            await queue.stop()
            await hop.stop()
        [msg] = boxes.parsed("alice@a.test")
        blocks, _, returned = dsn_parts(msg)
        assert blocks[1]["Status"] == "5.7.1"
        assert "Original-Envelope-Id" not in blocks[0]
        assert returned.get_content_type() == "message/rfc822"
        inner = returned.get_payload()[0]
        assert inner["Subject"] == "hello"
        assert "SECRET-BODY-MARKER" in inner.get_content()

    run(body)


def test_expiry_bounces_with_the_last_error(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.on_rcpt = lambda addr, n: "452 4.2.2 mailbox full"
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes, max_age=0.3)
        await queue.start()
        try:
            await asyncio.to_thread(queue.enqueue, envelope(), MESSAGE)
            await wait_for(lambda: "alice@a.test" in boxes.boxes)
            await wait_for(lambda: not queue.pending())
        finally:
            await queue.stop()
            await hop.stop()
        assert len([c for c in hop.commands if c.startswith("RCPT")]) >= 2  # it did retry
        [msg] = boxes.parsed("alice@a.test")
        blocks, _, _ = dsn_parts(msg)
        assert blocks[1]["Action"] == "failed"
        assert blocks[1]["Status"] == "4.4.7"  # RFC 3463: delivery time expired
        assert "452 4.2.2 mailbox full" in blocks[1]["Diagnostic-Code"]

    run(body)


def test_notify_never_and_null_sender_produce_no_bounce(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.on_rcpt = lambda addr, n: "550 5.1.1 no such user"
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes)
        await queue.start()
        try:
            never = envelope(QueuedRecipient("bob@b.test", frozenset({"NEVER"})))
            null = envelope(QueuedRecipient("bob@b.test"), sender="")
            await asyncio.to_thread(queue.enqueue, never, MESSAGE)
            await asyncio.to_thread(queue.enqueue, null, MESSAGE)
            await wait_for(lambda: not queue.pending())
            await asyncio.sleep(0.2)  # a bounce, if one were made, would be queued by now
        finally:
            await queue.stop()
            await hop.stop()
        assert len([c for c in hop.commands if c.startswith("RCPT")]) == 2  # both tried
        assert any(c.startswith("MAIL FROM:<>") for c in hop.commands)
        assert boxes.boxes == {}
        assert queue.pending() == []

    run(body)


def test_notify_success_and_delay(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.extensions = ["PIPELINING", "8BITMIME"]  # no DSN: we must report "relayed"
        hop.on_rcpt = lambda addr, n: "451 4.3.0 later" if n < 4 else "250 2.1.5 ok"
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes, delay_warning=0.05)
        await queue.start()
        try:
            rcpt = QueuedRecipient("bob@b.test", frozenset({"SUCCESS", "DELAY"}))
            await asyncio.to_thread(queue.enqueue, envelope(rcpt), MESSAGE)
            await wait_for(lambda: len(boxes.boxes.get("alice@a.test", [])) == 2)
            await wait_for(lambda: not queue.pending())
        finally:
            await queue.stop()
            await hop.stop()
        # Without DSN at the next hop, NOTIFY is not sent on (RFC 3461 §5.2.2).
        assert not any("NOTIFY=" in c for c in hop.commands)
        actions = [dsn_parts(m)[0][1]["Action"] for m in boxes.parsed("alice@a.test")]
        assert actions == ["delayed", "relayed"]
        delayed = boxes.parsed("alice@a.test")[0]
        assert "Will-Retry-Until" in dsn_parts(delayed)[0][1]

    run(body)


def test_local_recipients_and_unknown_local_users(tmp_path: Path) -> None:
    async def body() -> None:
        boxes = Mailboxes()
        queue = make_queue(tmp_path, 9, boxes)
        await queue.start()
        try:
            env = QueuedEnvelope("alice@a.test", (
                QueuedRecipient("carol@a.test", frozenset({"SUCCESS"})),
                QueuedRecipient("nobody@a.test"),
            ))
            await asyncio.to_thread(queue.enqueue, env, MESSAGE)
            await wait_for(lambda: not queue.pending())
        finally:
            await queue.stop()
        assert boxes.boxes["carol@a.test"] == [b"Return-Path: <alice@a.test>\r\n" + MESSAGE]
        [dsn] = boxes.parsed("alice@a.test")
        _, *rcpts = dsn_parts(dsn)[0]
        assert {(r["Final-Recipient"], r["Action"], r["Status"]) for r in rcpts} == {
            ("rfc822; carol@a.test", "delivered", "2.0.0"),
            ("rfc822; nobody@a.test", "failed", "5.1.1"),
        }

    run(body)


def test_bounce_for_a_remote_sender_is_queued_and_relayed(tmp_path: Path) -> None:
    async def body() -> None:
        hop = ScriptedHop()
        hop.on_rcpt = lambda addr, n: (
            "550 5.1.1 unknown" if addr == "bob@b.test" else "250 2.1.5 ok"
        )
        await hop.start()
        boxes = Mailboxes()
        queue = make_queue(tmp_path, hop.port, boxes)
        await queue.start()
        try:
            env = envelope(sender="zed@b.test")
            await asyncio.to_thread(queue.enqueue, env, MESSAGE)
            await wait_for(lambda: len(hop.delivered) == 1)
            await wait_for(lambda: not queue.pending())
        finally:
            await queue.stop()
            await hop.stop()
        [txn] = hop.delivered
        assert txn.mail.startswith("MAIL FROM:<>")
        assert txn.rcpts == ["RCPT TO:<zed@b.test> NOTIFY=NEVER"]
        assert b"report-type=delivery-status" in txn.data

    run(body)


def test_no_route_is_a_permanent_failure(tmp_path: Path) -> None:
    async def body() -> None:
        boxes = Mailboxes()
        queue = make_queue(tmp_path, 9, boxes)
        await queue.start()
        try:
            env = envelope(QueuedRecipient("x@nowhere.test"))
            await asyncio.to_thread(queue.enqueue, env, MESSAGE)
            await wait_for(lambda: "alice@a.test" in boxes.boxes)
        finally:
            await queue.stop()
        [dsn] = boxes.parsed("alice@a.test")
        assert dsn_parts(dsn)[0][1]["Status"] == "5.4.4"

    run(body)
