"""Extra server processes sharing one listening port, the way Dovecot spreads its
sessions over processes (and so over cores).

The listener in the serving process binds with SO_REUSEPORT; each worker is a fresh
interpreter (``spawn``: forking an event loop that already runs threads is not safe)
that builds its own server context from the same :class:`ServeConfig` and binds the same
port with SO_REUSEPORT, so the kernel spreads new connections over every process.
Whatever must hold across sessions holds across processes through the file system: the
store locks with flock(2), the POP3 maildrop lock is a flock'd lock file.

A worker watches a pipe from its parent and exits when the parent goes away, however it
goes (a SIGKILL'd parent leaves no orphan serving the port). It ignores SIGINT: a Ctrl-C
reaches the whole process group, and the parent stops its workers itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

# (kind, host, port, ctx) -> a listening asyncio server; run in each worker.
Starter = Callable[[str, str, int, Any], Awaitable[asyncio.AbstractServer]]
_STOP_TIMEOUT = 5.0


class SessionCounter:
    """The open sessions of one listener, across every process that serves it.

    A listener's connection limit (the SMTP and POP3 ``max_connections``; past it SMTP
    answers 421 as RFC 5321 §3.1 allows, POP3 -ERR [SYS/TEMP]) holds for the listener,
    however many processes serve it: with workers, the count is an integer in shared
    memory that each process changes under its lock; alone, a plain int. A worker that
    dies abruptly leaves its sessions counted until the server restarts (workers only
    exit with their parent).
    """

    def __init__(self, shared: Any | None = None) -> None:
        self._shared = shared  # a multiprocessing Value("i") with a lock, or None
        self._local = 0

    @classmethod
    def across_processes(cls) -> SessionCounter:
        return cls(multiprocessing.get_context("spawn").Value("i", 0))

    @property
    def shared(self) -> Any | None:
        """What a worker process needs to count with us (pass it to ``SessionCounter``)."""
        return self._shared

    def try_enter(self, limit: int) -> bool:
        """Count one more session, unless ``limit`` are open already."""
        if self._shared is None:
            if self._local >= limit:
                return False
            self._local += 1
            return True
        with self._shared.get_lock():
            if self._shared.value >= limit:
                return False
            self._shared.value += 1
            return True

    def leave(self) -> None:
        if self._shared is None:
            self._local -= 1
            return
        with self._shared.get_lock():
            self._shared.value -= 1


class Workers:
    """``count`` worker processes serving ``kind`` on ``host``:``port`` next to us."""

    def __init__(self, starter_module: str, kind: str, host: str, port: int, config: Any,
                 count: int, sessions: SessionCounter) -> None:
        self._args = (starter_module, kind, host, port, config, _uses_uvloop(), sessions.shared)
        self._count = count
        self._procs: list[Any] = []
        self._pipes: list[Connection] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def start(self) -> None:
        """Start the workers and wait until each one listens (raises if one fails)."""
        context = multiprocessing.get_context("spawn")
        for _ in range(self._count):
            ours, theirs = context.Pipe()
            proc = context.Process(target=_worker_main, args=(*self._args, theirs),
                                   daemon=True, name="mailharness-worker")
            proc.start()
            theirs.close()
            self._procs.append(proc)
            self._pipes.append(ours)
        for pipe in self._pipes:
            if not pipe.poll(60):
                raise RuntimeError("a server worker did not start in time")
            status = pipe.recv()
            if status != "ready":
                raise RuntimeError(f"a server worker failed to start: {status}")

    def stop(self) -> None:
        for pipe in self._pipes:
            pipe.close()  # the workers see EOF and exit
        for proc in self._procs:
            proc.join(_STOP_TIMEOUT)
            if proc.is_alive():
                proc.kill()
                proc.join(_STOP_TIMEOUT)
        self._procs.clear()
        self._pipes.clear()


def _uses_uvloop() -> bool:
    with contextlib.suppress(RuntimeError):
        return type(asyncio.get_running_loop()).__module__.startswith("uvloop")
    return False


def _worker_main(module: str, kind: str, host: str, port: int, config: Any, uvloop: bool,
                 sessions: Any, parent: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runner: asyncio.Runner
    if uvloop:
        import uvloop as _uvloop

        runner = asyncio.Runner(loop_factory=_uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve(module, kind, host, port, config, SessionCounter(sessions), parent))


async def _serve(module: str, kind: str, host: str, port: int, config: Any,
                 sessions: SessionCounter, parent: Connection) -> None:
    import importlib

    from .embedded import build_context

    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    try:
        ctx = build_context(config)
        server = await importlib.import_module(module).start_listener(
            kind, host, port, ctx, worker=True, sessions=sessions)
    except Exception as exc:  # the parent reports it; nothing is listening here
        parent.send(f"{type(exc).__name__}: {exc}")
        return
    parent.send("ready")
    loop.add_reader(parent.fileno(), gone.set)  # EOF (or anything) from the parent: stop
    try:
        await gone.wait()
    finally:
        loop.remove_reader(parent.fileno())
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), _STOP_TIMEOUT)
        os._exit(0)  # sessions still open are dropped, as on any server shutdown


_POOLS = "workers"  # ctx.services key: every worker pool of one embedded instance


def sessions_for(extra: int, given: SessionCounter | None) -> SessionCounter:
    """The session counter of a listener: the one a worker was given, a shared one for a
    listener about to start ``extra`` workers, or a plain one."""
    if given is not None:
        return given
    return SessionCounter.across_processes() if extra else SessionCounter()


async def spread(server: asyncio.Server, module: str, kind: str, host: str, ctx: Any,
                 extra: int, sessions: SessionCounter) -> None:
    """Start ``extra`` workers for a listener that bound with SO_REUSEPORT, then listen.

    The listener must be created with ``start_serving=False``: a bound socket that is not
    listening gets no connections, so every session that arrives while the workers start
    goes to a worker, and once this returns the kernel spreads them over every process.
    (Listening first would hand the whole first burst of sessions, e.g. a load generator
    that opens all its connections at once and reuses them, to this process alone.)

    The pool is kept in ``ctx.services`` so that :func:`stop_pools` (returned by each
    protocol's ``start_services``) stops it with the instance.
    """
    bound = server.sockets[0].getsockname()[1]  # port 0 picked one: the workers share it
    pool = Workers(module, kind, host, bound, ctx.config, extra, sessions)
    try:
        await asyncio.to_thread(pool.start)
    except BaseException:
        server.close()
        await asyncio.to_thread(pool.stop)
        raise
    ctx.services.setdefault(_POOLS, []).append(pool)
    await server.start_serving()


def pool_stopper(ctx: Any) -> Callable[[], Awaitable[None]]:
    """A stop callback for ``start_services``: stops every pool of the instance once."""

    async def stop_pools() -> None:
        for pool in ctx.services.pop(_POOLS, []):
            await asyncio.to_thread(pool.stop)

    return stop_pools
