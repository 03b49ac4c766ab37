from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.report.json_report import read_json

from ..conftest import FakeServer
from .conftest import SPECS


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich would wrap long lines at 80


def check(*args: str) -> int:
    return main(["check", "--specs", str(SPECS), *args])


def test_no_target_runs_every_suite_against_the_references(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], reference_servers: Any) -> None:
    if not (reference_servers.available("smtp") and reference_servers.available("pop3")):
        pytest.skip("the reference SMTP and POP3 servers are not built")
    assert check("--reports-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "OK: every MUST case passed" in out
    assert "the target does not advertise XNOTHING" in out
    document = read_json(tmp_path / "check.json")  # validates against the schema
    assert document["target"]["name"] == "reference servers"
    assert {"smtp", "submission", "pop3"} <= set(document["target"]["endpoints"])
    # The extra references of harness/cli/embedded_check.yaml, as named endpoints.
    assert {"smtp-policy", "smtp-refuse"} <= set(document["target"]["endpoints"])
    assert document["summary"]["pass"] == 6 and document["summary"]["skip"] == 1
    assert document["requirements"]["coverage"]["MUST"]["coverage"] == 1.0
    junit = ET.parse(tmp_path / "check-junit.xml").getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("skipped")) == ("7", "0", "1")
    assert "<svg" in (tmp_path / "check.html").read_text()


def test_a_failing_target_exits_1_and_shows_step_expectation_bytes(
        picky_server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = check("--target", picky_server.url(), "--suite", "smtp",
                   "--json", str(tmp_path / "run.json"), "--no-reports")
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL smtp/commands.yaml:8  NOOP is answered with 250" in out
    assert "step 1 at line 8:" in out
    assert "expected: code 250" in out
    assert "C: NOOP\\r\\n" in out
    assert "S: 502 5.5.1 [bold]no[/bold] <script>\\xff\\r\\n" in out  # bytes, not markup
    assert "FAILED: 1 MUST case(s) failed" in out
    assert read_json(tmp_path / "run.json")["summary"]["required_failed"] == 1
    assert not (tmp_path / "reports").exists()


def test_a_failing_should_case_does_not_fail_the_run(
        picky_server: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert check("--target", picky_server.url(), "-k", "not noop", "--no-reports") == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "smtp://127.0.0.1:9?connect_timeout=1"], "does not answer"),
    (["--target", "gopher://x"], "unknown scheme"),
    (["--suite", "imap", "--target", "smtp://127.0.0.1:9"], "no suite imap"),
    (["-k", "nothing-matches-this", "--target", "smtp://127.0.0.1:9"], "no case selected"),
    (["-k", "(ehlo", "--target", "smtp://127.0.0.1:9"], "ends too early"),
])
def test_runs_that_cannot_happen_exit_2(args: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert check(*args, "--no-reports") == 2
    assert message in capsys.readouterr().err


def test_a_spec_that_does_not_load_stops_the_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "smtp").mkdir()
    (tmp_path / "smtp" / "bad.yaml").write_text("protocol: smtp\ntitle: x\nsteps:\n  - nope: 1\n")
    status = main(["check", "--specs", str(tmp_path), "--target", "smtp://127.0.0.1:9",
                   "--no-reports"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{tmp_path / 'smtp' / 'bad.yaml'}:4:" in err and "nothing was run" in err


def test_differential_mode_shows_where_replies_differ(
        picky_server: FakeServer, smtp_fake: FakeServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    status = check("--target", smtp_fake.url(), "--diff-target", picky_server.url(),
                   "--suite", "smtp", "--json", str(tmp_path / "diff.json"), "--no-reports")
    out = capsys.readouterr().out
    assert status == 1
    assert "smtp/commands.yaml:8  NOOP is answered with 250  (step 1; A pass, B fail)" in out
    assert "A: 250 2.0.0" in out and "B: 502 5.5.1" in out
    differential = read_json(tmp_path / "diff.json")["differential"]
    # EHLO and the rest answer alike once free text is ignored; only NOOP differs.
    assert [d["key"] for d in differential["differences"]] == ["smtp/commands.yaml::commands#1"]


def test_the_extra_references_are_smtp_settings_and_aliases() -> None:
    from harness.cli.check_cmd import extra_references

    extra = extra_references()
    assert set(extra) == {"smtp-policy", "smtp-refuse"}
    assert extra["smtp-refuse"]["settings"] == {"refuse_service": True}
    policy = extra["smtp-policy"]
    assert policy["settings"]["vrfy_enabled"] is False
    assert policy["aliases"]["moved"] == {"relocated": "relocated@elsewhere.example"}


def test_named_endpoint_cases_run_on_the_extra_references(
        tmp_path: Path, reference_servers: Any) -> None:
    if not reference_servers.available("smtp"):
        pytest.skip("the reference SMTP server is not built")
    specs = Path(__file__).resolve().parents[3] / "specs"
    status = main(["check", "--specs", str(specs), "--suite", "smtp", "-k",
                   "refuse or 251 or 551 or 252 or 211 or 450 or 451 or 455",
                   "--no-reports", "--json", str(tmp_path / "run.json"), "-q"])
    assert status == 0
    document = read_json(tmp_path / "run.json")
    ids = {case["id"].split("#")[0]: case["status"] for case in document["cases"]}
    assert ids["smtp-5321-refuse-554-waits-for-quit"] == "pass"
    assert ids["smtp-5321-rcpt-551-user-moved"] == "pass"
    assert len(ids) >= 9 and set(ids.values()) == {"pass"}
