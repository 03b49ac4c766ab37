"""The relay's options, read once from ``settings["smtp"]["relay"]`` and checked.

Every duration is in seconds. The defaults follow RFC 5321: retries no sooner than
30 minutes apart and a give-up time of 5 days (§4.5.4.1), and the client timeouts of
§4.5.3.2. Tests shrink them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class RelaySettingsError(ValueError):
    """An unknown key or a bad value in the relay settings."""


@dataclass(frozen=True)
class Timeouts:
    """RFC 5321 §4.5.3.2: per-command client timeouts (seconds)."""

    connect: float = 30.0
    greeting: float = 300.0  # §4.5.3.2.1 initial 220 message: 5 minutes
    mail: float = 300.0  # §4.5.3.2.2 MAIL command: 5 minutes (also EHLO, STARTTLS, RSET)
    rcpt: float = 300.0  # §4.5.3.2.3 RCPT command: 5 minutes
    data_init: float = 120.0  # §4.5.3.2.4 DATA initiation: 2 minutes
    data_block: float = 180.0  # §4.5.3.2.5 data block: 3 minutes (each write drained)
    data_end: float = 600.0  # §4.5.3.2.6 DATA termination: 10 minutes


@dataclass(frozen=True)
class RelaySettings:
    max_age: float = 5 * 24 * 3600.0  # give up and bounce after this long in the queue
    retry_initial: float = 1800.0  # first retry; doubles each time
    retry_max: float = 4 * 3600.0  # back-off ceiling
    concurrency: int = 4  # queue entries delivered at the same time
    # How often the worker looks for entries that other processes (SMTP worker processes,
    # see reference_servers/workers.py) wrote into the spool.
    rescan_interval: float = 1.0
    delay_warning: float | None = None  # send a "delayed" DSN (NOTIFY=DELAY) after this
    starttls: str = "opportunistic"  # "opportunistic" | "required" | "never"
    tls_verify: bool | None = None  # None: verify, except for next hops on loopback
    pipelining: bool = True  # use PIPELINING (RFC 2920) when offered
    bounce_ret: str = "HDRS"  # what a bounce returns when the sender gave no RET
    timeouts: Timeouts = Timeouts()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> RelaySettings:
        raw = dict(raw or {})
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise RelaySettingsError(
                    f"relay: unknown key {key!r}; expected one of {sorted(known)}"
                )
            if key == "timeouts":
                values[key] = _timeouts(value)
            else:
                values[key] = value
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        for name in ("max_age", "retry_initial", "retry_max", "rescan_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise RelaySettingsError(f"relay.{name}: must be a positive number of seconds")
        if self.delay_warning is not None and (
            isinstance(self.delay_warning, bool)
            or not isinstance(self.delay_warning, int | float)
            or self.delay_warning <= 0
        ):
            raise RelaySettingsError("relay.delay_warning: must be a positive number or null")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or (
            self.concurrency < 1
        ):
            raise RelaySettingsError("relay.concurrency: must be a positive integer")
        if self.starttls not in ("opportunistic", "required", "never"):
            raise RelaySettingsError(
                "relay.starttls: must be 'opportunistic', 'required' or 'never'"
            )
        if self.tls_verify is not None and not isinstance(self.tls_verify, bool):
            raise RelaySettingsError("relay.tls_verify: must be true, false or null")
        if not isinstance(self.pipelining, bool):
            raise RelaySettingsError("relay.pipelining: must be true or false")
        if self.bounce_ret not in ("HDRS", "FULL"):
            raise RelaySettingsError("relay.bounce_ret: must be 'HDRS' or 'FULL'")

    def retry_delay(self, attempts: int) -> float:
        """Exponential back-off: retry_initial * 2**(attempts-1), capped at retry_max."""
        exponent = min(max(attempts - 1, 0), 32)
        return float(min(self.retry_initial * (2**exponent), self.retry_max))


def _timeouts(raw: Any) -> Timeouts:
    if not isinstance(raw, Mapping):
        raise RelaySettingsError("relay.timeouts: must be a mapping of name to seconds")
    known = {f.name for f in fields(Timeouts)}
    for key, value in raw.items():
        if key not in known:
            raise RelaySettingsError(
                f"relay.timeouts: unknown key {key!r}; expected one of {sorted(known)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise RelaySettingsError(f"relay.timeouts.{key}: must be a positive number")
    return Timeouts(**{k: float(v) for k, v in raw.items()})
