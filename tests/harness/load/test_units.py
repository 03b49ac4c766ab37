"""The corpus, profiles, statistics and totals line: no sockets."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from harness.load.message import for_data, inspect, make_message
from harness.load.profile import ProfileError, builtin_profiles, load_profile, parse_profile
from harness.load.results import ResultRow, read_csv, write_csv
from harness.load.stats import Percentiles, percentile, summarize, totals_line


@pytest.mark.parametrize("size", [400, 1024, 1025, 5000, 250_000])
def test_message_has_exact_size_and_verifies(size: int) -> None:
    message = make_message("run.0.1", size, "a@example.test", ["b@example.test"])
    assert len(message) == size
    found = inspect(message)
    assert found is not None and found.message_id == "run.0.1" and found.intact


def test_inspect_survives_trace_headers_and_lf_storage_but_catches_damage() -> None:
    message = make_message("run.0.7", 2000, "a@example.test", ["b@example.test"])
    stored = b"Return-Path: <a@example.test>\r\nReceived: by mx\r\n" + message
    assert inspect(stored.replace(b"\r\n", b"\n")).intact  # type: ignore[union-attr]
    damaged = stored[:-10] + b"XXXXXXXX\r\n"
    assert inspect(damaged).intact is False  # type: ignore[union-attr]
    assert inspect(b"Subject: not ours\r\n\r\nbody\r\n") is None


def test_for_data_stuffs_dots_and_terminates() -> None:
    assert for_data(b".a\r\nb\r\n.c\r\n") == b"..a\r\nb\r\n..c\r\n.\r\n"
    assert for_data(b"x") == b"x\r\n.\r\n"


def test_builtin_profiles_load_and_name_their_source() -> None:
    assert {"smtp-source-1k", "mixed"} <= set(builtin_profiles())
    for name in builtin_profiles():
        profile = load_profile(name)
        assert profile.source
    fixed = load_profile("smtp-source-1k").smtp
    assert fixed.sizes.mean() == 1024 and fixed.connection == "new"


@pytest.mark.parametrize(("data", "needle"), [
    ({"name": "x"}, "source"),
    ({"source": "s", "smtp": {"sizes": [{"min": 10, "max": 5}]}}, "sizes[1]"),
    ({"source": "s", "smtp": {"connection": "sometimes"}}, "connection"),
    ({"source": "s", "smtp": {"colour": 1}}, "unknown keys: colour"),
    ({"source": "s", "pop3": {"retr": -1}}, "retr"),
])
def test_profile_errors_name_the_key(data: dict, needle: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ProfileError, match=re.escape(needle)):
        parse_profile(data, "p.yaml")


def test_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("source: test\nsmtp:\n  sizes:\n    - {size: 700, weight: 1}\n"
                    "  recipients: [{count: 2}]\n  connection: reuse\n")
    profile = load_profile(path)
    assert profile.smtp.sizes.mean() == 700 and profile.smtp.recipients.mean() == 2


def test_percentiles_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99
    assert math.isnan(percentile([], 0.5))


def test_summary_and_totals_line(tmp_path: Path) -> None:
    rows = [ResultRow(100.0 + i / 10, "smtp:message", float(i), 1024, "250", "", f"r.0.{i}")
            for i in range(1, 21)]
    rows.append(ResultRow(101.5, "smtp:message", 3.0, 1024, "451", "MAIL 451: busy", "r.0.99"))
    summary = summarize(rows, 100.0, 102.0)
    assert summary.counts["smtp:message"] == (20, 1)
    assert summary.errors_by_code == {"451": 1}
    assert [b.ok for b in summary.timeline] == [9, 10, 1]
    line = totals_line(21, 20, 1, 0, 0, summary.rate(), Percentiles.of([1.0, 2.0, 30.0]))
    assert line == ("sent 21  accepted 20  lost 1  duplicated 0  corrupted 0  10 msg/s  "
                    "p50 2.0 ms  p95 30 ms  p99 30 ms")
    write_csv(rows, tmp_path / "rows.csv")
    assert list(read_csv(tmp_path / "rows.csv"))[-1].error == "MAIL 451: busy"


def test_mixed_profile_says_its_weights_are_illustrative(capsys) -> None:  # type: ignore[no-untyped-def]
    from harness.cli import main

    assert load_profile("mixed").source.startswith("Illustrative only")
    with pytest.raises(SystemExit):
        main(["load", "--help"])
    assert "ILLUSTRATIVE" in capsys.readouterr().out


def test_auth_follows_the_target_url(tmp_path: Path) -> None:
    from harness.load.native import check_auth, wants_auth
    from harness.target import parse_target

    assert wants_auth(parse_target("submission://alice:secret@127.0.0.1:1"))
    assert not wants_auth(parse_target("smtp://127.0.0.1:1"))
    path = tmp_path / "auth.yaml"
    path.write_text("source: test\nsmtp: {auth: true}\n")
    with pytest.raises(ValueError, match="user:password"):
        check_auth(load_profile(path), parse_target("smtps://127.0.0.1:1"))
