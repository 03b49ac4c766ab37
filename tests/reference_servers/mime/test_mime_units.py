"""Units: header blocks, encoded words, parameters, addresses, transfer encodings."""

from __future__ import annotations

import pytest

from reference_servers.mime import UnknownCTE, decode_body, parse
from reference_servers.mime.addresses import Group, parse_address_list
from reference_servers.mime.decode import base64_problems, decode_base64, decode_qp, qp_problems
from reference_servers.mime.encoded_words import decode_words, encode_words
from reference_servers.mime.params import parse_content_type, parse_disposition


def test_header_block_offsets_and_unfolding() -> None:
    data = b"From: a\r\nSubject: one\r\n two\r\n\tthree\r\n\r\nbody"
    tree = parse(data)
    subject = tree.header("SUBJECT")
    assert subject is not None
    assert subject.value == b"one two\tthree"
    assert data[subject.offset :].startswith(b"Subject")
    assert subject.raw == b"Subject: one\r\n two\r\n\tthree\r\n"
    assert tree.header_bytes == data[:-4] and tree.body == b"body"


def test_header_without_blank_line_and_garbage_line() -> None:
    tree = parse(b"A: 1\r\nnot a header\r\nmore\r\n")
    assert [h.name for h in tree.headers] == ["A"]
    assert tree.body == b"not a header\r\nmore\r\n"
    assert tree.defects[0].rule == "header-syntax"
    assert parse(b"A: 1\r\nB: 2").body == b""


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("=?utf-8?q?caf=C3=A9?=", "café"),
        ("=?ISO-8859-1?B?Y2Fm6Q==?=", "café"),
        ("a =?utf-8?q?x?= =?utf-8?q?y?= b", "a xy b"),  # RFC 2047 §6.2: adjacent words join
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?utf-8*en?q?hi?=", "hi"),  # RFC 2231 §5 language
        ("=?utf-8?b?4pq=?= =?utf-8?b?oQ==?=", "\u26a1"),  # a character split across words
    ],
)
def test_encoded_words(raw: str, text: str) -> None:
    assert decode_words(raw) == (text, [])


def test_encoded_word_problems() -> None:
    assert decode_words("=?nope?q?x?=")[1] == ["unknown charset 'nope' in encoded word"]
    assert decode_words("=?utf-8?b?x?=")[0] == "=?utf-8?b?x?="
    assert decode_words("=?utf-8?q?" + "a" * 70 + "?=")[1]


def test_encode_words_round_trip_and_length() -> None:
    text = "Ünïcødé " * 20
    words = encode_words(text)
    assert all(len(w) <= 75 for w in words.split(" "))
    assert decode_words(words)[0] == text
    assert decode_words(encode_words(text, encoding="Q"))[0] == text


def test_content_type_parsing() -> None:
    ct, problems = parse_content_type('Text/HTML (comment); Charset="utf-8" ; x=y;')
    assert ct is not None and ct.mimetype == "text/html" and problems == []
    assert ct.param("charset") == "utf-8" and ct.param("x") == "y"
    assert parse_content_type("text")[0] is None
    ct, problems = parse_content_type("text/plain; name=a b")
    assert ct is not None and ct.param("name") == "a b" and problems


def test_rfc2231_sections_out_of_order_and_language() -> None:
    ct, problems = parse_content_type(
        "application/x; title*1*=%2A%2Afun; title*0*=us-ascii'en'This%20is%20; title*2=\" ok\""
    )
    assert ct is not None and problems == []
    p = ct.params[0]
    assert (p.value, p.charset, p.language) == ("This is **fun ok", "us-ascii", "en")


def test_disposition() -> None:
    dsp, problems = parse_disposition('Attachment; filename="a \\"b\\".txt"; size=10')
    assert dsp is not None and problems == []
    assert dsp[0] == "attachment" and dsp[1][0].value == 'a "b".txt'


def test_addresses() -> None:
    parsed = parse_address_list('"Joe Q. Public" <john.q.public@example.com>, Mary <m@x.test>')
    assert [m.addr_spec for m in parsed.items] == [  # type: ignore[union-attr]
        "john.q.public@example.com",
        "m@x.test",
    ]
    parsed = parse_address_list("A Group:Ed Jones <c@a.test>,joe@where.test;")
    group = parsed.items[0]
    assert isinstance(group, Group) and len(group.members) == 2
    assert parse_address_list('"quoted local"@example.com').items[0].local == (  # type: ignore[union-attr]
        '"quoted local"'
    )
    assert parse_address_list("a@b, , c@d").obsolete
    assert parse_address_list("<unterminated@x").problems


def test_base64_and_qp() -> None:
    assert decode_base64(b"aGVs\r\nbG8=\r\n") == b"hello"
    assert decode_base64(b"aGVsbG8") == b"hello"  # missing padding tolerated
    assert decode_base64(b"a*GVsbG8=") == b"hello"  # junk ignored (RFC 2045 §6.8)
    assert decode_qp(b"a=3D=\r\nb  \r\nc") == b"a=b\r\nc"  # trailing space deleted
    assert base64_problems(b"aGVsbG8=\r\n") == []
    assert base64_problems(b"aGV*bG8=")[0][1].startswith("characters")
    assert qp_problems(b"ok=20\r\n") == []
    assert qp_problems(b"x" * 77)[0][1].startswith("line longer")
    assert decode_body(b"abc", "8BIT") == b"abc"
    with pytest.raises(UnknownCTE):
        decode_body(b"abc", "x-uue")


def test_malformed_word_detection() -> None:
    from reference_servers.mime.encoded_words import has_malformed_word

    assert not has_malformed_word("=?utf-8?B?c23DuHI=?= and =?utf-8?B?YQ==?=")
    assert has_malformed_word("=?utf-8?B?broken")
    assert has_malformed_word("ok =?utf-8?q?x?= then =?bad")
