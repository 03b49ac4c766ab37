"""Aliases, mailing lists and moved users, and the directory that resolves addresses.

The file is YAML (it may be the users file itself: the user table ignores these keys)::

    aliases:            # one name, one or more targets; VRFY shows the target
      postmaster: alice
      info: [alice, bob@example.test]
    lists:              # the seed's group lists: EXPN shows the members
      team: [alice, bob, carol@remote.test]
    moved:              # RFC 5321 §3.4: 551 "User not local; please try <...>"
      olduser: alice@new.test

A name is a local part, valid in every local domain. A target is a local user name or a
full address; an address in a foreign domain is forwarded through the relay queue.
Pure data and pure functions: the protocol core calls it without doing I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from reference_servers.auth import UserTable

MAX_DEPTH = 8  # alias chains deeper than this are a loop or a mistake
KEYS = ("aliases", "lists", "moved")


class AliasFileError(ValueError):
    """An aliases file that cannot be loaded."""


class Kind(Enum):
    USER = "user"
    ALIAS = "alias"
    LIST = "list"
    MOVED = "moved"
    UNKNOWN = "unknown"  # a local domain, but no such user, alias or list
    FOREIGN = "foreign"  # not a local domain


@dataclass(frozen=True, slots=True)
class Resolution:
    kind: Kind
    local_users: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()
    target: str = ""  # MOVED: where to; ALIAS with one remote target: where it forwards


@dataclass(frozen=True)
class Aliases:
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    moved: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Aliases:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AliasFileError(f"{os.fspath(path)}: cannot read: {exc}") from exc
        return cls.from_yaml(text, source=os.fspath(path))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<aliases>") -> Aliases:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise AliasFileError(f"{source}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise AliasFileError(f"{source}: expected a mapping with {', '.join(KEYS)}")
        return cls(
            aliases=_targets(data.get("aliases"), "aliases", source),
            lists=_targets(data.get("lists"), "lists", source),
            moved={k: v[0] for k, v in _targets(data.get("moved"), "moved", source).items()},
        )

    def names(self) -> set[str]:
        return set(self.aliases) | set(self.lists) | set(self.moved)


def _targets(section: Any, name: str, source: str) -> dict[str, tuple[str, ...]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise AliasFileError(f"{source}: '{name}' must be a mapping")
    out: dict[str, tuple[str, ...]] = {}
    for key, value in section.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(key, str) or not isinstance(values, list) or not values or not all(
            isinstance(v, str) and v for v in values
        ):
            raise AliasFileError(f"{source}: {name}.{key}: expected a name or a list of names")
        out[key] = tuple(values)
    return out


class Directory:
    """Who an address is: the user table plus aliases, lists and moved users."""

    def __init__(self, users: UserTable, aliases: Aliases | None = None,
                 postmaster: str | None = None) -> None:
        self.users = users
        self.aliases = aliases or Aliases()
        names = users.user_names()
        self.postmaster = postmaster or (names[0] if names else "postmaster")

    def _local_part(self, address: str) -> str | None:
        """The local part if the address is in a local domain (or has no domain)."""
        if address.lower() == "postmaster":
            return "postmaster"
        local, at, domain = address.rpartition("@")
        if not at:
            return address
        if not self.users.is_local_domain(domain):
            return None
        if len(local) >= 2 and local[0] == local[-1] == '"':
            local = local[1:-1].replace("\\", "")
        return local

    def local_part(self, address: str) -> str | None:
        """The local part of an address in a local domain; None for a foreign domain."""
        return self._local_part(address)

    def resolve(self, address: str) -> Resolution:
        local = self._local_part(address)
        if local is None:
            return Resolution(Kind.FOREIGN, remote=(address,))
        if local in self.aliases.moved:
            return Resolution(Kind.MOVED, target=self.aliases.moved[local])
        for kind, table in ((Kind.LIST, self.aliases.lists), (Kind.ALIAS, self.aliases.aliases)):
            if local in table:
                users, remote = self._expand(table[local], 0, {local})
                target = remote[0] if not users and len(remote) == 1 else ""
                return Resolution(kind, users, remote, target)
        if local in self.users:
            return Resolution(Kind.USER, (local,))
        # RFC 5321 §4.5.1: postmaster MUST be accepted (case-insensitively).
        if local.lower() == "postmaster":
            return Resolution(Kind.ALIAS, (self.postmaster,))
        return Resolution(Kind.UNKNOWN)

    def _expand(self, targets: tuple[str, ...], depth: int,
                seen: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        users: dict[str, None] = {}
        remote: dict[str, None] = {}
        for target in targets:
            local = self._local_part(target)
            if local is None:
                remote[target] = None
                continue
            nested = self.aliases.lists.get(local) or self.aliases.aliases.get(local)
            if nested is not None and local not in seen and depth < MAX_DEPTH:
                more_users, more_remote = self._expand(nested, depth + 1, seen | {local})
                users.update(dict.fromkeys(more_users))
                remote.update(dict.fromkeys(more_remote))
            elif local in self.users:
                users[local] = None
        return tuple(users), tuple(remote)

    def address_of(self, user: str) -> str:
        domain = sorted(self.users.domains)[0] if self.users.domains else "localhost"
        return f"{user}@{domain}"

    def candidates(self, text: str) -> list[str]:
        """Users and lists a VRFY string could mean (RFC 5321 §3.5.1: a user name,
        a mailbox, or a fragment of either)."""
        if "@" in text:
            local = self._local_part(text.strip("<>"))
            return [] if local is None else [local] if self._known(local) else []
        if self._known(text):
            return [text]
        names = set(self.users.user_names()) | self.aliases.names()
        return sorted(n for n in names if n.lower().startswith(text.lower()))

    def _known(self, local: str) -> bool:
        return local in self.users or local in self.aliases.names()
