from __future__ import annotations

from pathlib import Path

import pytest

from harness.target import TargetError, TlsMode, load_profile, parse_target, profile_from_target


@pytest.mark.parametrize(
    ("url", "protocol", "port", "tls"),
    [
        ("smtp://mx.example.test", "smtp", 25, TlsMode.NONE),
        ("smtp+starttls://mx.example.test", "smtp", 25, TlsMode.STARTTLS),
        ("smtps://mx.example.test", "smtp", 465, TlsMode.IMPLICIT),
        ("submission://mx.example.test", "smtp", 587, TlsMode.STARTTLS),
        ("lmtp://127.0.0.1", "lmtp", 24, TlsMode.NONE),
        ("pop3://h", "pop3", 110, TlsMode.NONE),
        ("pop3+stls://h", "pop3", 110, TlsMode.STARTTLS),
        ("pop3s://h", "pop3", 995, TlsMode.IMPLICIT),
        ("imap://h", "imap", 143, TlsMode.NONE),
        ("imap+starttls://h", "imap", 143, TlsMode.STARTTLS),
        ("imaps://h", "imap", 993, TlsMode.IMPLICIT),
    ],
)
def test_schemes(url: str, protocol: str, port: int, tls: TlsMode) -> None:
    target = parse_target(url)
    assert (target.protocol, target.port, target.tls) == (protocol, port, tls)


def test_userinfo_port_and_options() -> None:
    target = parse_target(
        "pop3://al%40ice:p%3Ass@127.0.0.1:2110?timeout=1.5&step_timeout=3&helo=me.test&verify=1"
    )
    assert (target.username, target.password) == ("al@ice", "p:ss")
    assert target.port == 2110
    assert (target.read_timeout, target.step_timeout, target.helo) == (1.5, 3.0, "me.test")
    assert target.verify is True
    assert "p:ss" not in str(target) and "***" in str(target)


def test_certificate_checking_defaults_to_off_for_loopback_only() -> None:
    assert parse_target("smtps://127.0.0.1").verify is False
    assert parse_target("smtps://localhost").verify is False
    assert parse_target("smtps://[::1]").verify is False
    assert parse_target("smtps://mail.example.test").verify is True


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h", "unknown scheme"),
        ("smtp://", "no host"),
        ("smtp://h?bogus=1", "unknown target option"),
        ("smtp://h?timeout=soon", "not a number"),
        ("smtp://h?timeout=-1", "positive"),
        ("smtp://h?verify=maybe", "boolean"),
        ("smtp://h/path", "no path"),
    ],
)
def test_bad_urls_are_rejected_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        parse_target(url)


def test_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: pd\ndomain: example.test\n"
        "endpoints:\n  smtp: smtp://127.0.0.1:2525\n  pop3: pop3s://127.0.0.1:2995\n"
        "users:\n  - {name: alice, password: secret}\n"
        "  - {name: bob, password: pw, address: robert@example.test}\n"
        "options: {timeout: 2}\n"
    )
    profile = load_profile(path)
    assert profile.endpoint_for("pop3").scheme == "pop3s"  # type: ignore[union-attr]
    assert profile.endpoint_for("smtp").read_timeout == 2  # type: ignore[union-attr]
    assert profile.endpoint_for("imap") is None
    assert profile.variables() == {
        "domain": "example.test", "user": "alice", "password": "secret",
        "address": "alice@example.test", "user2": "bob", "password2": "pw",
        "address2": "robert@example.test", "helo": "client.example.test",
    }


def test_profile_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("endpoints: {smtp: 'ftp://x'}\n")
    with pytest.raises(TargetError, match="unknown scheme"):
        load_profile(path)
    path.write_text("endpoint: {}\n")
    with pytest.raises(TargetError, match="unknown profile keys"):
        load_profile(path)


def test_profile_from_url_uses_userinfo() -> None:
    profile = profile_from_target(parse_target("pop3://alice:secret@127.0.0.1:1?domain=ex.test"))
    assert profile.variables()["address"] == "alice@ex.test"
    assert profile.user(1) is not None and profile.user(2) is None
