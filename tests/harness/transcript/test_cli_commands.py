"""``mailharness replay`` and ``mailharness import`` (the modules this package owns)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

CASE = "protocol: smtp\ntitle: t\nsteps:\n  - expect: 220\n  - send: NOOP\n    expect: {code}\n"


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_replay_pass_prints_each_exchange(smtp_fake: Any, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CASE.format(code=250))
    out_json = tmp_path / "r.json"
    assert main(["replay", str(path), "--target", smtp_fake.url(), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "C: NOOP\\r\\n" in out and "S: 250 2.0.0 OK\\r\\n" in out and "1 pass" in out
    assert json.loads(out_json.read_text())[0]["status"] == "pass"


def test_replay_failure_shows_the_diff_and_exits_1(smtp_fake: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CASE.format(code=554))
    assert main(["replay", str(path), "--target", smtp_fake.url()]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "- code 554" in out and "+ 250 2.0.0 OK" in out
    assert f"{path}:5" in out


def test_replay_unreachable_and_bad_file_exit_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"smtp://127.0.0.1:{sock.getsockname()[1]}"
        assert main(["replay", str(write(tmp_path, CASE.format(code=250))), "--target", url]) == 2
    bad = write(tmp_path, "protocol: smtp\ntitle: t\nsteps:\n  - sned: x\n", "bad.yaml")
    assert main(["replay", str(bad), "--target", url]) == 2
    assert f"{bad}:4:" in capsys.readouterr().err
    assert main(["replay", str(bad), "--target", "gopher://x"]) == 2


def test_replay_a_telnet_log_directly(smtp_fake: Any, tmp_path: Path) -> None:
    log = write(tmp_path, "220 hi\nHELO me\n250 ok\nQUIT\n221 bye\n", "session.log")
    assert main(["replay", str(log), "--target", smtp_fake.url(), "-q"]) == 0


def test_import_writes_yaml_that_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write(tmp_path, "S: +OK hi\nC: STAT\nS: +OK 0 0\n", "rfc.txt")
    out = tmp_path / "out.yaml"
    assert main(["import", str(log), "-o", str(out), "--rfc", "RFC 1939 §5"]) == 0
    assert "rfc: RFC 1939 §5" in out.read_text()
    assert main(["import", str(log)]) == 0
    assert "send: STAT" in capsys.readouterr().out
    assert main(["import", str(write(tmp_path, "nothing\n", "x.log"))]) == 2
    assert main(["import", str(tmp_path / "missing.log")]) == 2


def test_record_command_writes_a_replayable_case(pop3_fake: Any, tmp_path: Path) -> None:
    import poplib
    import subprocess
    import sys

    out = tmp_path / "rec.yaml"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "record", "--listen", "127.0.0.1:0", "--target",
         pop3_fake.url("pop3"), "--out", str(out), "--wait", "10"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        port = int(first.split()[2].rstrip(",").rsplit(":", 1)[1])
        pop = poplib.POP3("127.0.0.1", port, timeout=5)
        pop.user("alice")
        pop.pass_("secret")
        pop.list()
        pop.quit()
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    recorded = out.read_text()
    assert "send: LIST" in recorded and "USER $user" in recorded and "PASS $password" in recorded
    url = pop3_fake.url("pop3")
    assert main(["replay", str(out), "--target", url.replace("://", "://bob:pw@"), "-q"]) == 0
    assert main(["replay", str(out), "--target", url, "-q"]) == 2  # no user to log in as


def test_replay_into_a_closed_pipe_exits_quietly(smtp_fake: Any, tmp_path: Path) -> None:
    """``mailharness replay ... | head -1``: no BrokenPipeError traceback."""
    import subprocess
    import sys

    steps = "".join("  - send: NOOP\n    expect: 250\n" for _ in range(2000))
    path = write(tmp_path, "protocol: smtp\ntitle: t\nsteps:\n  - expect: 220\n" + steps)
    replay = subprocess.Popen([sys.executable, "-m", "harness", "replay", str(path), "--target",
                               smtp_fake.url()], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert replay.stdout is not None
    replay.stdout.readline()
    replay.stdout.close()  # what head does after its line
    try:
        _, err = replay.communicate(timeout=30)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait(5)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert replay.returncode == 1
