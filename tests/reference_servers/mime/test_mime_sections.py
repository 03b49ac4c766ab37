"""BODY[section] (RFC 3501 §6.4.5) and BINARY[section] (RFC 3516) on hand-made messages."""

from __future__ import annotations

import pytest

from reference_servers.mime import UnknownCTE, binary_section, parse, section
from reference_servers.mime.sections import parse_spec


def msg(*lines: str) -> bytes:
    return "\r\n".join(lines).encode("utf-8")


INNER = msg(
    "From: in@example.org",
    "Subject: inner",
    "Content-Type: multipart/alternative; boundary=ib",
    "",
    "--ib",
    "Content-Type: text/plain",
    "",
    "inner plain",
    "--ib",
    "Content-Type: text/html",
    "",
    "<i>inner</i>",
    "--ib--",
)
HEAD = msg(
    "From: a@example.com",
    "To: b@example.com",
    "Subject: sections",
    "  folded",
    "Content-Type: multipart/mixed; boundary=ob",
    "",
    "",
)
PART1_MIME = msg(
    "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "", ""
)
PART2_MIME = msg("Content-Type: message/rfc822", "", "")
PART3_MIME = msg(
    "Content-Type: application/x-thing", "Content-Transfer-Encoding: x-uuencode", "", ""
)
BODY = (
    b"preamble\r\n--ob\r\n"
    + PART1_MIME
    + b"aMOpbGxv\r\n"
    + b"\r\n--ob\r\n"
    + PART2_MIME
    + INNER
    + b"\r\n--ob\r\n"
    + PART3_MIME
    + b"begin 644 x"
    + b"\r\n--ob--\r\nepilogue\r\n"
)
MESSAGE = HEAD + BODY


@pytest.fixture(scope="module")
def tree():  # type: ignore[no-untyped-def]
    return parse(MESSAGE)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", MESSAGE),
        ("HEADER", HEAD),
        ("TEXT", BODY),
        ("1", b"aMOpbGxv\r\n"),
        ("1.MIME", PART1_MIME),
        ("2", INNER),
        ("2.MIME", PART2_MIME),
        ("2.HEADER", INNER[: INNER.index(b"\r\n\r\n") + 4]),
        ("2.TEXT", INNER[INNER.index(b"\r\n\r\n") + 4 :]),
        ("2.1", b"inner plain"),
        ("2.1.MIME", b"Content-Type: text/plain\r\n\r\n"),
        ("2.2", b"<i>inner</i>"),
        ("3", b"begin 644 x"),
        ("header.fields (from TO)", b"From: a@example.com\r\nTo: b@example.com\r\n\r\n"),
        ("HEADER.FIELDS (SUBJECT)", b"Subject: sections\r\n  folded\r\n\r\n"),
        ("HEADER.FIELDS (X-NONE)", b"\r\n"),
        ("HEADER.FIELDS.NOT (To Subject Content-Type)", b"From: a@example.com\r\n\r\n"),
        ("2.HEADER.FIELDS (SUBJECT)", b"Subject: inner\r\n\r\n"),
    ],
)
def test_sections(tree, spec: str, expected: bytes) -> None:  # type: ignore[no-untyped-def]
    assert section(tree, spec) == expected


@pytest.mark.parametrize(
    "spec", ["4", "0", "1.1", "1.HEADER", "MIME", "2.3", "2.1.1", "HEADER.FIELDS", "FOO", "1."]
)
def test_missing_or_invalid_sections(tree, spec: str) -> None:  # type: ignore[no-untyped-def]
    assert section(tree, spec) is None


def test_single_part_message_has_part_one() -> None:
    data = msg("Subject: s", "", "body", "")
    tree = parse(data)
    assert section(tree, "1") == b"body\r\n"
    assert section(tree, "1.MIME") == b"Subject: s\r\n\r\n"
    assert section(tree, "2") is None
    assert section(tree, "1.1") is None


def test_binary_sections(tree) -> None:  # type: ignore[no-untyped-def]
    assert binary_section(tree, "1") == "héllo".encode()
    assert binary_section(tree, "2.1") == b"inner plain"
    assert binary_section(tree, "2") == INNER  # message/rfc822: identity only
    assert binary_section(tree, "") == MESSAGE
    assert binary_section(tree, "9") is None
    assert binary_section(tree, "1.MIME") is None  # section-binary is numbers only
    with pytest.raises(UnknownCTE) as info:
        binary_section(tree, "3")
    assert info.value.cte == "x-uuencode"


def test_binary_quoted_printable() -> None:
    data = msg("Content-Transfer-Encoding: quoted-printable", "", "caf=C3=A9 =", "au lait")
    assert binary_section(parse(data), "1") == "café au lait".encode()


def test_parse_spec_shapes() -> None:
    assert parse_spec("1.2.HEADER.FIELDS.NOT (A B)") == ([1, 2], "HEADER.FIELDS.NOT", ["a", "b"])
    assert parse_spec("TEXT") == ([], "TEXT", [])
    assert parse_spec("1.2.3") == ([1, 2, 3], "", [])
    assert parse_spec("1TEXT") is None
