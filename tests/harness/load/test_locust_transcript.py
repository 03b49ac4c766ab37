"""The locust transcript user: a YAML transcript's cases as locust tasks, each one a
request event, against the reference servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.load import locust_runner
from harness.load.config import LoadConfig

EXAMPLE = Path(__file__).parents[3] / "specs" / "examples" / "rfc5321-d1.yaml"


def test_transcript_cases_run_as_locust_tasks(reference_servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not reference_servers.available("smtp"):
        pytest.skip("the reference SMTP server is not built yet")
    config = LoadConfig("transcript", reference_servers.url("smtp"), users=2, duration=10,
                        messages=8)
    mode = locust_runner.LocustMode(transcript=str(EXAMPLE))
    outcome = locust_runner.run(config, mode, tmp_path)
    rows = outcome.result.rows
    assert outcome.returncode == 0
    assert len(rows) == 8 == outcome.locust_requests  # one request event per case run
    assert {r.name.split(":")[0] for r in rows} == {"transcript"}
    errors = [r for r in rows if not r.ok]
    assert not errors, errors[:3]
    assert {r.code for r in rows} == {"pass"}, rows[:3]


def test_cli_transcript_load(reference_servers, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    if not reference_servers.available("smtp"):
        pytest.skip("the reference SMTP server is not built yet")
    code = main(["load", "transcript", "--engine", "locust", "--transcript", str(EXAMPLE),
                 "--target", reference_servers.url("smtp"), "--users", "2", "--duration", "5",
                 "--messages", "4", "--out", str(tmp_path / "report"), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.rstrip().splitlines()[-1].startswith("sent 4  accepted 4  lost 0"), printed
