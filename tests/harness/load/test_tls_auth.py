"""Both engines over TLS with AUTH against the reference servers: the submission port
(STARTTLS, then AUTH PLAIN; RFC 6409 §4.3, RFC 3207, RFC 4954) and smtps (implicit TLS,
then AUTH PLAIN; RFC 8314 §3). Every accepted message must be found again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load import locust_runner
from harness.load.accounting import DeliveryTracker, MaildirSource
from harness.load.config import LoadConfig
from harness.load.native import EngineResult, run_native

MESSAGES = 30


def _url(reference_servers, kind: str) -> str:  # type: ignore[no-untyped-def]
    if not reference_servers.available(kind):
        pytest.skip(f"the reference {kind} server is not built yet")
    return reference_servers.url(kind, user="alice")  # alice:secret, AUTH PLAIN


def _run(reference_servers, kind: str, engine: str, tmp_path: Path,  # type: ignore[no-untyped-def]
         connection: str) -> None:
    url = _url(reference_servers, kind)
    maildir = reference_servers.data_dir / "mail" / "alice" / "Maildir"
    config = LoadConfig("smtp", url, users=3, duration=15, messages=MESSAGES,
                        connection=connection, recipients=("alice@example.test",))
    tracker = DeliveryTracker(MaildirSource(maildir), config.run_id)
    tracker.start()
    result: EngineResult
    if engine == "native":
        result = run_native(config)
    else:
        outcome = locust_runner.run(config, locust_runner.LocustMode(), tmp_path)
        assert outcome.returncode == 0
        result = outcome.result
    accounting = tracker.finish(result.rows, settle=10)
    messages = [r for r in result.rows if r.name == "smtp:message"]
    errors = [r for r in result.rows if not r.ok]
    assert not errors, errors[:3]
    assert len(messages) == MESSAGES
    assert accounting.accepted == MESSAGES and accounting.clean, accounting


@pytest.mark.parametrize("engine", ["native", "locust"])
def test_submission_starttls_then_auth(reference_servers, engine: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _run(reference_servers, "submission", engine, tmp_path, "reuse")


@pytest.mark.parametrize("engine", ["native", "locust"])
def test_smtps_implicit_tls_then_auth(reference_servers, engine: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _run(reference_servers, "smtps", engine, tmp_path, "new")  # a handshake each


@pytest.mark.parametrize("engine", ["native", "locust"])
def test_submission_without_credentials_is_refused(reference_servers, engine: str,  # type: ignore[no-untyped-def]
                                                   tmp_path: Path) -> None:
    """No user in the URL: no AUTH, and the server's refusal shows as error rows."""
    if not reference_servers.available("submission"):
        pytest.skip("the reference submission server is not built yet")
    config = LoadConfig("smtp", reference_servers.url("submission"), users=1, duration=5,
                        messages=3, connection="reuse")
    if engine == "native":
        rows = run_native(config).rows
    else:
        rows = locust_runner.run(config, locust_runner.LocustMode(), tmp_path).result.rows
    messages = [r for r in rows if r.name == "smtp:message"]
    assert messages and all(not r.ok and r.code.startswith("5") for r in messages), messages
