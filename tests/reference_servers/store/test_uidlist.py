"""The uid list file: format, incremental reading, torn tails, corruption."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers.store._uidlist import (
    Record,
    UidList,
    UidListCorrupt,
    escape_base,
    format_header,
    format_record,
    parse_header,
    parse_record,
    unescape_base,
)


def test_header_round_trip() -> None:
    assert parse_header(format_header(1700000000, 42)) == (1700000000, 42)


@pytest.mark.parametrize(
    "line",
    ["", "garbage", "mailharness-uidlist 2 V1 N1", "mailharness-uidlist 1 V0 N1",
     "mailharness-uidlist 1 V1", "mailharness-uidlist 1 Vx N1",
     "mailharness-uidlist 1 V4294967296 N1"],
)
def test_bad_headers(line: str) -> None:
    with pytest.raises(UidListCorrupt):
        parse_header(line + "\n")


@pytest.mark.parametrize(
    "line", ["", "1 2 3", "x 2 3 base", "0 2 3 base", "1 -2 3 base", "1 2 3 a b"],
)
def test_bad_records(line: str) -> None:
    with pytest.raises(UidListCorrupt):
        parse_record(line + "\n")


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
               min_size=1, max_size=40))
def test_record_round_trip_any_base_name(base: str) -> None:
    escaped = escape_base(base)
    assert escaped.isascii() and " " not in escaped and "\n" not in escaped
    assert unescape_base(escaped) == base
    rec = Record(7, 100, 1_700_000_000_000_000_000, base)
    assert parse_record(format_record(rec)) == rec


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="ascii")


def test_incremental_refresh_and_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "uidlist"
    _write(path, format_header(5, 1) + format_record(Record(1, 10, 0, "a")))
    ul = UidList(path)
    assert ul.refresh()
    assert ul.uidvalidity == 5 and ul.uidnext == 2 and set(ul.records) == {"a"}
    assert not ul.refresh()  # nothing new
    with path.open("a", encoding="ascii") as fh:
        fh.write(format_record(Record(2, 10, 0, "b")) + "3 10 0 tor")
    assert ul.refresh()
    assert set(ul.records) == {"a", "b"}  # the torn line is not there yet
    ul.append([Record(3, 1, 0, "c")], fsync=False)
    assert path.read_text().splitlines()[-1] == "3 1 0 c"  # torn bytes were cut off
    assert set(ul.records) == {"a", "b", "c"} and ul.uidnext == 4
    fresh = UidList(path)
    fresh.refresh()
    assert fresh.records == ul.records


def test_uidnext_survives_compaction(tmp_path: Path) -> None:
    ul = UidList(tmp_path / "uidlist")
    ul.rewrite(9, 1, [], fsync=False)
    ul.append([Record(1, 1, 0, "a"), Record(2, 1, 0, "b")], fsync=False)
    ul.rewrite(9, ul.uidnext, [ul.records["a"]], fsync=False)
    assert ul.uidnext == 3  # uid 2 is never handed out again
    again = UidList(tmp_path / "uidlist")
    again.refresh()
    assert again.uidnext == 3 and set(again.records) == {"a"}


@pytest.mark.parametrize(
    "body",
    [
        "2 1 0 a\n1 1 0 b\n",  # uids going down
        "1 1 0 a\n1 1 0 b\n",  # repeated uid
        "1 1 0 a\n2 1 0 a\n",  # one message twice
        "1 1 0 a\nnot a record\n",
        "1 1 0 \xe9\n",
    ],
)
def test_corruption_is_detected(tmp_path: Path, body: str) -> None:
    path = tmp_path / "uidlist"
    path.write_bytes((format_header(3, 1) + body).encode("latin-1"))
    with pytest.raises(UidListCorrupt):
        UidList(path).refresh()


def test_missing_file(tmp_path: Path) -> None:
    ul = UidList(tmp_path / "nope")
    assert not ul.refresh()
    assert ul.uidvalidity is None
