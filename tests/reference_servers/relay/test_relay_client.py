"""The SMTP client against a scripted next hop, and its sans-IO framing."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from reference_servers.relay import NextHop, QueuedEnvelope, QueuedRecipient, RelaySettings
from reference_servers.relay._framing import Reply, ReplyError, ReplyReader, command, parse_ehlo
from reference_servers.relay.client import Outcome, RecipientResult, deliver
from tests.reference_servers.relay.relay_helpers import ScriptedHop

DATA = b"Subject: t\r\n\r\n.dot\r\nbody\r\n"
SETTINGS = RelaySettings.from_mapping({"timeouts": {"greeting": 2, "mail": 2, "rcpt": 2,
                                                    "data_init": 2, "data_end": 2}})


def run_with_hop(
    setup: Callable[[ScriptedHop], None],
    env: QueuedEnvelope,
    data: bytes = DATA,
    settings: RelaySettings = SETTINGS,
) -> tuple[ScriptedHop, list[RecipientResult]]:
    async def body() -> tuple[ScriptedHop, list[RecipientResult]]:
        hop = ScriptedHop()
        setup(hop)
        await hop.start()
        try:
            results = await deliver(NextHop("127.0.0.1", hop.port), env, env.recipients, data,
                                    hostname="mta-a.test", settings=settings)
        finally:
            await hop.stop()
        return hop, results

    return asyncio.run(asyncio.wait_for(body(), 20))


def env_for(*addresses: str, **kw: object) -> QueuedEnvelope:
    rcpts = tuple(QueuedRecipient(a, frozenset({"SUCCESS", "FAILURE"}), f"rfc822;{a}")
                  for a in addresses)
    return QueuedEnvelope("alice@a.test", rcpts, **kw)  # type: ignore[arg-type]


def test_pipelined_transaction_with_dsn_parameters() -> None:
    hop, results = run_with_hop(
        lambda h: setattr(h, "on_rcpt", lambda a, n: "550 5.1.1 no" if a.startswith("x") else
                          "250 ok"),
        env_for("bob@b.test", "x@b.test", envid="E1", ret="FULL"),
    )
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.PERMANENT]
    assert results[0].dsn_relayed and results[0].status == "2.0.0"
    assert results[1].status == "5.1.1" and results[1].smtp_reply
    assert results[1].remote_mta == "127.0.0.1"
    mail = hop.transactions[0].mail
    assert mail == f"MAIL FROM:<alice@a.test> SIZE={len(DATA)} RET=FULL ENVID=E1"
    assert hop.commands[2] == "RCPT TO:<bob@b.test> NOTIFY=FAILURE,SUCCESS ORCPT=rfc822;bob@b.test"
    assert hop.transactions[0].data == b"Subject: t\r\n\r\n..dot\r\nbody\r\n.\r\n"


def test_helo_fallback_and_no_extension_parameters() -> None:
    def setup(h: ScriptedHop) -> None:
        h.ehlo_reply = "502 5.5.1 EHLO not implemented"

    hop, results = run_with_hop(setup, env_for("bob@b.test"))
    assert results[0].outcome is Outcome.DELIVERED and not results[0].dsn_relayed
    assert hop.commands[:2] == ["EHLO mta-a.test", "HELO mta-a.test"]
    # Without ESMTP, no parameters at all (RFC 5321 §4.1.1.2: no extension, no parameter).
    assert hop.commands[2] == "MAIL FROM:<alice@a.test>"
    assert hop.commands[3] == "RCPT TO:<bob@b.test>"


def test_size_8bitmime_and_smtputf8_are_checked_before_sending() -> None:
    def small(h: ScriptedHop) -> None:
        h.extensions = ["SIZE 10", "8BITMIME", "SMTPUTF8"]

    hop, results = run_with_hop(small, env_for("bob@b.test"))
    assert results[0].outcome is Outcome.PERMANENT and results[0].status == "5.3.4"
    assert not any(c.startswith("MAIL") for c in hop.commands)

    def plain(h: ScriptedHop) -> None:
        h.extensions = ["SIZE 0"]

    hop, results = run_with_hop(plain, env_for("bob@b.test", body="8BITMIME"))
    assert results[0].status == "5.6.3"
    hop, results = run_with_hop(plain, env_for("bob@b.test", smtputf8=True))
    assert results[0].status == "5.6.7"


def test_without_pipelining_a_failed_mail_fails_everyone() -> None:
    def setup(h: ScriptedHop) -> None:
        h.extensions = ["8BITMIME"]

    hop, results = run_with_hop(setup, env_for("bob@b.test", body="8BITMIME"))
    assert results[0].outcome is Outcome.DELIVERED
    assert hop.commands[1] == "MAIL FROM:<alice@a.test> BODY=8BITMIME"

    def temp_data(h: ScriptedHop) -> None:
        h.extensions = []
        h.on_data = lambda n: "452 4.3.1 insufficient storage"

    hop, results = run_with_hop(temp_data, env_for("bob@b.test", "c@b.test"))
    assert {r.outcome for r in results} == {Outcome.TRANSIENT}
    assert results[0].status == "4.3.1"
    assert "452 4.3.1 insufficient storage" in results[0].diagnostic


def test_greeting_refusal_and_silence_are_transient() -> None:
    def refuse(h: ScriptedHop) -> None:
        h.greeting = "554 5.3.2 not now"

    _, results = run_with_hop(refuse, env_for("bob@b.test"))
    assert results[0].outcome is Outcome.TRANSIENT and results[0].status == "4.3.2"

    async def silent() -> list[RecipientResult]:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)
            w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        quick = RelaySettings.from_mapping({"timeouts": {"greeting": 0.2}})
        try:
            env = env_for("bob@b.test")
            return await deliver(NextHop("127.0.0.1", port), env, env.recipients, DATA,
                                 hostname="h", settings=quick)
        finally:
            server.close()

    results = asyncio.run(asyncio.wait_for(silent(), 10))
    assert results[0].outcome is Outcome.TRANSIENT and results[0].status == "4.4.2"
    assert "timeout" in results[0].diagnostic


def test_starttls_is_used_when_offered() -> None:
    """Against aiosmtpd (an independent server) with a loopback self-signed cert."""
    aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")
    from reference_servers.tls import server_context

    class Handler:
        def __init__(self) -> None:
            self.tls: list[bool] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.tls.append(getattr(session, "ssl", None) is not None)
            return "250 2.0.0 ok"

    handler = Handler()

    async def body(tmp: Path) -> list[RecipientResult]:
        context = server_context(tmp, ("localhost", "127.0.0.1"))
        server = await asyncio.get_running_loop().create_server(
            lambda: aiosmtpd_smtp.SMTP(handler, hostname="hop.test", tls_context=context,
                                       require_starttls=True),
            "127.0.0.1", 0,
        )
        try:
            port = server.sockets[0].getsockname()[1]
            env = env_for("bob@b.test")
            return await deliver(NextHop("127.0.0.1", port), env, env.recipients, DATA,
                                 hostname="mta-a.test", settings=SETTINGS)
        finally:
            server.close()

    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(asyncio.wait_for(body(Path(tmp)), 20))
    assert results[0].outcome is Outcome.DELIVERED, results[0].diagnostic
    assert handler.tls == [True]


# -- framing (sans-IO) ---------------------------------------------------------------


def test_reply_reader_multiline_and_byte_by_byte() -> None:
    wire = b"250-mx.test hi\r\n250-PIPELINING\r\n250 DSN\r\n550 5.1.1 no\r\n"
    reader = ReplyReader()
    replies: list[Reply] = []
    for i in range(len(wire)):
        reader.feed(wire[i : i + 1])
        while (reply := reader.next_reply()) is not None:
            replies.append(reply)
    assert [r.code for r in replies] == [250, 550]
    assert parse_ehlo(replies[0]) == {"PIPELINING": "", "DSN": ""}
    assert replies[1].enhanced == "5.1.1" and replies[1].text == "5.1.1 no"
    assert Reply(550, ("4.1.1 mismatched class",)).enhanced is None


@pytest.mark.parametrize("wire", [b"25 short\r\n", b"250-a\r\n251 b\r\n", b"999 x\r\n",
                                  b"250x\r\n", b"2" * 5000])
def test_reply_reader_rejects_garbage(wire: bytes) -> None:
    reader = ReplyReader()
    reader.feed(wire)
    with pytest.raises(ReplyError):
        while reader.next_reply() is not None:
            pass


def test_commands_refuse_line_breaks() -> None:
    assert command("MAIL", "FROM:<a@b>") == b"MAIL FROM:<a@b>\r\n"
    with pytest.raises(ValueError):
        command("RCPT", "TO:<a@b>\r\nDATA")
