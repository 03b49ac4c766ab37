"""SMTP worker processes on one port (reference_servers/workers.py).

Sessions spread over the processes; every accepted message is delivered, locally and
through the relay, whichever process accepted it: a worker writes relayed mail into the
shared spool and the serving process's relay worker adopts it (relay.rescan_interval).
"""

from __future__ import annotations

import re
import smtplib
import socket
import time
from pathlib import Path

import pytest

from reference_servers import workers
from reference_servers.embedded import LISTENERS, EmbeddedThread, ServeConfig
from tests import loopback

_PID = re.compile(r"P(\d+)Q")  # the store's unique names carry the delivering pid


def _ports(**enabled: int) -> dict[str, int | None]:
    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports.update(enabled)
    return ports


def _files(maildir: Path) -> list[Path]:
    return [p for sub in ("new", "cur") if (maildir / sub).is_dir()
            for p in (maildir / sub).iterdir()]


def test_two_processes_accept_deliver_and_relay(tmp_path: Path) -> None:
    users_b = tmp_path / "users-b.yaml"
    users_b.write_text("domains: [b.test]\nusers:\n  bob: {password: {plain: secret}}\n")
    next_hop = ServeConfig(data_dir=tmp_path / "b", ports=_ports(smtp=0), users_file=users_b,
                           hostname="mx.b.test")
    with EmbeddedThread(next_hop) as b:
        assert b.servers is not None
        b_port = b.servers.port("smtp")
        settings = {"smtp": {"workers": 2,
                             "routes": {"b.test": f"127.0.0.1:{b_port}"},
                             "relay": {"rescan_interval": 0.2, "retry_initial": 1}}}
        config = ServeConfig(data_dir=tmp_path / "a", ports=_ports(smtp=0, submission=0),
                             settings=settings)
        with EmbeddedThread(config) as a:
            assert a.servers is not None
            smtp_port, submission_port = a.servers.port("smtp"), a.servers.port("submission")
            assert smtp_port and submission_port
            count = 24
            for i in range(count):  # a new connection each: the kernel spreads them
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
                    client.sendmail("x@client.test", ["alice@example.test"],
                                    f"Subject: local {i}\r\n\r\nbody\r\n")
                with smtplib.SMTP("127.0.0.1", submission_port, timeout=10) as client:
                    client.starttls()
                    client.login("alice", "secret")
                    client.sendmail("alice@example.test", ["bob@b.test"],
                                    f"Subject: relayed {i}\r\n\r\nbody\r\n")
            local = _files(tmp_path / "a" / "mail" / "alice" / "Maildir")
            assert len(local) == count
            pids = {int(m.group(1)) for p in local if (m := _PID.search(p.name))}
            assert len(pids) == 2, f"every session landed in one process: {pids}"

            bob = tmp_path / "b" / "mail" / "bob" / "Maildir"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(_files(bob)) < count:
                time.sleep(0.1)
            subjects = sorted(p.read_bytes().split(b"Subject: ")[1].split(b"\r\n")[0]
                              for p in _files(bob))
            assert subjects == sorted(f"relayed {i}".encode() for i in range(count))


def test_no_process_listens_before_every_worker_does(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that connects the moment the port answers (a load generator opening all its
    sessions at once, then reusing them) must find every process listening."""
    probes: list[str] = []
    start = workers.Workers.start

    def probing_start(self: workers.Workers) -> None:
        port = self._args[3]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            probes.append("accepted")
        except ConnectionRefusedError:
            probes.append("refused")
        start(self)

    monkeypatch.setattr(workers.Workers, "start", probing_start)
    config = ServeConfig(data_dir=tmp_path, ports=_ports(smtp=0),
                         settings={"smtp": {"workers": 2}})
    with EmbeddedThread(config) as thread:
        assert thread.servers is not None
        port = thread.servers.port("smtp")
        assert probes == ["refused"]
        # A burst of sessions held open together lands in both processes.
        clients = [smtplib.SMTP("127.0.0.1", port, timeout=10) for _ in range(16)]
        try:
            for i, client in enumerate(clients):
                client.sendmail("x@client.test", ["alice@example.test"],
                                f"Subject: burst {i}\r\n\r\nbody\r\n")
        finally:
            for client in clients:
                client.quit()
        local = _files(tmp_path / "mail" / "alice" / "Maildir")
        pids = {int(m.group(1)) for p in local if (m := _PID.search(p.name))}
        assert len(local) == 16 and len(pids) == 2


def test_the_connection_limit_holds_across_the_workers(tmp_path: Path) -> None:
    config = ServeConfig(data_dir=tmp_path, ports=_ports(smtp=0),
                         settings={"smtp": {"workers": 2, "max_connections": 3}})
    with EmbeddedThread(config) as thread:
        assert thread.servers is not None
        port = thread.servers.port("smtp")
        assert port is not None
        held = [smtplib.SMTP("127.0.0.1", port, timeout=10) for _ in range(3)]
        try:
            # However the kernel spread the three, the listener is full in every process:
            # RFC 5321 §3.1, 421 instead of the greeting.
            for _ in range(4):
                assert loopback.greeting(port).startswith(b"421 4.3.2 ")
        finally:
            for client in held:
                client.quit()
        deadline = time.monotonic() + 5
        while not (reply := loopback.greeting(port)).startswith(b"220 ") and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert reply.startswith(b"220 ")
