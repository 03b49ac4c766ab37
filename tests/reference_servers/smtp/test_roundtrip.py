"""Round-trip table for the core: (session so far, one command) -> the exact reply start.

Every command and every error path of RFC 5321 §4.1 / §4.2 and the extensions, through
the sans-IO connection only. The prelude's replies are checked to be what the case
expects too, so a broken prelude cannot pass as a pass.
"""

from __future__ import annotations

import pytest

from .conftest import EHLO, MAIL, RCPT, make_session, replies

AUTH_PLAIN = b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"  # \0alice\0secret
GREETED = [EHLO]
IN_MAIL = [EHLO, MAIL]
IN_RCPT = [EHLO, MAIL, RCPT]

CASES: list[tuple[str, list[bytes], bytes, bytes, dict[str, object]]] = [
    # -- HELO / EHLO (RFC 5321 §4.1.1.1) --
    ("helo", [], b"HELO client.test\r\n", b"250 mx.example.test Hello client.test\r\n", {}),
    ("ehlo-literal", [], b"EHLO [127.0.0.1]\r\n", b"250-mx.example.test Hello [127.0.0.1]", {}),
    ("ehlo-ipv6", [], b"EHLO [IPv6:::1]\r\n", b"250-", {}),
    ("helo-no-arg", [], b"HELO\r\n", b"501 5.5.4 ", {}),
    ("ehlo-bad-domain", [], b"EHLO -bad-\r\n", b"501 5.5.4 ", {}),
    ("ehlo-two-args", [], b"EHLO a b\r\n", b"501 5.5.4 ", {}),
    ("ehlo-bad-literal", [], b"EHLO [999.1.1.1]\r\n", b"501 5.5.4 ", {}),
    # -- MAIL (RFC 5321 §4.1.1.2) --
    ("mail-before-ehlo", [], MAIL, b"503 5.5.1 ", {}),
    ("mail", GREETED, MAIL, b"250 2.1.0 Sender <sender@remote.test> OK\r\n", {}),
    ("mail-null", GREETED, b"MAIL FROM:<>\r\n", b"250 2.1.0 Sender <> OK\r\n", {}),
    ("mail-nested", IN_MAIL, MAIL, b"503 5.5.1 Bad sequence of commands: nested MAIL", {}),
    ("mail-no-brackets", GREETED, b"MAIL FROM:a@b.test\r\n", b"501 5.1.3 ", {}),
    ("mail-space-colon", GREETED, b"MAIL FROM: <a@b.test>\r\n", b"501 5.1.3 ", {}),
    ("mail-space-relaxed", GREETED, b"MAIL FROM: <a@b.test>\r\n", b"250 2.1.0 ",
     {"relaxed_paths": True}),
    ("mail-no-from", GREETED, b"MAIL <a@b.test>\r\n", b"501 5.5.4 ", {}),
    ("mail-bad-local", GREETED, b"MAIL FROM:<a..b@b.test>\r\n", b"501 5.1.3 ", {}),
    ("mail-quoted-local", GREETED, b'MAIL FROM:<"a b"@b.test>\r\n', b"250 2.1.0 ", {}),
    ("mail-source-route", GREETED, b"MAIL FROM:<@x.test,@y.test:a@b.test>\r\n",
     b"250 2.1.0 Sender <a@b.test> OK", {}),
    ("mail-local-too-long", GREETED, b"MAIL FROM:<" + b"a" * 65 + b"@b.test>\r\n",
     b"501 5.1.3 Path too long", {}),
    ("mail-size-ok", GREETED, b"MAIL FROM:<a@b.test> SIZE=1000\r\n", b"250 2.1.0 ", {}),
    ("mail-size-too-big", GREETED, b"MAIL FROM:<a@b.test> SIZE=999999999\r\n", b"552 5.3.4 ",
     {}),
    ("mail-size-bad", GREETED, b"MAIL FROM:<a@b.test> SIZE=ten\r\n", b"501 5.5.4 ", {}),
    ("mail-body-8bit", GREETED, b"MAIL FROM:<a@b.test> BODY=8BITMIME\r\n", b"250 2.1.0 ", {}),
    ("mail-body-binary", GREETED, b"MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n", b"504 5.5.4 ",
     {}),
    ("mail-body-bad", GREETED, b"MAIL FROM:<a@b.test> BODY=9BIT\r\n", b"501 5.5.4 ", {}),
    ("mail-unknown-param", GREETED, b"MAIL FROM:<a@b.test> FOO=1\r\n", b"555 5.5.4 ", {}),
    ("mail-dup-param", GREETED, b"MAIL FROM:<a@b.test> SIZE=1 SIZE=2\r\n", b"501 5.5.4 ", {}),
    ("mail-param-after-helo", [b"HELO c.test\r\n"], b"MAIL FROM:<a@b.test> SIZE=1\r\n",
     b"555 5.5.4 ", {}),
    ("mail-ret-envid", GREETED, b"MAIL FROM:<a@b.test> RET=HDRS ENVID=abc+2Bdef\r\n",
     b"250 2.1.0 ", {}),
    ("mail-ret-bad", GREETED, b"MAIL FROM:<a@b.test> RET=SOME\r\n", b"501 5.5.4 ", {}),
    ("mail-envid-bad-xtext", GREETED, b"MAIL FROM:<a@b.test> ENVID=a+zz\r\n", b"501 5.5.4 ",
     {}),
    ("mail-auth-param", GREETED, b"MAIL FROM:<a@b.test> AUTH=<>\r\n", b"250 2.1.0 ", {}),
    ("mail-utf8-without", GREETED, "MAIL FROM:<ü@b.test>\r\n".encode(), b"553 5.6.7 ", {}),
    ("mail-utf8", GREETED, "MAIL FROM:<ü@b.test> SMTPUTF8\r\n".encode(), b"250 2.1.0 ", {}),
    ("mail-utf8-value", GREETED, b"MAIL FROM:<a@b.test> SMTPUTF8=1\r\n", b"501 5.5.4 ", {}),
    ("mail-auth-required", GREETED, MAIL, b"530 5.7.0 ", {"require_auth": True}),
    # -- RCPT (RFC 5321 §4.1.1.3) --
    ("rcpt-before-mail", GREETED, RCPT, b"503 5.5.1 Bad sequence of commands: need MAIL", {}),
    ("rcpt", IN_MAIL, RCPT, b"250 2.1.5 Recipient <alice@example.test> OK\r\n", {}),
    ("rcpt-case-domain", IN_MAIL, b"RCPT TO:<alice@EXAMPLE.test>\r\n", b"250 2.1.5 ", {}),
    ("rcpt-unknown", IN_MAIL, b"RCPT TO:<zed@example.test>\r\n", b"550 5.1.1 ", {}),
    ("rcpt-case-local", IN_MAIL, b"RCPT TO:<Alice@example.test>\r\n", b"550 5.1.1 ", {}),
    ("rcpt-relay-denied", IN_MAIL, b"RCPT TO:<x@remote.test>\r\n", b"550 5.7.1 ", {}),
    ("rcpt-postmaster", IN_MAIL, b"RCPT TO:<Postmaster>\r\n", b"250 2.1.5 ", {}),
    ("rcpt-postmaster-domain", IN_MAIL, b"RCPT TO:<postmaster@example.test>\r\n",
     b"250 2.1.5 ", {}),
    ("rcpt-alias", IN_MAIL, b"RCPT TO:<info@example.test>\r\n", b"250 2.1.5 ", {}),
    ("rcpt-list", IN_MAIL, b"RCPT TO:<everyone@example.test>\r\n", b"451 4.4.0 ", {}),
    ("rcpt-forward", IN_MAIL, b"RCPT TO:<fwd@example.test>\r\n", b"451 4.4.0 ", {}),
    ("rcpt-moved", IN_MAIL, b"RCPT TO:<olduser@example.test>\r\n",
     b"551 5.1.6 User not local; please try <alice@new.test>", {}),
    ("rcpt-alias-loop", IN_MAIL, b"RCPT TO:<loop1@example.test>\r\n", b"550 5.1.1 ", {}),
    ("rcpt-null", IN_MAIL, b"RCPT TO:<>\r\n", b"501 5.1.3 ", {}),
    ("rcpt-notify", IN_MAIL, b"RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE\r\n",
     b"250 2.1.5 ", {}),
    ("rcpt-notify-never", IN_MAIL, b"RCPT TO:<alice@example.test> NOTIFY=NEVER\r\n",
     b"250 2.1.5 ", {}),
    ("rcpt-notify-never-mixed", IN_MAIL,
     b"RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS\r\n", b"501 5.5.4 ", {}),
    ("rcpt-notify-bad", IN_MAIL, b"RCPT TO:<alice@example.test> NOTIFY=SOMETIMES\r\n",
     b"501 5.5.4 ", {}),
    ("rcpt-orcpt", IN_MAIL, b"RCPT TO:<alice@example.test> ORCPT=rfc822;alice+40example.test\r\n",
     b"250 2.1.5 ", {}),
    ("rcpt-orcpt-bad", IN_MAIL, b"RCPT TO:<alice@example.test> ORCPT=rfc822\r\n",
     b"501 5.5.4 ", {}),
    ("rcpt-unknown-param", IN_MAIL, b"RCPT TO:<alice@example.test> X=1\r\n", b"555 5.5.4 ", {}),
    ("rcpt-limit", [EHLO, MAIL, RCPT], b"RCPT TO:<bob@example.test>\r\n", b"452 4.5.3 ",
     {"max_recipients": 1}),
    # -- DATA (RFC 5321 §4.1.1.4) --
    ("data-no-mail", GREETED, b"DATA\r\n", b"503 5.5.1 ", {}),
    ("data-no-rcpt", IN_MAIL, b"DATA\r\n", b"554 5.5.1 No valid recipients", {}),
    ("data-arg", IN_RCPT, b"DATA now\r\n", b"501 5.5.4 ", {}),
    ("data", IN_RCPT, b"DATA\r\n", b"354 ", {}),
    # -- RSET, NOOP, QUIT, HELP (RFC 5321 §4.1.1.5-10) --
    ("rset", IN_RCPT, b"RSET\r\n", b"250 2.0.0 Reset OK", {}),
    ("rset-arg", GREETED, b"RSET x\r\n", b"501 5.5.4 ", {}),
    ("noop", [], b"NOOP\r\n", b"250 2.0.0 OK", {}),
    ("noop-arg", [], b"NOOP whatever\r\n", b"250 2.0.0 OK", {}),
    ("quit", IN_RCPT, b"QUIT\r\n", b"221 2.0.0 mx.example.test ", {}),
    ("quit-arg", [], b"QUIT now\r\n", b"501 5.5.4 ", {}),
    ("help", [], b"HELP\r\n", b"214 2.0.0 Commands:", {}),
    ("help-topic", [], b"HELP mail\r\n", b"214 2.0.0 MAIL FROM:", {}),
    ("help-unknown", [], b"HELP xyzzy\r\n", b"504 5.5.4 ", {}),
    # -- VRFY / EXPN (RFC 5321 §3.5, §4.1.1.6-7) --
    ("vrfy-user", [], b"VRFY alice\r\n", b"250 2.1.5 alice <alice@example.test>", {}),
    ("vrfy-mailbox", [], b"VRFY <bob@example.test>\r\n", b"250 2.1.5 bob <bob@example.test>",
     {}),
    ("vrfy-unknown", [], b"VRFY zed\r\n", b"550 5.1.1 ", {}),
    ("vrfy-ambiguous", [], b"VRFY lo\r\n",
     b"553-5.1.4 User ambiguous; possibilities are\r\n553-5.1.4 <loop1@example.test>\r\n"
     b"553 5.1.4 <loop2@example.test>\r\n", {}),
    ("vrfy-list", [], b"VRFY team\r\n", b"252 2.1.5 ", {}),
    ("vrfy-disabled", [], b"VRFY alice\r\n", b"252 2.5.2 ", {"vrfy_enabled": False}),
    ("vrfy-no-arg", [], b"VRFY\r\n", b"501 5.5.4 ", {}),
    ("expn-list", [], b"EXPN team\r\n",
     b"250-2.1.5 <alice@example.test>\r\n250-2.1.5 <bob@example.test>\r\n"
     b"250 2.1.5 <dave@remote.test>\r\n", {}),
    ("expn-nested", [], b"EXPN everyone\r\n", b"250-2.1.5 <alice@example.test>\r\n", {}),
    ("expn-user", [], b"EXPN alice\r\n", b"550 5.1.1 alice is not a mailing list", {}),
    ("expn-unknown", [], b"EXPN zed\r\n", b"550 5.1.1 ", {}),
    ("expn-disabled", [], b"EXPN team\r\n", b"502 5.5.1 ", {"expn_enabled": False}),
    # -- unknown, obsolete, syntax --
    ("unknown", [], b"FROB\r\n", b"500 5.5.2 ", {}),
    ("garbage-verb", [], b"\x01\x02\r\n", b"500 5.5.2 ", {}),
    ("send", GREETED, b"SEND FROM:<a@b.test>\r\n", b"502 5.5.1 ", {}),
    ("soml", GREETED, b"SOML FROM:<a@b.test>\r\n", b"502 5.5.1 ", {}),
    ("saml", GREETED, b"SAML FROM:<a@b.test>\r\n", b"502 5.5.1 ", {}),
    ("turn", GREETED, b"TURN\r\n", b"502 5.5.1 ", {}),
    ("not-utf8", [], b"VRFY \xff\r\n", b"501 5.5.4 ", {}),
    ("lowercase-verb", [], b"noop\r\n", b"250 2.0.0 ", {}),
    # -- limits (RFC 5321 §4.5.3.1.4) --
    ("line-512", [], b"NOOP " + b"x" * 505 + b"\r\n", b"250 2.0.0 ", {}),
    ("line-513", [], b"NOOP " + b"x" * 506 + b"\r\n", b"500 5.5.2 Line too long", {}),
    ("line-huge", [], b"NOOP " + b"x" * 5000 + b"\r\n", b"500 5.5.2 Line too long", {}),
    ("bare-lf-strict", [], b"NOOP\n", b"500 5.5.2 Bare CR or LF", {"strict_eol": True}),
    ("bare-lf-lenient", [], b"NOOP\n", b"250 2.0.0 ", {}),
    ("bare-cr-command", [], b"NO\rOP\r\n", b"500 5.5.2 Bare CR or LF", {}),
    # -- STARTTLS (RFC 3207) and AUTH (RFC 4954) --
    ("starttls-before-ehlo", [], b"STARTTLS\r\n", b"503 5.5.1 ", {}),
    ("starttls", GREETED, b"STARTTLS\r\n", b"220 2.0.0 Ready to start TLS", {}),
    ("starttls-in-mail", IN_MAIL, b"STARTTLS\r\n", b"503 5.5.1 ", {}),
    ("starttls-helo", [b"HELO c.test\r\n"], b"STARTTLS\r\n", b"503 5.5.1 ", {}),
    ("starttls-disabled", GREETED, b"STARTTLS\r\n", b"502 5.5.1 ", {"offer_starttls": False}),
    ("auth-before-tls", GREETED, AUTH_PLAIN, b"538 5.7.11 ", {}),
    ("auth-plaintext-allowed", GREETED, AUTH_PLAIN, b"235 2.7.0 ",
     {"allow_plaintext_auth": True}),
    ("auth-bad-password", GREETED, b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n", b"535 5.7.8 ",
     {"allow_plaintext_auth": True}),
    ("auth-bad-base64", GREETED, b"AUTH PLAIN !!!\r\n", b"501 5.5.2 ",
     {"allow_plaintext_auth": True}),
    ("auth-malformed", GREETED, b"AUTH PLAIN YWxpY2U=\r\n", b"501 5.5.2 ",
     {"allow_plaintext_auth": True}),
    ("auth-unknown-mech", GREETED, b"AUTH GSSAPI\r\n", b"504 5.5.4 ",
     {"allow_plaintext_auth": True}),
    ("auth-no-arg", GREETED, b"AUTH\r\n", b"501 5.5.4 ", {"allow_plaintext_auth": True}),
    ("auth-login-challenge", GREETED, b"AUTH LOGIN\r\n", b"334 VXNlcm5hbWU6\r\n",
     {"allow_plaintext_auth": True}),
    ("auth-plain-empty-challenge", GREETED, b"AUTH PLAIN\r\n", b"334 \r\n",
     {"allow_plaintext_auth": True}),
    ("auth-twice", [EHLO, AUTH_PLAIN], AUTH_PLAIN, b"503 5.5.1 ", {"allow_plaintext_auth": True}),
    ("auth-in-mail", IN_MAIL, AUTH_PLAIN, b"503 5.5.1 ", {"allow_plaintext_auth": True}),
    ("auth-before-ehlo", [], AUTH_PLAIN, b"503 5.5.1 ", {"allow_plaintext_auth": True}),
    ("auth-after-helo", [b"HELO c.test\r\n"], AUTH_PLAIN, b"503 5.5.1 ",
     {"allow_plaintext_auth": True}),
    ("mail-after-auth", [EHLO, AUTH_PLAIN], MAIL, b"250 2.1.0 ",
     {"allow_plaintext_auth": True, "require_auth": True}),
    ("relay-after-auth", [EHLO, AUTH_PLAIN, MAIL], b"RCPT TO:<x@remote.test>\r\n",
     b"550 5.7.1 ", {"allow_plaintext_auth": True}),  # no relay queue in this session
    # -- BDAT (RFC 3030) --
    ("bdat-no-mail", GREETED, b"BDAT 3\r\nabc", b"503 5.5.1 ", {}),
    ("bdat-no-rcpt", IN_MAIL, b"BDAT 3\r\nabc", b"554 5.5.1 ", {}),
    ("bdat-chunk", IN_RCPT, b"BDAT 3\r\nabc", b"250 2.0.0 3 octets received", {}),
    ("bdat-last", IN_RCPT, b"BDAT 4 LAST\r\nab\r\n", b"250 2.0.0 OK: message queued as Q1", {}),
    ("bdat-bad", IN_RCPT, b"BDAT x\r\n", b"501 5.5.4 ", {}),
    ("bdat-bad-last", IN_RCPT, b"BDAT 2 FIRST\r\nab", b"501 5.5.4 ", {}),
    ("bdat-too-big", IN_RCPT, b"BDAT 200 LAST\r\n" + b"x" * 200, b"552 5.3.4 ",
     {"max_message_size": 100}),
    ("bdat-after-helo", [b"HELO c.test\r\n", MAIL, RCPT], b"BDAT 1 LAST\r\nx", b"503 5.5.1 ",
     {}),
]


@pytest.mark.parametrize(("prelude", "command", "expected", "policy"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_roundtrip(prelude: list[bytes], command: bytes, expected: bytes,
                   policy: dict[str, object]) -> None:
    session = make_session(**policy)
    for line in prelude:
        got = replies(session.feed(line))
        assert got and got[-1][:1] in (b"2", b"3"), (line, got)
    out = session.feed(command)
    assert replies(out), f"no reply to {command!r}"
    assert out.startswith(expected), out
    # Exactly one reply per command line (RFC 5321 §4.2, RFC 2920 §3.1).
    assert len(replies(out)) == 1, out


def test_every_case_name_unique() -> None:
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))
