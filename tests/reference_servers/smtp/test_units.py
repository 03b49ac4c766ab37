"""The small modules: reply table, state table, parser pieces, policy, aliases, trace."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers.auth import UserTable
from reference_servers.smtp import _replies as R
from reference_servers.smtp._events import Envelope, Recipient
from reference_servers.smtp._parser import CommandError, is_domain, parse_command
from reference_servers.smtp._state import TABLE, State, allowed, transition
from reference_servers.smtp._trace import protocol_name, received_header, return_path_header
from reference_servers.smtp.aliases import Aliases, AliasFileError, Directory, Kind
from reference_servers.smtp.policy import SmtpPolicy
from reference_servers.smtp.testing import Session

from .conftest import make_directory

RFC5321_CODES = {214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455, 500, 501, 502,
                 503, 504, 550, 551, 552, 553, 554, 555}


def test_reply_table_covers_rfc5321_codes_and_is_well_formed() -> None:
    codes = {t.code for t in R.TABLE.values()}
    assert codes >= RFC5321_CODES
    for name, template in R.TABLE.items():
        if template.status is not None:
            # RFC 3463 §2: class.subject.detail, class equal to the reply's first digit.
            assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", template.status), name
            assert template.status[0] == str(template.code)[0], name


def test_multiline_reply_bytes() -> None:
    reply = R.AMBIGUOUS("<a@x>", "<b@x>")
    assert reply.to_bytes() == (b"553-5.1.4 User ambiguous; possibilities are\r\n"
                                b"553-5.1.4 <a@x>\r\n553 5.1.4 <b@x>\r\n")


def test_state_table() -> None:
    assert transition(State.GREETED, "MAIL") is State.MAIL
    assert transition(State.RCPT, "RSET") is State.GREETED
    assert transition(State.INITIAL, "RSET") is State.INITIAL
    assert not allowed(State.INITIAL, "MAIL")
    assert not allowed(State.BDAT, "DATA")
    assert all((s, "CLOSE") in TABLE for s in State)
    with pytest.raises(KeyError):
        transition(State.CLOSED, "MAIL")


@pytest.mark.parametrize("domain", ["a.b", "x", "[127.0.0.1]", "[IPv6:2001:db8::1]",
                                    "[tag:stuff]", "a-b.c"])
def test_domains_ok(domain: str) -> None:
    assert is_domain(domain)


@pytest.mark.parametrize("domain", ["-a", "a-", "a..b", "[1.2.3]", "[IPv6:zz]", "", "a_b"])
def test_domains_bad(domain: str) -> None:
    assert not is_domain(domain)


def test_parser_never_raises_anything_else() -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=80), st.booleans(), st.booleans())
    def check(line: bytes, esmtp: bool, utf8: bool) -> None:
        try:
            parse_command(line, esmtp=esmtp, smtputf8=utf8, utf8_ok=utf8)
        except CommandError as exc:
            assert 500 <= exc.smtp_reply.code < 600
            assert exc.reply == exc.smtp_reply.to_bytes()

    check()


VERBS = [b"EHLO c.test", b"HELO c.test", b"MAIL FROM:<a@b.test>", b"RCPT TO:<alice@example.test>",
         b"DATA", b"BDAT 3", b"BDAT 0 LAST", b"RSET", b"NOOP", b"VRFY alice", b"EXPN team",
         b"HELP", b"STARTTLS", b"AUTH PLAIN AGFsaWNlAHNlY3JldA==", b"QUIT", b"xyz", b".",
         b"MAIL FROM:<> SIZE=1", b"RCPT TO:<x@remote.test>"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(VERBS).map(lambda v: v + b"\r\n"),
                          st.binary(max_size=20)), max_size=25))
def test_connection_fuzz_one_reply_per_line_and_bytewise_equal(chunks: list[bytes]) -> None:
    # The h11 invariant: whatever arrives, the core answers with replies from the table
    # and never raises; feeding byte by byte gives the same bytes as feeding at once.
    data = b"".join(chunks)
    whole = Session(SmtpPolicy(hostname="h"), make_directory(), tls=True)
    out = whole.feed(data)
    split = Session(SmtpPolicy(hostname="h"), make_directory(), tls=True)
    assert split.feed_bytewise(data) == out
    for line in out.split(b"\r\n")[:-1]:
        assert re.fullmatch(rb"[2345]\d\d[ -].*", line, re.S), line


def test_policy_from_settings() -> None:
    settings = {"max_message_size": 5000, "routes": {"x": 1},
                "submission": {"allow_plaintext_auth": True}}
    smtp = SmtpPolicy.for_listener("smtp", settings, hostname="h")
    sub = SmtpPolicy.for_listener("submission", settings)
    smtps = SmtpPolicy.for_listener("smtps", {})
    assert smtp.max_message_size == sub.max_message_size == 5000
    assert not smtp.require_auth and not smtp.strict_eol
    assert sub.require_auth and sub.strict_eol and sub.allow_plaintext_auth
    assert smtps.implicit_tls and not smtps.offer_starttls
    with pytest.raises(ValueError, match="unknown smtp setting"):
        SmtpPolicy.for_listener("smtp", {"max_mesage_size": 1})
    with pytest.raises(ValueError):
        SmtpPolicy.for_listener("smtp", {"max_recipients": 0})


def test_aliases_resolution() -> None:
    directory = make_directory()
    assert directory.resolve("team@example.test").kind is Kind.LIST
    everyone = directory.resolve("everyone@example.test")
    assert everyone.local_users == ("alice", "bob") and everyone.remote == ("dave@remote.test",)
    assert directory.resolve("x@other.test").kind is Kind.FOREIGN
    assert directory.resolve("olduser@example.test").target == "alice@new.test"
    assert directory.resolve("POSTMASTER@example.test").local_users == ("alice",)
    assert directory.resolve('"alice"@example.test').kind is Kind.USER
    assert directory.candidates("lo") == ["loop1", "loop2"]


@pytest.mark.parametrize("text", ["[1, 2]", "aliases: 3", "lists: {a: []}", "aliases: {a: [1]}",
                                  "aliases: ["])
def test_alias_file_errors(text: str) -> None:
    with pytest.raises(AliasFileError):
        Aliases.from_yaml(text)


def test_alias_file_load(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "aliases.yaml"
    path.write_text("lists:\n  staff: [bob]\n", encoding="utf-8")
    directory = Directory(UserTable.default(), Aliases.load(path))
    assert directory.resolve("staff@example.test").local_users == ("bob",)
    with pytest.raises(AliasFileError):
        Aliases.load(path.with_name("missing.yaml"))


def test_trace_headers() -> None:
    env = Envelope("a@b.test", (Recipient("alice@example.test", local_users=("alice",)),),
                   helo="c.test", esmtp=True, tls=True, authenticated="alice")
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    header = received_header(env, hostname="mx", peer_ip="127.0.0.1", queue_id="Q1", when=when,
                             for_address="alice@example.test")
    assert header == (b"Received: from c.test ([127.0.0.1])\r\n\tby mx\r\n\twith ESMTPSA\r\n"
                      b"\tid Q1\r\n\tfor <alice@example.test>;\r\n"
                      b"\tTue, 02 Jan 2024 03:04:05 +0000\r\n")
    assert return_path_header(Envelope("", ())) == b"Return-Path: <>\r\n"
    assert protocol_name(Envelope("", (), esmtp=False)) == "SMTP"
    assert protocol_name(Envelope("", (), smtputf8=True)) == "UTF8SMTP"
