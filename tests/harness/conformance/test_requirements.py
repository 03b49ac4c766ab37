from __future__ import annotations

from pathlib import Path

import pytest

from harness.requirements import RequirementError, coverage, load_requirements, trace

from .conftest import SPECS


def test_loads_both_file_shapes() -> None:
    requirements = {r.id: r for r in load_requirements(SPECS / "requirements")}
    assert len(requirements) == 7
    ehlo = requirements["T-5321-ehlo"]
    assert (ehlo.rfc, ehlo.section, ehlo.level, ehlo.bucket) == ("RFC 5321", "4.1.1.1", "MUST",
                                                                  "MUST")
    assert ehlo.line == 3
    assert requirements["T-1939-stat"].rfc == "RFC 1939"
    assert not requirements["T-5321-local-part"].observable


def test_problems_carry_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "rfc: RFC 1\nrequirements:\n  - id: X-1\n    section: '1'\n    level: MUST\n"
        "    text: t\n  - id: X-2\n    section: '2'\n    level: OUGHT\n    text: t\n"
        "  - id: X-3\n    level: MAY\n    text: t\n    colour: red\n")
    (tmp_path / "b.yaml").write_text("- {id: X-1, rfc: RFC 2, section: '1', level: MAY, "
                                     "text: dup}\n")
    with pytest.raises(RequirementError) as caught:
        load_requirements(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / 'a.yaml'}:7: level 'OUGHT' is not an RFC 2119 key word" in message
    assert f"{tmp_path / 'a.yaml'}:11: unknown key(s) colour" in message
    assert f"{tmp_path / 'a.yaml'}:11: missing section" in message
    assert f"{tmp_path / 'b.yaml'}:1: duplicate id 'X-1'" in message


def test_traceability_and_coverage_numbers() -> None:
    requirements = load_requirements(SPECS / "requirements")
    cases = [
        {"key": "a", "status": "pass", "covers": ["T-5321-ehlo", "T-5321-noop"]},
        {"key": "b", "status": "fail", "covers": ["T-5321-noop"]},
        {"key": "c", "status": "skip", "covers": ["T-5321-unknown"]},
        {"key": "d", "status": "pass", "covers": ["T-1939-stat", "NO-SUCH-ID"]},
    ]
    rows, unknown = trace(requirements, cases)
    results = {row.requirement.id: row.result for row in rows}
    assert results == {"T-5321-ehlo": "pass", "T-5321-noop": "fail", "T-5321-unknown": "skip",
                       "T-5321-vrfy": "untested", "T-5321-local-part": "untested",
                       "T-1939-stat": "pass", "T-1939-retr": "untested"}
    assert unknown == [("d", "NO-SUCH-ID")]
    figures = coverage(rows)
    # 6 observable requirements (local-part is not); covered: ehlo, noop, unknown, stat.
    assert figures["all"] == {"total": 6, "covered": 4, "passing": 2, "coverage": 0.6667,
                              "pass_rate": 0.3333}
    assert figures["SHOULD"]["covered"] == 0 and figures["MAY"]["coverage"] is None
