"""Success notifications for local deliveries (RFC 3461 NOTIFY=SUCCESS).

When a recipient asked for NOTIFY=SUCCESS and the server delivered the message into a
local mailbox itself, the server is the MTA that completed delivery, so it reports it
(RFC 3461 §5.2: the "delivered" action, RFC 3464 §2.3.3). A recipient that an alias
or a list turned into several addresses gets "expanded" instead (RFC 3464 §2.3.3:
delivered and forwarded to several further recipients). Remote recipients are not
reported here: the relay queue reports them when it hands them on.

The report itself is written by :func:`reference_servers.relay.bounce.build_dsn`, the
same builder the relay uses for failures; this module only chooses the recipients.
No I/O: the server decides where the DSN goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._events import Envelope, Recipient

if TYPE_CHECKING:
    from reference_servers.relay import QueuedEnvelope


def wants_success(envelope: Envelope) -> list[Recipient]:
    """The locally delivered recipients that asked for a success DSN."""
    if not envelope.mail_from:
        # RFC 5321 §6.1 / RFC 3461 §6.1: never notify about a notification.
        return []
    return [r for r in envelope.recipients
            if "SUCCESS" in r.notify and r.local_users]


def success_dsn(envelope: Envelope, data: bytes, recipients: list[Recipient], *,
                reporting_mta: str, arrival: float, now: float) -> tuple[QueuedEnvelope, bytes]:
    """The envelope and bytes of the success DSN for ``recipients`` (see wants_success)."""
    from reference_servers.relay import QueuedEnvelope, QueuedRecipient
    from reference_servers.relay.bounce import RecipientReport, build_dsn

    reports = []
    for rcpt in recipients:
        queued = QueuedRecipient(rcpt.address, rcpt.notify, rcpt.orcpt)
        expanded = len(rcpt.local_users) + len(rcpt.remote) > 1
        reports.append(RecipientReport(
            queued, "expanded" if expanded else "delivered", "2.0.0",
            diagnostic="delivered to the local mailbox" if not expanded
            else f"delivered to {len(rcpt.local_users) + len(rcpt.remote)} recipients",
            last_attempt=now))
    original = QueuedEnvelope(
        envelope.mail_from,
        tuple(QueuedRecipient(r.address, r.notify, r.orcpt) for r in envelope.recipients),
        envid=envelope.envid, ret=envelope.ret, smtputf8=envelope.smtputf8,
        body=envelope.body)
    return build_dsn(original, data, reports, reporting_mta=reporting_mta, arrival=arrival,
                     now=now)
