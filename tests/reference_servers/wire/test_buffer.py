"""ReceiveBuffer: lines, limits, bare CR/LF policy, exact reads; any chunking gives the same."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers.wire import BareLineEnding, EolPolicy, LineTooLong, ReceiveBuffer


def drain(buf: ReceiveBuffer) -> list[bytes | str]:
    """Every line (or error name) the buffer yields now."""
    out: list[bytes | str] = []
    while True:
        try:
            line = buf.next_line()
        except (LineTooLong, BareLineEnding) as exc:
            out.append(type(exc).__name__)
            continue
        if line is None:
            return out
        out.append(line)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"HELO x", []),
        (b"HELO x\r\n", [b"HELO x"]),
        (b"A\r\nB\r\nC", [b"A", b"B"]),
        (b"\r\n", [b""]),
        (b"A\nB\r\n", ["BareLineEnding", b"B"]),
        (b"A\rB\r\n", ["BareLineEnding"]),
        (b"\n", ["BareLineEnding"]),
    ],
)
def test_lines_strict(data: bytes, expected: list[bytes | str]) -> None:
    buf = ReceiveBuffer(64)
    buf.feed(data)
    assert drain(buf) == expected


def test_tolerate_counts_bare_endings_and_keeps_bare_cr_as_data() -> None:
    buf = ReceiveBuffer(64, bare_lf=EolPolicy.TOLERATE, bare_cr=EolPolicy.TOLERATE)
    buf.feed(b"A\nB\rC\r\n")
    assert drain(buf) == [b"A", b"B\rC"]
    assert (buf.bare_lf_seen, buf.bare_cr_seen) == (1, 1)


def test_limit_counts_crlf() -> None:
    buf = ReceiveBuffer(10)
    buf.feed(b"12345678\r\n")  # exactly 10 octets with CRLF
    assert drain(buf) == [b"12345678"]
    buf.feed(b"123456789\r\nok\r\n")  # 11 octets
    assert drain(buf) == ["LineTooLong", b"ok"]


def test_over_long_line_is_dropped_as_it_arrives_and_memory_stays_bounded() -> None:
    buf = ReceiveBuffer(16)
    buf.feed(b"x" * 20)
    with pytest.raises(LineTooLong):
        buf.next_line()
    for _ in range(1000):
        buf.feed(b"y" * 1000)
        assert len(buf) == 0
    buf.feed(b"tail\r\nNOOP\r\n")
    assert drain(buf) == [b"NOOP"]


def test_read_exact_and_skip() -> None:
    buf = ReceiveBuffer(64)
    buf.feed(b"abc")
    assert buf.read_exact(5) is None
    buf.feed(b"de\r\nNEXT\r\n")
    assert buf.read_exact(5) == b"abcde"
    assert buf.read_exact(0) == b""
    assert buf.skip(100) == len(b"\r\nNEXT\r\n")
    assert len(buf) == 0


def test_clear_drops_pipelined_bytes() -> None:
    buf = ReceiveBuffer(64)
    buf.feed(b"MAIL FROM:<a@b>\r\n")
    assert buf.clear() == b"MAIL FROM:<a@b>\r\n"
    assert buf.next_line() is None


lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                 max_size=20)


@settings(max_examples=200, deadline=None)
@given(lines=lines, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
       limit=st.integers(min_value=3, max_value=48))
def test_any_chunking_yields_the_same_lines(
    lines: list[bytes], cuts: list[int], limit: int
) -> None:
    data = b"".join(line + b"\r\n" for line in lines)
    whole = ReceiveBuffer(limit)
    whole.feed(data)
    expected = drain(whole)
    pieces = ReceiveBuffer(limit)
    got: list[bytes | str] = []
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        pieces.feed(data[start:cut])
        got += drain(pieces)
        start = cut
    assert got == expected
    assert got == [line if len(line) + 2 <= limit else "LineTooLong" for line in lines]
