"""The one result schema both engines produce, so reports don't care which engine ran.

One row per request: an SMTP message transaction (``smtp:message``), a failed session
setup (``smtp:connect``, ``smtp:ehlo``...), or one POP3 command (``pop3:RETR``...).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from pathlib import Path


@dataclass(slots=True)
class ResultRow:
    timestamp: float  # Unix time (s) when the request completed: comparable across processes
    name: str  # "<protocol>:<request>", e.g. smtp:message, pop3:RETR
    latency_ms: float  # open loop: from the scheduled start, so queueing is not hidden
    bytes: int  # octets sent (SMTP message) or received (POP3 response)
    code: str  # SMTP reply code ("250") or POP3 status ("+OK"/"-ERR"); "" when none came
    error: str = ""  # empty when the request succeeded
    message_id: str = ""  # the X-Mailharness-Id of an SMTP message

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def accepted(self) -> bool:
        """An SMTP message the server took responsibility for (RFC 5321 §4.2.5: a 250)."""
        return self.name == "smtp:message" and self.code == "250" and bool(self.message_id)


FIELDS = tuple(f.name for f in fields(ResultRow))


def as_tuple(row: ResultRow) -> tuple[object, ...]:
    return astuple(row)


def from_tuple(values: Iterable[str | int | float]) -> ResultRow:
    t, name, latency, size, code, error, message_id = values
    return ResultRow(float(t), str(name), float(latency), int(size),
                     str(code), str(error), str(message_id))


def write_csv(rows: Iterable[ResultRow], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow((f"{row.timestamp:.6f}", row.name, f"{row.latency_ms:.3f}",
                             row.bytes, row.code, row.error, row.message_id))


def read_csv(source: Path | str) -> Iterator[ResultRow]:
    handle = io.StringIO(source) if isinstance(source, str) else source.open(encoding="utf-8")
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        if tuple(header) != FIELDS:
            raise ValueError(f"not a result-row CSV: header {header}")
        for values in reader:
            yield from_tuple(values)
