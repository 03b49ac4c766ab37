"""The parser and the views never raise, on any bytes, whole or cut into pieces."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_servers.mime import (
    UnknownCTE,
    binary_section,
    bodystructure,
    envelope,
    parse,
    section,
    validate,
)
from reference_servers.mime.generate import Entity, render
from tests.reference_servers.mime.mime_compare import check_invariants
from tests.reference_servers.mime.mime_strategies import messages

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECS = [
    "",
    "HEADER",
    "TEXT",
    "1",
    "1.MIME",
    "2",
    "1.1",
    "1.2.MIME",
    "2.HEADER",
    "2.TEXT",
    "HEADER.FIELDS (FROM SUBJECT)",
    "HEADER.FIELDS.NOT (FROM)",
    "1.HEADER.FIELDS (X)",
]
# Bytes that steer a random input towards MIME syntax.
TOKENS = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"--",
        b"--b",
        b"--b--",
        b"Content-Type: multipart/mixed; boundary=b",
        b"Content-Type: message/rfc822",
        b"Content-Transfer-Encoding: base64",
        b": ",
        b" ",
        b"\t",
        b"=?utf-8?q?x?=",
        b'"',
        b"(",
        b"<",
        b"@",
        b";",
        b"\x00",
        b"\xff",
        b"=",
        b"name*0*=",
    ]
)


def exercise(data: bytes) -> None:
    tree = parse(data)
    check_invariants(tree, 0, len(data))
    for part in tree.walk():
        bodystructure(part, True).to_imap()
        bodystructure(part, False).to_imap()
        envelope(part).to_imap()
    for spec in SPECS:
        section(tree, spec)
        with contextlib.suppress(UnknownCTE):
            binary_section(tree, spec)
    validate(tree)


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    exercise(data)


@SETTINGS
@given(st.lists(st.one_of(TOKENS, st.binary(max_size=8)), max_size=60).map(b"".join))
def test_mime_shaped_bytes(data: bytes) -> None:
    exercise(data)


@SETTINGS
@given(messages(), st.lists(st.integers(min_value=0), max_size=6))
def test_messages_cut_into_pieces(entity: Entity, cuts: list[int]) -> None:
    data = render(entity)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    for piece in pieces:
        exercise(piece)  # every piece alone
    for n in range(1, len(pieces)):
        exercise(b"".join(pieces[:n]))  # every prefix
    exercise(b"".join(reversed(pieces)))  # pieces out of order


def test_deep_nesting_does_not_recurse_without_end() -> None:
    data = (
        b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(5000))
        + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + b"--b\r\n" * 3000
    )
    exercise(data)
    tree = parse(data)
    assert any(d.rule == "nesting-too-deep" for p in tree.walk() for d in p.defects)
