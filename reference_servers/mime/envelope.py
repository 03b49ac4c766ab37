"""The ENVELOPE of a message (RFC 3501 §7.4.2, RFC 9051 §7.5.2) as a typed value."""

from __future__ import annotations

from dataclasses import dataclass

from ._imapstr import NIL, nstring, plist
from ._model import MessagePart
from .addresses import Group, Mailbox, parse_address_list

# Dovecot's placeholders: a NIL host would read as the start of a group (RFC 3501
# §7.4.2), so a mailbox without a domain needs some host.
MISSING_DOMAIN = b"MISSING_DOMAIN"
MISSING_MAILBOX = b"MISSING_MAILBOX"


def _b(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Address:
    name: bytes | None
    adl: bytes | None
    mailbox: bytes | None
    host: bytes | None

    def to_imap(self) -> bytes:
        return plist(
            [nstring(self.name), nstring(self.adl), nstring(self.mailbox), nstring(self.host)]
        )


def _addresses(value: bytes) -> tuple[Address, ...] | None:
    parsed = parse_address_list(value.decode("utf-8", "surrogateescape"))
    out: list[Address] = []

    def mailbox(m: Mailbox) -> Address:
        return Address(
            _b(m.name),
            _b(m.route),
            _b(m.local) or MISSING_MAILBOX,
            _b(m.domain) or MISSING_DOMAIN,
        )

    for item in parsed.items:
        if isinstance(item, Group):
            # RFC 3501 §7.4.2: group start is (NIL NIL group-name NIL), end (NIL NIL NIL NIL).
            out.append(Address(None, None, _b(item.name), None))
            out.extend(mailbox(m) for m in item.members)
            out.append(Address(None, None, None, None))
        else:
            out.append(mailbox(item))
    return tuple(out) or None


def _alist(addrs: tuple[Address, ...] | None) -> bytes:
    return NIL if not addrs else b"(" + b"".join(a.to_imap() for a in addrs) + b")"


@dataclass(frozen=True, slots=True)
class Envelope:
    date: bytes | None
    subject: bytes | None
    from_: tuple[Address, ...] | None
    sender: tuple[Address, ...] | None
    reply_to: tuple[Address, ...] | None
    to: tuple[Address, ...] | None
    cc: tuple[Address, ...] | None
    bcc: tuple[Address, ...] | None
    in_reply_to: bytes | None
    message_id: bytes | None

    def to_imap(self) -> bytes:
        return plist(
            [
                nstring(self.date),
                nstring(self.subject),
                _alist(self.from_),
                _alist(self.sender),
                _alist(self.reply_to),
                _alist(self.to),
                _alist(self.cc),
                _alist(self.bcc),
                nstring(self.in_reply_to),
                nstring(self.message_id),
            ]
        )


def envelope(part: MessagePart) -> Envelope:
    """The envelope of a message (the top-level one or an encapsulated one).

    Strings are the unfolded field values as sent: encoded words stay encoded, for the
    client to decode (RFC 3501 §7.4.2 gives the fields, not their decoding).
    """
    if part.message is not None and not part.is_message:
        part = part.message

    def value(name: str) -> bytes | None:
        h = part.header(name)
        return None if h is None else h.value

    def addrs(name: str) -> tuple[Address, ...] | None:
        v = value(name)
        return None if v is None else _addresses(v)

    from_ = addrs("from")
    # RFC 3501 §7.4.2: an absent or empty Sender or Reply-To takes the value of From.
    sender = addrs("sender") or from_
    reply_to = addrs("reply-to") or from_
    return Envelope(
        value("date"),
        value("subject"),
        from_,
        sender,
        reply_to,
        addrs("to"),
        addrs("cc"),
        addrs("bcc"),
        value("in-reply-to"),
        value("message-id"),
    )
