"""Credentials in a recorded session become the target's: ``$user``, ``$password``, SASL.

A recording made as alice must replay as whichever user the replay target names, so the
recorder rewrites what the client sent to log in:

- POP3 ``USER``/``PASS``/``APOP`` and IMAP ``LOGIN``: ``$user``, ``$password``, ``$apop``;
- SASL (SMTP ``AUTH``, POP3 ``AUTH``, IMAP ``AUTHENTICATE``, initial responses included):
  PLAIN becomes ``$sasl_plain``, LOGIN ``$sasl_user`` then ``$sasl_password``, CRAM-MD5
  ``$cram_md5`` (computed by the runner from the challenge it receives, see
  :mod:`.computed`). Other mechanisms are kept as recorded: they will not replay
  against another server, and the preamble says so.
"""

from __future__ import annotations

import base64
import binascii
import re

from .importers import _Event

_APOP = re.compile(r"^(APOP) \S+ [0-9a-fA-F]{32}$", re.IGNORECASE)
_ASTRING = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s"{}()]+')


def variablize_credentials(events: list[_Event], protocol: str, *,
                           apop: bool) -> list[str]:
    """Rewrite login commands in place; returns the mechanisms left as recorded."""
    mechanism: str | None = None
    stage = 0
    kept: list[str] = []
    for event in events:
        if event.kind == "S":
            if mechanism is not None and not _is_challenge(event.text, protocol):
                mechanism = None  # the exchange ended (success or failure)
            continue
        if event.kind != "C":
            continue
        if mechanism is not None:
            event.text = _sasl_response(mechanism, stage, event.text)
            stage += 1
            continue
        tag = ""
        text = event.text
        if protocol == "imap":
            tag, _, text = text.partition(" ")
            tag += " "
        words = text.split(" ")
        verb = words[0].upper()
        if verb in ("AUTH", "AUTHENTICATE") and len(words) >= 2:
            mechanism, stage = words[1].upper(), 0
            if mechanism not in ("PLAIN", "LOGIN", "CRAM-MD5"):
                kept.append(mechanism)
            if len(words) >= 3:  # an initial response (RFC 4954 §4, RFC 4959, RFC 5034)
                words[2] = _sasl_response(mechanism, 0, words[2])
                stage = 1
            event.text = tag + " ".join(words)
        elif protocol == "pop3" and verb == "USER" and len(words) == 2:
            event.text = "USER $user"
        elif protocol == "pop3" and verb == "PASS" and len(words) >= 2:
            event.text = "PASS $password"
        elif protocol == "pop3" and apop and _APOP.match(text):
            event.text = "APOP $user $apop"  # RFC 1939 §7: the digest is per greeting
        elif protocol == "imap" and verb == "LOGIN" and len(_ASTRING.findall(text)) == 3:
            # Quoted, so that any password of the replay target is one string.
            event.text = tag + 'LOGIN "$user" "$password"'
    return kept


def _is_challenge(text: str, protocol: str) -> bool:
    if protocol in ("smtp", "lmtp"):
        return text.startswith("334")
    return text == "+" or text.startswith("+ ")


def _sasl_response(mechanism: str, stage: int, data: str) -> str:
    if data == "*":  # the client cancelled (RFC 4954 §4)
        return data
    if mechanism == "PLAIN" and stage == 0:
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return data
        parts = decoded.split(b"\0")
        # An authorization identity other than empty would need one more variable; rare.
        return "$sasl_plain" if len(parts) == 3 and parts[0] == b"" else data
    if mechanism == "LOGIN" and stage in (0, 1):
        return ("$sasl_user", "$sasl_password")[stage]
    if mechanism == "CRAM-MD5" and stage == 0:
        return "$cram_md5"
    return data
