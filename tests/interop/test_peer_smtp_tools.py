"""Postfix's smtp-sink and smtp-source, driven through harness.peers.smtp_tools."""

from __future__ import annotations

import smtplib

import pytest

from harness.peers import smtp_sink, smtp_source
from harness.peers import smtp_tools as tools
from harness.peers._runtime import pid_alive

pytestmark = pytest.mark.interop

if reason := tools.available():
    pytest.skip(reason, allow_module_level=True)


def test_parse_counter_takes_the_last_value() -> None:
    assert tools.parse_counter(b"1\r2\r3\r200\r\n") == 200
    assert tools.parse_counter(b"") == 0


@pytest.mark.parametrize("reuse", [False, True], ids=["connect-per-message", "reuse"])
def test_source_sends_200_messages_into_the_sink(reuse: bool) -> None:
    with smtp_sink(backlog=64) as sink:
        result = smtp_source(
            sink.host, sink.port, sessions=5, messages=200, size=1024, reuse=reuse, timeout=50
        )
        assert pid_alive(sink.pid)
    assert result.returncode == 0, result.stderr
    assert result.messages == result.requested == 200
    assert result.ok
    assert 0 < result.seconds < 50
    assert result.rate == pytest.approx(200 / result.seconds)
    assert result.cpu_seconds >= 0


def test_sink_really_is_an_smtp_server_on_its_port() -> None:
    with smtp_sink() as sink, smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        code, _ = client.ehlo("client.test")
        assert code == 250
        message = b"Subject: x\r\n\r\nx\r\n"
        assert client.sendmail("a@client.test", ["b@example.test"], message) == {}
    assert sink.proc.poll() is not None  # stopped when the block ended


def test_a_sink_that_hangs_up_at_data_is_reported_as_failure() -> None:
    # smtp-sink -q data: disconnect without replying when DATA arrives, so no message completes.
    with smtp_sink(extra_args=("-q", "data")) as sink:
        result = smtp_source(sink.host, sink.port, sessions=1, messages=5, timeout=30)
    assert not result.ok
    assert result.messages == 0
    assert result.returncode != 0 or result.stderr


def test_sink_start_failure_names_the_problem() -> None:
    with smtp_sink() as sink:
        # smtp-sink binds with SO_REUSEPORT: a second one on the same port would start
        # and silently share the connections. The wrapper must notice and refuse.
        taken = smtp_sink(sink.port, start_timeout=1)
        with pytest.raises(tools.PeerStartError, match=r"another process listens on .* too"):
            taken.__enter__()
