"""Stored passwords: scrypt hashes, or an explicitly named retrievable plaintext.

Two forms exist because the mechanisms differ in what the server must hold:
PLAIN, LOGIN and USER/PASS only need to check a presented password, so a one-way
hash is enough; CRAM-MD5 (RFC 2195) and APOP (RFC 1939 §7) key a digest with the
shared secret itself, so the server must be able to read it back.  The plaintext
form is spelled ``plain$...`` so nobody stores one by accident.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

SCRYPT_PREFIX = "scrypt"
PLAIN_PREFIX = "plain"

# n=2**14, r=8, p=1 costs ~50 ms and 16 MiB: slow enough to matter for an offline
# attack on a leaked file, fast enough that a login benchmark is not all scrypt
# (and successful verifications are cached anyway, see PasswordEntry).
DEFAULT_LOG2_N = 14
DEFAULT_R = 8
DEFAULT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32

# Bounds on parameters read from a file, so a hostile or mistyped users file cannot
# make every login allocate gigabytes.
_MAX_LOG2_N = 20
_MAX_R = 32
_MAX_P = 16

_PARAMS = re.compile(r"ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})")

# Keys the in-memory cache of successful verifications.  Per process and never
# stored, so the cache entries are useless outside this process.
_CACHE_KEY = secrets.token_bytes(32)


class PasswordFormatError(ValueError):
    """A stored password string that is neither ``scrypt$...`` nor ``plain$...``."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise PasswordFormatError(f"scrypt {what} is not valid base64") from exc


def _scrypt(password: bytes, salt: bytes, log2_n: int, r: int, p: int, dklen: int) -> bytes:
    n = 1 << log2_n
    # hashlib's default maxmem (32 MiB) is below what the larger allowed
    # parameters need; scrypt uses 128 * r * n bytes plus a little.
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=128 * r * n + (1 << 20)
    )


def hash_password(
    password: str, *, log2_n: int = DEFAULT_LOG2_N, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> str:
    """Return ``scrypt$ln=14,r=8,p=1$<salt b64>$<key b64>`` for the users file."""
    if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise ValueError("scrypt parameters out of range")
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _scrypt(password.encode("utf-8"), salt, log2_n, r, p, _KEY_BYTES)
    return f"{SCRYPT_PREFIX}$ln={log2_n},r={r},p={p}${_b64(salt)}${_b64(key)}"


@dataclass(frozen=True)
class _Scrypt:
    log2_n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def parse(cls, text: str) -> _Scrypt:
        parts = text.split("$")
        if len(parts) != 4 or parts[0] != SCRYPT_PREFIX:
            raise PasswordFormatError("expected scrypt$ln=N,r=R,p=P$<salt>$<key>")
        match = _PARAMS.fullmatch(parts[1])
        if match is None:
            raise PasswordFormatError("scrypt parameters must look like ln=14,r=8,p=1")
        log2_n, r, p = (int(g) for g in match.groups())
        if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
            raise PasswordFormatError(
                f"scrypt parameters out of range (ln 1..{_MAX_LOG2_N}, r 1..{_MAX_R}, "
                f"p 1..{_MAX_P})"
            )
        salt = _unb64(parts[2], "salt")
        key = _unb64(parts[3], "key")
        if len(salt) < 8 or len(key) < 16:
            raise PasswordFormatError("scrypt salt or key too short")
        return cls(log2_n, r, p, salt, key)

    def matches(self, password: bytes) -> bool:
        derived = _scrypt(password, self.salt, self.log2_n, self.r, self.p, len(self.key))
        return hmac.compare_digest(derived, self.key)


def _cache_tag(password: bytes) -> bytes:
    return hmac.digest(_CACHE_KEY, password, "sha256")


@dataclass(eq=False)
class PasswordEntry:
    """One user's stored password: a hash, a retrievable secret, or both.

    Successful scrypt verifications are remembered in memory as an HMAC-SHA256 of
    the password under a per-process random key, so a benchmark logging the same
    user in thousands of times pays scrypt once.  Only successes are cached: a
    wrong password always costs a full scrypt, and the cache never touches disk.
    """

    hashed: _Scrypt | None = None
    secret: bytes | None = None
    _verified: bytes | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> PasswordEntry:
        """Parse ``scrypt$...`` or ``plain$<secret>`` (the secret may contain ``$``)."""
        scheme, sep, rest = text.partition("$")
        if not sep:
            raise PasswordFormatError(
                "password must be 'scrypt$...' (from hash_password) or 'plain$<secret>'"
            )
        if scheme == SCRYPT_PREFIX:
            return cls(hashed=_Scrypt.parse(text))
        if scheme == PLAIN_PREFIX:
            return cls.plain(rest)
        raise PasswordFormatError(f"unknown password scheme {scheme!r}; use scrypt or plain")

    @classmethod
    def plain(cls, secret: str) -> PasswordEntry:
        if not secret:
            raise PasswordFormatError("empty plaintext password")
        return cls(secret=secret.encode("utf-8"))

    @property
    def retrievable(self) -> bool:
        return self.secret is not None

    def verify(self, password: str) -> bool:
        candidate = password.encode("utf-8")
        if self.secret is not None:
            return hmac.compare_digest(candidate, self.secret)
        assert self.hashed is not None
        tag = _cache_tag(candidate)
        if self._verified is not None and hmac.compare_digest(tag, self._verified):
            return True
        if self.hashed.matches(candidate):
            self._verified = tag
            return True
        return False


def dummy_entry() -> PasswordEntry:
    """An entry no password matches, verified for unknown users so that a wrong
    user name costs the same scrypt as a wrong password (no user enumeration by
    timing)."""
    return PasswordEntry(hashed=_Scrypt.parse(hash_password(secrets.token_urlsafe(16))))
