"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCHEMES = {
    "smtp": "smtp",
    "submission": "submission",
    "smtps": "smtps",
    "pop3": "pop3",
    "pop3s": "pop3s",
    "imap": "imap",
    "imaps": "imaps",
}


@dataclass
class RunningReferences:
    """The embedded reference servers of one test session, on free loopback ports."""

    thread: Any
    data_dir: Path

    def available(self, kind: str) -> bool:
        return self.port(kind) is not None

    def port(self, kind: str) -> int | None:
        servers = self.thread.servers
        return servers.port(kind) if servers is not None else None

    def url(self, kind: str, user: str | None = None, password: str = "secret") -> str:
        port = self.port(kind)
        if port is None:
            raise LookupError(f"the reference {kind} server is not built")
        auth = f"{user}:{password}@" if user else ""
        return f"{SCHEMES[kind]}://{auth}127.0.0.1:{port}"

    @property
    def ca_cert(self) -> Path:
        from reference_servers.tls import ensure_certificates

        return ensure_certificates(self.data_dir).ca_cert

    @property
    def store(self) -> Any:
        return self.thread.servers.ctx.store


@pytest.fixture(scope="session")
def reference_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReferences]:
    """Every reference server built so far, started once per test session (ports 0)."""
    from reference_servers.embedded import EmbeddedThread, ServeConfig, available_kinds

    data_dir = tmp_path_factory.mktemp("references")
    kinds = available_kinds()
    config = ServeConfig(data_dir=data_dir, ports={kind: 0 for kind in kinds})
    with EmbeddedThread(config) as thread:
        yield RunningReferences(thread, data_dir)
