"""The ``mailharness`` command itself: help, unbuilt subcommands, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.cli import SUBCOMMANDS, _module, build_parser, main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )


def test_top_level_help_lists_every_subcommand() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name, _, _ in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", [name for name, _, _ in SUBCOMMANDS])
def test_every_subcommand_has_help(name: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([name, "--help"])
    assert exit_info.value.code == 0


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: mailharness" in capsys.readouterr().out


def test_unbuilt_subcommand_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    unbuilt = [name for name, module, _ in SUBCOMMANDS if _module(module) is None]
    if not unbuilt:
        pytest.skip("every subcommand is built")
    assert main([unbuilt[0]]) == 2
    assert "not built yet" in capsys.readouterr().err
