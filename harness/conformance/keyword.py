"""``-k`` expressions: words matched as case-insensitive substrings, with and/or/not/().

The same small language as pytest's ``-k`` so that ``mailharness check -k`` and the pytest
plugin select alike, without depending on pytest's private expression module at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")
Predicate = Callable[[str], bool]


class KeywordError(ValueError):
    """A ``-k`` expression that does not parse."""


def compile_keyword(expression: str) -> Callable[[Iterable[str]], bool]:
    """A test of whether an expression selects something named by the given words."""
    tokens = [m.group(1) for m in _TOKEN.finditer(expression)]
    if not tokens:
        return lambda _words: True
    parser = _Parser(tokens, expression)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise KeywordError(f"-k {expression!r}: unexpected {tokens[parser.position]!r}")

    def matches(words: Iterable[str]) -> bool:
        haystack = "\n".join(words).lower()
        return predicate(haystack)

    return matches


class _Parser:
    def __init__(self, tokens: list[str], source: str) -> None:
        self.tokens = tokens
        self.source = source
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise KeywordError(f"-k {self.source!r}: ends too early")
        self.position += 1
        return token

    def expression(self) -> Predicate:
        left = self.conjunction()
        while self.peek() == "or":
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda text: a(text) or b(text))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.peek() == "and":
            self.take()
            right = self.negation()
            left = (lambda a, b: lambda text: a(text) and b(text))(left, right)
        return left

    def negation(self) -> Predicate:
        if self.peek() == "not":
            self.take()
            inner = self.negation()
            return lambda text: not inner(text)
        return self.atom()

    def atom(self) -> Predicate:
        token = self.take()
        if token == "(":
            inner = self.expression()
            if self.take() != ")":
                raise KeywordError(f"-k {self.source!r}: missing ')'")
            return inner
        if token in (")", "and", "or"):
            raise KeywordError(f"-k {self.source!r}: unexpected {token!r}")
        word = token.lower()
        return lambda text: word in text
