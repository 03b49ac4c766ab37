"""Differential tests against the stdlib parser, and generate -> parse -> generate."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings

from reference_servers.mime import parse
from reference_servers.mime.encoded_words import decode_words
from reference_servers.mime.generate import Entity, from_parsed, render
from tests.reference_servers.mime.mime_compare import ours, stdlib, stdlib_parse
from tests.reference_servers.mime.mime_strategies import messages

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(messages())
def test_same_structure_and_payloads_as_stdlib(entity: Entity) -> None:
    data = render(entity)
    assert ours(parse(data)) == stdlib(stdlib_parse(data))


@SETTINGS
@given(messages())
def test_subject_and_filenames_decode_like_stdlib(entity: Entity) -> None:
    data = render(entity)
    mine, theirs = parse(data), stdlib_parse(data)
    subject = mine.header("subject")
    assert subject is not None
    assert decode_words(subject.text)[0] == str(theirs["subject"])
    names = [p.filename for p in mine.walk() if not p.children and p.message is None]
    std_names = [p.get_filename() for p in theirs.walk() if not p.is_multipart()]
    assert names == std_names


@SETTINGS
@given(messages())
def test_generate_parse_generate_is_stable(entity: Entity) -> None:
    first = render(copy.deepcopy(entity))
    again = render(from_parsed(parse(first)))
    assert again == first
