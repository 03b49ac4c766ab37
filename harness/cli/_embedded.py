"""The one place where the harness touches the reference servers (DESIGN.md).

The CLI starts the embedded reference servers from here (``serve``, and ``check`` with no
target) and reaches the reference MIME library for ``mime lint``. Nothing else in
:mod:`harness` may import :mod:`reference_servers`, so that a bug in a reference parser
can never hide itself by sitting on both sides of a test.
"""

from __future__ import annotations

from reference_servers.embedded import (
    LISTENERS,
    EmbeddedServers,
    EmbeddedThread,
    Listening,
    ServeConfig,
    available_kinds,
)
from reference_servers.store import SYNC_METHODS
from reference_servers.topology import TopologyError, start_topology

__all__ = [
    "LISTENERS",
    "SYNC_METHODS",
    "EmbeddedServers",
    "EmbeddedThread",
    "Listening",
    "ServeConfig",
    "TopologyError",
    "available_kinds",
    "default_users",
    "start_topology",
]


def default_users() -> list[tuple[str, str]]:
    """(address, password) of the built-in test users, for the serve banner."""
    from reference_servers.auth import UserTable

    table = UserTable.default()
    domain = sorted(table.domains)[0]
    return [(f"{name}@{domain}", "secret") for name in table.user_names()]


def mime_lint(paths: list[str], as_json: bool) -> tuple[int, str]:
    from reference_servers.mime.lint import lint_paths

    return lint_paths(paths, as_json)
