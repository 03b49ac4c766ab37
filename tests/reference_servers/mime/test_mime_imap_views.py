"""BODYSTRUCTURE, BODY and ENVELOPE expectations written by hand from RFC 3501 §7.4.2 and
RFC 9051 §7.5.2 (sizes and line counts worked out from the message text)."""

from __future__ import annotations

import pytest

from reference_servers.mime import bodystructure, envelope, parse


def msg(*lines: str) -> bytes:
    return "\r\n".join(lines).encode("utf-8")


def bs(data: bytes, extensible: bool = True) -> str:
    return bodystructure(parse(data), extensible).to_imap().decode("utf-8")


def env(data: bytes) -> str:
    return envelope(parse(data)).to_imap().decode("utf-8")


US = '("CHARSET" "US-ASCII")'
FROM_A = '((NIL NIL "a" "example.com"))'

SIMPLE = msg("From: a@example.com", "Subject: hi", "", "Hello", "")


def test_missing_content_type_defaults_to_text_plain_us_ascii() -> None:
    # RFC 2045 §5.2; body "Hello\r\n" = 7 octets, 1 line.
    assert bs(SIMPLE) == f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 7 1 NIL NIL NIL NIL)'
    assert bs(SIMPLE, False) == f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 7 1)'


def test_simple_envelope_sender_and_reply_to_default_to_from() -> None:
    assert env(SIMPLE) == f'(NIL "hi" {FROM_A} {FROM_A} {FROM_A} NIL NIL NIL NIL NIL)'


def test_text_html_quoted_printable_with_id_and_description() -> None:
    data = msg(
        'Content-Type: text/html; charset="iso-8859-1"',
        "Content-Transfer-Encoding: quoted-printable",
        "Content-ID: <c1@x>",
        "Content-Description: A page",
        "",
        "<p>caf=E9</p>",
        "",
    )
    assert bs(data) == (
        '("TEXT" "HTML" ("CHARSET" "iso-8859-1") "<c1@x>" "A page" "QUOTED-PRINTABLE" 15 1'
        " NIL NIL NIL NIL)"
    )


MIXED = msg(
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "one",
    "--b1",
    "",
    "two",
    "two",
    "--b1--",
    "",
)


def test_multipart_mixed_two_parts() -> None:
    # The CRLF before each delimiter belongs to it (RFC 2046 §5.1.1): "one" is 3 octets,
    # "two\r\ntwo" 8 octets in 2 lines; part 2 has no header, so the defaults apply.
    assert bs(MIXED) == (
        '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 1 NIL NIL NIL NIL)'
        f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 8 2 NIL NIL NIL NIL)'
        ' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)'
    )
    assert bs(MIXED, False) == (
        '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 3 1)'
        f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 8 2) "MIXED")'
    )


NESTED = msg(
    "Content-Type: multipart/mixed; boundary=outer",
    "",
    "--outer",
    "Content-Type: multipart/alternative; boundary=inner",
    "",
    "--inner",
    "Content-Type: text/plain",
    "",
    "plain",
    "--inner",
    "Content-Type: text/html",
    "",
    "<b>x</b>",
    "--inner--",
    "",
    "--outer",
    "Content-Type: application/octet-stream; name=a.bin",
    "Content-Transfer-Encoding: base64",
    "Content-Disposition: attachment; filename=a.bin",
    "",
    "AAEC",
    "--outer--",
    "",
)


def test_nested_multiparts_with_attachment() -> None:
    assert bs(NESTED) == (
        f'((("TEXT" "PLAIN" {US} NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)'
        f'("TEXT" "HTML" {US} NIL NIL "7BIT" 8 1 NIL NIL NIL NIL)'
        ' "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL)'
        '("APPLICATION" "OCTET-STREAM" ("NAME" "a.bin") NIL NIL "BASE64" 4 NIL'
        ' ("ATTACHMENT" ("FILENAME" "a.bin")) NIL NIL)'
        ' "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)'
    )


INNER = msg(
    "From: Inner <inner@example.org>",
    "To: you@example.net",
    "Subject: orig",
    "Date: Sun, 31 Dec 2023 09:00:00 -0500",
    "Message-ID: <orig@example.org>",
    "",
    "inner body",
    "line 2",
)
FORWARD = (
    msg(
        "From: Outer <outer@example.com>",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
        "Subject: fwd",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="xx"',
        "",
        "--xx",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "see below",
        "--xx",
        "Content-Type: message/rfc822",
        "Content-Description: forwarded",
        "",
    )
    + b"\r\n"
    + INNER
    + msg("", "--xx--", "")
)
INNER_ENV = (
    '("Sun, 31 Dec 2023 09:00:00 -0500" "orig" (("Inner" NIL "inner" "example.org"))'
    ' (("Inner" NIL "inner" "example.org")) (("Inner" NIL "inner" "example.org"))'
    ' ((NIL NIL "you" "example.net")) NIL NIL NIL "<orig@example.org>")'
)


def test_message_rfc822_inside_multipart() -> None:
    # body-type-msg: fields, envelope, body, then body-fld-lines of the whole inner
    # message: 5 fields + blank line + 2 body lines = 8 lines.
    assert bs(FORWARD) == (
        '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 9 1 NIL NIL NIL NIL)'
        f'("MESSAGE" "RFC822" NIL NIL "forwarded" "7BIT" {len(INNER)} {INNER_ENV}'
        f' ("TEXT" "PLAIN" {US} NIL NIL "7BIT" 18 2 NIL NIL NIL NIL) 8 NIL NIL NIL NIL)'
        ' "MIXED" ("BOUNDARY" "xx") NIL NIL NIL)'
    )


def test_envelope_of_outer_message_ignores_inner() -> None:
    outer = '((("Outer" NIL "outer" "example.com")))'[1:-1]
    assert env(FORWARD) == (
        f'("Mon, 1 Jan 2024 10:00:00 +0000" "fwd" {outer} {outer} {outer} NIL NIL NIL NIL NIL)'
    )


def test_top_level_message_rfc822_body_form() -> None:
    data = msg("Content-Type: message/rfc822", "", "Subject: inner", "", "hi", "")
    # Inner message "Subject: inner\r\n\r\nhi\r\n" is 22 octets in 3 lines.
    assert bs(data, False) == (
        '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 22 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL)'
        f' ("TEXT" "PLAIN" {US} NIL NIL "7BIT" 4 1) 3)'
    )


ENCODED = msg(
    "From: =?utf-8?Q?J=C3=B6rg?= <joerg@example.de>",
    'To: "Doe, John" <john@example.com>, jane@example.com',
    "Cc: Team: a@x.org, b@x.org;",
    "Subject: =?iso-8859-1?q?caf=E9?= time",
    "Date: Tue, 2 Jan 2024 08:00:00 +0100",
    "In-Reply-To: <prev@example.com>",
    "Message-ID: <this@example.de>",
    "Reply-To: replies@example.de",
    "",
    "Body",
)


def test_envelope_keeps_encoded_words_and_expands_groups() -> None:
    joerg = '(("=?utf-8?Q?J=C3=B6rg?=" NIL "joerg" "example.de"))'
    assert env(ENCODED) == (
        f'("Tue, 2 Jan 2024 08:00:00 +0100" "=?iso-8859-1?q?caf=E9?= time" {joerg} {joerg}'
        ' ((NIL NIL "replies" "example.de"))'
        ' (("Doe, John" NIL "john" "example.com")(NIL NIL "jane" "example.com"))'
        ' ((NIL NIL "Team" NIL)(NIL NIL "a" "x.org")(NIL NIL "b" "x.org")(NIL NIL NIL NIL))'
        ' NIL "<prev@example.com>" "<this@example.de>")'
    )


def test_envelope_typed_values() -> None:
    e = envelope(parse(ENCODED))
    assert e.from_ is not None and e.from_[0].mailbox == b"joerg"
    assert e.cc is not None and e.cc[0].host is None  # group start (RFC 3501 §7.4.2)
    assert e.bcc is None


def test_rfc2231_charset_and_continuations() -> None:
    data = msg(
        "Content-Type: application/pdf; name*0*=utf-8''r%C3%A9sum; name*1*=%C3%A9.pdf",
        "Content-Disposition: attachment; filename*=utf-8'fr'r%C3%A9sum%C3%A9.pdf",
        "Content-Transfer-Encoding: base64",
        "",
        "QUJD",
        "",
    )
    assert bs(data) == (
        '("APPLICATION" "PDF" ("NAME*" "utf-8\'\'r%C3%A9sum%C3%A9.pdf") NIL NIL "BASE64" 6 NIL'
        ' ("ATTACHMENT" ("FILENAME*" "utf-8\'fr\'r%C3%A9sum%C3%A9.pdf")) NIL NIL)'
    )
    assert parse(data).filename == "résumé.pdf"


def test_rfc2231_continuations_without_charset() -> None:
    data = msg(
        'Content-Type: text/plain; name*0="long "; name*1="name.txt"; charset=us-ascii', "", "x"
    )
    assert bs(data, False) == (
        '("TEXT" "PLAIN" ("NAME" "long name.txt" "CHARSET" "us-ascii") NIL NIL "7BIT" 1 1)'
    )


def test_empty_parts() -> None:
    data = msg(
        "Content-Type: multipart/mixed; boundary=e",
        "",
        "--e",
        "",
        "--e",
        "Content-Type: text/plain",
        "",
        "--e--",
        "",
    )
    empty = f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)'
    assert bs(data) == f'({empty}{empty} "MIXED" ("BOUNDARY" "e") NIL NIL NIL)'


def test_empty_message() -> None:
    assert bs(b"") == f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)'
    assert env(b"") == "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"


def test_multipart_without_boundary_gets_one_empty_part() -> None:
    # The grammar needs 1*body (RFC 3501 §9 body-type-mpart).
    data = msg("Content-Type: multipart/mixed", "", "stuff", "")
    assert bs(data) == f'(("TEXT" "PLAIN" {US} NIL NIL "7BIT" 0 0) "MIXED" NIL NIL NIL NIL)'


def test_digest_parts_default_to_message_rfc822() -> None:
    # RFC 2046 §5.1.5: in multipart/digest the default type is message/rfc822.
    data = msg(
        "Content-Type: multipart/digest; boundary=d",
        "",
        "--d",
        "",
        "Subject: one",
        "",
        "1",
        "--d",
        "Content-Type: text/plain",
        "",
        "not a message",
        "--d--",
        "",
    )
    assert bs(data) == (
        '(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 17 (NIL "one" NIL NIL NIL NIL NIL NIL NIL NIL)'
        f' ("TEXT" "PLAIN" {US} NIL NIL "7BIT" 1 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)'
        f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 13 1 NIL NIL NIL NIL)'
        ' "DIGEST" ("BOUNDARY" "d") NIL NIL NIL)'
    )


def test_md5_disposition_languages_location() -> None:
    data = msg(
        "Content-Type: text/plain; charset=utf-8",
        "Content-Language: en, de",
        "Content-Location: http://example.com/a.txt",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
        "Content-Disposition: inline",
        "",
        "x",
        "",
    )
    assert bs(data) == (
        '("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 3 1 "Q2hlY2sgSW50ZWdyaXR5IQ=="'
        ' ("INLINE" NIL) ("en" "de") "http://example.com/a.txt")'
    )


def test_multipart_extension_data() -> None:
    data = msg(
        'Content-Type: multipart/related; type="text/html"; boundary=r',
        "Content-Language: fr",
        "",
        "--r",
        "Content-Type: text/html; charset=utf-8",
        "",
        "<p/>",
        "--r--",
    )
    assert bs(data) == (
        '(("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 4 1 NIL NIL NIL NIL)'
        ' "RELATED" ("TYPE" "text/html" "BOUNDARY" "r") NIL "fr" NIL)'
    )


def test_quoted_display_name_is_unescaped_then_requoted() -> None:
    data = msg('From: "Joe \\"Q\\" Public" <joe@example.com>', "", "")
    assert env(data).startswith('(NIL NIL (("Joe \\"Q\\" Public" NIL "joe" "example.com"))')


def test_eight_bit_subject_is_sent_as_literal() -> None:
    # QUOTED-CHAR is 7-bit (RFC 3501 §9): UTF-8 (RFC 6532) needs a literal.
    data = msg("Subject: Grüße", "", "")
    assert env(data) == "(NIL {7}\r\nGrüße NIL NIL NIL NIL NIL NIL NIL NIL)"


def test_source_route_goes_to_adl() -> None:
    data = msg("To: <@relay.example:user@example.com>", "", "")
    assert '((NIL "@relay.example" "user" "example.com"))' in env(data)


def test_address_without_domain() -> None:
    data = msg("To: localonly", "", "")
    assert '((NIL NIL "localonly" "MISSING_DOMAIN"))' in env(data)


def test_basic_image_has_no_line_count() -> None:
    data = msg("Content-Type: image/gif", "Content-Transfer-Encoding: Base64", "", "R0lG", "")
    assert bs(data, False) == '("IMAGE" "GIF" NIL NIL NIL "BASE64" 6)'


def test_lf_only_line_counting() -> None:
    assert bs(b"Subject: x\n\nline1\nline2\n", False) == (
        f'("TEXT" "PLAIN" {US} NIL NIL "7BIT" 12 2)'
    )


def test_rfc822_with_multipart_inner_body_form() -> None:
    inner = msg(
        "Subject: in",
        "Content-Type: multipart/alternative; boundary=z",
        "",
        "--z",
        "Content-Type: text/plain",
        "",
        "a",
        "--z--",
    )
    data = msg("Content-Type: message/rfc822", "", "") + inner
    assert bs(data, False) == (
        f'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" {len(inner)}'
        ' (NIL "in" NIL NIL NIL NIL NIL NIL NIL NIL)'
        f' (("TEXT" "PLAIN" {US} NIL NIL "7BIT" 1 1) "ALTERNATIVE") 8)'
    )


def test_sender_kept_and_empty_reply_to_falls_back() -> None:
    data = msg("From: a@example.com", "Sender: s@example.com", "Reply-To:", "", "")
    assert env(data) == (
        f'(NIL NIL {FROM_A} ((NIL NIL "s" "example.com")) {FROM_A} NIL NIL NIL NIL NIL)'
    )


@pytest.mark.parametrize("value", ["a\\b", 'say "hi"'])
def test_quoted_string_escapes(value: str) -> None:
    data = msg(f"Subject: {value}", "", "")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    assert env(data) == f'(NIL "{escaped}" NIL NIL NIL NIL NIL NIL NIL NIL)'
