"""The static route table: recipient domain -> next hop. No DNS, no MX lookups.

Settings form (``settings["smtp"]["routes"]``)::

    routes:
      b.test: "127.0.0.1:2526"              # host:port ([::1]:25 for IPv6)
      c.test: {host: 127.0.0.1, port: 2527}
      d.test: {server: mta-d}               # a named server of the same topology
      "*": "127.0.0.1:2525"                 # everything else

A named server is looked up at delivery time in a directory that the topology fills
in as its servers start, so servers that route to each other can all use free ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT = "*"


class RouteError(ValueError):
    """A bad route in the settings; the message names the key."""


@dataclass(frozen=True)
class NextHop:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class _Named:
    server: str


class RouteTable:
    def __init__(
        self,
        routes: Mapping[str, NextHop | str] | None = None,
        *,
        directory: Mapping[str, NextHop] | None = None,
    ) -> None:
        """``routes`` maps a domain (or "*") to a NextHop or the name of a server in
        ``directory``, a mapping that may still be filled in after construction."""
        self._routes: dict[str, NextHop | _Named] = {}
        for domain, target in (routes or {}).items():
            key = domain if domain == DEFAULT else domain.lower().rstrip(".")
            self._routes[key] = target if isinstance(target, NextHop) else _Named(target)
        self._directory = directory if directory is not None else {}

    @classmethod
    def from_settings(
        cls, raw: Any, *, directory: Mapping[str, NextHop] | None = None
    ) -> RouteTable:
        if raw is None:
            return cls(directory=directory)
        if not isinstance(raw, Mapping):
            raise RouteError("routes: must be a mapping of domain to next hop")
        routes: dict[str, NextHop | str] = {}
        for domain, value in raw.items():
            if not isinstance(domain, str) or not domain:
                raise RouteError(f"routes: key {domain!r} must be a domain or '*'")
            routes[domain] = parse_target(value, f"routes.{domain}")
        return cls(routes, directory=directory)

    def named_servers(self) -> set[str]:
        return {t.server for t in self._routes.values() if isinstance(t, _Named)}

    def has_route(self, domain: str) -> bool:
        """True if ``domain`` has a route (exact or "*"), started or not."""
        return domain.lower().rstrip(".") in self._routes or DEFAULT in self._routes

    def lookup(self, domain: str) -> NextHop | None:
        """The next hop for ``domain``: an exact match, else "*", else None (no route).

        A named server that has not started yet also gives None for now.
        """
        target = self._routes.get(domain.lower().rstrip("."))
        if target is None:
            target = self._routes.get(DEFAULT)
        if isinstance(target, _Named):
            return self._directory.get(target.server)
        return target

    def __repr__(self) -> str:
        return f"RouteTable({self._routes!r})"


def parse_target(value: Any, where: str) -> NextHop | str:
    """A route value from settings: "host:port", {host, port} or {server: name}."""
    if isinstance(value, str):
        return parse_host_port(value, where)
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"server"}:
            name = value["server"]
            if not isinstance(name, str) or not name:
                raise RouteError(f"{where}.server: must be a server name")
            return name
        if keys == {"host", "port"}:
            host, port = value["host"], value["port"]
            if not isinstance(host, str) or not host:
                raise RouteError(f"{where}.host: must be a host name or address")
            return NextHop(host, _port(port, f"{where}.port"))
        raise RouteError(f"{where}: expected {{host, port}} or {{server}}, got keys {sorted(keys)}")
    raise RouteError(f"{where}: expected 'host:port', {{host, port}} or {{server: NAME}}")


def parse_host_port(text: str, where: str) -> NextHop:
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise RouteError(f"{where}: {text!r} is not [host]:port")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise RouteError(f"{where}: {text!r} is not host:port")
    try:
        port = int(port_text)
    except ValueError:
        raise RouteError(f"{where}: {port_text!r} is not a port number") from None
    return NextHop(host, _port(port, where))


def _port(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise RouteError(f"{where}: port must be an integer from 1 to 65535")
    return value
