"""The pytest plugin, run as users run it: a pytest subprocess with -p harness.pytest_plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conformance.conftest import SPECS, picky_smtp
from .conftest import FakeServer

REPO_SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A project of its own: the example specs and a plain pytest.ini, away from our conftests."""
    shutil.copytree(SPECS, tmp_path / "specs")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.chdir(tmp_path)


def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p",
               "no:cacheprovider", "--strict-markers", "-rs", "specs", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=50, check=False)


@pytest.fixture
def picky(fake_server: Callable[..., FakeServer]) -> FakeServer:
    return fake_server(picky_smtp)


def test_without_a_target_nothing_is_collected() -> None:
    done = pytest_run()
    assert "no tests ran" in done.stdout, done.stdout


def test_failure_points_at_the_yaml_line_with_expectation_and_bytes(picky: FakeServer) -> None:
    done = pytest_run("--mail-target", picky.url(), "-q")
    out = done.stdout
    assert done.returncode == 1, out
    assert "commands.yaml:8: FAIL: step 1" in out
    assert "expected code 250, got 502" in out
    assert "C: NOOP\\r\\n" in out and "S: 502 5.5.1 [bold]no[/bold] <script>\\xff\\r\\n" in out
    assert "1 failed, 3 passed, 3 skipped" in out  # pop3 has no endpoint; XNOTHING not offered
    assert "SKIPPED [1] specs/smtp/extension.yaml:1:" in out


def test_markers_and_keywords_select(picky: FakeServer) -> None:
    must = pytest_run("--mail-target", picky.url(), "-q", "-m", "must and smtp")
    assert "1 failed, 2 passed, 4 deselected" in must.stdout, must.stdout
    should = pytest_run("--mail-target", picky.url(), "-q", "-m", "should or rfc9999")
    assert "1 passed, 1 skipped, 5 deselected" in should.stdout, should.stdout
    keyword = pytest_run("--mail-target", picky.url(), "-q", "-k", "unknown and not ehlo")
    assert "1 passed, 6 deselected" in keyword.stdout, keyword.stdout


def test_runs_under_xdist_against_the_references(reference_servers: Any, tmp_path: Path) -> None:
    if not (reference_servers.available("smtp") and reference_servers.available("pop3")):
        pytest.skip("the reference SMTP and POP3 servers are not built")
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "domain: example.test\nendpoints:\n"
        f"  smtp: {reference_servers.url('smtp')}\n  pop3: {reference_servers.url('pop3')}\n"
        "users:\n  - {name: alice, password: secret}\n  - {name: bob, password: secret}\n")
    done = pytest_run("--mail-profile", str(profile), "-n", "2", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed, 1 skipped" in done.stdout
    # The whole POP3 suite: dozens of cases that each empty and refill alice's maildrop,
    # which the server locks per session (RFC 1939 §8). Under xdist they must take turns.
    shutil.copytree(REPO_SPECS / "pop3", Path("specs") / "pop3-suite")
    pop3 = pytest_run("--mail-profile", str(profile), "-n", "2", "-q", "-m", "pop3 and mailbox")
    assert pop3.returncode == 0, pop3.stdout + pop3.stderr
