"""Differential mode: one suite against two targets, and where their replies differ.

Two servers never answer byte for byte alike: greetings name the host, replies carry
dates, queue ids, session ids and free text. So replies are normalised before they are
compared, at one of two depths:

``codes``  only what the RFCs define: SMTP final reply codes with their enhanced status
           code, POP3 +OK/-ERR, IMAP tagged status with its response code and the kinds of
           untagged responses. Free text is ignored.
``text``   every line, with volatile parts replaced by placeholders (<date>, <host>, <id>...).

Works on run documents (see :mod:`harness.report.json_report`), so two saved runs can be
compared as well as two live ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MODES = ("codes", "text")

_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    # RFC 5322 §3.3 date-time, e.g. "Thu, 01 Jan 2026 00:00:00 +0000 (UTC)"
    (re.compile(r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|"
                r"Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d(?::\d\d)? [+-]\d{4}(?: \([^)]*\))?"),
     "<date>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<date>"),
    # msg-ids and the RFC 1939 §7 APOP timestamp banner: <anything@host>
    (re.compile(r"<[^<>\s@]*@[^<>\s]*>"), "<id@host>"),
    (re.compile(r"\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?"), "<ip>"),
    (re.compile(r"\b(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*\b"), "<host>"),
    # queue ids, session ids, nonces: long tokens mixing letters and digits
    (re.compile(r"\b(?=[A-Za-z0-9+/=]*\d)(?=[A-Za-z0-9+/=]*[A-Za-z])[A-Za-z0-9+/=]{8,}\b"),
     "<id>"),
    (re.compile(r"\b\d+ octets\b"), "<n> octets"),
]
_SMTP_FINAL = re.compile(r"^(\d{3})(?: (\d\.\d{1,3}\.\d{1,3})\b)?")
_POP3_STATUS = re.compile(r"^([+-](?:OK|ERR))")
_IMAP_TAGGED = re.compile(r"^[^\s*+]+ (OK|NO|BAD)(?: \[([^\]\s]+))?", re.IGNORECASE)
_IMAP_UNTAGGED = re.compile(r"^\* (?:\d+ )?([A-Za-z-]+)(?: \[([^\]\s]+))?")


def normalise_text(line: str) -> str:
    for pattern, placeholder in _VOLATILE:
        line = pattern.sub(placeholder, line)
    return line


def reply_lines(received: str) -> list[str]:
    """The lines of a step's received octets (written visibly: CRLF as \\r\\n)."""
    return [line for line in re.split(r"\\r\\n|\\n", received) if line]


def signature(protocol: str, received: str, mode: str) -> list[str]:
    """What of one step's replies is compared, in order."""
    lines = reply_lines(received)
    if mode == "text":
        return [normalise_text(line) for line in lines]
    out = []
    for line in lines:
        if protocol in ("smtp", "lmtp"):
            found = _SMTP_FINAL.match(line)
            if found and line[3:4] != "-":
                out.append(" ".join(part for part in found.groups() if part))
        elif protocol == "pop3":
            found = _POP3_STATUS.match(line)
            if found:
                out.append(found.group(1))
        elif (found := _IMAP_TAGGED.match(line) or _IMAP_UNTAGGED.match(line)) is not None:
            prefix = "*" if line.startswith("*") else "tag"
            out.append(" ".join(part.upper() for part in (prefix, *found.groups()) if part))
    return out


@dataclass(frozen=True)
class Difference:
    key: str
    title: str
    file: str
    line: int  # the step's line in the YAML, or the case's when the statuses differ
    step: int | None  # 1-based; None when only the verdicts differ
    a: list[str]
    b: list[str]
    a_status: str
    b_status: str


def compare_runs(a: Mapping[str, Any], b: Mapping[str, Any], mode: str = "codes"
                 ) -> dict[str, Any]:
    """Where two run documents of the same selection differ, step by step."""
    if mode not in MODES:
        raise ValueError(f"differential mode {mode!r}: one of {', '.join(MODES)}")
    b_cases = {case["key"]: case for case in b["cases"]}
    differences: list[Difference] = []
    compared = same = 0
    for case in a["cases"]:
        other = b_cases.get(case["key"])
        if other is None or "skip" in (case["status"], other["status"]):
            continue
        compared += 1
        found = _first_difference(case, other, mode)
        if found is None:
            same += 1
        else:
            differences.append(found)
    return {
        "mode": mode,
        "a": a["target"]["name"],
        "b": b["target"]["name"],
        "compared": compared,
        "identical": same,
        "differences": [asdict(d) for d in differences],
    }


def _first_difference(a: Mapping[str, Any], b: Mapping[str, Any], mode: str
                      ) -> Difference | None:
    def make(step: int | None, line: int, sa: list[str], sb: list[str]) -> Difference:
        return Difference(a["key"], a["title"], a["file"], line, step, sa, sb, a["status"],
                          b["status"])

    for number, (step_a, step_b) in enumerate(zip(a["steps"], b["steps"], strict=False), 1):
        sig_a = signature(a["protocol"], step_a["received"], mode)
        sig_b = signature(a["protocol"], step_b["received"], mode)
        if sig_a != sig_b:
            return make(number, step_a["line"], sig_a, sig_b)
    if a["status"] != b["status"] or len(a["steps"]) != len(b["steps"]):
        return make(None, a["line"], [a["status"], a["reason"]], [b["status"], b["reason"]])
    return None
