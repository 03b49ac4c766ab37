"""Users and SASL for every reference server.

- :class:`UserTable`: local domains and users, from a YAML file or the built-in
  embedded default (alice and bob at example.test, password "secret").
- :func:`hash_password`: the scrypt string to put in a users file.
- :class:`SaslExchange` and friends: PLAIN, LOGIN and CRAM-MD5, sans-IO.

The users file::

    domains: [example.test]
    users:
      alice: {password: "scrypt$ln=14,r=8,p=1$..."}   # from hash_password()
      bob:   {password: {plain: secret}}              # or "plain$secret"

A hashed password serves PLAIN, LOGIN and USER/PASS.  CRAM-MD5 and APOP key a digest
with the secret itself, so only users with a plaintext password can use them, and
CRAM-MD5 is not advertised when no user has one.  Create a hash with
``python -m reference_servers.auth hash``.
"""

from ._passwords import PasswordEntry, PasswordFormatError, hash_password
from ._sasl import (
    MECHANISMS,
    SaslChallenge,
    SaslError,
    SaslExchange,
    SaslFailure,
    SaslStep,
    SaslSuccess,
    decode_initial_response,
    decode_sasl_response,
    encode_challenge,
    mechanisms_for,
)
from ._users import DEFAULT_DOMAIN, DEFAULT_PASSWORD, DEFAULT_USERS, UserFileError, UserTable

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERS",
    "MECHANISMS",
    "PasswordEntry",
    "PasswordFormatError",
    "SaslChallenge",
    "SaslError",
    "SaslExchange",
    "SaslFailure",
    "SaslStep",
    "SaslSuccess",
    "UserFileError",
    "UserTable",
    "decode_initial_response",
    "decode_sasl_response",
    "encode_challenge",
    "hash_password",
    "mechanisms_for",
]
