"""Fixtures for the store tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference_servers.store import Store

MSG = b"From: a@example.test\r\nSubject: hello\r\n\r\nbody line\r\n"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    # fsync on: the code paths under test are the durable ones; tmpfs/ext4 keep it fast.
    return Store(tmp_path / "mail")
