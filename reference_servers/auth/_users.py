"""The user table: local domains, users and their stored passwords.

Case rules (decided here, once, for every server):
- User names are case-sensitive, as local parts are: RFC 5321 §2.4 says the
  local-part MUST be treated as case sensitive.  ``Alice`` is not ``alice``.
- Domains are case-insensitive (DNS rules, RFC 5321 §2.4); they are kept lower-case.
- A login is a user name or ``user@<local domain>``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ._passwords import PasswordEntry, PasswordFormatError, dummy_entry

DEFAULT_DOMAIN = "example.test"
DEFAULT_USERS = ("alice", "bob")
DEFAULT_PASSWORD = "secret"

# A dot-atom local part (RFC 5322 §3.2.3 atext) without anything that would need
# quoting: user names also travel inside CRAM-MD5 responses ("user SP digest") and
# become directory names in the store, so space, "/" and NUL stay out.
_USER_RE = re.compile(r"[A-Za-z0-9!#%&'*+=?^_`{|}~-]+(?:\.[A-Za-z0-9!#%&'*+=?^_`{|}~-]+)*")
_DOMAIN_RE = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_STR_TAG = "tag:yaml.org,2002:str"


class UserFileError(ValueError):
    """A users file that cannot be loaded; the message reads ``file:line: problem``."""


def _unquote_local(local: str) -> str:
    # "alice"@example.test names the same mailbox as alice@example.test
    # (RFC 5321 §4.1.2: a quoted-string is equivalent to its unquoted form).
    if len(local) >= 2 and local[0] == '"' and local[-1] == '"':
        return re.sub(r"\\(.)", r"\1", local[1:-1])
    return local


class UserTable:
    def __init__(self, domains: Collection[str], users: Mapping[str, PasswordEntry]) -> None:
        self.domains: frozenset[str] = frozenset(d.lower() for d in domains)
        self._users: dict[str, PasswordEntry] = dict(users)
        self._dummy: PasswordEntry | None = None

    # -- construction -------------------------------------------------------------

    @classmethod
    def default(cls) -> UserTable:
        """The embedded-mode table: alice and bob at example.test, password "secret".

        The secret is kept retrievable so CRAM-MD5 and APOP work too.
        """
        return cls(
            [DEFAULT_DOMAIN],
            {name: PasswordEntry.plain(DEFAULT_PASSWORD) for name in DEFAULT_USERS},
        )

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, ignore_keys: Collection[str] = ()
    ) -> UserTable:
        """Load a YAML users file.

        ``ignore_keys`` names top-level sections owned by someone else (e.g. SMTP
        aliases) that may share the file; any other unknown key is an error, so a
        typo is reported rather than silently ignored.
        """
        source = os.fspath(path)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserFileError(f"{source}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise UserFileError(f"{source}: not UTF-8 text") from exc
        return cls.from_yaml(text, source=source, ignore_keys=ignore_keys)

    @classmethod
    def from_yaml(
        cls, text: str, *, source: str = "<users>", ignore_keys: Collection[str] = ()
    ) -> UserTable:
        return _FileReader(source, ignore_keys).read(text)

    # -- queries ------------------------------------------------------------------

    def user_names(self) -> list[str]:
        return sorted(self._users)

    def __contains__(self, user: object) -> bool:
        return user in self._users

    def __iter__(self) -> Iterator[str]:
        return iter(self.user_names())

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower() in self.domains

    def canonical(self, login: str) -> str | None:
        """``alice`` or ``alice@example.test`` -> ``alice``; anything else -> None."""
        if "@" in login:
            return self.local_user_for(login)
        return login if login in self._users else None

    def local_user_for(self, address: str) -> str | None:
        """The user an address delivers to, or None if it is not a local user."""
        local, at, domain = address.rpartition("@")
        if not at or not self.is_local_domain(domain):
            return None
        local = _unquote_local(local)
        return local if local in self._users else None

    def has_retrievable_secrets(self) -> bool:
        """True if some user can use CRAM-MD5 / APOP."""
        return any(entry.retrievable for entry in self._users.values())

    def retrievable_secret(self, user: str) -> bytes | None:
        """The shared secret of a canonical user, if stored in plaintext."""
        entry = self._users.get(user)
        return None if entry is None else entry.secret

    # -- verification -------------------------------------------------------------

    def verify_password(self, login: str, password: str) -> str | None:
        """The canonical user if ``password`` is theirs, else None (constant-time)."""
        user = self.canonical(login)
        entry = self._users.get(user) if user is not None else None
        if entry is None:
            # Burn the same work as a real check so timing does not reveal which
            # user names exist.
            self._dummy_for_timing().verify(password)
            return None
        return user if entry.verify(password) else None

    def verify_apop(self, login: str, timestamp: bytes, digest_hex: str) -> str | None:
        """RFC 1939 §7 APOP: digest = MD5(timestamp + secret) as 32 lower-case hex."""
        user = self.canonical(login)
        secret = self.retrievable_secret(user) if user is not None else None
        expected = hashlib.md5(timestamp + (secret or secrets.token_bytes(16))).hexdigest()
        # RFC 1939 §7: the digest is sent "in hexadecimal format, using lower-case
        # ASCII characters"; anything else is not a match.
        ok = hmac.compare_digest(expected.encode("ascii"), digest_hex.encode("utf-8"))
        return user if ok and secret is not None else None

    def _dummy_for_timing(self) -> PasswordEntry:
        if self._dummy is None:
            hashed = any(not e.retrievable for e in self._users.values())
            self._dummy = (
                dummy_entry() if hashed else PasswordEntry(secret=secrets.token_bytes(16))
            )
        return self._dummy


class _FileReader:
    """Validates the composed YAML node tree so every error carries its line."""

    def __init__(self, source: str, ignore_keys: Collection[str]) -> None:
        self.source = source
        self.ignore_keys = frozenset(ignore_keys)

    def fail(self, node: Node | None, message: str) -> UserFileError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return UserFileError(f"{self.source}{line}: {message}")

    def read(self, text: str) -> UserTable:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f":{mark.line + 1}" if mark is not None else ""
            raise UserFileError(f"{self.source}{where}: invalid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise UserFileError(f"{self.source}: invalid YAML: {exc}") from exc
        if root is None:
            raise UserFileError(f"{self.source}: empty file; expected 'domains' and 'users'")
        top = self.mapping(root, "the top level")
        domains_node = top.pop("domains", None)
        users_node = top.pop("users", None)
        for key, (key_node, _) in top.items():
            if key not in self.ignore_keys:
                raise self.fail(key_node, f"unknown key {key!r}; expected 'domains' and 'users'")
        if domains_node is None:
            raise self.fail(root, "missing 'domains' (a list of local domains)")
        if users_node is None:
            raise self.fail(root, "missing 'users' (a mapping of user name to settings)")
        return UserTable(self.domains(domains_node[1]), self.users(users_node[1]))

    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.string(key_node, f"a key in {what}")
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r} in {what}")
            out[key] = (key_node, value_node)
        return out

    def string(self, node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or node.tag != _STR_TAG:
            raise self.fail(node, f"{what} must be a string (quote it)")
        return str(node.value)

    def domains(self, node: Node) -> list[str]:
        if not isinstance(node, SequenceNode) or not node.value:
            raise self.fail(node, "'domains' must be a non-empty list of domain names")
        out = []
        for item in node.value:
            domain = self.string(item, "a domain").lower()
            if not _DOMAIN_RE.fullmatch(domain):
                raise self.fail(item, f"{domain!r} is not a valid domain name")
            out.append(domain)
        return out

    def users(self, node: Node) -> dict[str, PasswordEntry]:
        users = self.mapping(node, "'users'")
        if not users:
            raise self.fail(node, "'users' is empty")
        out = {}
        for name, (key_node, value_node) in users.items():
            if not _USER_RE.fullmatch(name):
                raise self.fail(key_node, f"{name!r} is not a valid user name (dot-atom, ASCII)")
            out[name] = self.user(name, key_node, value_node)
        return out

    def user(self, name: str, key_node: Node, node: Node) -> PasswordEntry:
        settings = self.mapping(node, f"user {name!r}")
        password = settings.pop("password", None)
        for key, (k_node, _) in settings.items():
            raise self.fail(k_node, f"unknown key {key!r} for user {name!r}; expected 'password'")
        if password is None:
            raise self.fail(key_node, f"user {name!r} has no 'password'")
        value_node = password[1]
        try:
            if isinstance(value_node, MappingNode):
                form = self.mapping(value_node, f"the password of {name!r}")
                if set(form) != {"plain"}:
                    raise self.fail(value_node, "a password mapping must be {plain: <secret>}")
                return PasswordEntry.plain(self.string(form["plain"][1], "a plain password"))
            return PasswordEntry.parse(self.string(value_node, f"the password of {name!r}"))
        except PasswordFormatError as exc:
            raise self.fail(value_node, f"user {name!r}: {exc}") from exc
