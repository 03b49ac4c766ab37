"""The 65 files of Python's own email test data (copied under data/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_servers.mime import bodystructure, envelope, parse, section, validate
from tests.reference_servers.mime.mime_compare import (
    check_invariants,
    ours,
    stdlib,
    stdlib_parse,
)

DATA = Path(__file__).parent / "data"
FILES = sorted(DATA.iterdir())

# Where the stdlib's tree differs from ours on purpose (see the package docstring):
DIFFERENT = {
    # message/delivery-status and message/external-body are opaque leaves for IMAP
    # (only message/rfc822 and message/global are body-type-msg, RFC 3501 §9).
    "msg_16.txt",
    "msg_36.txt",
    "msg_43.txt",
    # Two delimiter lines in a row enclose an empty part; the stdlib drops it.
    "msg_37.txt",
    # Quoted-printable trailing white space is deleted (RFC 2045 §6.7 rule 3).
    "msg_15.txt",
}


def test_all_65_files_are_there() -> None:
    assert len(FILES) == 65


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_parses_with_views_and_invariants(path: Path) -> None:
    data = path.read_bytes()
    tree = parse(data)
    check_invariants(tree, 0, len(data))
    assert bodystructure(tree).to_imap().startswith(b"(")
    assert envelope(tree).to_imap().startswith(b"(")
    assert section(tree, "") == data
    assert section(tree, "HEADER") + section(tree, "TEXT") == data  # type: ignore[operator]
    validate(tree)


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name.startswith("msg_")], ids=lambda p: p.name
)
def test_structure_and_payloads_match_stdlib(path: Path) -> None:
    data = path.read_bytes()
    same = ours(parse(data)) == stdlib(stdlib_parse(data))
    assert same is (path.name not in DIFFERENT)


def test_known_differences_are_only_those() -> None:
    data = (DATA / "msg_37.txt").read_bytes()
    kinds = [c.content_type.mimetype for c in parse(data).children]
    assert kinds == [
        "text/x-one",
        "text/plain",
        "text/x-two",
        "text/plain",
        "text/plain",
        "text/plain",
        "text/x-two",
    ]
    tree = parse((DATA / "msg_15.txt").read_bytes())
    assert tree.children[1].cte == "quoted-printable"


def test_msg_07_image_attachment() -> None:
    tree = parse((DATA / "msg_07.txt").read_bytes())
    image = tree.children[1]
    assert image.content_type.mimetype == "image/gif"
    assert image.filename == "dingusfish.gif"
    from reference_servers.mime import decoded_payload

    assert decoded_payload(image)[:6] == b"GIF87a"


def test_msg_29_rfc2231_title() -> None:
    tree = parse((DATA / "msg_29.txt").read_bytes())
    assert tree.content_type.param("title") == "This is even more ***fun*** isn't it!"


def test_msg_15_same_boundary_nested_is_reported() -> None:
    rules = {v.rule for v in validate(parse((DATA / "msg_15.txt").read_bytes()))}
    assert {"boundary-not-unique", "boundary-not-found"} <= rules
