"""In-memory POP3 pairs (Connection + Session on a real store) and live servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reference_servers.auth import UserTable
from reference_servers.pop3 import _events as ev
from reference_servers.pop3._connection import Connection
from reference_servers.pop3._parser import ParseError
from reference_servers.pop3.policy import Pop3Policy
from reference_servers.pop3.session import Action, Session
from reference_servers.store import Store

FAST = {"auth_failure_delay": 0.0}


class Pipe:
    """A server side session driven line by line, without sockets.

    ``send(line)`` returns exactly the bytes the server would write in answer to the
    bytes sent (several responses for pipelined lines).
    """

    def __init__(self, store: Store, policy: Pop3Policy, *, tls: bool = True,
                 secure: bool = False, users: UserTable | None = None) -> None:
        self.conn = Connection(secure=secure, max_command_line=policy.max_command_line,
                               bare_lf=policy.bare_lf)
        self.session = Session(store=store, users=users or UserTable.default(),
                               hostname="pop.test", policy=policy, tls_available=tls,
                               secure=secure)
        self.greeting = self.conn.greeting(self.session.greeting_text())
        self.actions: list[Action] = []

    def send(self, data: bytes) -> bytes:
        self.conn.receive_data(data)
        out = []
        while True:
            try:
                command = self.conn.next_event()
            except ParseError as exc:
                assert exc.reply is not None
                out.append(exc.reply)
                continue
            if command is ev.NEED_DATA:
                break
            assert isinstance(command, ev.Command)
            action = self.session.handle(command)
            self.actions.append(action)
            out.append(self.conn.send(action.response))
            if action.close:
                self.session.close()
                break
        return b"".join(out)

    def cmd(self, line: str) -> bytes:
        return self.send(line.encode() + b"\r\n")

    def login(self, user: str = "alice", password: str = "secret") -> bytes:
        assert self.cmd(f"USER {user}").startswith(b"+OK")
        return self.cmd(f"PASS {password}")

    def drop(self) -> None:
        """The connection went away: what the server does on connection_lost."""
        self.session.close()


@dataclass
class Env:
    store: Store
    tmp: Path

    def pipe(self, **settings: Any) -> Pipe:
        kw = {k: settings.pop(k) for k in ("tls", "secure", "users") if k in settings}
        policy = Pop3Policy.from_settings({**FAST, **settings})
        return Pipe(self.store, policy, **kw)

    def deliver(self, user: str, data: bytes) -> None:
        self.store.deliver(user, data)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(Store(tmp_path / "mail", fsync=False), tmp_path)


@pytest.fixture
def pop3_server(tmp_path: Path) -> Iterator[Any]:
    """A private embedded POP3 + POP3S server (other listeners off) on free ports."""
    yield from _server(tmp_path, {})


def _server(tmp_path: Path, settings: dict[str, Any]) -> Iterator[Any]:
    from reference_servers.embedded import LISTENERS, EmbeddedThread, ServeConfig

    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports["pop3"] = 0
    ports["pop3s"] = 0
    config = ServeConfig(data_dir=tmp_path / "data", ports=ports,
                         settings={"pop3": {"auth_failure_delay": 0.05, **settings}})
    with EmbeddedThread(config) as thread:
        yield thread


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start a server with specific pop3 settings: ``server_factory(mode="delete")``."""
    gens: list[Iterator[Any]] = []

    def start(**settings: Any) -> Any:
        gen = _server(tmp_path / f"s{len(gens)}", settings)
        gens.append(gen)
        return next(gen)

    yield start
    for gen in gens:
        for _ in gen:
            pass
