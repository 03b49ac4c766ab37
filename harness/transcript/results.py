"""Results as typed data: what the replay CLI prints and the reports (issue 6) serialise.

A :class:`CaseResult` carries everything a report needs without going back to the YAML:
the case's file:line, RFC section and level, every step's verdict with the octets it sent
and received, and the byte log of all the case's connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..client import LogEntry, SessionLog
from ..client.log import visible
from .model import Case, Location, Step


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # the server did not do what the case expects
    SKIP = "skip"  # the target lacks a required capability or endpoint
    ERROR = "error"  # the case could not run (unreachable, set-up failed, undefined variable)


@dataclass
class StepResult:
    step: Step
    status: Status
    sent: bytes = b""
    received: bytes = b""
    message: str = ""
    expected: list[str] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)  # this step's log, in order

    @property
    def location(self) -> Location:
        return self.step.location

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.step.index,
            "line": self.step.location.line,
            "connection": self.step.connection,
            "status": str(self.status),
            "message": self.message,
            "expected": self.expected,
            "diff": self.diff,
            "sent": visible(self.sent),
            "received": visible(self.received),
        }


@dataclass
class CaseResult:
    case: Case
    status: Status
    reason: str = ""
    steps: list[StepResult] = field(default_factory=list)
    log: SessionLog = field(default_factory=SessionLog)
    duration: float = 0.0
    target: str = ""

    @property
    def location(self) -> Location:
        """Where to look: the failing step's line, else the case's first line."""
        failed = self.failed_step
        return failed.location if failed else self.case.location

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status in (Status.FAIL, Status.ERROR)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "title": self.case.title,
            "protocol": self.case.protocol,
            "file": str(self.case.path),
            "line": self.location.line,
            "rfc": self.case.rfc,
            "level": self.case.level,
            "requires": list(self.case.requires),
            "tags": list(self.case.tags),
            "status": str(self.status),
            "reason": self.reason,
            "duration": round(self.duration, 4),
            "target": self.target,
            "steps": [step.to_dict() for step in self.steps],
            "log": [
                {"t": round(e.time, 4), "dir": e.direction, "conn": e.connection,
                 "data": visible(e.data)}
                for e in self.log.entries
            ],
        }
