"""User and folder names: what is refused, and the Maildir++ directory mapping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers.store import InvalidMailboxName
from reference_servers.store._names import (
    folder_dirname,
    folder_from_dirname,
    mutf7_decode,
    mutf7_encode,
    normalize_folder,
    validate_user,
)

HOSTILE_FOLDERS = [
    "",
    "..",
    ".",
    "../other",
    "a/../../etc",
    "a/./b",
    "/etc/passwd",
    "/",
    "a//b",
    "a/",
    "a\x00b",
    "a\nb",
    "a\rb",
    "tab\there",
    "del\x7f",
    "c1\x85",
    "x" * 300,
    "/".join(["a"] * 40),
    "wild*",
    "wild%",
]


@pytest.mark.parametrize("name", HOSTILE_FOLDERS)
def test_hostile_folder_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidMailboxName) as info:
        normalize_folder(name)
    assert "refused" in str(info.value) or "empty" in str(info.value)


@pytest.mark.parametrize(
    "user",
    ["", ".", "..", "../bob", "a/b", "/root", "a\x00", "-rf", ".hidden", "al..ice", "a b",
     "ü", "x" * 65, "a\\b"],
)
def test_hostile_user_names_are_refused(user: str) -> None:
    with pytest.raises(InvalidMailboxName):
        validate_user(user)


@pytest.mark.parametrize("user", ["alice", "bob", "alice@example.test", "a.b-c_d+e", "u1"])
def test_ordinary_user_names_pass(user: str) -> None:
    assert validate_user(user) == user


@pytest.mark.parametrize(
    ("name", "canonical", "dirname"),
    [
        ("INBOX", "INBOX", ""),
        ("inbox", "INBOX", ""),
        ("InBoX/sub", "INBOX/sub", ".INBOX.sub"),
        ("Lists/ietf", "Lists/ietf", ".Lists.ietf"),
        ("Sent", "Sent", ".Sent"),
        ("a.b", "a.b", ".a&AC4-b"),
        ("Entwürfe", "Entwürfe", ".Entw&APw-rfe"),
        ("R&D", "R&D", ".R&-D"),
        ("~x", "~x", ".~x"),
    ],
)
def test_folder_mapping(name: str, canonical: str, dirname: str) -> None:
    assert normalize_folder(name) == canonical
    assert folder_dirname(canonical) == dirname
    if dirname:
        assert folder_from_dirname(dirname) == canonical


@pytest.mark.parametrize("dirname", [".", "..", "cur", ".a..b", ".&Jjo", "..x"])
def test_foreign_directories_are_not_folders(dirname: str) -> None:
    assert folder_from_dirname(dirname) is None


def test_rfc3501_mutf7_example() -> None:
    # RFC 3501 §5.1.3's example.
    assert mutf7_encode("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert mutf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/台北/日本語"


component = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/*%"),
    min_size=1, max_size=12,
).filter(lambda s: s not in (".", ".."))


@settings(max_examples=150, deadline=None)
@given(st.lists(component, min_size=1, max_size=4))
def test_dirname_round_trip(parts: list[str]) -> None:
    name = "/".join(parts)
    try:
        canonical = normalize_folder(name)
    except InvalidMailboxName:
        return  # too long once encoded
    dirname = folder_dirname(canonical)
    if canonical == "INBOX":
        assert dirname == ""
        return
    assert dirname.isascii() and "/" not in dirname and "\x00" not in dirname
    assert dirname.startswith(".") and dirname not in (".", "..")
    assert folder_from_dirname(dirname) == canonical
