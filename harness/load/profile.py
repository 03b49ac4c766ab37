"""Workload profiles: what the generated load looks like, as a YAML file.

A profile names its source (which published benchmark or tool it is modelled on) and
holds, per protocol, the distributions the engines sample from::

    name: smtp-source-1k
    source: Postfix smtp-source with -l 1024 ...
    smtp:
      sizes:            # total message size in octets: buckets sampled by weight,
        - {min: 1024, max: 1024, weight: 1}    # uniformly within a bucket
      recipients:       # recipients per message
        - {count: 1, weight: 1}
      connection: new   # new: one connection per message; reuse: many per connection
      messages_per_connection: 100
      pipelining: auto  # auto: use PIPELINING when the server offers it; off: never
      starttls: false
      auth: false       # true: the target URL must carry user:password (AUTH PLAIN is
                        # used whenever it does, with or without this flag)
      think_time: {min: 0, max: 0}   # seconds a user waits between messages
    pop3:
      retr: 1           # messages retrieved per session
      dele: false       # delete what was retrieved
      think_time: {min: 0, max: 0}
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml


class ProfileError(ValueError):
    """A workload profile that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Bucket:
    low: int
    high: int
    weight: float


@dataclass(frozen=True)
class Distribution:
    """Weighted buckets of integers; a value is uniform within its bucket."""

    buckets: tuple[Bucket, ...]

    def sample(self, rng: random.Random) -> int:
        bucket = rng.choices(self.buckets, weights=[b.weight for b in self.buckets])[0]
        return bucket.low if bucket.low == bucket.high else rng.randint(bucket.low, bucket.high)

    def mean(self) -> float:
        total = sum(b.weight for b in self.buckets)
        return sum((b.low + b.high) / 2 * b.weight for b in self.buckets) / total

    @classmethod
    def fixed(cls, value: int) -> Distribution:
        return cls((Bucket(value, value, 1.0),))


class _Uniform(Protocol):
    """A random.Random, or the random module itself (the locust users pass the module)."""

    def uniform(self, a: float, b: float, /) -> float: ...


@dataclass(frozen=True)
class ThinkTime:
    low: float = 0.0
    high: float = 0.0

    def sample(self, rng: _Uniform) -> float:
        return self.low if self.low == self.high else rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class SmtpWorkload:
    sizes: Distribution = field(default_factory=lambda: Distribution.fixed(1024))
    recipients: Distribution = field(default_factory=lambda: Distribution.fixed(1))
    connection: str = "new"  # "new" or "reuse"
    messages_per_connection: int = 100
    pipelining: str = "auto"  # "auto" or "off"
    starttls: bool = False
    auth: bool = False
    think_time: ThinkTime = field(default_factory=ThinkTime)


@dataclass(frozen=True)
class Pop3Workload:
    retr: int = 1
    dele: bool = False
    think_time: ThinkTime = field(default_factory=ThinkTime)


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    smtp: SmtpWorkload = field(default_factory=SmtpWorkload)
    pop3: Pop3Workload = field(default_factory=Pop3Workload)


def _distribution(raw: Any, where: str, key: str) -> Distribution:
    if isinstance(raw, int) and raw > 0:
        return Distribution.fixed(raw)
    if not isinstance(raw, list) or not raw:
        raise ProfileError(f"{where}: a non-empty list of buckets or a positive number")
    buckets = []
    for number, item in enumerate(raw, start=1):
        here = f"{where}[{number}]"
        if not isinstance(item, dict):
            raise ProfileError(f"{here}: a mapping")
        if key in item:
            low = high = item[key]
        else:
            low, high = item.get("min"), item.get("max")
        weight = item.get("weight", 1)
        valid = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
        if not valid or low < 1 or high < low:
            raise ProfileError(f"{here}: needs {key}, or min <= max, as positive integers")
        if not isinstance(weight, int | float) or weight <= 0:
            raise ProfileError(f"{here}: weight must be a positive number")
        buckets.append(Bucket(int(low), int(high), float(weight)))
    return Distribution(tuple(buckets))


def _think(raw: Any, where: str) -> ThinkTime:
    if raw is None:
        return ThinkTime()
    if isinstance(raw, int | float):
        return ThinkTime(float(raw), float(raw))
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: a number or {{min, max}}")
    low = float(raw.get("min", 0))
    high = float(raw.get("max", low))
    if low < 0 or high < low:
        raise ProfileError(f"{where}: needs 0 <= min <= max")
    return ThinkTime(low, high)


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ProfileError(f"{where}: unknown keys: {', '.join(sorted(unknown))}")


def _smtp(data: dict[str, Any], where: str) -> SmtpWorkload:
    _check_keys(data, {"sizes", "recipients", "connection", "messages_per_connection",
                       "pipelining", "starttls", "auth", "think_time"}, where)
    connection = data.get("connection", "new")
    if connection not in ("new", "reuse"):
        raise ProfileError(f"{where}.connection: 'new' or 'reuse', not {connection!r}")
    pipelining = data.get("pipelining", "auto")
    if pipelining not in ("auto", "off"):
        raise ProfileError(f"{where}.pipelining: 'auto' or 'off', not {pipelining!r}")
    per_connection = data.get("messages_per_connection", 100)
    if not isinstance(per_connection, int) or per_connection < 1:
        raise ProfileError(f"{where}.messages_per_connection: a positive integer")
    return SmtpWorkload(
        sizes=_distribution(data.get("sizes", 1024), f"{where}.sizes", "size"),
        recipients=_distribution(data.get("recipients", 1), f"{where}.recipients", "count"),
        connection=connection,
        messages_per_connection=per_connection,
        pipelining=pipelining,
        starttls=bool(data.get("starttls", False)),
        auth=bool(data.get("auth", False)),
        think_time=_think(data.get("think_time"), f"{where}.think_time"),
    )


def _pop3(data: dict[str, Any], where: str) -> Pop3Workload:
    _check_keys(data, {"retr", "dele", "think_time"}, where)
    retr = data.get("retr", 1)
    if not isinstance(retr, int) or retr < 0:
        raise ProfileError(f"{where}.retr: a non-negative integer")
    return Pop3Workload(retr=retr, dele=bool(data.get("dele", False)),
                        think_time=_think(data.get("think_time"), f"{where}.think_time"))


def parse_profile(data: Any, where: str = "profile") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile is a mapping")
    _check_keys(data, {"name", "source", "smtp", "pop3"}, where)
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ProfileError(f"{where}: 'source' must say what the profile is modelled on")
    smtp, pop3 = data.get("smtp") or {}, data.get("pop3") or {}
    if not isinstance(smtp, dict) or not isinstance(pop3, dict):
        raise ProfileError(f"{where}: 'smtp' and 'pop3' are mappings")
    return Profile(
        name=str(data.get("name", "profile")),
        source=" ".join(source.split()),
        smtp=_smtp(smtp, f"{where}: smtp"),
        pop3=_pop3(pop3, f"{where}: pop3"),
    )


def load_profile(path: str | Path) -> Profile:
    """A profile from a file, or a built-in one by name (``smtp-source-1k``, ``mixed``)."""
    text: str
    candidate = Path(path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    else:
        builtin = resources.files(__package__).joinpath("profiles", f"{path}.yaml")
        if not builtin.is_file():
            raise ProfileError(f"no profile file or built-in profile named {str(path)!r}; "
                               f"built-in: {', '.join(builtin_profiles())}")
        text = builtin.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not YAML: {exc}") from None
    return parse_profile(data, str(path))


def builtin_profiles() -> list[str]:
    folder = resources.files(__package__).joinpath("profiles")
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir()
                  if item.name.endswith(".yaml"))


DEFAULT_PROFILE = "smtp-source-1k"
