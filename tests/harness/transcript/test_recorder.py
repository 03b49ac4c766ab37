"""Recording smtplib, poplib and imaplib sessions through the proxy, then replaying them."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from harness.target import parse_target, profile_from_target
from harness.transcript import Runner, Status, load_text
from harness.transcript.recorder import Recorder, Recording, to_yaml


def record(target_url: str, client: Any) -> Recording:
    recorder = Recorder(parse_target(target_url), idle_timeout=5)
    box: dict[str, Recording] = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", recorder.record_one(5)))
    thread.start()
    try:
        client(*recorder.address)
    finally:
        thread.join(10)
        recorder.close()
    return box["r"]


def replay(yaml_text: str, url: str) -> Any:
    [case] = load_text(yaml_text, Path("recorded.yaml"))
    return Runner(profile_from_target(parse_target(url))).run(case)


def no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def smtplib_session(host: str, port: int) -> None:
    with smtplib.SMTP(host, port, timeout=5) as smtp:
        smtp.ehlo("recorder.example.test")
        smtp.starttls(context=no_verify())
        smtp.ehlo("recorder.example.test")
        smtp.sendmail("alice@example.test", ["bob@example.test"],
                      b"Subject: hi\r\n\r\n.a dotted line\r\nbye\r\n")


def test_smtplib_with_starttls_records_and_replays(smtp_starttls_fake: Any) -> None:
    url = smtp_starttls_fake.url()
    recording = record(url, smtplib_session)
    text = to_yaml(recording, title="smtplib", source=url)
    assert "starttls: handshake" in text and "..a dotted line" in text
    assert "send: QUIT" in text.replace("send: quit", "send: QUIT")
    result = replay(text, url)
    assert result.status == Status.PASS, (result.reason, text)
    assert any(b"TLS established" in e.data for e in result.log.entries)


def test_poplib_records_and_replays_with_apop(pop3_fake: Any) -> None:
    url = pop3_fake.url("pop3")

    def client(host: str, port: int) -> None:
        pop = poplib.POP3(host, port, timeout=5)
        pop.apop("alice", "secret")
        pop.stat()
        pop.list()
        pop.retr(1)
        pop.quit()

    text = to_yaml(record(url, client), title="poplib", source=url)
    assert "APOP $user $apop" in text
    result = replay(text, url.replace("://", "://alice:secret@"))
    assert result.status == Status.PASS, (result.reason, text)


def test_imaplib_records_and_replays(imap_fake: Any) -> None:
    url = imap_fake.url("imap")

    def client(host: str, port: int) -> None:
        imap = imaplib.IMAP4(host, port, timeout=5)
        imap.login("alice", "secret")
        imap.select("INBOX")
        imap.noop()
        imap.logout()

    text = to_yaml(record(url, client), title="imaplib", source=url)
    assert "send: SELECT INBOX" in text and 'send: LOGIN "$user" "$password"' in text
    result = replay(text, url.replace("://", "://alice:secret@"))
    assert result.status == Status.PASS, (result.reason, text)


def test_smtplib_through_the_proxy_to_the_reference(reference_servers: Any) -> None:
    if not reference_servers.available("smtp"):
        pytest.skip("the reference smtp server is not built")
    url = reference_servers.url("smtp") + "?timeout=5"
    text = to_yaml(record(url, smtplib_session), title="smtplib", source=url)
    result = replay(text, url)
    assert result.status == Status.PASS, (result.reason, text)
