"""Server-side settings of the POP3 reference server, from ``ctx.settings("pop3")``.

Keys (all optional)::

    idle_timeout: 600          # seconds; RFC 1939 §3 asks for at least 10 minutes
    auth_failure_delay: 1.0    # seconds before a failed login is answered
    max_auth_failures: 3       # then -ERR [AUTH] and close
    login_delay: 0             # RFC 2449 §6.5 LOGIN-DELAY: seconds between logins of a user
    mode: keep                 # "keep" (EXPIRE NEVER or expire_days) or "delete" (EXPIRE 0)
    expire_days: null          # keep mode: null = NEVER, N = messages older than N days go
    allow_plaintext_auth: true # USER/PASS, PLAIN, LOGIN before STLS on a plain connection
    apop: true                 # put the APOP timestamp in the greeting (RFC 1939 §7)
    max_command_line: 255      # RFC 2449 §4
    max_sasl_line: 16384
    bare_lf: reject            # or "tolerate"
    implementation: mailharness-reference-pop3
    workers: 1                 # processes serving each POP3 listener (SO_REUSEPORT), see
                               # reference_servers/workers.py; the maildrop lock holds across
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from ..wire import EolPolicy

RFC1939_MIN_IDLE = 600.0  # RFC 1939 §3: "such a timer MUST be of at least 10 minutes"


class Mode(Enum):
    KEEP = "keep"  # the mail stays on the server unless the client DELEs it
    DELETE = "delete"  # EXPIRE 0: retrieved (RETR) messages are removed at UPDATE


class PolicyError(ValueError):
    """A bad value in the POP3 settings."""


@dataclass(frozen=True)
class Pop3Policy:
    idle_timeout: float = RFC1939_MIN_IDLE
    auth_failure_delay: float = 1.0
    max_auth_failures: int = 3
    login_delay: int = 0
    mode: Mode = Mode.KEEP
    expire_days: int | None = None
    allow_plaintext_auth: bool = True
    apop: bool = True
    max_command_line: int = 255
    max_sasl_line: int = 16384
    bare_lf: EolPolicy = EolPolicy.REJECT
    implementation: str = "mailharness-reference-pop3"
    workers: int = 1
    # Sessions one listener serves at once, across its processes (workers.SessionCounter);
    # the next is told [SYS/TEMP] and closed.
    max_connections: int = 1000

    def __post_init__(self) -> None:
        if self.idle_timeout <= 0:
            raise PolicyError("idle_timeout must be positive")
        if self.auth_failure_delay < 0 or self.login_delay < 0:
            raise PolicyError("delays must not be negative")
        if self.max_auth_failures < 1:
            raise PolicyError("max_auth_failures must be at least 1")
        if self.expire_days is not None and self.expire_days < 1:
            raise PolicyError("expire_days must be at least 1 (use mode: delete for EXPIRE 0)")
        if self.mode is Mode.DELETE and self.expire_days is not None:
            raise PolicyError("expire_days applies to keep mode only")
        if not 6 <= self.max_command_line <= 65536 or not 6 <= self.max_sasl_line <= 1 << 20:
            raise PolicyError("line limits out of range")
        if not 1 <= self.workers <= 64:
            raise PolicyError("workers must be between 1 and 64")
        if self.max_connections < 1:
            raise PolicyError("max_connections must be at least 1")
        if not self.implementation.isascii() or not self.implementation.isprintable():
            raise PolicyError("implementation must be printable ASCII")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Pop3Policy:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise PolicyError(f"unknown pop3 setting(s): {', '.join(unknown)}")
        values = dict(settings)
        try:
            if "mode" in values:
                values["mode"] = Mode(values["mode"])
            if "bare_lf" in values:
                values["bare_lf"] = EolPolicy(values["bare_lf"])
        except ValueError as exc:
            raise PolicyError(str(exc)) from None
        return cls(**values)

    @property
    def expire_capability(self) -> str:
        """The RFC 2449 §6.7 EXPIRE argument: 0 in delete mode, NEVER, or days."""
        if self.mode is Mode.DELETE:
            return "0"
        return "NEVER" if self.expire_days is None else str(self.expire_days)
