"""Targets: where a case runs. One URL names one endpoint; a profile names a mail system.

A target URL is ``scheme://[user[:password]@]host[:port][?option=value&...]``::

    smtp://127.0.0.1:2525            plain SMTP
    smtp+starttls://mx.example.test  SMTP, upgraded with STARTTLS before anything else
    smtps://mx.example.test          SMTP over implicit TLS (port 465)
    submission://alice:secret@host   port 587, STARTTLS (RFC 6409 + RFC 8314)
    lmtp://127.0.0.1:24              LMTP (RFC 2033)
    pop3:// pop3+stls:// pop3s://     POP3 plain, STLS (RFC 2595), implicit TLS
    imap:// imap+starttls:// imaps:// IMAP plain, STARTTLS, implicit TLS

Options: ``verify`` (0/1: check the server certificate; off by default for loopback
hosts, on otherwise), ``cafile``, ``sni``, ``timeout`` (seconds per read),
``step_timeout`` (seconds per step), ``connect_timeout``, ``helo`` (the EHLO/HELO/LHLO
name), ``domain`` (the mail domain of the users), ``max_response`` (octets of one response).

A profile (YAML) groups the endpoints of one mail system, its local domain and its test
users, so a case can deliver by SMTP and read back by POP3 or IMAP::

    name: postfix-dovecot
    domain: example.test
    endpoints:
      smtp: smtp://127.0.0.1:2525
      submission: submission://127.0.0.1:2587
      pop3: pop3://127.0.0.1:2110
      imap: imap://127.0.0.1:2143
    users:
      - {name: alice, password: secret}
      - {name: bob, password: secret, address: bob@example.test}
    options: {timeout: 5}          # applied to every endpoint unless its URL says otherwise
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import yaml


class TargetError(ValueError):
    """A target URL or profile that cannot be used."""


class TlsMode(Enum):
    NONE = "none"
    STARTTLS = "starttls"  # STARTTLS (SMTP, IMAP) or STLS (POP3) right after the greeting
    IMPLICIT = "implicit"  # TLS from the first octet


@dataclass(frozen=True)
class _Scheme:
    protocol: str
    port: int
    tls: TlsMode


# Ports: RFC 5321 (25), RFC 8314 (465, 995, 993), RFC 6409 (587), RFC 1939 (110),
# RFC 3501 (143). LMTP has no assigned port (RFC 2033 §5 forbids 25); 24 is customary.
SCHEMES: dict[str, _Scheme] = {
    "smtp": _Scheme("smtp", 25, TlsMode.NONE),
    "smtp+starttls": _Scheme("smtp", 25, TlsMode.STARTTLS),
    "smtps": _Scheme("smtp", 465, TlsMode.IMPLICIT),
    "submission": _Scheme("smtp", 587, TlsMode.STARTTLS),
    "submissions": _Scheme("smtp", 465, TlsMode.IMPLICIT),
    "lmtp": _Scheme("lmtp", 24, TlsMode.NONE),
    "pop3": _Scheme("pop3", 110, TlsMode.NONE),
    "pop3+stls": _Scheme("pop3", 110, TlsMode.STARTTLS),
    "pop3s": _Scheme("pop3", 995, TlsMode.IMPLICIT),
    "imap": _Scheme("imap", 143, TlsMode.NONE),
    "imap+starttls": _Scheme("imap", 143, TlsMode.STARTTLS),
    "imaps": _Scheme("imap", 993, TlsMode.IMPLICIT),
}

PROTOCOLS = ("smtp", "lmtp", "pop3", "imap")
_BOOL = {"1": True, "true": True, "yes": True, "on": True,
         "0": False, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Target:
    """One endpoint of a mail system, with how to reach it and how patient to be."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    verify: bool = False
    cafile: str | None = None
    sni: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 5.0
    step_timeout: float = 10.0
    helo: str = "client.example.test"
    domain: str | None = None
    max_response: int = 16 * 1024 * 1024

    @property
    def protocol(self) -> str:
        return SCHEMES[self.scheme].protocol

    @property
    def tls(self) -> TlsMode:
        return SCHEMES[self.scheme].tls

    @property
    def server_name(self) -> str:
        return self.sni or self.host

    def url(self, *, with_password: bool = False) -> str:
        """The URL back again; the password is masked unless asked for."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="")
            if self.password is not None:
                auth += ":" + (quote(self.password, safe="") if with_password else "***")
            auth += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{auth}{host}:{self.port}"

    def __str__(self) -> str:
        return self.url()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise TargetError(f"option {name}={value!r} is not a number") from None
    if number <= 0:
        raise TargetError(f"option {name} must be positive, not {value}")
    return number


def _apply_options(kwargs: dict[str, Any], options: dict[str, str]) -> None:
    for name, value in options.items():
        if name == "verify":
            if value.lower() not in _BOOL:
                raise TargetError(f"option verify={value!r} is not a boolean")
            kwargs["verify"] = _BOOL[value.lower()]
        elif name in ("timeout", "step_timeout", "connect_timeout"):
            key = "read_timeout" if name == "timeout" else name
            kwargs[key] = _float(name, value)
        elif name == "max_response":
            kwargs["max_response"] = int(_float(name, value))
        elif name in ("cafile", "sni", "helo", "domain"):
            kwargs[name] = value
        else:
            raise TargetError(f"unknown target option {name!r}")


def parse_target(url: str, defaults: dict[str, str] | None = None) -> Target:
    """Parse a target URL; ``defaults`` are options applied unless the URL sets them."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{name}://" for name in SCHEMES)
        raise TargetError(f"unknown scheme in {url!r}; expected one of {known}")
    if not parts.hostname:
        raise TargetError(f"no host in target {url!r}")
    if parts.path not in ("", "/"):
        raise TargetError(f"a target URL has no path: {url!r}")
    try:
        port = parts.port or SCHEMES[scheme].port
    except ValueError as exc:
        raise TargetError(f"bad port in {url!r}: {exc}") from None
    options = dict(defaults or {})
    try:
        strict = bool(parts.query)
        options.update(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=strict))
    except ValueError:
        raise TargetError(f"bad query string in {url!r}") from None
    kwargs: dict[str, Any] = {
        "scheme": scheme,
        "host": parts.hostname,
        "port": port,
        "username": unquote(parts.username) if parts.username is not None else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        # Loopback targets are the reference servers and private test instances with
        # self-signed certificates; anything else gets real certificate checking.
        "verify": not is_loopback(parts.hostname),
    }
    _apply_options(kwargs, options)
    return Target(**kwargs)


@dataclass(frozen=True)
class User:
    name: str
    password: str
    address: str


@dataclass(frozen=True)
class Profile:
    """The endpoints of one mail system, keyed by kind (smtp, submission, pop3, imap...)."""

    endpoints: dict[str, Target]
    users: tuple[User, ...] = ()
    domain: str | None = None
    name: str = "target"
    capabilities: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def endpoint_for(self, protocol: str) -> Target | None:
        """The endpoint a case of ``protocol`` runs against.

        An endpoint keyed by the protocol's name wins; otherwise the first endpoint whose
        scheme speaks that protocol (so ``pop3s`` serves a pop3 case).
        """
        if protocol in self.endpoints and self.endpoints[protocol].protocol == protocol:
            return self.endpoints[protocol]
        for target in self.endpoints.values():
            if target.protocol == protocol:
                return target
        return None

    def user(self, index: int) -> User | None:
        """The index-th test user, 1-based, or None when the profile has that few."""
        return self.users[index - 1] if 0 < index <= len(self.users) else None

    def variables(self) -> dict[str, str]:
        """Variables every case may use: $user, $password, $address, $user2..., $domain."""
        values: dict[str, str] = {}
        if self.domain:
            values["domain"] = self.domain
        for number, user in enumerate(self.users, start=1):
            suffix = "" if number == 1 else str(number)
            values[f"user{suffix}"] = user.name
            values[f"password{suffix}"] = user.password
            values[f"address{suffix}"] = user.address
        first = next(iter(self.endpoints.values()), None)
        if first is not None:
            values["helo"] = first.helo
        return values


def profile_from_target(target: Target) -> Profile:
    """A one-endpoint profile; its user is the URL's userinfo, if any."""
    users: tuple[User, ...] = ()
    if target.username is not None:
        address = target.username
        if "@" not in address and target.domain:
            address = f"{target.username}@{target.domain}"
        users = (User(target.username, target.password or "", address),)
    return Profile({target.scheme: target}, users, target.domain, name=target.url())


def _require_str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise TargetError(f"{where}: {key!r} must be a non-empty string")
    return value


def load_profile(path: str | Path) -> Profile:
    """Read a profile YAML file (format in this module's docstring)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TargetError(f"{path}: cannot read profile: {exc}") from None
    if not isinstance(data, dict):
        raise TargetError(f"{path}: a profile is a mapping")
    unknown = set(data) - {"name", "domain", "endpoints", "users", "options", "capabilities"}
    if unknown:
        raise TargetError(f"{path}: unknown profile keys: {', '.join(sorted(unknown))}")
    domain = data.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise TargetError(f"{path}: 'domain' must be a string")
    options = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
               for k, v in (data.get("options") or {}).items()}
    if domain and "domain" not in options:
        options["domain"] = domain
    raw_endpoints = data.get("endpoints")
    if not isinstance(raw_endpoints, dict) or not raw_endpoints:
        raise TargetError(f"{path}: 'endpoints' must map kinds to target URLs")
    endpoints = {str(kind): parse_target(str(url), options) for kind, url in raw_endpoints.items()}
    users = []
    for number, entry in enumerate(data.get("users") or [], start=1):
        where = f"{path}: users[{number}]"
        if not isinstance(entry, dict):
            raise TargetError(f"{where} must be a mapping")
        name = _require_str(entry, "name", where)
        password = str(entry.get("password", ""))
        default_address = f"{name}@{domain}" if domain and "@" not in name else name
        address = entry.get("address") or default_address
        users.append(User(name, password, str(address)))
    caps = {str(k): tuple(str(c).upper() for c in v)
            for k, v in (data.get("capabilities") or {}).items()}
    return Profile(endpoints, tuple(users), domain, str(data.get("name", path.stem)), caps)


def with_credentials(target: Target, user: User | None) -> Target:
    """The same endpoint logging in as ``user`` (unchanged when None)."""
    if user is None:
        return target
    return replace(target, username=user.name, password=user.password)
