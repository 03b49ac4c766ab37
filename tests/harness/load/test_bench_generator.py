"""`mailharness bench generator`, short and bounded: the native engine and smtp-source both
deliver every message to one smtp-sink, and the report files are written and parse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.peers import smtp_tools


def test_bench_generator_small(tmp_path: Path) -> None:
    reason = smtp_tools.available()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "bench", "generator", "--messages", "300",
         "--sessions", "10", "--runs", "1", "--no-locust", "--out", str(out)],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads((out / "bench.json").read_text())
    names = set(data["results"])
    assert {"smtp-source new", "native new", "smtp-source reuse", "native reuse"} <= names, names
    assert (out / "bench.md").exists()
