"""Judging one response against one expectation. Pure functions: no I/O, no sockets.

Each ``check_*`` returns a :class:`Verdict` holding what was expected, what came back and,
on a mismatch, every reason (not just the first) plus a diff. Named groups of patterns that
matched become variables, committed by the caller when the verdict is a pass.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from ..client import ImapResponse, Pop3Response, SmtpReply
from .model import Expect
from .variables import compile_pattern, substitute


@dataclass
class Verdict:
    expected: list[str] = field(default_factory=list)
    actual: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    captures: dict[str, str] = field(default_factory=dict)
    body_diff: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def diff(self) -> list[str]:
        """Expected (``-``) against received (``+``), for a failure report."""
        if self.body_diff:
            return self.body_diff
        return [f"- {line}" for line in self.expected] + [f"+ {line}" for line in self.actual]

    def search(self, pattern: str, text: str, values: dict[str, str], what: str) -> bool:
        found = compile_pattern(pattern, {**values, **self.captures}).search(text)
        self.expected.append(f"{what} /{pattern}/")
        if found is None:
            self.problems.append(f"{what} /{pattern}/ does not match")
            return False
        for name, value in found.groupdict().items():
            if value is not None and name not in values and name not in self.captures:
                self.captures[name] = value
        return True

    def forbid(self, patterns: tuple[str, ...], texts: list[str], values: dict[str, str]) -> None:
        for pattern in patterns:
            self.expected.append(f"nothing matching /{pattern}/")
            regex = compile_pattern(pattern, {**values, **self.captures})
            for text in texts:
                if regex.search(text):
                    self.problems.append(f"forbidden /{pattern}/ matches {text!r}")
                    break


def code_matches(pattern: str, code: int) -> bool:
    return all(want in ("x", got) for want, got in zip(pattern, f"{code:03d}", strict=True))


def check_smtp(expect: Expect, reply: SmtpReply, values: dict[str, str]) -> Verdict:
    verdict = Verdict(actual=reply.text.split("\n"))
    if expect.codes:
        verdict.expected.append(f"code {' or '.join(expect.codes)}")
        if not any(code_matches(pattern, reply.code) for pattern in expect.codes):
            verdict.problems.append(f"expected code {' or '.join(expect.codes)}, got {reply.code}")
    if expect.enhanced:
        verdict.expected.append(f"enhanced status {expect.enhanced}")
        got = reply.enhanced
        want = expect.enhanced.split(".")
        if got is None or not all(w in ("x", g) for w, g in zip(want, got.split("."),
                                                                 strict=False)):
            verdict.problems.append(f"expected enhanced status {expect.enhanced}, got {got}")
    if expect.match:
        verdict.search(expect.match, reply.text, values, "match")
    verdict.forbid(expect.forbid, [reply.text], values)
    return verdict


def check_pop3(expect: Expect, response: Pop3Response, values: dict[str, str]) -> Verdict:
    verdict = Verdict(actual=response.text.split("\n"))
    if expect.status:
        verdict.expected.append(f"status {expect.status}")
        if response.status != expect.status:
            verdict.problems.append(f"expected {expect.status}, got {response.status}")
    body = [line.decode("utf-8", "surrogateescape") for line in response.body or ()]
    if expect.body is not None:
        want = [substitute(line, {**values, **verdict.captures}) for line in expect.body]
        verdict.expected.append(f"a body of {len(want)} lines")
        if response.body is None:
            verdict.problems.append("expected a multi-line body, got a single line")
        elif want != body:
            verdict.problems.append("the body differs")
            verdict.body_diff = list(difflib.unified_diff(
                want, body, "expected body", "received body", lineterm=""))
    if expect.body_match:
        verdict.search(expect.body_match, "\n".join(body), values, "body_match")
    if expect.match:
        verdict.search(expect.match, response.text, values, "match")
    verdict.forbid(expect.forbid, [response.text], values)
    return verdict


def check_imap_single(expect: Expect, response: ImapResponse, values: dict[str, str]) -> Verdict:
    """One response read without a command of ours: a greeting, a continuation, unsolicited."""
    verdict = Verdict(actual=[response.text])
    if expect.continuation:
        verdict.expected.append("a continuation request (+)")
        if response.kind != "continuation":
            verdict.problems.append(f"expected a continuation request, got {response.kind}")
    if expect.status:
        verdict.expected.append(f"an untagged {expect.status}")
        if response.kind != "untagged" or response.status != expect.status:
            verdict.problems.append(f"expected an untagged {expect.status}")
    _check_code(verdict, expect, response, values)
    for pattern in expect.untagged:
        verdict.search(pattern, response.data, values, "response")
    if expect.match:
        verdict.search(expect.match, response.text, values, "match")
    verdict.forbid(expect.forbid, [response.data], values)
    return verdict


def check_imap(expect: Expect, untagged: list[ImapResponse], final: ImapResponse,
               values: dict[str, str]) -> Verdict:
    """A command's untagged responses and its tagged completion (or the continuation)."""
    verdict = Verdict(actual=[r.text for r in [*untagged, final]])
    if expect.continuation:
        verdict.expected.append("a continuation request (+)")
        if final.kind != "continuation":
            verdict.problems.append(f"expected a continuation request, got {final.text!r}")
    if expect.tag:
        verdict.expected.append(f"tagged {expect.tag}")
        if final.status != expect.tag:
            verdict.problems.append(f"expected tagged {expect.tag}, got {final.status}")
    _check_code(verdict, expect, final, values)
    if expect.match:
        verdict.search(expect.match, final.text, values, "match")
    texts = [response.data for response in untagged]
    matched = _match_untagged(verdict, expect, texts, values)
    verdict.forbid(expect.forbid, texts, values)
    if expect.may is not None:
        allowed = [compile_pattern(p, {**values, **verdict.captures}) for p in expect.may]
        for index, text in enumerate(texts):
            if index not in matched and not any(regex.search(text) for regex in allowed):
                verdict.problems.append(f"untagged {text!r} is neither expected nor allowed")
    return verdict


def _check_code(verdict: Verdict, expect: Expect, response: ImapResponse,
                values: dict[str, str]) -> None:
    if expect.resp_code is None:
        return
    verdict.expected.append(f"response code [{expect.resp_code}...]")
    regex = compile_pattern(expect.resp_code, {**values, **verdict.captures})
    found = regex.match(response.code or "")
    if response.code is None or found is None:
        verdict.problems.append(f"expected response code [{expect.resp_code}], "
                                f"got {response.code and '[' + response.code + ']'}")
        return
    for name, value in found.groupdict().items():
        if value is not None and name not in values:
            verdict.captures.setdefault(name, value)


def _match_untagged(verdict: Verdict, expect: Expect, texts: list[str],
                    values: dict[str, str]) -> set[int]:
    """Each pattern must match a different response; in order unless ``unordered``."""
    used: set[int] = set()
    position = 0
    for pattern in expect.untagged:
        verdict.expected.append(f"untagged /{pattern}/")
        regex = compile_pattern(pattern, {**values, **verdict.captures})
        start = 0 if expect.unordered else position
        hit: tuple[int, re.Match[str]] | None = None
        for index in range(start, len(texts)):
            if index in used:
                continue
            found = regex.search(texts[index])
            if found:
                hit = (index, found)
                break
        if hit is None:
            order = "" if expect.unordered else " (in this order)"
            verdict.problems.append(f"no untagged response matches /{pattern}/{order}")
            continue
        index, found = hit
        used.add(index)
        position = index + 1
        for name, value in found.groupdict().items():
            if value is not None and name not in values:
                verdict.captures.setdefault(name, value)
    return used
