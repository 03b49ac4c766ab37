"""``mailharness serve --config``: two MTAs relaying, driven end to end by real clients.

alice@a.test submits to mta-a's submission port (STARTTLS + AUTH, RFC 6409), mta-a relays
to mta-b (RFC 5321), and bob fetches the message from mta-b over POP3 (RFC 1939).
"""

from __future__ import annotations

import poplib
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from tests.harness.cli.test_serve import free_ports

TOPOLOGY = """\
host: 127.0.0.1
servers:
  mta-a:
    hostname: mta-a.test
    domains: [a.test]
    users: {{alice: {{password: {{plain: secret}}}}}}
    ports: {{smtp: {a_smtp}, submission: {a_sub}}}
    routes: {{b.test: {{server: mta-b}}}}
  mta-b:
    hostname: mta-b.test
    domains: [b.test]
    users: {{bob: {{password: {{plain: secret}}}}}}
    ports: {{smtp: {b_smtp}, pop3: {b_pop3}}}
    routes: {{a.test: {{server: mta-a}}}}
"""


def test_two_mtas_relay_and_pop3_fetch(tmp_path: Path) -> None:
    a_smtp, a_sub, b_smtp, b_pop3 = free_ports(4)
    config = tmp_path / "topology.yaml"
    config.write_text(TOPOLOGY.format(a_smtp=a_smtp, a_sub=a_sub, b_smtp=b_smtp, b_pop3=b_pop3))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "serve", "--config", str(config),
         "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line or line.startswith("Ctrl-C stops."):
                break
        message = EmailMessage()
        message["From"] = "alice@a.test"
        message["To"] = "bob@b.test"
        message["Subject"] = "across two MTAs"
        message.set_content("relayed by the reference servers\n")
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", a_sub, timeout=10) as client:
            client.starttls(context=insecure)
            client.login("alice@a.test", "secret")
            client.send_message(message)

        found = b""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not found:
            pop = poplib.POP3("127.0.0.1", b_pop3, timeout=10)
            try:
                pop.user("bob")
                pop.pass_("secret")
                count, _ = pop.stat()
                if count:
                    found = b"\r\n".join(pop.retr(1)[1])
            finally:
                pop.quit()
            if not found:
                time.sleep(0.2)
        assert b"Subject: across two MTAs" in found
        assert b"relayed by the reference servers" in found
        assert found.count(b"Received:") >= 2  # one trace line per MTA (RFC 5321 §4.4)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
