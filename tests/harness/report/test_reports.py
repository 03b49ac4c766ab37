from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from rich.console import Console

from harness.cli import main
from harness.report.compare import compare
from harness.report.html import render_html
from harness.report.json_report import ReportError, read_json, schema, write_json
from harness.report.junit import to_xml
from harness.report.terminal import render_summary

NOOP = "smtp/commands.yaml::commands#1"


def test_document_follows_its_schema(picky_document: dict[str, Any], tmp_path: Path) -> None:
    assert list(Draft202012Validator(schema()).iter_errors(picky_document)) == []
    summary = picky_document["summary"]
    assert (summary["pass"], summary["fail"], summary["skip"], summary["ok"]) == (3, 1, 1, False)
    noop = next(c for c in picky_document["cases"] if c["key"] == NOOP)
    assert noop["steps"][0]["received"] == "502 5.5.1 [bold]no[/bold] <script>\\xff\\r\\n"
    assert noop["covers"] == ["T-5321-noop"] and noop["section"] == "4.1.1.9"
    write_json(picky_document, tmp_path / "run.json")
    assert read_json(tmp_path / "run.json") == picky_document


def test_read_json_refuses_other_files(picky_document: dict[str, Any], tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "mailharness-run", **{
        k: v for k, v in picky_document.items() if k != "schema"}, "version": 99}))
    with pytest.raises(ReportError, match="version 99"):
        read_json(other)
    broken = copy.deepcopy(picky_document)
    broken["cases"][0]["status"] = "meh"
    other.write_text(json.dumps(broken))
    with pytest.raises(ReportError, match="cases/0/status"):
        read_json(other)


def test_junit_reports_must_failures_with_line_and_bytes(picky_document: dict[str, Any]) -> None:
    root = to_xml(picky_document).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "1", "1")
    [failure] = root.iter("failure")
    assert failure.get("type") == "MUST"
    text = failure.text or ""
    assert "smtp/commands.yaml:8: NOOP is answered with 250" in text
    assert "C: NOOP" in text and "S: 502 5.5.1 [bold]no[/bold] <script>\\xff" in text
    ET.fromstring(ET.tostring(root))  # well-formed


def test_junit_reports_a_failed_should_case_as_skipped(picky_document: dict[str, Any]) -> None:
    document = copy.deepcopy(picky_document)
    rset = next(c for c in document["cases"] if c["level"] == "SHOULD")
    rset["status"] = "fail"
    root = to_xml(document).getroot()
    assert root.get("failures") == "1" and root.get("skipped") == "2"


def test_html_is_self_contained_and_escapes_server_bytes(picky_document: dict[str, Any]) -> None:
    page = render_html(picky_document)
    assert "<svg" in page and "<script" not in page
    assert "&lt;script&gt;" in page
    assert not re.search(r"(src|href)=\"?https?:", page)  # nothing fetched from the network
    assert "T-5321-noop" in page and "untested" in page  # the traceability table
    assert "smtp/commands.yaml:8" in page


def test_terminal_summary_prints_bytes_literally(picky_document: dict[str, Any]) -> None:
    console = Console(record=True, width=200)
    render_summary(console, picky_document)
    text = console.export_text()
    assert "S: 502 5.5.1 [bold]no[/bold] <script>\\xff\\r\\n" in text
    assert re.search(r"smtp\s+│\s+RFC 5321\s+│\s+MUST\s+│\s+2\s+│\s+1\s+│", text)
    assert "FAILED: 1 MUST case(s) failed" in text


def test_compare_lists_regressions_and_fixes(picky_document: dict[str, Any]) -> None:
    before = copy.deepcopy(picky_document)
    noop = next(c for c in before["cases"] if c["key"] == NOOP)
    noop["status"] = "pass"
    ehlo = next(c for c in before["cases"] if c["id"] == "ehlo")
    ehlo["status"] = "fail"
    before["cases"].append({**ehlo, "key": "gone::x"})
    result = compare(picky_document, before)
    assert [e["key"] for e in result["regressed"]] == [NOOP]
    assert [e["key"] for e in result["fixed"]] == ["smtp/ehlo.yaml::ehlo"]
    assert [e["key"] for e in result["removed"]] == ["gone::x"]
    assert result["unchanged"] == 3


def test_report_command_rerenders_and_compares(picky_document: dict[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    baseline = copy.deepcopy(picky_document)
    next(c for c in baseline["cases"] if c["key"] == NOOP)["status"] = "pass"
    write_json(picky_document, tmp_path / "now.json")
    write_json(baseline, tmp_path / "before.json")
    status = main(["report", str(tmp_path / "now.json"), "--compare", str(tmp_path / "before.json"),
                   "--html", str(tmp_path / "r.html"), "--junit", str(tmp_path / "r.xml")])
    out = capsys.readouterr().out
    assert status == 1
    assert "regressed (1):" in out and f"{NOOP}  pass -> fail" in out
    assert "Regressed" in (tmp_path / "r.html").read_text()
    assert ET.parse(tmp_path / "r.xml").getroot().get("failures") == "1"
    assert main(["report", str(tmp_path / "before.json"), "-q"]) == 0
    assert main(["report", str(tmp_path / "missing.json")]) == 2
