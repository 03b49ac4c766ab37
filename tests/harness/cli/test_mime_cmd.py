"""``mailharness mime lint`` through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

GOOD = (
    b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
    b"Date: Sun, 29 Nov 2026 09:00:00 +0000\r\nSubject: hi\r\nMessage-ID: <1@example.test>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello\r\n"
)
BAD = b"Subject: no from, no date\r\nContent-Transfer-Encoding: 7bit\r\n\r\ncaf\xc3\xa9\r\n"


def lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "mime", "lint", *args],
                          capture_output=True, text=True, timeout=30, check=False)


def test_clean_file_exits_0(tmp_path: Path) -> None:
    (tmp_path / "good.eml").write_bytes(GOOD)
    assert lint(str(tmp_path / "good.eml")).returncode == 0


def test_errors_exit_1_and_json_names_rules(tmp_path: Path) -> None:
    (tmp_path / "bad.eml").write_bytes(BAD)
    result = lint("--json", str(tmp_path / "bad.eml"))
    assert result.returncode == 1
    text = json.dumps(json.loads(result.stdout))
    assert "RFC" in text


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    assert lint(str(tmp_path / "missing.eml")).returncode == 2
