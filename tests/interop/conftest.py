"""Fixtures for the interop tier: private, world-traversable base dirs for real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.peers import private_base_dir


@pytest.fixture
def peer_dir() -> Iterator[Path]:
    """A short /tmp directory the postfix/dovecot/nobody users can enter, removed after."""
    with private_base_dir() as path:
        yield path


@pytest.fixture
def as_root() -> None:
    # Postfix's and Dovecot's masters start as root and drop privileges per daemon.
    if os.geteuid() != 0:
        pytest.skip("starting a private Postfix or Dovecot needs root")


@pytest.fixture
def token(request: pytest.FixtureRequest) -> str:
    """A string no other test or run puts in a message, to find exactly our message."""
    return f"mh-{request.node.name}-{os.getpid()}-{os.urandom(4).hex()}"
