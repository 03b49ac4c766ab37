"""SASL server mechanisms, sans-IO, shared by SMTP (RFC 4954), POP3 (RFC 5034) and
IMAP (RFC 3501 §6.2.2).

The protocol servers own the framing (``334``/``+`` prefixes, the ``*`` cancel line,
the failure replies and any failed-login delay); this module only turns decoded
client responses into the next step.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from ._users import UserTable

MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")

_LOWER_HEX_32 = re.compile(rb"[0-9a-f]{32}")


class SaslError(Exception):
    """Bad input at the SASL layer (bad base64, unknown mechanism, misuse)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SaslChallenge:
    """Send ``data`` to the client (the caller base64-encodes it)."""

    data: bytes


@dataclass(frozen=True)
class SaslSuccess:
    user: str
    authzid: str | None = None


@dataclass(frozen=True)
class SaslFailure:
    """The exchange failed.  ``malformed`` separates a syntactically broken response
    (SMTP 501, RFC 4954 §4) from wrong credentials (SMTP 535)."""

    reason: str
    malformed: bool = False


SaslStep = SaslChallenge | SaslSuccess | SaslFailure


def mechanisms_for(users: UserTable) -> tuple[str, ...]:
    """The mechanisms worth advertising: CRAM-MD5 needs a retrievable secret."""
    if users.has_retrievable_secrets():
        return MECHANISMS
    return tuple(m for m in MECHANISMS if m != "CRAM-MD5")


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line


def decode_sasl_response(line: bytes) -> bytes | None:
    """Decode one client response line (with or without its CRLF).

    Returns None when the client cancels with ``*``; the caller MUST then reject
    the command (RFC 4954 §4: 501; RFC 5034 §4: -ERR; RFC 3501 §6.2.2: BAD).
    An empty line is an empty response.
    """
    data = _strip_eol(line)
    if data == b"*":
        return None
    return _strict_b64decode(data)


def decode_initial_response(token: bytes) -> bytes:
    """Decode the initial-response argument of ``AUTH <mech> <ir>``: a lone ``=``
    is the empty response (RFC 4954 §4, RFC 5034 §4); anything else is base64."""
    if token == b"=":
        return b""
    if not token:
        raise SaslError("empty initial response (use '=' for a zero-length one)")
    return _strict_b64decode(token)


def _strict_b64decode(data: bytes) -> bytes:
    # RFC 4954 §4: a response that cannot be base64-decoded MUST be rejected
    # (501).  "Strict" here is RFC 4648 §3: base64 alphabet only, no whitespace
    # or line breaks, correct padding, and canonical encoding (pad bits zero,
    # RFC 4648 §3.5), checked by re-encoding.
    try:
        decoded = binascii.a2b_base64(data, strict_mode=True)
    except binascii.Error as exc:
        raise SaslError(f"invalid base64: {exc}") from exc
    if binascii.b2a_base64(decoded, newline=False) != data:
        raise SaslError("invalid base64: non-canonical encoding")
    return decoded


def encode_challenge(data: bytes) -> bytes:
    """Base64 for a server challenge, on one line (RFC 4954 §4: no line breaks)."""
    return binascii.b2a_base64(data, newline=False)


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class SaslExchange:
    """One authentication attempt with one mechanism.

    Mechanism names are matched case-insensitively (clients differ).  After a
    success or failure the exchange is finished; further calls raise SaslError.
    ``nonce`` fixes the CRAM-MD5 challenge (tests); by default it is
    ``<random.timestamp@hostname>`` as RFC 2195 §2 describes.
    """

    def __init__(
        self, mechanism: str, users: UserTable, *, hostname: str, nonce: bytes | None = None
    ) -> None:
        name = mechanism.upper()
        if name not in MECHANISMS:
            raise SaslError(f"unsupported mechanism {mechanism!r}")
        if name not in mechanisms_for(users):
            raise SaslError(f"mechanism {name} needs retrievable secrets, and none are stored")
        self.mechanism = name
        self._users = users
        self._hostname = hostname
        self._nonce = nonce
        self._started = False
        self._done = False
        self._login_user: str | None = None
        self._challenge: bytes | None = None

    @property
    def done(self) -> bool:
        return self._done

    def start(self, initial_response: bytes | None) -> SaslStep:
        if self._started:
            raise SaslError("exchange already started")
        self._started = True
        if self.mechanism == "PLAIN":
            if initial_response is None:
                # RFC 4616 §2: the client sends first; an empty challenge asks for it.
                return SaslChallenge(b"")
            return self._finish(self._plain(initial_response))
        if self.mechanism == "LOGIN":
            if initial_response is None:
                return SaslChallenge(b"Username:")
            return self._login_username(initial_response)
        # RFC 2195 §2 is server-first; RFC 4422 §3.3 makes an initial response to
        # a server-first mechanism a protocol error that fails the exchange.
        if initial_response is not None:
            return self._finish(
                SaslFailure("CRAM-MD5 takes no initial response", malformed=True)
            )
        self._challenge = self._nonce or self._new_challenge()
        return SaslChallenge(self._challenge)

    def step(self, response: bytes) -> SaslStep:
        if not self._started:
            raise SaslError("exchange not started")
        if self._done:
            raise SaslError("exchange already finished")
        if self.mechanism == "PLAIN":
            return self._finish(self._plain(response))
        if self.mechanism == "LOGIN":
            if self._login_user is None:
                return self._login_username(response)
            return self._finish(self._login_password(self._login_user, response))
        return self._finish(self._cram_md5(response))

    def _finish(self, step: SaslStep) -> SaslStep:
        self._done = True
        return step

    def _new_challenge(self) -> bytes:
        return f"<{secrets.randbelow(10**10)}.{time.time_ns()}@{self._hostname}>".encode()

    # -- PLAIN, RFC 4616 -----------------------------------------------------------

    def _plain(self, message: bytes) -> SaslStep:
        # RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, with
        # authcid and passwd 1*SAFE (no NUL): exactly two NULs.  No length cap
        # here: the server MUST accept at least 255 octets of each, and the
        # protocol's line limit already bounds the whole message.
        parts = message.split(b"\x00")
        if len(parts) != 3:
            return SaslFailure("PLAIN message must contain exactly two NULs", malformed=True)
        texts = [_utf8(p) for p in parts]
        authzid, authcid, passwd = texts
        if authzid is None or authcid is None or passwd is None:
            return SaslFailure("PLAIN message is not UTF-8", malformed=True)
        if not authcid or not passwd:
            return SaslFailure("PLAIN authcid and passwd must not be empty", malformed=True)
        user = self._users.verify_password(authcid, passwd)
        if user is None:
            return SaslFailure("invalid credentials")
        if not authzid:
            return SaslSuccess(user)
        # RFC 4616 §2: the server MUST verify that the authcid may act as the
        # authzid; the reference servers allow only acting as oneself.
        if self._users.canonical(authzid) != user:
            return SaslFailure(f"{user!r} may not act as {authzid!r}")
        return SaslSuccess(user, authzid)

    # -- LOGIN (draft-murchison-sasl-login) ---------------------------------------

    def _login_username(self, data: bytes) -> SaslStep:
        name = _utf8(data)
        if not name or "\x00" in name:
            return self._finish(SaslFailure("LOGIN user name empty or invalid", malformed=True))
        self._login_user = name
        return SaslChallenge(b"Password:")

    def _login_password(self, login: str, data: bytes) -> SaslStep:
        password = _utf8(data)
        if password is None or "\x00" in password:
            return SaslFailure("LOGIN password is not valid UTF-8", malformed=True)
        user = self._users.verify_password(login, password)
        return SaslSuccess(user) if user is not None else SaslFailure("invalid credentials")

    # -- CRAM-MD5, RFC 2195 ---------------------------------------------------------

    def _cram_md5(self, response: bytes) -> SaslStep:
        # RFC 2195 §2: the response is the user name, a space, and the HMAC-MD5
        # digest as 32 lower-case hex characters.
        login_raw, space, digest = response.rpartition(b" ")
        if not space or not _LOWER_HEX_32.fullmatch(digest):
            return SaslFailure("CRAM-MD5 response must be 'user <32 hex>'", malformed=True)
        login = _utf8(login_raw)
        if not login:
            return SaslFailure("CRAM-MD5 user name empty or not UTF-8", malformed=True)
        assert self._challenge is not None
        user = self._users.canonical(login)
        secret = self._users.retrievable_secret(user) if user is not None else None
        # Compute a digest even for unknown users so the timing is the same.
        key = secret if secret is not None else secrets.token_bytes(16)
        expected = hmac.new(key, self._challenge, hashlib.md5).hexdigest().encode("ascii")
        if hmac.compare_digest(expected, digest) and secret is not None and user is not None:
            return SaslSuccess(user)
        return SaslFailure("invalid credentials")
