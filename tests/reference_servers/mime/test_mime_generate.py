"""The generator, message/partial and the seeded corpus."""

from __future__ import annotations

import random
import re

import pytest

from reference_servers.mime import bodystructure, decoded_payload, parse, validate
from reference_servers.mime.corpus import DEFAULT_MIX, SizeBucket, generate_corpus, text
from reference_servers.mime.generate import Entity, fold, from_parsed, render
from reference_servers.mime.partial import PartialError, reassemble_partial, split_partial

HEADERS = [("Date", "Tue, 2 Jan 2024 08:00:00 +0100"), ("From", "a@example.com")]


@pytest.mark.parametrize(
    ("ctype", "body", "cte"),
    [
        ("text/plain", b"hello\r\n", "7bit"),
        ("text/plain", "h\u00e9llo\r\n".encode(), "quoted-printable"),
        ("text/html", b"<p>x</p>\r\n", "7bit"),
        ("image/jpeg", bytes(range(256)), "base64"),
        ("video/mpeg", b"\x00\x01", "base64"),
        ("audio/basic", b"\xff" * 100, "base64"),
        ("application/octet-stream", b"\x00" * 10, "base64"),
        ("application/postscript", b"%!PS\r\n", "base64"),
    ],
)
def test_every_leaf_type_renders_valid_and_decodes(ctype: str, body: bytes, cte: str) -> None:
    data = render(Entity(ctype, headers=HEADERS, body=body))
    tree = parse(data)
    assert tree.content_type.mimetype == ctype and tree.cte == cte
    assert decoded_payload(tree) == body
    assert validate(tree) == []


@pytest.mark.parametrize("sub", ["mixed", "parallel", "digest", "alternative"])
def test_multipart_types_and_nesting(sub: str) -> None:
    inner = Entity("message/rfc822", message=Entity(headers=HEADERS, body=b"in\r\n"))
    kids = (
        [inner, inner]
        if sub == "digest"
        else [
            Entity(body=b"a\r\n"),
            Entity("multipart/alternative", parts=[Entity(body=b"b\r\n"), Entity("text/html")]),
        ]
    )
    data = render(Entity(f"multipart/{sub}", headers=HEADERS, parts=kids))
    tree = parse(data)
    assert tree.content_type.subtype == sub and len(tree.children) == 2
    assert validate(tree) == []
    boundaries = re.findall(rb"boundary=\"?([^\"\r\n;]+)", data)
    assert len(set(boundaries)) == len(boundaries)  # fresh and unique per multipart


def test_external_body_and_long_lines() -> None:
    ext = Entity(
        "message/external-body",
        [("access-type", "URL"), ("URL", "http://x/y")],
        body=b"Content-Type: text/plain\r\n\r\n",
        cte="7bit",
    )
    long_text = Entity(body=b"x" * 3000 + b"\r\n")
    tree = parse(render(Entity("multipart/mixed", headers=HEADERS, parts=[ext, long_text])))
    assert tree.children[0].content_type.param("access-type") == "URL"
    assert tree.children[1].cte == "quoted-printable"  # 3000 octets do not fit in 998
    assert all(len(line) <= 78 for line in tree.children[1].body.split(b"\r\n"))
    assert validate(tree) == []


def test_fold_unfolds_to_the_same_value() -> None:
    value = " ".join(f"word{i}" for i in range(40))
    field = fold("Subject", value)
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert parse(field + b"\r\n").header("subject").text == value  # type: ignore[union-attr]


def test_partial_split_and_reassemble() -> None:
    original = render(
        Entity(headers=[*HEADERS, ("Subject", "big")], body=text(random.Random(1), 20_000))
    )
    fragments = split_partial(original, 4000, "id1@example.com")
    assert len(fragments) >= 5
    for n, frag in enumerate(fragments, 1):
        tree = parse(frag)
        assert tree.content_type.mimetype == "message/partial"
        assert tree.content_type.param("number") == str(n)
        assert tree.body_size <= 4000
    shuffled = fragments[::-1]
    assert reassemble_partial(shuffled) == original


def test_partial_errors() -> None:
    original = render(Entity(headers=HEADERS, body=b"line\r\n" * 100))
    fragments = split_partial(original, 100, "x@y")
    with pytest.raises(PartialError):
        reassemble_partial(fragments[1:])
    with pytest.raises(PartialError):
        split_partial(original + "\u00e9".encode(), 100, "x@y")


def test_corpus_is_deterministic_and_sized() -> None:
    sizes = (SizeBucket(1024, 4096, 1),)
    a = list(generate_corpus(30, seed=7, sizes=sizes))
    b = list(generate_corpus(30, seed=7, sizes=sizes))
    c = list(generate_corpus(30, seed=8, sizes=sizes))
    assert a == b and a != c
    assert all(700 <= len(m) <= 12_000 for m in a)


@pytest.mark.parametrize("kind", sorted(DEFAULT_MIX))
def test_corpus_kinds_parse_cleanly(kind: str) -> None:
    for data in generate_corpus(3, seed=3, mix={kind: 1}):
        tree = parse(data)
        assert bodystructure(tree).to_imap()
        assert [v for v in validate(tree) if v.severity.value == "error"] == []
        assert render(from_parsed(tree)) == data


def test_corpus_default_mix_spans_sizes() -> None:
    sizes = [len(m) for m in generate_corpus(200, seed=1)]
    assert min(sizes) < 4096 and max(sizes) > 100_000
