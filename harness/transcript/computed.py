"""Computed variables: values a case cannot write down because they depend on the run.

Credentials are the target's, so a recording made as one user replays as another; the
SASL encodings of them are precomputed here because a transcript has no functions:

``$sasl_plain``     base64 of NUL user NUL password: the PLAIN response (RFC 4616)
``$sasl_user``      base64 of the user name: the first LOGIN response
``$sasl_password``  base64 of the password: the second LOGIN response
``$cram_md5``       the CRAM-MD5 response (RFC 2195) to the server's latest challenge
``$apop``           the APOP digest of the POP3 greeting (RFC 1939 §7; set by the runner)
``$domain_upper``   the profile's domain in upper case: domains are not case sensitive
                    (RFC 5321 §2.4), so a server must treat it as ``$domain``

``$cram_md5`` changes with every challenge: the runner recomputes it whenever a response
is a SASL continuation (SMTP 334, POP3 ``+``, IMAP ``+``), so the step after the
challenge sends the answer to that challenge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

COMPUTED = ("sasl_plain", "sasl_user", "sasl_password", "cram_md5", "apop", "domain_upper")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def credential_variables(user: str, password: str) -> dict[str, str]:
    """The SASL encodings of one user's credentials."""
    return {
        "sasl_plain": _b64(b"\0" + user.encode() + b"\0" + password.encode()),
        "sasl_user": _b64(user.encode()),
        "sasl_password": _b64(password.encode()),
    }


def domain_variables(domain: str | None) -> dict[str, str]:
    """``$domain_upper``; nothing when the profile names no domain."""
    return {"domain_upper": domain.upper()} if domain else {}


def cram_md5(challenge: str, user: str, password: str) -> str | None:
    """RFC 2195 §2: base64(user SP hex(HMAC-MD5(password, challenge))), or None.

    None when the challenge is not base64: then it was not a CRAM-MD5 challenge (a
    LOGIN prompt is base64 too, but harmlessly so: nobody sends $cram_md5 after it).
    """
    try:
        decoded = base64.b64decode(challenge.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    digest = hmac.new(password.encode(), decoded, hashlib.md5).hexdigest()
    return _b64(f"{user} {digest}".encode())
