"""Start every reference server that exists in one asyncio process.

Each protocol package exposes, in its ``server`` module::

    async def start_listener(kind: str, host: str, port: int, ctx: ServerContext) -> asyncio.Server
    async def start_services(ctx: ServerContext) -> list[Callable[[], Awaitable[None]]]  # optional

``kind`` is one of the listener names in :data:`LISTENERS` that belongs to the module.
A module that does not exist yet is skipped: the embedded mode grows as servers land.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used, so that listing the listeners stays cheap
    from .auth import UserTable
    from .store import Store


@dataclass(frozen=True)
class ListenerSpec:
    kind: str
    module: str
    default_port: int
    implicit_tls: bool
    description: str


LISTENERS: tuple[ListenerSpec, ...] = (
    ListenerSpec("smtp", "reference_servers.smtp.server", 2525, False, "SMTP relay/MX (RFC 5321)"),
    ListenerSpec("submission", "reference_servers.smtp.server", 2587, False,
                 "SMTP submission, AUTH required (RFC 6409)"),
    ListenerSpec("smtps", "reference_servers.smtp.server", 2465, True,
                 "SMTP submission over implicit TLS (RFC 8314)"),
    ListenerSpec("pop3", "reference_servers.pop3.server", 2110, False, "POP3 (RFC 1939)"),
    ListenerSpec("pop3s", "reference_servers.pop3.server", 2995, True,
                 "POP3 over implicit TLS (RFC 8314)"),
    ListenerSpec("imap", "reference_servers.imap.server", 2143, False, "IMAP4rev1 (RFC 3501)"),
    ListenerSpec("imaps", "reference_servers.imap.server", 2993, True,
                 "IMAP over implicit TLS (RFC 8314)"),
)
SPECS = {spec.kind: spec for spec in LISTENERS}


@dataclass
class ServeConfig:
    """What to start. A port of None disables a listener; 0 picks a free port."""

    data_dir: Path
    host: str = "127.0.0.1"
    hostname: str = "localhost"
    users_file: Path | None = None
    ports: dict[str, int | None] = field(
        default_factory=lambda: {spec.kind: spec.default_port for spec in LISTENERS}
    )
    # Protocol-specific overrides, e.g. {"smtp": {"max_message_size": 1_000_000}}.
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ServerContext:
    """What every listener shares: the store, the users, TLS, the configuration."""

    config: ServeConfig
    store: Store
    users: UserTable
    tls: ssl.SSLContext
    # Services a protocol module's start_services() sets up for its listeners to use,
    # e.g. services["relay"] is the relay queue of the SMTP server.
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def hostname(self) -> str:
        return self.config.hostname

    @property
    def data_dir(self) -> Path:
        return self.config.data_dir

    def settings(self, protocol: str) -> dict[str, Any]:
        return self.config.settings.get(protocol, {})


@dataclass(frozen=True)
class Listening:
    kind: str
    host: str
    port: int
    implicit_tls: bool
    description: str


def available_kinds() -> list[str]:
    """The listener kinds whose server module exists in this build (nothing is imported)."""
    return [spec.kind for spec in LISTENERS if _exists(spec.module)]


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the protocol package itself is missing
        return False


def _load(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None  # that server has not been built yet
        raise


def build_context(config: ServeConfig) -> ServerContext:
    """Open the store, load the users and the certificates (all may raise OSError)."""
    from .auth import UserTable
    from .store import Store
    from .tls import server_context

    config.data_dir.mkdir(parents=True, exist_ok=True)
    users = UserTable.load(config.users_file) if config.users_file else UserTable.default()
    sync = config.settings.get("store", {}).get("sync", "auto")
    store = Store(config.data_dir / "mail", sync=sync)
    names = tuple(dict.fromkeys(("localhost", "127.0.0.1", config.hostname, config.host)))
    tls = server_context(config.data_dir, names)
    return ServerContext(config, store, users, tls)


class EmbeddedServers:
    """The running listeners and background services of one embedded instance."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.listening: list[Listening] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._stoppers: list[Callable[[], Awaitable[None]]] = []

    @classmethod
    async def start(cls, config: ServeConfig) -> EmbeddedServers:
        ctx = build_context(config)
        self = cls(ctx)
        try:
            await self._start_all()
        except BaseException:
            await self.close()
            raise
        return self

    async def _start_all(self) -> None:
        enabled = [
            (spec, port, module)
            for spec in LISTENERS
            if (port := self.ctx.config.ports.get(spec.kind)) is not None
            and (module := _load(spec.module)) is not None
        ]
        # Background services (e.g. the relay queue) start before anyone can connect.
        for name in dict.fromkeys(spec.module for spec, _, _ in enabled):
            module = _load(name)
            if module is not None and hasattr(module, "start_services"):
                self._stoppers.extend(await module.start_services(self.ctx))
        for spec, port, module in enabled:
            server = await module.start_listener(spec.kind, self.ctx.config.host, port, self.ctx)
            self._servers.append(server)
            sock_port = server.sockets[0].getsockname()[1]
            self.listening.append(
                Listening(spec.kind, self.ctx.config.host, sock_port, spec.implicit_tls,
                          spec.description)
            )

    def port(self, kind: str) -> int | None:
        for item in self.listening:
            if item.kind == kind:
                return item.port
        return None

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for stop in self._stoppers:
            with contextlib.suppress(Exception):
                await stop()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self._servers.clear()


class EmbeddedThread:
    """Embedded servers on an event loop in a background thread (for blocking callers)."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="mailharness-embedded")
        self.servers: EmbeddedServers | None = None

    def __enter__(self) -> EmbeddedThread:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(EmbeddedServers.start(self.config), self._loop)
        try:
            self.servers = future.result(timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.servers is not None:
            future = asyncio.run_coroutine_threadsafe(self.servers.close(), self._loop)
            with contextlib.suppress(Exception):
                future.result(timeout=30)
            self.servers = None
        if self._thread.is_alive():
            # Whatever is still running (a session, a relay attempt) is cancelled and
            # allowed to unwind before the loop stops, rather than destroyed pending.
            leftovers = asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop)
            with contextlib.suppress(Exception):
                leftovers.result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()


async def _cancel_all() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
