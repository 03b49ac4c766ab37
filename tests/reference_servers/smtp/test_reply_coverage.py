"""Settings that let the reference produce the rarer replies of RFC 5321 §4.2 where the RFC
says they are right: 554 refusing the session (§3.1), 211 system status (§4.2.2), 450 and
451 for a recipient (§4.2.3), 455 for a parameter it cannot accommodate (§4.1.1.11), and
251/551/252 through aliases and a disabled VRFY (§3.4, §3.5.3)."""

from __future__ import annotations

import pytest

from reference_servers.smtp import State
from reference_servers.smtp.policy import SmtpPolicy
from reference_servers.smtp.testing import reply_codes

from .conftest import EHLO, MAIL, RCPT, make_session


def test_refuse_service_greets_554_and_answers_503_until_quit() -> None:
    session = make_session(refuse_service=True)
    assert session.greeting.startswith(b"554 mx.example.test No SMTP service here")
    script = (EHLO + b"HELO x\r\n" + MAIL + b"NOOP\r\nXYZZY\r\n" + b"\r\n") * 5
    out = session.feed(script)
    # §3.1: 503 to everything but QUIT, and the session is never closed by the server
    # (not even after more commands than max_errors allows).
    assert reply_codes(out) == [503] * 30
    assert not session.closed and session.conn.errors == 0
    assert session.codes(b"QUIT\r\n") == [221]
    assert session.closed and session.conn.state is State.CLOSED


def test_default_greeting_is_still_220() -> None:
    assert make_session().greeting.startswith(b"220 ")


def test_help_status_answers_211_without_a_topic() -> None:
    session = make_session(help_status=True)
    assert session.codes(EHLO + b"HELP\r\nHELP MAIL\r\nHELP nothing\r\n")[1:] == [211, 214, 504]
    assert make_session().codes(EHLO + b"HELP\r\n")[1:] == [214]


def test_unavailable_and_failing_mailboxes_get_450_and_451() -> None:
    session = make_session(unavailable_mailboxes=["Busy"], failing_mailboxes=["broken"])
    codes = session.codes(EHLO + MAIL + b"RCPT TO:<busy@example.test>\r\n"
                          b"RCPT TO:<BROKEN@example.test>\r\n"
                          b"RCPT TO:<busy@remote.test>\r\n" + RCPT)
    # A foreign domain is not one of our mailboxes: no relay, so 550 as always.
    assert codes[2:] == [450, 451, 550, 250]
    assert session.conn.errors == 1  # the 4yz are the server's state, not client errors
    out = session.feed(b"RCPT TO:<busy@example.test>\r\n")
    assert b"4.2.1" in out and b"<busy@example.test>" in out


def test_deferred_parameters_get_455() -> None:
    session = make_session(deferred_parameters=["notify", "ENVID"])
    codes = session.codes(EHLO + b"MAIL FROM:<s@remote.test> ENVID=x1\r\n" + MAIL
                          + b"RCPT TO:<alice@example.test> NOTIFY=SUCCESS\r\n" + RCPT
                          + b"RCPT TO:<bob@example.test> ORCPT=rfc822;bob@example.test\r\n")
    assert codes[1:] == [455, 250, 455, 250, 250]
    assert b"455 4.5.4 Server unable to accommodate parameters: NOTIFY" in session.feed(
        b"RCPT TO:<alice@example.test> NOTIFY=NEVER\r\n")


def test_list_settings_must_be_lists_of_strings() -> None:
    with pytest.raises(ValueError, match="unavailable_mailboxes"):
        SmtpPolicy(unavailable_mailboxes="busy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deferred_parameters"):
        SmtpPolicy.for_listener("smtp", {"deferred_parameters": [1]})
    policy = SmtpPolicy.for_listener("smtp", {"failing_mailboxes": ["X"]})
    assert policy.failing_mailboxes == ("x",)
    hash(policy)


def test_aliases_give_251_551_and_disabled_vrfy_252() -> None:
    session = make_session(relay=True, vrfy_enabled=False)
    codes = session.codes(EHLO + MAIL + b"RCPT TO:<fwd@example.test>\r\n"
                          b"RCPT TO:<olduser@example.test>\r\nVRFY alice\r\n")
    assert codes[2:] == [251, 551, 252]
