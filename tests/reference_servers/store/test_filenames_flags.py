"""Maildir file names, sizes, POP3 keys, and the flag/keyword letter mapping."""

from __future__ import annotations

import pytest

from reference_servers.store import InvalidFlag, StoreError
from reference_servers.store._filenames import (
    join_name,
    key_for,
    sizes_from_name,
    split_name,
    unique_base,
    wire_size,
)
from reference_servers.store._flags import (
    KeywordTable,
    flags_from_letters,
    letters_for,
    normalize_flag,
    normalize_flags,
)


def _pop3_safe(key: str) -> bool:
    return 1 <= len(key) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in key)


def test_unique_names_are_unique_pop3_safe_and_carry_sizes() -> None:
    names = {unique_base(1234, 1250, 1_700_000_000_123_456_789) for _ in range(1000)}
    assert len(names) == 1000
    for name in names:
        assert _pop3_safe(name), name
        assert ":" not in name and "/" not in name
        assert sizes_from_name(name) == (1234, 1250)
        assert name.startswith("1700000000.M123456P")


def test_unique_name_fits_even_with_huge_sizes() -> None:
    name = unique_base(10**12, 10**12, 1_700_000_000_000_000_000)
    assert _pop3_safe(name)


@pytest.mark.parametrize(
    ("filename", "split"),
    [
        ("123.M1P2.host,S=5", ("123.M1P2.host,S=5", None)),
        ("123.M1P2.host,S=5:2,FS", ("123.M1P2.host,S=5", "FS")),
        ("123.M1P2.host:2,", ("123.M1P2.host", "")),
        ("123.x:1,experimental", ("123.x", None)),
    ],
)
def test_split_name(filename: str, split: tuple[str, str | None]) -> None:
    assert split_name(filename) == split


def test_join_name_sorts_letters_in_ascii_order() -> None:
    # The Maildir spec: flags must be stored in ASCII order.
    assert join_name("b", "TSaFRD") == "b:2,DFRSTa"
    assert join_name("b", "") == "b:2,"


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (b"", 0),
        (b"a\r\nb\r\n", 6),
        (b"a\nb\n", 6),
        (b"a\r\nb\n", 6),
        (b"no newline", 10),
        (b"\n\n\n", 6),
    ],
)
def test_wire_size_counts_crlf(data: bytes, size: int) -> None:
    assert wire_size(data) == size


def test_key_for_foreign_names() -> None:
    assert key_for("123.abc.host") == "123.abc.host"
    long_name = "x" * 71
    odd = "with space"
    for name in (long_name, odd, "tab\tname", "ünï"):
        key = key_for(name)
        assert _pop3_safe(key)
        assert key == key_for(name)  # stable
    assert key_for(long_name) != key_for(odd)


def test_flag_normalisation() -> None:
    assert normalize_flag("\\seen") == "\\Seen"
    assert normalize_flag("\\DELETED") == "\\Deleted"
    assert normalize_flag("$Forwarded") == "$Forwarded"
    for bad in ("\\Recent", "\\Bogus", "", "a b", "a(b", "x]", 'q"', "tab\t", "ü"):
        with pytest.raises(InvalidFlag):
            normalize_flag(bad)
    with pytest.raises(InvalidFlag):
        normalize_flags("\\Seen")  # a bare string would be split into characters


def test_letters_round_trip_with_keywords() -> None:
    table = KeywordTable()
    assert table.add("$Forwarded") == "a"
    assert table.add("Junk") == "b"
    assert table.add("junk") == "b"  # keyword lookup ignores case
    flags = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
                       "$Forwarded", "Junk"})
    letters = letters_for(flags, table, extra="P")
    assert letters == "DFPRSTab"
    decoded, extra = flags_from_letters(letters, table)
    assert decoded == flags
    assert extra == "P"


def test_keyword_table_file_round_trip_and_limit() -> None:
    table = KeywordTable()
    for i in range(26):
        table.add(f"kw{i}")
    with pytest.raises(StoreError):
        table.add("one-too-many")
    again = KeywordTable.parse(table.serialize())
    assert again.slots == table.slots
    # Damaged lines are skipped, not fatal.
    parsed = KeywordTable.parse("0 $Forwarded\nxx\n99 big\n3 bad word\n2 Junk\n")
    assert parsed.name_of("a") == "$Forwarded"
    assert parsed.name_of("c") == "Junk"
    assert parsed.name_of("d") is None


def test_unknown_keyword_letters_are_dropped_not_invented() -> None:
    flags, extra = flags_from_letters("Sz", KeywordTable())
    assert flags == {"\\Seen"}
    assert extra == ""
