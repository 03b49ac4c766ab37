"""Dot-stuffing: round trips, only CRLF.CRLF ends data, limits, chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers.wire import (
    DotData,
    DotReader,
    ReceiveBuffer,
    dot_stuff,
    dot_unstuff,
    frame_multiline,
    frame_multiline_parts,
    to_crlf,
)


def read_all(wire: bytes, max_size: int = 1 << 20, chunks: list[int] | None = None):
    buf = ReceiveBuffer(1000)
    reader = DotReader(max_size)
    result: DotData | None = None
    start = 0
    for cut in [*(chunks or []), len(wire)]:
        buf.feed(wire[start:cut])
        start = cut
        if result is None:
            result = reader.read(buf)
    return result, bytes(buf.raw)


@pytest.mark.parametrize(
    ("content", "wire"),
    [
        (b"", b".\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b"a\r\n.b\r\n..\r\n", b"a\r\n..b\r\n...\r\n.\r\n"),
        (b"no final crlf", b"no final crlf\r\n.\r\n"),
        (b"\r\n", b"\r\n.\r\n"),
    ],
)
def test_stuff_table(content: bytes, wire: bytes) -> None:
    assert dot_stuff(content) == wire
    result, rest = read_all(wire + b"QUIT\r\n")
    assert result is not None
    expected = content if content.endswith(b"\r\n") or not content else content + b"\r\n"
    assert result.content == expected
    assert rest == b"QUIT\r\n"


@pytest.mark.parametrize(
    "smuggle",
    [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"],
)
def test_only_crlf_dot_crlf_ends_data(smuggle: bytes) -> None:
    wire = b"Subject: x\r\n\r\nbody" + smuggle + b"MAIL FROM:<evil@x>\r\n"
    result, _ = read_all(wire)
    assert result is None  # still inside the data: the smuggled "end" is data
    result, rest = read_all(wire + b"\r\n.\r\n")
    assert result is not None and b"MAIL FROM:<evil@x>" in result.content
    assert rest == b""
    assert result.bare_lf + result.bare_cr > 0


def test_reports_longest_line_and_bare_endings() -> None:
    result, _ = read_all(b"x" * 998 + b"\r\nshort\nline\r\n.\r\n")
    assert result is not None
    assert result.longest_line == 1000
    assert (result.bare_lf, result.bare_cr) == (1, 0)


def test_too_big_is_discarded_with_bounded_memory_and_stays_in_step() -> None:
    buf = ReceiveBuffer(1000)
    reader = DotReader(max_size=1000)
    for _ in range(200):
        buf.feed(b"y" * 998 + b"\r\n")
        assert reader.read(buf) is None
        assert len(buf) < 3000
    buf.feed(b".\r\nRSET\r\n")
    result = reader.read(buf)
    assert result is not None and result.too_big and result.content == b""
    assert result.size >= 200 * 1000
    assert buf.next_line() == b"RSET"


def test_to_crlf() -> None:
    assert to_crlf(b"a\nb\r\nc\n") == b"a\r\nb\r\nc\r\n"
    assert to_crlf(b"a\r\nb") == b"a\r\nb"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300).map(to_crlf))
def test_unstuff_inverts_stuff(content: bytes) -> None:
    wire = dot_stuff(content)
    body = wire[:-3] if wire != b".\r\n" else b""
    normal = content if not content or content.endswith(b"\r\n") else content + b"\r\n"
    assert dot_unstuff(body) == normal


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_any_chunking_reads_the_same(content: bytes, cuts: list[int]) -> None:
    content = to_crlf(content)
    wire = dot_stuff(content) + b"NEXT\r\n"
    whole, rest_whole = read_all(wire)
    split, rest_split = read_all(wire, chunks=sorted(c for c in cuts if c <= len(wire)))
    assert whole == split
    assert rest_whole == rest_split == b"NEXT\r\n"
    assert whole is not None
    assert whole.content == (content if not content or content.endswith(b"\r\n")
                             else content + b"\r\n")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"x", b"yz"]), max_size=30))
def test_frame_multiline_equals_stuffing_the_crlf_form(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert frame_multiline(data) == dot_stuff(to_crlf(data))
    assert frame_multiline(data).endswith(b".\r\n")


def test_frame_multiline_lf_storage() -> None:
    assert frame_multiline(b".a\nb\n.\nc") == b"..a\r\nb\r\n..\r\nc\r\n.\r\n"
    assert frame_multiline(b"") == b".\r\n"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"x", b"yz"]), max_size=30))
def test_frame_multiline_parts_join_to_the_stuffed_crlf_form(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    assert b"".join(frame_multiline_parts(data)) == dot_stuff(to_crlf(data))


@pytest.mark.parametrize("gap", [0, 1, 7, 300])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_frame_multiline_parts_dense_and_sparse_dots(gap: int, ending: bytes) -> None:
    # Enough dot lines to cross the switch from memchr hops to the "\n." scan, with
    # dots inside lines too (which are not stuffed).
    line = b"." + b"a." * gap + ending
    data = b"x" + ending + line * 200 + b"tail." + ending + b".end"
    assert b"".join(frame_multiline_parts(data)) == dot_stuff(to_crlf(data))


def test_frame_multiline_parts_do_not_copy_crlf_bodies() -> None:
    data = b"a\r\n.b\r\nc\r\n"
    parts = frame_multiline_parts(data)
    assert [bytes(p) for p in parts] == [b"a\r\n", b".", b".b\r\nc\r\n", b".\r\n"]
    assert all(p.obj is data for p in parts if isinstance(p, memoryview))
