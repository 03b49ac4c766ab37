"""DSN building (RFC 3464), envelopes, routes and settings: no sockets."""

from __future__ import annotations

import email
import email.policy

import pytest

from reference_servers.relay import (
    NextHop,
    QueuedEnvelope,
    QueuedRecipient,
    RelaySettings,
    RouteError,
    RouteTable,
)
from reference_servers.relay.bounce import RecipientReport, build_dsn
from reference_servers.relay.envelope import xtext_decode, xtext_encode
from reference_servers.relay.settings import RelaySettingsError

MSG = b"Subject: s\r\nFrom: a@a.test\r\n\r\nthe body\r\n"


def report(address: str = "bob@b.test", **kw: object) -> RecipientReport:
    fields = {"action": "failed", "status": "5.1.1", "diagnostic": "550 5.1.1 no\r\nX: y",
              "smtp_diagnostic": True, "remote_mta": "mx.b.test", "last_attempt": 0.0, **kw}
    return RecipientReport(QueuedRecipient(address), **fields)  # type: ignore[arg-type]


def test_dsn_envelope_is_null_sender_and_never_notifies() -> None:
    env = QueuedEnvelope("alice@a.test", (QueuedRecipient("bob@b.test"),))
    dsn_env, data = build_dsn(env, MSG, [report()], reporting_mta="mta.test", arrival=0.0)
    assert dsn_env.mail_from == ""
    assert dsn_env.recipients == (QueuedRecipient("alice@a.test", frozenset({"NEVER"})),)
    assert dsn_env.body == "7BIT" and not dsn_env.smtputf8
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "alice@a.test"
    status = msg.get_payload()[1]  # type: ignore[index]
    per_message, per_rcpt = status.get_payload()
    # A CR LF inside a peer's reply must not inject a field (it is folded to a space).
    assert per_rcpt["Diagnostic-Code"] == "smtp; 550 5.1.1 no X: y"
    assert per_rcpt.get("X") is None
    assert per_message["Arrival-Date"] == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert msg.get_payload()[2].get_content_type() == "text/rfc822-headers"  # type: ignore[index]


def test_null_sender_is_never_bounced() -> None:
    env = QueuedEnvelope("", (QueuedRecipient("bob@b.test"),))
    with pytest.raises(ValueError, match="null reverse-path"):
        build_dsn(env, MSG, [report()], reporting_mta="mta.test", arrival=0.0)


def test_utf8_addresses_use_the_rfc6533_forms() -> None:
    env = QueuedEnvelope("élise@a.test", (QueuedRecipient("bob@b.test"),), smtputf8=True,
                         ret="FULL", body="8BITMIME")
    dsn_env, data = build_dsn(env, MSG, [report("bøb@b.test")], reporting_mta="m", arrival=0.0)
    assert dsn_env.smtputf8 and dsn_env.body == "8BITMIME"
    assert b"Content-Type: message/global-delivery-status" in data
    assert "Final-Recipient: utf-8; bøb@b.test".encode() in data
    assert b"Content-Type: message/global\r\n" in data


def test_binarymime_returns_headers_only() -> None:
    env = QueuedEnvelope("a@a.test", (QueuedRecipient("b@b.test"),), ret="FULL",
                         body="BINARYMIME")
    _, data = build_dsn(env, MSG, [report()], reporting_mta="m", arrival=0.0)
    assert b"text/rfc822-headers" in data and b"the body" not in data


def test_reports_are_validated() -> None:
    with pytest.raises(ValueError):
        report(action="bounced")
    with pytest.raises(ValueError):
        report(status="550")


def test_envelope_rules_and_json_round_trip() -> None:
    env = QueuedEnvelope("a@a.test", (QueuedRecipient("b@b.test", frozenset({"DELAY"}),
                                                      "rfc822;b@b.test"),), envid="x", ret="HDRS")
    assert QueuedEnvelope.from_json(env.to_json()) == env
    with pytest.raises(ValueError):
        QueuedRecipient("b@b.test", frozenset({"NEVER", "SUCCESS"}))
    with pytest.raises(ValueError):
        QueuedEnvelope("a@a.test", ())
    with pytest.raises(ValueError):
        QueuedEnvelope("a@a.test", (QueuedRecipient("b@b.test"),), body="9BIT")
    assert QueuedRecipient("b").wants("FAILURE") and not QueuedRecipient("b").wants("DELAY")
    assert xtext_encode("a+b=c é") == "a+2Bb+3Dc+20+C3+A9"
    assert xtext_decode(xtext_encode("a+b=c é")) == "a+b=c é"


def test_routes_from_settings() -> None:
    table = RouteTable.from_settings({
        "B.test": "127.0.0.1:2526",
        "c.test": {"host": "::1", "port": 25},
        "d.test": "[::1]:2527",
        "*": "10.0.0.1:25",
    })
    assert table.lookup("b.TEST.") == NextHop("127.0.0.1", 2526)
    assert str(table.lookup("c.test")) == "[::1]:25"
    assert table.lookup("d.test") == NextHop("::1", 2527)
    assert table.lookup("other.test") == NextHop("10.0.0.1", 25)
    assert RouteTable.from_settings(None).lookup("x.test") is None
    for bad, where in [("host", "routes.x"), ("h:0", "routes.x"), ("::1:25", "routes.x"),
                       ({"server": ""}, "routes.x.server"), ({"host": "h"}, "routes.x")]:
        with pytest.raises(RouteError, match=where):
            RouteTable.from_settings({"x": bad})


def test_settings_are_checked() -> None:
    s = RelaySettings.from_mapping({"retry_initial": 10, "retry_max": 35})
    assert [s.retry_delay(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]
    for bad in [{"retry_inital": 1}, {"max_age": 0}, {"concurrency": 0},
                {"starttls": "maybe"}, {"timeouts": {"dta": 1}}, {"bounce_ret": "ALL"}]:
        with pytest.raises(RelaySettingsError):
            RelaySettings.from_mapping(bad)
