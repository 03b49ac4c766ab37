from __future__ import annotations

import pytest

from harness.conformance import KeywordError, compile_keyword


@pytest.mark.parametrize(("expression", "words", "expected"), [
    ("", ["anything"], True),
    ("ehlo", ["smtp/EHLO.yaml"], True),
    ("ehlo", ["helo"], False),
    ("ehlo and not tls", ["ehlo basic"], True),
    ("ehlo and not tls", ["ehlo over starttls"], False),
    ("noop or rset", ["RSET"], True),
    ("not (noop or rset)", ["rset"], False),
    ("must and (pop3 or imap)", ["MUST", "pop3"], True),
    ("must and (pop3 or imap)", ["MUST", "smtp"], False),
])
def test_expressions(expression: str, words: list[str], expected: bool) -> None:
    assert compile_keyword(expression)(words) is expected


@pytest.mark.parametrize("expression", ["(ehlo", "ehlo and", "or ehlo", "ehlo )", "not"])
def test_bad_expressions_are_errors(expression: str) -> None:
    with pytest.raises(KeywordError):
        compile_keyword(expression)
