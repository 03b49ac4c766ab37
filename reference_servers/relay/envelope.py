"""What the queue keeps about a message besides its bytes: the SMTP envelope.

The DSN parameters are kept as they arrived on the wire (RFC 3461): the relay passes
ENVID and ORCPT on to a next hop that supports DSN unchanged (RFC 3461 §5.2.1),
and decodes their xtext only when it writes them into a report (RFC 3464 §2.2.1,
§2.3.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NOTIFY_VALUES = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})
BODY_VALUES = frozenset({"7BIT", "8BITMIME", "BINARYMIME"})
RET_VALUES = frozenset({"FULL", "HDRS"})


@dataclass(frozen=True)
class QueuedRecipient:
    address: str
    notify: frozenset[str] = frozenset()
    orcpt: str | None = None

    def __post_init__(self) -> None:
        unknown = self.notify - NOTIFY_VALUES
        if unknown:
            raise ValueError(f"unknown NOTIFY value(s) {sorted(unknown)}")
        # RFC 3461 §4.1: NEVER must not be combined with any other value.
        if "NEVER" in self.notify and len(self.notify) > 1:
            raise ValueError("NOTIFY=NEVER cannot be combined with other values")

    def wants(self, kind: str) -> bool:
        """Whether a DSN of ``kind`` (SUCCESS, FAILURE, DELAY) is requested.

        RFC 3461 §4.1: without NOTIFY an MTA may act as if FAILURE (or FAILURE,DELAY)
        had been given; this relay takes FAILURE only.
        """
        if not self.notify:
            return kind == "FAILURE"
        return kind in self.notify


@dataclass(frozen=True)
class QueuedEnvelope:
    mail_from: str
    recipients: tuple[QueuedRecipient, ...]
    envid: str | None = None
    ret: str | None = None
    smtputf8: bool = False
    body: str = "7BIT"
    _by_address: dict[str, QueuedRecipient] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ValueError("an envelope needs at least one recipient")
        if self.ret is not None and self.ret not in RET_VALUES:
            raise ValueError(f"RET must be FULL or HDRS, not {self.ret!r}")
        if self.body not in BODY_VALUES:
            raise ValueError(f"BODY must be one of {sorted(BODY_VALUES)}, not {self.body!r}")
        for rcpt in self.recipients:
            self._by_address.setdefault(rcpt.address, rcpt)

    def recipient(self, address: str) -> QueuedRecipient:
        return self._by_address[address]

    def to_json(self) -> dict[str, Any]:
        return {
            "mail_from": self.mail_from,
            "recipients": [
                {"address": r.address, "notify": sorted(r.notify), "orcpt": r.orcpt}
                for r in self.recipients
            ],
            "envid": self.envid,
            "ret": self.ret,
            "smtputf8": self.smtputf8,
            "body": self.body,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueuedEnvelope:
        return cls(
            mail_from=str(data["mail_from"]),
            recipients=tuple(
                QueuedRecipient(str(r["address"]), frozenset(r["notify"]), r["orcpt"])
                for r in data["recipients"]
            ),
            envid=data["envid"],
            ret=data["ret"],
            smtputf8=bool(data["smtputf8"]),
            body=str(data["body"]),
        )


_XTEXT_HEX = re.compile(r"\+([0-9A-F]{2})")


def xtext_decode(text: str) -> str:
    """RFC 3461 §4: "+" followed by two upper-case hex digits encodes one octet."""
    raw = _XTEXT_HEX.sub(lambda m: chr(int(m.group(1), 16)), text)
    # Octets above 127 can only come from UTF-8 (RFC 6533 §3); decode them as such.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def xtext_encode(text: str) -> str:
    """RFC 3461 §4: encode "+", "=", controls and non-ASCII as "+XX"."""
    out = []
    for octet in text.encode("utf-8"):
        if 33 <= octet <= 126 and octet not in (43, 61):
            out.append(chr(octet))
        else:
            out.append(f"+{octet:02X}")
    return "".join(out)


def domain_of(address: str) -> str:
    """The domain of an address, lower-cased (RFC 5321 §2.4: domains are case-insensitive)."""
    return address.rpartition("@")[2].lower()
