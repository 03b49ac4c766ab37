"""What a listener may do: limits, host names, switches. Built from ``ctx.settings("smtp")``.

Settings are a flat mapping of :class:`SmtpPolicy` field names; a nested mapping under a
listener kind ("smtp", "submission", "smtps") overrides them for that listener only::

    {"max_message_size": 1_000_000, "submission": {"allow_plaintext_auth": True}}

An unknown key is an error (a typo must not silently fall back to a default). The keys
``routes`` and ``relay`` belong to the relay queue and are passed over here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

KINDS = ("smtp", "submission", "smtps")
FOREIGN_KEYS = frozenset({"routes", "relay", "server_directory", *KINDS})


@dataclass(frozen=True)
class SmtpPolicy:
    hostname: str = "localhost"
    # RFC 5321 §4.5.3.1.7: the message size limit, advertised by SIZE (RFC 1870).
    max_message_size: int = 10 * 1024 * 1024
    # RFC 5321 §4.5.3.1.8: at least 100 recipients MUST be buffered.
    max_recipients: int = 100
    # RFC 5321 §4.5.3.1.4: 512 octets per command line, CRLF included.
    max_line: int = 512
    # RFC 5321 §4.5.3.1.6: 1000 octets per text line, CRLF included.
    max_text_line: int = 1000
    # Per listener, across its processes when ``workers`` > 1 (workers.SessionCounter).
    max_connections: int = 2000
    # Timeouts per stage, RFC 5321 §4.5.3.2 (see Connection.idle_timeout). §4.5.3.2.7:
    # a server SHOULD wait at least 5 minutes for the next command (and a SASL line).
    command_timeout: float = 300.0
    # Between lines of a DATA body or octets of a BDAT chunk. §4.5.3.2.5-6 give the
    # client 3 minutes per data block and 10 for the final reply; the server's own wait
    # for more data uses the §4.5.3.2.7 floor as well. Longer is fine.
    data_timeout: float = 300.0
    # The STARTTLS / implicit TLS handshake (not an SMTP stage; a short bound is safe).
    tls_handshake_timeout: float = 30.0
    # Seconds before a 535 for bad credentials is sent (slows down password guessing,
    # as the POP3 server does; RFC 4954 §9 leaves the means to the server).
    auth_failure_delay: float = 1.0
    vrfy_enabled: bool = True
    expn_enabled: bool = True
    # Bare CR/LF in message text: refuse (True) or keep and log (False).
    strict_eol: bool = False
    require_auth: bool = False
    allow_plaintext_auth: bool = False
    offer_starttls: bool = True
    implicit_tls: bool = False
    aliases_file: str | None = None
    postmaster: str | None = None
    max_errors: int = 20
    # Accept "MAIL FROM: <a>" (a space RFC 5321 §4.1.2 does not allow), as many servers do.
    relaxed_paths: bool = False
    # Processes serving each listener (SO_REUSEPORT), see reference_servers/workers.py.
    workers: int = 1
    # RFC 5321 §3.1: refuse the session: 554 "No SMTP service here" instead of 220, then
    # 503 to every command but QUIT.
    refuse_service: bool = False
    # RFC 5321 §4.2.2: HELP without a topic answers 211 (system status) instead of 214.
    help_status: bool = False
    # Fault injection in the manner of Postfix smtp-sink, each with the reply RFC 5321
    # §4.2.3 gives that situation. Local parts (any local domain, case-insensitive):
    # 450 "mailbox unavailable (e.g., mailbox busy or temporarily blocked for policy reasons)"
    unavailable_mailboxes: tuple[str, ...] = ()
    # 451 "Requested action aborted: local error in processing"
    failing_mailboxes: tuple[str, ...] = ()
    # MAIL/RCPT parameter keywords (e.g. NOTIFY) the server cannot accommodate for now:
    # 455, RFC 5321 §4.1.1.11 (unless the parameter's own RFC mandates another code).
    deferred_parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # YAML/JSON settings give lists; keep the policy hashable and case-normalised.
        for name, upper in (("unavailable_mailboxes", False), ("failing_mailboxes", False),
                            ("deferred_parameters", True)):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{name} must be a list of strings")
            object.__setattr__(self, name, tuple(v.upper() if upper else v.lower()
                                                 for v in value))
        if self.max_recipients < 1 or self.max_line < 64 or self.max_text_line < 80:
            raise ValueError("max_recipients, max_line and max_text_line are too small")
        if self.max_message_size < 1 or self.max_connections < 1 or self.max_errors < 1:
            raise ValueError("max_message_size, max_connections, max_errors must be positive")
        if min(self.command_timeout, self.data_timeout, self.tls_handshake_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if self.auth_failure_delay < 0:
            raise ValueError("auth_failure_delay must not be negative")
        if not 1 <= self.workers <= 64:
            raise ValueError("workers must be between 1 and 64")

    @classmethod
    def for_listener(cls, kind: str, settings: Mapping[str, Any], *,
                     hostname: str = "localhost") -> SmtpPolicy:
        if kind not in KINDS:
            raise ValueError(f"not an SMTP listener kind: {kind!r}")
        base = _defaults(kind, hostname)
        values = {k: v for k, v in settings.items() if k not in FOREIGN_KEYS}
        override = settings.get(kind) or {}
        if not isinstance(override, Mapping):
            raise ValueError(f"smtp settings: {kind!r} must be a mapping")
        values.update(override)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown smtp setting(s): {', '.join(unknown)}")
        return replace(base, **values)


def _defaults(kind: str, hostname: str) -> SmtpPolicy:
    if kind == "smtp":
        return SmtpPolicy(hostname=hostname)
    # RFC 6409 §4.3: submission requires authentication; the issue makes strict line
    # endings the submission default (a user agent has no excuse for bare LF).
    return SmtpPolicy(hostname=hostname, require_auth=True, strict_eol=True,
                      implicit_tls=kind == "smtps", offer_starttls=kind != "smtps")
