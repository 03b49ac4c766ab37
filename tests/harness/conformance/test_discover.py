from __future__ import annotations

from pathlib import Path

import pytest

from harness.conformance import SuiteError, find_suites, select
from harness.conformance.discover import case_key, is_required, rfc_parts

from .conftest import SPECS


def test_suites_are_protocol_directories() -> None:
    assert set(find_suites(SPECS)) == {"smtp", "pop3"}  # not 'requirements'


def test_select_all_loads_every_case_with_stable_keys() -> None:
    selection = select(SPECS)
    keys = [case_key(case, SPECS) for case in selection.cases]
    assert len(keys) == len(set(keys)) == 7
    assert "smtp/commands.yaml::commands#2" in keys
    assert "pop3/maildrop.yaml::maildrop#1" in keys
    assert selection.errors == []


def test_select_one_suite_and_keyword() -> None:
    assert {c.protocol for c in select(SPECS, ["pop3"]).cases} == {"pop3"}
    picked = select(SPECS, ["all"], "rset or (unknown and must)")
    assert sorted(c.title for c in picked.cases) == [
        "RSET is answered with 250", "an unknown command is answered with 500"]
    assert picked.deselected == 5


def test_unknown_suite_names_what_exists() -> None:
    with pytest.raises(SuiteError, match=r"no suite imap .*found: smtp, pop3"):
        select(SPECS, ["imap"])


def test_broken_files_are_all_reported_not_run(tmp_path: Path) -> None:
    (tmp_path / "smtp").mkdir()
    (tmp_path / "smtp" / "good.yaml").write_text(
        "protocol: smtp\ntitle: ok\nsteps:\n  - expect: 220\n")
    (tmp_path / "smtp" / "bad1.yaml").write_text("protocol: smtp\ntitle: x\nsteps: []\n")
    (tmp_path / "smtp" / "bad2.yaml").write_text(
        "protocol: smtp\ntitle: x\nsteps:\n  - send: NOOP\n    expect: {status: OK}\n")
    selection = select(tmp_path)
    assert [c.title for c in selection.cases] == ["ok"]
    assert sorted(Path(e.file).name for e in selection.errors) == ["bad1.yaml", "bad2.yaml"]


def test_rfc_parts_and_levels() -> None:
    assert rfc_parts("RFC 5321 §4.1.1.1") == ("RFC 5321", "4.1.1.1")
    assert rfc_parts("RFC1939 section 5") == ("RFC 1939", "5")
    assert rfc_parts(None) == ("", "")
    assert is_required("MUST") and is_required(None)
    assert not is_required("SHOULD") and not is_required("MAY")
