"""One description of a load run, shared by both engines and by every process of a run
(it crosses process boundaries as JSON)."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field, replace

from .profile import DEFAULT_PROFILE


@dataclass(frozen=True)
class LoadConfig:
    protocol: str  # "smtp" or "pop3"
    target: str  # a target URL (harness.target); POP3 carries user:password
    users: int = 10  # concurrent sessions
    spawn_rate: float = 0.0  # users started per second; 0 starts them all at once
    duration: float = 10.0  # seconds; the run always stops by then (plus a grace period)
    messages: int = 0  # SMTP messages (POP3: sessions) in all; 0 = until the duration ends
    rate: float = 0.0  # open loop: messages (sessions) per second; 0 = closed loop
    profile: str = DEFAULT_PROFILE  # a profile file or a built-in profile name
    sender: str = "loadgen@client.example.test"
    recipients: tuple[str, ...] = ("alice@example.test",)
    connection: str | None = None  # "new"/"reuse": overrides the profile
    # POP3 "user:password" logins spread over the users (user i takes number i modulo
    # their count): RFC 1939 §8 locks a maildrop per session, so concurrent users of one
    # account get [IN-USE]. Empty: the target URL's user.
    accounts: tuple[str, ...] = ()
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    seed: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadConfig:
        data = json.loads(text)
        data["recipients"] = tuple(data["recipients"])
        data["accounts"] = tuple(data.get("accounts", ()))
        return cls(**data)

    def share(self, index: int, parts: int) -> LoadConfig:
        """This process's part of the run when it is split over ``parts`` processes."""
        def split(total: int) -> int:
            return total // parts + (1 if index < total % parts else 0)

        return replace(
            self,
            users=split(self.users),
            spawn_rate=self.spawn_rate / parts,
            messages=split(self.messages) if self.messages else 0,
            rate=self.rate / parts,
            seed=self.seed + index,
        )

    @property
    def grace(self) -> float:
        """How long requests in flight at the end may take to finish before being cut off."""
        return 10.0
