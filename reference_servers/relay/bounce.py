"""Delivery status notifications: RFC 3464 multipart/report messages.

A DSN goes to the original reverse-path with a null reverse-path of its own, so that
a DSN is never answered by another one (RFC 5321 §4.5.5, §6.1; RFC 3461 §6.1). Which
recipients get reported is the worker's decision (NOTIFY, RFC 3461 §4.1); this module
only writes the report. Messages whose envelope or addresses need UTF-8 get the
RFC 6533 forms (message/global-delivery-status, utf-8 address type).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from .envelope import QueuedEnvelope, QueuedRecipient, xtext_decode

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
_SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delivery Status Notification (Delay)",
    "delivered": "Delivery Status Notification (Success)",
    "relayed": "Delivery Status Notification (Relayed)",
    "expanded": "Delivery Status Notification (Expanded)",
}
_EXPLAIN = {
    "failed": "could not be delivered; the error was permanent or the message expired",
    "delayed": "has not been delivered yet; delivery will be retried",
    "delivered": "was delivered",
    "relayed": "was relayed to a system that does not report delivery",
    "expanded": "was expanded to several recipients",
}
_MAX_FIELD = 900  # leave room under RFC 5322 §2.1.1's 998 octets per line
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


@dataclass(frozen=True)
class RecipientReport:
    """One per-recipient block of a message/delivery-status part (RFC 3464 §2.3)."""

    recipient: QueuedRecipient
    action: str
    status: str
    diagnostic: str | None = None
    smtp_diagnostic: bool = False  # diagnostic is an SMTP reply (diagnostic-type "smtp")
    remote_mta: str | None = None
    last_attempt: float | None = None
    will_retry_until: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown DSN action {self.action!r}")
        if not _STATUS.fullmatch(self.status):
            raise ValueError(f"{self.status!r} is not an RFC 3463 status code")


def build_dsn(
    envelope: QueuedEnvelope,
    data: bytes,
    reports: Sequence[RecipientReport],
    *,
    reporting_mta: str,
    arrival: float,
    default_ret: str = "HDRS",
    now: float | None = None,
) -> tuple[QueuedEnvelope, bytes]:
    """The envelope and bytes of a DSN about ``envelope`` for ``reports``."""
    if not envelope.mail_from:
        # RFC 5321 §6.1: a message with a null reverse-path never produces a notification.
        raise ValueError("a message with a null reverse-path is never bounced")
    if not reports:
        raise ValueError("a DSN needs at least one recipient report")
    created = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    utf8 = envelope.smtputf8 or not _ascii(
        envelope.mail_from, *(r.recipient.address for r in reports),
        *(r.recipient.orcpt or "" for r in reports), envelope.envid or "",
    )
    ret = envelope.ret or default_ret
    if envelope.body == "BINARYMIME":
        ret = "HDRS"  # binary content cannot travel inside a DATA-framed report
    returned, returned_type = _returned_content(data, ret, utf8)
    worst = next(a for a in ACTIONS if any(r.action == a for r in reports))

    boundary = _boundary(data)
    status_type = "message/global-delivery-status" if utf8 else "message/delivery-status"
    head = [
        f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>",
        f"To: <{envelope.mail_from}>",
        f"Subject: {_SUBJECTS[worst]}",
        f"Date: {format_datetime(created)}",
        f"Message-ID: <{secrets.token_hex(12)}@{reporting_mta}>",
        # RFC 3834 §5: machine-generated, so auto-responders leave it alone.
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
    ]
    text = _human_text(envelope, reports, reporting_mta)
    charset = "utf-8" if not _ascii(text) else "us-ascii"
    parts = [
        (f"Content-Type: text/plain; charset={charset}\r\n"
         f"Content-Transfer-Encoding: {'8bit' if charset == 'utf-8' else '7bit'}\r\n\r\n"
         ).encode("ascii") + text.encode("utf-8"),
        f"Content-Type: {status_type}\r\n\r\n".encode("ascii")
        + _status_fields(envelope, reports, reporting_mta, arrival, utf8).encode("utf-8"),
        f"Content-Type: {returned_type}\r\n\r\n".encode("ascii") + returned,
    ]
    body = b"This is a MIME-encapsulated message (RFC 3464 delivery status notification).\r\n"
    for part in parts:
        if not part.endswith(b"\r\n"):
            part += b"\r\n"
        body += f"\r\n--{boundary}\r\n".encode("ascii") + part
    body += f"\r\n--{boundary}--\r\n".encode("ascii")
    message = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body

    eight_bit = any(octet > 127 for octet in message)
    dsn_envelope = QueuedEnvelope(
        mail_from="",
        # RFC 3461 §6.1: no DSN is asked about a DSN.
        recipients=(QueuedRecipient(envelope.mail_from, frozenset({"NEVER"})),),
        smtputf8=utf8,
        body="8BITMIME" if eight_bit else "7BIT",
    )
    return dsn_envelope, message


def _status_fields(
    envelope: QueuedEnvelope,
    reports: Sequence[RecipientReport],
    reporting_mta: str,
    arrival: float,
    utf8: bool,
) -> str:
    addr_type = "utf-8" if utf8 else "rfc822"  # RFC 6533 §3 for the utf-8 type
    # RFC 3464 §2.2: the per-message fields, then one block per recipient (§2.3).
    lines = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envelope.envid:
        # RFC 3464 §2.2.1: the ENVID as given, decoded from xtext (RFC 3461 §4.4).
        lines.append(f"Original-Envelope-Id: {_clean(xtext_decode(envelope.envid))}")
    lines.append(f"Arrival-Date: {_date(arrival)}")
    for report in reports:
        lines.append("")
        rcpt = report.recipient
        if rcpt.orcpt:
            # RFC 3464 §2.3.1 / RFC 3461 §4.2: ORCPT is "addr-type;xtext", reported decoded.
            kind, _, original = rcpt.orcpt.partition(";")
            lines.append(f"Original-Recipient: {kind.strip()};{_clean(xtext_decode(original))}")
        lines.append(f"Final-Recipient: {addr_type}; {_clean(rcpt.address)}")
        lines.append(f"Action: {report.action}")
        lines.append(f"Status: {report.status}")
        if report.remote_mta:
            lines.append(f"Remote-MTA: dns; {_clean(report.remote_mta)}")
        if report.diagnostic:
            # RFC 3464 §2.3.6: "smtp" for an SMTP reply, an X- type for anything else.
            kind = "smtp" if report.smtp_diagnostic else "X-mailharness"
            lines.append(f"Diagnostic-Code: {kind}; {_clean(report.diagnostic)}")
        if report.last_attempt is not None:
            lines.append(f"Last-Attempt-Date: {_date(report.last_attempt)}")
        if report.will_retry_until is not None:
            lines.append(f"Will-Retry-Until: {_date(report.will_retry_until)}")
    return "\r\n".join(lines) + "\r\n"


def _human_text(
    envelope: QueuedEnvelope, reports: Sequence[RecipientReport], reporting_mta: str
) -> str:
    lines = [f"This is the mail system at {reporting_mta}.", ""]
    for report in reports:
        lines.append(f"Your message to <{report.recipient.address}> {_EXPLAIN[report.action]}.")
        if report.diagnostic:
            lines.append(f"    {_clean(report.diagnostic)}")
    lines += ["", "The delivery report and the original message (or its headers) follow."]
    return "\r\n".join(lines) + "\r\n"


def _returned_content(data: bytes, ret: str, utf8: bool) -> tuple[bytes, str]:
    """RFC 3461 §4.3: RET=FULL returns the message, RET=HDRS its header only."""
    if ret == "FULL":
        return data, "message/global" if utf8 else "message/rfc822"
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    header = data if end < 0 else data[: end + 2]
    return header, "message/global-headers" if utf8 else "text/rfc822-headers"


def _boundary(data: bytes) -> str:
    while True:
        boundary = f"=_dsn_{secrets.token_hex(16)}"
        if boundary.encode("ascii") not in data:
            return boundary


def _date(timestamp: float) -> str:
    return format_datetime(datetime.fromtimestamp(timestamp, UTC))


def _clean(text: str) -> str:
    # One field, one line: a CR or LF from a peer's reply must not start a new field.
    return " ".join(text.split())[:_MAX_FIELD]


def _ascii(*texts: str) -> bool:
    return all(text.isascii() for text in texts)
