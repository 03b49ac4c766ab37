"""Helpers for the SMTP core tests: an in-memory session and reply splitting."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reference_servers.auth import UserTable
from reference_servers.smtp import Aliases, Directory, SmtpPolicy
from reference_servers.smtp.testing import Session

ALIASES = """
aliases:
  info: [alice]
  fwd: carol@remote.test
  loop1: loop2
  loop2: loop1
lists:
  team: [alice, bob, dave@remote.test]
  everyone: [team, alice]
moved:
  olduser: alice@new.test
"""

EHLO = b"EHLO client.test\r\n"
MAIL = b"MAIL FROM:<sender@remote.test>\r\n"
RCPT = b"RCPT TO:<alice@example.test>\r\n"


def make_directory() -> Directory:
    return Directory(UserTable.default(), Aliases.from_yaml(ALIASES))


def make_session(*, tls: bool = False, relay: bool = False, **policy: object) -> Session:
    base = SmtpPolicy(hostname="mx.example.test")
    return Session(replace(base, **policy), make_directory(), tls=tls, relay=relay)  # type: ignore[arg-type]


def replies(output: bytes) -> list[bytes]:
    """Split server output into whole replies (multi-line replies stay together)."""
    out: list[bytes] = []
    current = b""
    for line in output.split(b"\r\n")[:-1]:
        current += line + b"\r\n"
        if line[3:4] != b"-":
            out.append(current)
            current = b""
    assert current == b"", f"unterminated reply {current!r}"
    return out


@pytest.fixture
def session() -> Session:
    return make_session()
