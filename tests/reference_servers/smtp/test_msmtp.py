"""msmtp (Debian package msmtp), a real submission client, against the reference SMTP server:
STARTTLS and implicit TLS with the certificate checked against the loopback CA, AUTH, DSN
parameters, and the refusal of an unauthenticated submission."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reference_servers.embedded import LISTENERS, EmbeddedThread, ServeConfig

MSMTP = shutil.which("msmtp")
pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(MSMTP is None, reason="msmtp is not installed")]

MESSAGE = b"From: alice@example.test\nTo: bob@example.test\nSubject: {subject}\n\nHello Bob.\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedThread]:
    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports.update(submission=0, smtps=0)
    config = ServeConfig(data_dir=tmp_path_factory.mktemp("msmtp"), ports=ports)
    with EmbeddedThread(config) as thread:
        yield thread


def _msmtp(server: EmbeddedThread, kind: str, subject: str, *options: str,
           tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert MSMTP is not None and server.servers is not None
    empty = tmp_path / "msmtprc"
    empty.write_text("")  # no system or user configuration: only what the test says
    empty.chmod(0o600)
    argv = [MSMTP, "-C", str(empty), "--host=127.0.0.1",
            f"--port={server.servers.port(kind)}", "--tls=on",
            f"--tls-starttls={'on' if kind == 'submission' else 'off'}",
            f"--tls-trust-file={server.config.data_dir / 'tls' / 'ca.pem'}",
            "--from=alice@example.test", *options, "bob@example.test"]
    return subprocess.run(argv, input=MESSAGE.decode().format(subject=subject),
                          capture_output=True, text=True, timeout=30, check=False)


def _bob(server: EmbeddedThread, subject: str) -> list[bytes]:
    assert server.servers is not None
    folder = server.servers.ctx.store.mailbox("bob").folder()
    return [data for m in folder.messages()
            if f"Subject: {subject}".encode() in (data := folder.read(m.uid))]


@pytest.mark.parametrize("kind", ["submission", "smtps"])
def test_msmtp_submits_over_tls_with_auth(server: EmbeddedThread, kind: str,
                                          tmp_path: Path) -> None:
    subject = f"via msmtp {kind}"
    done = _msmtp(server, kind, subject, "--auth=on", "--user=alice",
                  "--passwordeval=echo secret", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    (stored,) = _bob(server, subject)
    assert stored.startswith(b"Return-Path: <alice@example.test>\r\nReceived: ")
    assert stored.endswith(b"\r\n\r\nHello Bob.\r\n")  # msmtp's LF sent as CRLF, kept as sent


def test_msmtp_dsn_request_gets_a_success_report(server: EmbeddedThread,
                                                  tmp_path: Path) -> None:
    assert server.servers is not None
    inbox = server.servers.ctx.store.mailbox("alice").folder()
    before = len(inbox.messages())
    done = _msmtp(server, "submission", "dsn please", "--auth=on", "--user=alice",
                  "--passwordeval=echo secret", "-N", "success", "-R", "hdrs",
                  tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _bob(server, "dsn please")
    deadline = time.monotonic() + 15  # RFC 3461 §6.2: a "delivered" DSN to the sender
    while time.monotonic() < deadline and len(inbox.messages()) == before:
        time.sleep(0.1)
    reports = [inbox.read(m.uid) for m in inbox.messages()[before:]]
    assert len(reports) == 1
    assert b"report-type=delivery-status" in reports[0]
    assert b"Action: delivered" in reports[0]
    assert b"Subject: dsn please" in reports[0]  # RET=HDRS returns the headers


def test_msmtp_without_auth_is_refused_by_submission(server: EmbeddedThread,
                                                     tmp_path: Path) -> None:
    done = _msmtp(server, "submission", "no auth", "--auth=off", tmp_path=tmp_path)
    assert done.returncode != 0
    assert "530" in done.stderr  # RFC 4954 §6: authentication required
    assert not _bob(server, "no auth")
