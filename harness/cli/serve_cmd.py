"""``mailharness serve``: every reference server that exists, in one process on loopback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from . import _embedded


def default_data_dir() -> Path:
    """A per-user state directory (XDG_STATE_HOME, else ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "mailharness"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the reference servers on loopback",
        description="Run every reference server in one asyncio process. Stop with Ctrl-C "
        "or SIGTERM. A port of 0 disables that listener. With --config, start several "
        "servers for several domains from one topology file instead (MTAs relaying to "
        "each other, a submission server in front of an MTA); see examples/two-mtas.yaml.",
    )
    p.add_argument("--config", type=Path, default=None, metavar="FILE",
                   help="topology file (YAML): several servers, their domains, users, "
                   "ports and routes; the port flags below are then ignored")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"mail store, queue and certificates (default {default_data_dir()})")
    p.add_argument("--users", type=Path, default=None, metavar="FILE",
                   help="users file (YAML); default: built-in alice and bob @example.test")
    p.add_argument("--hostname", default="localhost",
                   help="name the servers give themselves in greetings (default %(default)s)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes serving each SMTP and POP3 listener on the same port "
                   "(SO_REUSEPORT), to use more than one core (default %(default)s)")
    p.add_argument("--sync", choices=_embedded.SYNC_METHODS, default="auto",
                   help="how a delivery is made durable before its 250: fsync each file, "
                   "the uid list and the directory, or one syncfs(2) per group commit "
                   "(Linux); auto picks syncfs where it exists (default %(default)s). "
                   "With --config, each server's settings.store.sync says it instead")
    built = set(_embedded.available_kinds())
    for spec in _embedded.LISTENERS:
        state = "" if spec.kind in built else "; not built yet in this version"
        p.add_argument(f"--{spec.kind}-port", type=int, default=spec.default_port, metavar="PORT",
                       help=f"{spec.description} (default {spec.default_port}; 0 disables"
                       f"{state})")


def _config(args: argparse.Namespace) -> _embedded.ServeConfig:
    ports: dict[str, int | None] = {}
    for spec in _embedded.LISTENERS:
        value = getattr(args, f"{spec.kind}_port")
        ports[spec.kind] = value if value else None
    if not 1 <= args.workers <= 64:
        raise ValueError("--workers must be between 1 and 64")
    workers = {"workers": args.workers} if args.workers > 1 else {}
    return _embedded.ServeConfig(
        data_dir=args.data_dir or default_data_dir(),
        host=args.host,
        hostname=args.hostname,
        users_file=args.users,
        ports=ports,
        settings={"smtp": dict(workers), "pop3": dict(workers), "store": {"sync": args.sync}},
    )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (the ``fast`` extra): the same servers, fewer cycles."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _print_listeners(servers: _embedded.EmbeddedServers, prefix: str = "") -> None:
    for item in servers.listening:
        tls = " (implicit TLS)" if item.implicit_tls else ""
        print(f"{prefix}{item.kind:<11} {item.host}:{item.port}{tls}  {item.description}",
              flush=True)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("Ctrl-C stops.", flush=True)
    await stop.wait()


async def _serve(config: _embedded.ServeConfig) -> None:
    servers = await _embedded.EmbeddedServers.start(config)
    try:
        if not servers.listening:
            print("no reference server is built or enabled", file=sys.stderr)
            return
        _print_listeners(servers)
        workers = config.settings.get("smtp", {}).get("workers", 1)
        if workers > 1:
            print(f"workers     {workers} processes per SMTP and POP3 listener")
        print(f"data dir    {config.data_dir}")
        print(f"durability  {servers.ctx.store.sync_method} before each 250 (--sync)")
        users = _embedded.default_users() if config.users_file is None else []
        for address, password in users:
            print(f"user        {address}  password {password}")
        if config.users_file is not None:
            print(f"users from  {config.users_file}")
        await _wait_for_signal()
    finally:
        await servers.close()


async def _serve_topology(path: Path, data_dir: Path | None) -> None:
    running = await _embedded.start_topology(path, data_dir=data_dir)
    try:
        for servers in running:
            ctx = servers.ctx
            domains = ", ".join(sorted(ctx.users.domains))
            print(f"[{ctx.hostname}] domains {domains}; data dir {ctx.data_dir}")
            _print_listeners(servers, prefix="  ")
            for name in ctx.users.user_names():
                print(f"  user        {name}@{sorted(ctx.users.domains)[0]}")
        await _wait_for_signal()
    finally:
        for servers in reversed(running):
            await servers.close()


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except ValueError as exc:
        print(f"mailharness serve: {exc}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            if args.config is not None:
                runner.run(_serve_topology(args.config, args.data_dir))
            else:
                runner.run(_serve(config))
    except ValueError as exc:  # a bad users or topology file: the message names file and line
        print(f"mailharness serve: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"mailharness serve: cannot write {exc.filename or config.data_dir}: "
              f"{exc.strerror}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"mailharness serve: address in use: {exc.strerror}", file=sys.stderr)
        elif exc.errno == errno.EACCES:
            print(f"mailharness serve: permission denied: {exc}", file=sys.stderr)
        else:
            print(f"mailharness serve: {exc}", file=sys.stderr)
        return 1
    with contextlib.suppress(Exception):
        print("stopped.")
    return 0
