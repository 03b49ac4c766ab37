"""Several reference servers for several domains, from one YAML topology file.

``mailharness serve --config FILE`` runs the seed's multi-server scenarios on one
machine: two MTAs relaying to each other, a submission server in front of an MTA.
Each server gets its own data directory (store, queue, certificates), users,
listeners and route table. The file::

    data_dir: ./state            # optional; relative to this file; one sub-directory per server
    host: 127.0.0.1              # optional; the default listen address
    servers:
      mta-a:
        hostname: mta-a.test
        domains: [a.test]                          # inline users ...
        users: {alice: {password: {plain: secret}}}
        ports: {smtp: 0, submission: 0, imap: 0}   # 0 = a free port; absent/null = off
        routes: {b.test: {server: mta-b}}          # or "host:port", or {host, port}
        settings: {smtp: {relay: {retry_initial: 60}}}
      mta-b:
        hostname: mta-b.test
        users_file: users-b.yaml                   # ... or a users file (auth.UserTable)
        ports: {smtp: 2526}
        routes: {"*": {server: mta-a}}

A route to ``{server: NAME}`` is resolved when a message is relayed, to the SMTP
listener of that server, so servers that route to each other may all use free ports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .auth import UserFileError, UserTable
from .embedded import SPECS, EmbeddedServers, ServeConfig
from .relay.routes import NextHop, RouteError, parse_target
from .relay.settings import RelaySettings, RelaySettingsError
from .store import resolve_sync_method

_TOP_KEYS = ("data_dir", "host", "servers")
_SERVER_KEYS = ("hostname", "host", "domains", "users", "users_file", "ports", "routes",
                "settings")
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class TopologyError(ValueError):
    """A topology file that cannot be used; the message names the file and the key."""


@dataclass
class ServerSpec:
    name: str
    hostname: str
    host: str
    ports: dict[str, int | None]
    routes: dict[str, Any]
    settings: dict[str, dict[str, Any]]
    users_yaml: str | None = None  # inline users, as a users file to write
    users_file: Path | None = None


@dataclass
class Topology:
    source: Path
    data_dir: Path | None
    servers: list[ServerSpec] = field(default_factory=list)


def load_topology(path: str | os.PathLike[str]) -> Topology:
    source = Path(path)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TopologyError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TopologyError(f"{source}: not valid YAML: {exc}") from exc
    return _Reader(source).topology(raw)


class _Reader:
    def __init__(self, source: Path) -> None:
        self.source = source
        self.base = source.parent

    def fail(self, key: str, message: str) -> TopologyError:
        return TopologyError(f"{self.source}: {key}: {message}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(key, "must be a mapping with string keys")
        return value

    def keys(self, value: dict[str, Any], allowed: tuple[str, ...], key: str) -> None:
        for name in value:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else name,
                                f"unknown key; expected one of {', '.join(allowed)}")

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "must be a non-empty string")
        return value

    def topology(self, raw: Any) -> Topology:
        if raw is None:
            raise TopologyError(f"{self.source}: empty file; expected 'servers'")
        top = self.mapping(raw, "the top level")
        self.keys(top, _TOP_KEYS, "")
        data_dir = None
        if top.get("data_dir") is not None:
            data_dir = self.base / self.string(top["data_dir"], "data_dir")
        host = self.string(top.get("host", "127.0.0.1"), "host")
        servers = self.mapping(top.get("servers"), "servers")
        if not servers:
            raise self.fail("servers", "lists no server")
        topo = Topology(self.source, data_dir)
        for name, value in servers.items():
            if not set(name) <= _NAME_OK:
                raise self.fail(f"servers.{name}", "a server name may only use letters, "
                                "digits, '-', '_' and '.' (it names a directory)")
            topo.servers.append(self.server(name, value, host))
        self.check_ports(topo)
        self.check_routes(topo)
        return topo

    def server(self, name: str, raw: Any, default_host: str) -> ServerSpec:
        key = f"servers.{name}"
        spec = self.mapping(raw if raw is not None else {}, key)
        self.keys(spec, _SERVER_KEYS, key)
        ports = self.ports(spec.get("ports"), f"{key}.ports")
        routes = self.routes(spec.get("routes"), f"{key}.routes")
        settings = self.settings(spec.get("settings"), f"{key}.settings")
        try:
            RelaySettings.from_mapping(settings.get("smtp", {}).get("relay"))
        except RelaySettingsError as exc:
            raise self.fail(f"{key}.settings.smtp", str(exc)) from exc
        if routes and "routes" in settings.get("smtp", {}):
            raise self.fail(f"{key}.settings.smtp.routes", f"give the routes once, in {key}.routes")
        if "sync" in settings.get("store", {}):
            try:
                resolve_sync_method(str(settings["store"]["sync"]))
            except ValueError as exc:
                raise self.fail(f"{key}.settings.store.sync", str(exc)) from exc
        server = ServerSpec(
            name=name,
            hostname=self.string(spec.get("hostname", name), f"{key}.hostname"),
            host=self.string(spec.get("host", default_host), f"{key}.host"),
            ports=ports,
            routes=routes,
            settings=settings,
        )
        inline = "domains" in spec or "users" in spec
        if inline and "users_file" in spec:
            raise self.fail(key, "give either 'domains' and 'users' or 'users_file', not both")
        if "users_file" in spec:
            server.users_file = self.base / self.string(spec["users_file"], f"{key}.users_file")
            try:
                UserTable.load(server.users_file)
            except UserFileError as exc:
                raise self.fail(f"{key}.users_file", str(exc)) from exc
        elif inline:
            text = yaml.safe_dump({"domains": spec.get("domains"), "users": spec.get("users")})
            source = f"{self.source}: {key}"
            try:
                UserTable.from_yaml(text, source=source)
            except UserFileError as exc:
                # The line number is one of the re-dumped text, not of this file: drop it.
                detail = re.sub(r"^:\d+:", ":", str(exc)[len(source):])
                raise TopologyError(source + detail) from exc
            server.users_yaml = text
        return server

    def ports(self, raw: Any, key: str) -> dict[str, int | None]:
        ports = self.mapping(raw, key) if raw is not None else {}
        out: dict[str, int | None] = {kind: None for kind in SPECS}
        for kind, port in ports.items():
            if kind not in SPECS:
                raise self.fail(f"{key}.{kind}",
                                f"unknown listener; expected one of {', '.join(SPECS)}")
            if port is not None and (
                isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536
            ):
                raise self.fail(f"{key}.{kind}", "must be a port number, 0 (any free port) or null")
            out[kind] = port
        if not any(port is not None for port in out.values()):
            raise self.fail(key, "enables no listener")
        return out

    def routes(self, raw: Any, key: str) -> dict[str, Any]:
        routes = self.mapping(raw, key) if raw is not None else {}
        for domain, target in routes.items():
            try:
                parse_target(target, f"{key}.{domain}")
            except RouteError as exc:
                raise TopologyError(f"{self.source}: {exc}") from exc
        return dict(routes)

    def settings(self, raw: Any, key: str) -> dict[str, dict[str, Any]]:
        settings = self.mapping(raw, key) if raw is not None else {}
        return {proto: dict(self.mapping(v, f"{key}.{proto}")) for proto, v in settings.items()}

    def check_ports(self, topo: Topology) -> None:
        seen: dict[tuple[str, int], str] = {}
        for server in topo.servers:
            for kind, port in server.ports.items():
                if not port:
                    continue
                where = f"servers.{server.name}.ports.{kind}"
                other = seen.setdefault((server.host, port), where)
                if other != where:
                    raise self.fail(where, f"port {port} is already used by {other}")

    def check_routes(self, topo: Topology) -> None:
        by_name = {server.name: server for server in topo.servers}
        for server in topo.servers:
            for domain, target in server.routes.items():
                if not isinstance(target, Mapping) or "server" not in target:
                    continue
                key = f"servers.{server.name}.routes.{domain}.server"
                other = by_name.get(target["server"])
                if other is None:
                    raise self.fail(key, f"no server named {target['server']!r} in this file")
                if other.ports.get("smtp") is None:
                    raise self.fail(key, f"server {other.name!r} has no smtp listener to relay to")


def build_configs(
    topo: Topology,
    *,
    data_dir: Path | None = None,
    directory: dict[str, NextHop] | None = None,
) -> list[ServeConfig]:
    """One ServeConfig per server; writes inline users files into the data directories.

    ``directory`` (server name -> its SMTP listener) is shared with every relay so that
    ``{server: NAME}`` routes resolve once that server is listening.
    """
    base = data_dir or topo.data_dir or _default_base(topo.source)
    directory = directory if directory is not None else {}
    configs = []
    for server in topo.servers:
        server_dir = base / server.name
        server_dir.mkdir(parents=True, exist_ok=True)
        users_file = server.users_file
        if server.users_yaml is not None:
            users_file = server_dir / "users.yaml"
            users_file.write_text(
                f"# written from {topo.source} (servers.{server.name}); edits are overwritten\n"
                + server.users_yaml,
                encoding="utf-8",
            )
        settings = {proto: dict(values) for proto, values in server.settings.items()}
        smtp = settings.setdefault("smtp", {})
        if server.routes:
            smtp["routes"] = dict(server.routes)
        smtp["server_directory"] = directory
        configs.append(ServeConfig(
            data_dir=server_dir,
            host=server.host,
            hostname=server.hostname,
            users_file=users_file,
            ports=dict(server.ports),
            settings=settings,
        ))
    return configs


def _default_base(source: Path) -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "mailharness" / "topology" / source.stem


async def start_topology(
    path: str | os.PathLike[str], *, data_dir: Path | None = None
) -> list[EmbeddedServers]:
    """Start every server of the topology file, in file order; all or none."""
    topo = load_topology(path)
    directory: dict[str, NextHop] = {}
    configs = build_configs(topo, data_dir=data_dir, directory=directory)
    started: list[EmbeddedServers] = []
    try:
        for server, config in zip(topo.servers, configs, strict=True):
            running = await EmbeddedServers.start(config)
            started.append(running)
            port = running.port("smtp")
            if port is not None:
                directory[server.name] = NextHop(config.host, port)
    except BaseException:
        for running in reversed(started):
            await running.close()
        raise
    return started
