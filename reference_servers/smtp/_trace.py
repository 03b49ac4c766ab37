"""Trace information (RFC 5321 §4.4): the ``Return-Path:`` and ``Received:`` headers.

Pure functions; the server passes the time and the queue id in.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

from ._events import Envelope


def protocol_name(envelope: Envelope) -> str:
    """The ``with`` clause: RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 §3.7.3
    (UTF8SMTP...) for SMTPUTF8 transactions."""
    if not envelope.esmtp:
        return "SMTP"
    name = "UTF8SMTP" if envelope.smtputf8 else "ESMTP"
    return name + ("S" if envelope.tls else "") + ("A" if envelope.authenticated else "")


def received_header(envelope: Envelope, *, hostname: str, peer_ip: str, queue_id: str,
                    when: datetime, for_address: str | None = None) -> bytes:
    """RFC 5321 §4.4: "Received: from <helo> ([ip]) by <host> with <proto> id <id>
    [for <addr>]; <date-time>", folded so no line exceeds 78 characters."""
    parts = [
        f"from {envelope.helo or 'unknown'} ([{peer_ip}])",
        f"by {hostname}",
        f"with {protocol_name(envelope)}",
        f"id {queue_id}",
    ]
    if for_address:
        parts.append(f"for <{for_address}>")
    text = "Received: " + "\r\n\t".join(parts) + ";\r\n\t" + format_datetime(when)
    return text.encode("utf-8") + b"\r\n"


def return_path_header(envelope: Envelope) -> bytes:
    # RFC 5321 §4.4: the final delivery MTA adds Return-Path with the reverse-path,
    # "<>" for the null path.
    return f"Return-Path: <{envelope.mail_from}>\r\n".encode()
