"""Users, passwords and SASL, checked against Python's own smtplib/poplib clients."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import poplib
import re
import smtplib
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_servers import auth
from reference_servers.auth import (
    MECHANISMS,
    SaslChallenge,
    SaslError,
    SaslExchange,
    SaslFailure,
    SaslStep,
    SaslSuccess,
    UserFileError,
    UserTable,
    _passwords,
    decode_initial_response,
    decode_sasl_response,
    encode_challenge,
    hash_password,
    mechanisms_for,
)
from reference_servers.auth.__main__ import main as auth_main

# Cheap scrypt parameters for tests; the format and code path are the same.
FAST = {"log2_n": 8, "r": 4, "p": 1}
HOST = "mx.example.test"


@pytest.fixture(scope="module")
def default() -> UserTable:
    return UserTable.default()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> UserTable:
    """carol has only a hash (no CRAM-MD5/APOP), dave a retrievable secret."""
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    path.write_text(
        "domains: [Example.Test, other.test]\n"
        "users:\n"
        f"  carol: {{password: \"{hash_password('hunter2', **FAST)}\"}}\n"
        "  dave: {password: {plain: 'pa$$ word'}}\n"
        "  erin: {password: 'plain$x$y'}\n",
        encoding="utf-8",
    )
    return UserTable.load(path)


# -- the user table -------------------------------------------------------------------


def test_default_table(default: UserTable) -> None:
    assert default.domains == frozenset({"example.test"})
    assert default.user_names() == ["alice", "bob"]
    assert default.verify_password("alice", "secret") == "alice"
    assert default.verify_password("bob@example.test", "secret") == "bob"
    assert default.has_retrievable_secrets()


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        ("alice", "alice"),
        ("alice@example.test", "alice"),
        ("alice@EXAMPLE.Test", "alice"),  # domains are case-insensitive
        ('"alice"@example.test', "alice"),  # quoted form names the same mailbox
        ("Alice", None),  # local parts are case-sensitive (RFC 5321 §2.4)
        ("Alice@example.test", None),
        ("alice@other.test", None),
        ("carol", None),
        ("", None),
        ("@example.test", None),
        ("alice@", None),
        ("alice@example.test@example.test", None),
    ],
)
def test_canonical(default: UserTable, login: str, expected: str | None) -> None:
    assert default.canonical(login) == expected


def test_local_user_for_and_domains(default: UserTable, mixed: UserTable) -> None:
    assert default.local_user_for("bob@Example.TEST") == "bob"
    assert default.local_user_for("bob") is None  # an address needs a domain
    assert default.local_user_for("zed@example.test") is None
    assert default.is_local_domain("EXAMPLE.test")
    assert not default.is_local_domain("example.test.evil")
    assert mixed.domains == frozenset({"example.test", "other.test"})
    assert mixed.local_user_for("dave@other.test") == "dave"


@pytest.mark.parametrize(
    ("login", "password", "expected"),
    [
        ("carol", "hunter2", "carol"),
        ("carol@other.test", "hunter2", "carol"),
        ("carol", "hunter3", None),
        ("carol", "", None),
        ("dave", "pa$$ word", "dave"),
        ("dave", "pa$$ wor", None),
        ("erin", "x$y", "erin"),  # plain$ keeps everything after the first $
        ("nobody", "hunter2", None),
    ],
)
def test_verify_password(mixed: UserTable, login: str, password: str, expected: str | None) -> None:
    assert mixed.verify_password(login, password) == expected


def test_hash_format_and_round_trip() -> None:
    stored = hash_password("sésame", **FAST)
    assert re.fullmatch(r"scrypt\$ln=8,r=4,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", stored)
    assert stored != hash_password("sésame", **FAST)  # salted
    entry = _passwords.PasswordEntry.parse(stored)
    assert not entry.retrievable
    assert entry.verify("sésame")
    assert not entry.verify("sesame")


def test_hash_default_parameters() -> None:
    assert hash_password("x").startswith("scrypt$ln=14,r=8,p=1$")
    with pytest.raises(ValueError):
        hash_password("x", log2_n=40)


def test_successful_verification_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = _passwords._scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    entry = _passwords.PasswordEntry.parse(hash_password("pw", **FAST))
    monkeypatch.setattr(_passwords, "_scrypt", counting)
    assert entry.verify("pw") and entry.verify("pw") and entry.verify("pw")
    assert len(calls) == 1
    # A wrong password is never answered from the cache.
    assert not entry.verify("px") and not entry.verify("px")
    assert len(calls) == 3
    assert entry.verify("pw")
    assert len(calls) == 3


def test_unknown_user_costs_a_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    table = UserTable(["example.test"], {"u": _passwords.PasswordEntry.parse(
        hash_password("pw", **FAST))})
    calls: list[int] = []
    real = _passwords._scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    table._dummy = _passwords.PasswordEntry.parse(hash_password("z", **FAST))
    monkeypatch.setattr(_passwords, "_scrypt", counting)
    assert table.verify_password("nobody", "pw") is None
    assert calls == [1]


def _pop3_apop_digest(timestamp: bytes, user: str, password: str) -> str:
    """Let poplib compute the APOP digest, as a real client would."""
    client = poplib.POP3.__new__(poplib.POP3)
    client.encoding = "UTF-8"
    client.welcome = b"+OK POP3 ready " + timestamp
    sent: list[str] = []
    client._shortcmd = lambda line: sent.append(line)  # type: ignore[method-assign]
    client.apop(user, password)
    command, name, digest = sent[0].split(" ")
    assert (command, name) == ("APOP", user)
    return digest


@pytest.mark.parametrize(
    ("login", "password", "expected"),
    [
        ("alice", "secret", "alice"),
        ("alice@example.test", "secret", "alice"),
        ("alice", "wrong", None),
        ("mallory", "secret", None),
    ],
)
def test_apop_with_poplib(
    default: UserTable, login: str, password: str, expected: str | None
) -> None:
    timestamp = b"<1896.697170952@dbc.mtview.ca.us>"
    digest = _pop3_apop_digest(timestamp, login, password)
    assert default.verify_apop(login, timestamp, digest) == expected


def test_apop_rfc1939_example() -> None:
    # RFC 1939 §7's worked example: secret "tanstaaf".
    table = UserTable(["x.test"], {"mrose": _passwords.PasswordEntry.plain("tanstaaf")})
    stamp = b"<1896.697170952@dbc.mtview.ca.us>"
    assert table.verify_apop("mrose", stamp, "c4c9334bac560ecc979e58001b3e22fb") == "mrose"
    # RFC 1939 §7: lower-case hex only.
    assert table.verify_apop("mrose", stamp, "C4C9334BAC560ECC979E58001B3E22FB") is None
    assert table.verify_apop("mrose", b"<other@x>", "c4c9334bac560ecc979e58001b3e22fb") is None


def test_apop_needs_retrievable_secret(mixed: UserTable) -> None:
    stamp = b"<1.2@h>"
    digest = hashlib.md5(stamp + b"hunter2").hexdigest()
    assert mixed.verify_apop("carol", stamp, digest) is None


# -- the users file ----------------------------------------------------------------------


def test_load_ignores_declared_foreign_sections(tmp_path: Path) -> None:
    path = tmp_path / "u.yaml"
    path.write_text(
        "domains: [a.test]\nusers: {x: {password: plain$p}}\naliases: {postmaster: x}\n"
    )
    with pytest.raises(UserFileError, match=r"u\.yaml:3: unknown key 'aliases'"):
        UserTable.load(path)
    table = UserTable.load(path, ignore_keys={"aliases"})
    assert table.verify_password("x@a.test", "p") == "x"


GOOD_HEAD = "domains: [example.test]\nusers:\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty file"),
        ("domains: [a\n", r":\d+: invalid YAML"),
        ("- a\n- b\n", r":1: the top level must be a mapping"),
        ("users: {a: {password: plain$x}}\n", r":1: missing 'domains'"),
        ("domains: [a.test]\n", r":1: missing 'users'"),
        ("domains: []\nusers: {a: {password: plain$x}}\n", r":1: 'domains' must be a non-empty"),
        ("domains: [bad_domain!]\nusers: {a: {password: plain$x}}\n", r":1: 'bad_domain!' is not"),
        ("domains: [a.test]\nusers: {}\n", r":2: 'users' is empty"),
        (GOOD_HEAD + "  alice: {password: plain$x}\n  alice: {password: plain$y}\n",
         r":4: duplicate key 'alice'"),
        (GOOD_HEAD + "  alice: {password: 1234}\n",
         r":3: the password of 'alice' must be a string"),
        (GOOD_HEAD + "  alice: {password: secret}\n", r":3: user 'alice': password must be"),
        (GOOD_HEAD + "  alice: {password: md5$abc}\n", r":3: .*unknown password scheme 'md5'"),
        (GOOD_HEAD + "  alice: {password: 'scrypt$ln=14,r=8,p=1$!!$AAAA'}\n",
         r":3: .*salt is not valid base64"),
        (GOOD_HEAD + "  alice: {password: 'scrypt$ln=30,r=8,p=1$AAAAAAAAAAA=$"
         + "A" * 44 + "'}\n", r":3: .*out of range"),
        (GOOD_HEAD + "  alice: {password: 'scrypt$n=5$AAAA$AAAA'}\n", r":3: .*ln=14,r=8,p=1"),
        (GOOD_HEAD + "  alice: {password: {plain: ''}}\n", r":3: .*empty plaintext"),
        (GOOD_HEAD + "  alice: {password: {hash: x}}\n", r":3: a password mapping must be"),
        (GOOD_HEAD + "  al ice: {password: plain$x}\n", r":3: 'al ice' is not a valid user name"),
        (GOOD_HEAD + "  alice: {pasword: plain$x}\n", r":3: unknown key 'pasword'"),
        (GOOD_HEAD + "  alice: {}\n", r":3: user 'alice' has no 'password'"),
        (GOOD_HEAD + "  alice: plain$x\n", r":3: user 'alice' must be a mapping"),
    ],
)
def test_bad_users_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserFileError) as info:
        UserTable.load(path)
    assert str(info.value).startswith(str(path))
    assert re.search(message, str(info.value)), str(info.value)


def test_missing_users_file(tmp_path: Path) -> None:
    with pytest.raises(UserFileError, match=r"nope\.yaml: cannot read"):
        UserTable.load(tmp_path / "nope.yaml")


def test_hash_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("open sesame\n"))
    assert auth_main(["hash"]) == 0
    stored = capsys.readouterr().out.strip()
    assert _passwords.PasswordEntry.parse(stored).verify("open sesame")
    assert auth_main([]) == 2


# -- base64 framing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"*", None),
        (b"*\r\n", None),
        (b"", b""),
        (b"\r\n", b""),
        (b"YWJj", b"abc"),
        (b"YWI=\r\n", b"ab"),
        (b"AGFsaWNlAHNlY3JldA==", b"\x00alice\x00secret"),
    ],
)
def test_decode_response_good(line: bytes, expected: bytes | None) -> None:
    assert decode_sasl_response(line) == expected


@pytest.mark.parametrize(
    "line",
    [b"YWI", b"YW Jj", b"YWJj\n", b"YW\r\nJj", b"YWJ=", b"YQ", b"YQ===", b"YWJj!", b"YW_j",
     b"**", b"=", b"\xff\xfe"],
)
def test_decode_response_bad(line: bytes) -> None:
    with pytest.raises(SaslError) as info:
        decode_sasl_response(line)
    assert "base64" in info.value.reason


def test_initial_response_and_challenge() -> None:
    assert decode_initial_response(b"=") == b""
    assert decode_initial_response(b"YWJj") == b"abc"
    with pytest.raises(SaslError):
        decode_initial_response(b"")
    with pytest.raises(SaslError):
        decode_initial_response(b"YW=")
    assert encode_challenge(b"Username:") == b"VXNlcm5hbWU6"
    assert encode_challenge(b"") == b""
    long = encode_challenge(bytes(range(256)) * 4)
    assert b"\n" not in long and base64.b64decode(long) == bytes(range(256)) * 4


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_base64_round_trip(data: bytes) -> None:
    assert decode_sasl_response(encode_challenge(data) + b"\r\n") == data


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64))
def test_decode_never_raises_anything_else(line: bytes) -> None:
    with contextlib.suppress(SaslError):
        decode_sasl_response(line)


# -- SASL through smtplib's own client code ------------------------------------------------


class _InMemorySMTP(smtplib.SMTP):
    """smtplib.SMTP whose docmd() talks to a SaslExchange instead of a socket, so
    the client side (base64, initial responses, LOGIN/CRAM-MD5 replies) is
    smtplib's own code.  The server side is the minimal RFC 4954 §4 framing."""

    def __init__(self, users: UserTable, nonce: bytes | None = None) -> None:
        super().__init__()
        self.users = users
        self.nonce = nonce
        self.exchange: SaslExchange | None = None
        self.transcript: list[str] = []

    def docmd(self, cmd: str, args: str = "") -> tuple[int, bytes]:
        self.transcript.append(f"{cmd} {args}".strip())
        if cmd == "AUTH":
            mechanism, _, ir = args.partition(" ")
            self.exchange = SaslExchange(mechanism, self.users, hostname=HOST, nonce=self.nonce)
            try:
                initial = decode_initial_response(ir.encode()) if ir else None
            except SaslError:
                return 501, b"5.5.2 Cannot decode"
            return self._reply(self.exchange.start(initial))
        assert self.exchange is not None
        try:
            response = decode_sasl_response(cmd.encode() + b"\r\n")
        except SaslError:
            return 501, b"5.5.2 Cannot decode"
        if response is None:
            return 501, b"5.0.0 cancelled"
        return self._reply(self.exchange.step(response))

    def _reply(self, step: SaslStep) -> tuple[int, bytes]:
        if isinstance(step, SaslChallenge):
            return 334, encode_challenge(step.data)
        if isinstance(step, SaslSuccess):
            return 235, f"2.7.0 {step.user}".encode()
        return (501 if step.malformed else 535), step.reason.encode()


_SMTPLIB_AUTH = {"PLAIN": "auth_plain", "LOGIN": "auth_login", "CRAM-MD5": "auth_cram_md5"}


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("initial_response_ok", [True, False])
@pytest.mark.parametrize(
    ("user", "password", "outcome"),
    [
        ("alice", "secret", "alice"),
        ("bob@example.test", "secret", "bob"),
        ("alice", "wrong", 535),
        ("mallory", "secret", 535),
        ("Alice", "secret", 535),
    ],
)
def test_smtplib_client(
    default: UserTable,
    mechanism: str,
    initial_response_ok: bool,
    user: str,
    password: str,
    outcome: str | int,
) -> None:
    client = _InMemorySMTP(default)
    client.user, client.password = user, password
    authobject = getattr(client, _SMTPLIB_AUTH[mechanism])
    if isinstance(outcome, str):
        code, text = client.auth(mechanism, authobject, initial_response_ok=initial_response_ok)
        assert (code, text) == (235, f"2.7.0 {outcome}".encode())
    else:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.auth(mechanism, authobject, initial_response_ok=initial_response_ok)
        assert info.value.smtp_code == outcome
    # smtplib sends an initial response for PLAIN and LOGIN only when allowed, and
    # never for CRAM-MD5 (RFC 2195 is server-first).
    sends_ir = initial_response_ok and mechanism != "CRAM-MD5"
    assert (client.transcript[0] != f"AUTH {mechanism}") == sends_ir


def test_smtplib_client_cram_md5_with_fixed_nonce(default: UserTable) -> None:
    client = _InMemorySMTP(default, nonce=b"<1896.697170952@postoffice.example.net>")
    client.user, client.password = "alice", "secret"
    assert client.auth("CRAM-MD5", client.auth_cram_md5)[0] == 235
    digest = hmac.new(b"secret", b"<1896.697170952@postoffice.example.net>", "md5").hexdigest()
    assert client.transcript[1] == base64.b64encode(f"alice {digest}".encode()).decode()


# -- SASL exchanges, table-driven ------------------------------------------------------------


def _run(
    users: UserTable, mechanism: str, initial: bytes | None, *responses: bytes
) -> list[SaslStep]:
    exchange = SaslExchange(mechanism, users, hostname=HOST, nonce=b"<42.1@mx.example.test>")
    steps = [exchange.start(initial)]
    for response in responses:
        steps.append(exchange.step(response))
    assert exchange.done == (not isinstance(steps[-1], SaslChallenge))
    return steps


def _cram(user: str, secret: bytes, challenge: bytes = b"<42.1@mx.example.test>") -> bytes:
    return f"{user} {hmac.new(secret, challenge, 'md5').hexdigest()}".encode()


OK_ALICE = SaslSuccess("alice")
BAD = SaslFailure("invalid credentials")


def malformed(step: SaslStep) -> bool:
    return isinstance(step, SaslFailure) and step.malformed


@pytest.mark.parametrize(
    ("mechanism", "initial", "responses", "last"),
    [
        # PLAIN, RFC 4616
        ("PLAIN", b"\x00alice\x00secret", [], OK_ALICE),
        ("PLAIN", None, [b"\x00alice\x00secret"], OK_ALICE),
        ("PLAIN", b"alice\x00alice\x00secret", [], SaslSuccess("alice", "alice")),
        ("PLAIN", b"alice@example.test\x00alice\x00secret", [],
         SaslSuccess("alice", "alice@example.test")),
        ("PLAIN", b"\x00alice@example.test\x00secret", [], OK_ALICE),
        ("PLAIN", b"\x00alice\x00wrong", [], BAD),
        ("PLAIN", b"\x00nobody\x00secret", [], BAD),
        ("PLAIN", b"bob\x00alice\x00secret", [], SaslFailure("'alice' may not act as 'bob'")),
        ("PLAIN", b"", [], malformed),  # "=" empty initial response
        ("PLAIN", None, [b""], malformed),
        ("PLAIN", b"alice\x00secret", [], malformed),
        ("PLAIN", b"\x00alice\x00secret\x00", [], malformed),
        ("PLAIN", b"\x00\x00secret", [], malformed),
        ("PLAIN", b"\x00alice\x00", [], malformed),
        ("PLAIN", b"\x00al\xffice\x00secret", [], malformed),
        # LOGIN
        ("LOGIN", None, [b"alice", b"secret"], OK_ALICE),
        ("LOGIN", b"alice", [b"secret"], OK_ALICE),
        ("LOGIN", b"alice@example.test", [b"secret"], OK_ALICE),
        ("LOGIN", None, [b"alice", b"wrong"], BAD),
        ("LOGIN", None, [b"nobody", b"secret"], BAD),
        ("LOGIN", b"", [], malformed),
        ("LOGIN", None, [b""], malformed),
        ("LOGIN", None, [b"alice", b"\xff"], malformed),
        # CRAM-MD5, RFC 2195
        ("CRAM-MD5", None, [_cram("alice", b"secret")], OK_ALICE),
        ("CRAM-MD5", None, [_cram("alice@example.test", b"secret")], OK_ALICE),
        ("CRAM-MD5", None, [_cram("alice", b"wrong")], BAD),
        ("CRAM-MD5", None, [_cram("nobody", b"secret")], BAD),
        ("CRAM-MD5", None, [_cram("alice", b"secret", b"<other@x>")], BAD),
        ("CRAM-MD5", None, [_cram("alice", b"secret").upper()], malformed),
        ("CRAM-MD5", None, [b"alice"], malformed),
        ("CRAM-MD5", None, [b""], malformed),
        ("CRAM-MD5", None, [b" " + _cram("alice", b"secret").split(b" ")[1]], malformed),
        ("CRAM-MD5", None, [_cram("alice", b"secret")[:-1]], malformed),
        ("CRAM-MD5", b"", [], malformed),  # server-first: no initial response
        ("CRAM-MD5", _cram("alice", b"secret"), [], malformed),
    ],
)
def test_exchanges(
    default: UserTable,
    mechanism: str,
    initial: bytes | None,
    responses: list[bytes],
    last: SaslStep | object,
) -> None:
    steps = _run(default, mechanism, initial, *responses)
    if callable(last):
        assert last(steps[-1]), steps[-1]
    else:
        assert steps[-1] == last
    # Every step but the last is a challenge.
    assert all(isinstance(s, SaslChallenge) for s in steps[:-1])


def test_challenges(default: UserTable) -> None:
    assert _run(default, "PLAIN", None)[0] == SaslChallenge(b"")
    login = _run(default, "LOGIN", None, b"alice")
    assert login == [SaslChallenge(b"Username:"), SaslChallenge(b"Password:")]
    cram = SaslExchange("CRAM-MD5", default, hostname=HOST).start(None)
    assert isinstance(cram, SaslChallenge)
    assert re.fullmatch(rb"<\d+\.\d+@mx\.example\.test>", cram.data)
    other = SaslExchange("CRAM-MD5", default, hostname=HOST).start(None)
    assert isinstance(other, SaslChallenge) and other.data != cram.data


def test_cram_md5_hashed_user_fails(mixed: UserTable) -> None:
    assert _run(mixed, "CRAM-MD5", None, _cram("carol", b"hunter2"))[-1] == BAD
    assert _run(mixed, "CRAM-MD5", None, _cram("dave", b"pa$$ word"))[-1] == SaslSuccess("dave")
    assert _run(mixed, "PLAIN", b"\x00carol\x00hunter2")[-1] == SaslSuccess("carol")


def test_mechanisms_for(default: UserTable, mixed: UserTable) -> None:
    assert mechanisms_for(default) == ("PLAIN", "LOGIN", "CRAM-MD5")
    assert mechanisms_for(mixed) == ("PLAIN", "LOGIN", "CRAM-MD5")
    hashed_only = UserTable(["a.test"], {"h": _passwords.PasswordEntry.parse(
        hash_password("pw", **FAST))})
    assert mechanisms_for(hashed_only) == ("PLAIN", "LOGIN")
    with pytest.raises(SaslError, match="retrievable"):
        SaslExchange("CRAM-MD5", hashed_only, hostname=HOST)


def test_exchange_misuse(default: UserTable) -> None:
    with pytest.raises(SaslError, match="unsupported"):
        SaslExchange("DIGEST-MD5", default, hostname=HOST)
    assert SaslExchange("plain", default, hostname=HOST).mechanism == "PLAIN"
    exchange = SaslExchange("PLAIN", default, hostname=HOST)
    with pytest.raises(SaslError):
        exchange.step(b"\x00alice\x00secret")
    assert exchange.start(b"\x00alice\x00secret") == OK_ALICE
    with pytest.raises(SaslError):
        exchange.step(b"\x00alice\x00secret")
    with pytest.raises(SaslError):
        exchange.start(None)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(MECHANISMS), st.lists(st.binary(max_size=40), min_size=1, max_size=3))
def test_any_responses_give_a_step(mechanism: str, responses: list[bytes]) -> None:
    users = UserTable.default()
    exchange = SaslExchange(mechanism, users, hostname=HOST)
    step = exchange.start(None)
    for response in responses:
        if exchange.done:
            break
        step = exchange.step(response)
        assert isinstance(step, SaslChallenge | SaslSuccess | SaslFailure)
    if isinstance(step, SaslSuccess):
        pytest.fail(f"random bytes authenticated: {responses!r}")


def test_public_api() -> None:
    for name in auth.__all__:
        assert hasattr(auth, name)


def test_plain_accepts_255_octet_fields() -> None:
    # RFC 4616 §2: the server MUST accept authcid and passwd of up to 255 octets.
    name, password = "u" * 255, "é" * 127 + "x"  # 255 octets of UTF-8
    table = UserTable(["a.test"], {name: _passwords.PasswordEntry.plain(password)})
    message = f"{name}\x00{name}\x00{password}".encode()
    assert _run(table, "PLAIN", message)[-1] == SaslSuccess(name, name)
