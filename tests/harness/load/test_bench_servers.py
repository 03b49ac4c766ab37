"""`mailharness bench servers`, short and bounded: every server answers, every accepted
message is on disk, and the report files are written and parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.peers import dovecot, postfix, smtp_tools


def test_bench_servers_small(tmp_path: Path) -> None:
    for check in (smtp_tools.available, postfix.available, dovecot.available):
        reason = check()
        if reason:
            pytest.skip(reason)
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "bench", "servers", "--messages", "200", "--runs", "1",
         "--pop3-seconds", "1", "--pop3-messages", "50", "--sync", "fsync", "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads((out / "bench.json").read_text())
    assert set(data["smtp"]) == {f"{s} {m}" for s in ("reference", "aiosmtpd", "postfix")
                                 for m in ("new", "reuse")}
    assert all(v["all_on_disk"] for v in data["smtp"].values()), data["smtp"]
    assert set(data["pop3"]) == {"reference", "dovecot"}
    assert all(v["median_sessions_per_s"] > 0 for v in data["pop3"].values())
    assert "pop3 reference / dovecot" in data["ratios"]
    assert data["reference_sync"] == "fsync"
    report = (out / "bench.md").read_text()
    assert report.startswith("# Server benchmark") and "--sync fsync" in report
