"""Which cases may run side by side, and the test users that let more of them do so.

Most cases are independent: each opens its own connections. The exception is a mailbox a
case reads: RFC 1939 §4 has the POP3 server lock a maildrop for the whole session, and a
case that starts in ``maildrop`` empties it and delivers fixtures first. Two such cases on
one user would collide, so each takes a *lane* (a set of test users, user 1..N) for its
duration. Against the embedded references we create several lanes of users so those cases
run in parallel too; against another target there is one lane, the profile's own users.

A case tagged ``serial`` runs alone (for cases that change server-wide state).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..target import User
from ..transcript import Case

MAILBOX_PROTOCOLS = frozenset({"pop3"})
SERIAL_TAG = "serial"


def mailbox_users(case: Case) -> frozenset[int]:
    """The user numbers whose mailbox the case reads (and so must have to itself)."""
    return frozenset(spec.user for spec in case.connections.values()
                     if spec.protocol in MAILBOX_PROTOCOLS)


def is_serial(case: Case) -> bool:
    return SERIAL_TAG in case.tags


def users_needed(cases: list[Case]) -> int:
    """How many users a lane must hold: the highest user number any case names (at least 2)."""
    return max([2, *(spec.user for case in cases for spec in case.connections.values())])


@dataclass(frozen=True)
class Lane:
    index: int
    users: tuple[User, ...]


def lane_user_names(lanes: int, per_lane: int) -> list[list[str]]:
    """User names for ``lanes`` extra lanes against the references: lane1u1, lane1u2, ..."""
    return [[f"lane{lane}u{user}" for user in range(1, per_lane + 1)]
            for lane in range(1, lanes + 1)]


def make_lanes(groups: list[tuple[User, ...]]) -> list[Lane]:
    return [Lane(number, users) for number, users in enumerate(groups)]
