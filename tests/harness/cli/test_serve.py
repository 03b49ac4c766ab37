"""``mailharness serve`` as a user runs it: banner, clean stop, one-line errors."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli._embedded import LISTENERS, available_kinds
from reference_servers.store._store import resolve_sync_method


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


def serve_args(data_dir: Path, ports: dict[str, int]) -> list[str]:
    args = [sys.executable, "-m", "harness", "serve", "--data-dir", str(data_dir)]
    for spec in LISTENERS:
        args += [f"--{spec.kind}-port", str(ports.get(spec.kind, 0))]
    return args


@pytest.mark.parametrize("sync", ["fsync", "auto"])
def test_serve_prints_listeners_and_users_then_stops_cleanly_on_sigterm(
        tmp_path: Path, sync: str) -> None:
    kinds = available_kinds()
    ports = dict(zip(kinds, free_ports(len(kinds)), strict=True))
    proc = subprocess.Popen([*serve_args(tmp_path, ports), "--sync", sync],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("Ctrl-C stops."):
                break
        banner = "".join(lines)
        for _kind, port in ports.items():
            assert f"127.0.0.1:{port}" in banner
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass
        assert "alice@example.test" in banner and "bob@example.test" in banner
        method = resolve_sync_method(sync)
        assert f"durability  {method} before each 250" in banner
        if "smtp" in ports:  # a message goes through whichever way it is made durable
            with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=10) as client:
                client.sendmail("x@remote.test", ["alice@example.test"],
                                b"Subject: durable\r\n\r\nbody\r\n")
            new = tmp_path / "mail" / "alice" / "Maildir" / "new"
            assert [p.read_bytes().endswith(b"body\r\n") for p in new.iterdir()] == [True]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    kinds = available_kinds()
    if not kinds:
        return
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(serve_args(tmp_path, {kinds[0]: port}), capture_output=True,
                                text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "address in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unusable_data_dir_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    kinds = available_kinds()
    ports = dict(zip(kinds, free_ports(len(kinds)), strict=True))
    result = subprocess.run(serve_args(blocker / "data", ports), capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
