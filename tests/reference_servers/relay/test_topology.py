"""Topology files: validation with file and key in every error, configs, and (once the
reference SMTP server exists) two reference MTAs relaying to each other."""

from __future__ import annotations

import asyncio
import importlib.util
import smtplib
import ssl
import textwrap
import time
from pathlib import Path

import pytest

from reference_servers.relay.routes import NextHop, RouteTable
from reference_servers.store import resolve_sync_method
from reference_servers.topology import (
    TopologyError,
    build_configs,
    load_topology,
    start_topology,
)

EXAMPLE = Path(__file__).parents[3] / "examples" / "two-mtas.yaml"
HAVE_SMTP = importlib.util.find_spec("reference_servers.smtp") is not None and (
    importlib.util.find_spec("reference_servers.smtp.server") is not None
)

TWO = """
servers:
  mta-a:
    hostname: mta-a.test
    domains: [a.test]
    users: {alice: {password: {plain: secret}}}
    ports: {smtp: 0, submission: 0}
    routes: {b.test: {server: mta-b}}
    settings:
      smtp: {relay: {retry_initial: 0.1, retry_max: 0.5, max_age: 20}}
      store: {sync: fsync}
  mta-b:
    hostname: mta-b.test
    domains: [b.test]
    users: {bob: {password: {plain: secret}}}
    ports: {smtp: 0}
    routes: {"*": {server: mta-a}}
"""


def write(tmp: Path, text: str, name: str = "topo.yaml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_example_loads() -> None:
    topo = load_topology(EXAMPLE)
    assert [s.name for s in topo.servers] == ["mta-a", "mta-b"]
    assert topo.servers[0].routes == {"b.test": {"server": "mta-b"}}


def test_configs_one_per_server_with_own_dir_users_and_routes(tmp_path: Path) -> None:
    topo = load_topology(write(tmp_path, TWO))
    directory: dict[str, NextHop] = {}
    a, b = build_configs(topo, data_dir=tmp_path / "state", directory=directory)
    assert a.data_dir == tmp_path / "state" / "mta-a"
    assert b.data_dir == tmp_path / "state" / "mta-b"
    assert a.hostname == "mta-a.test"
    assert a.ports["smtp"] == 0 and a.ports["imap"] is None
    assert a.users_file is not None and "alice" in a.users_file.read_text()
    assert a.settings["smtp"]["relay"]["max_age"] == 20
    assert a.settings["store"] == {"sync": "fsync"} and "store" not in b.settings
    # Named routes resolve through the shared directory once the server listens.
    routes = RouteTable.from_settings(
        a.settings["smtp"]["routes"], directory=a.settings["smtp"]["server_directory"]
    )
    assert routes.lookup("b.test") is None and routes.has_route("b.test")
    directory["mta-b"] = NextHop("127.0.0.1", 4242)
    assert routes.lookup("B.TEST") == NextHop("127.0.0.1", 4242)
    assert routes.lookup("c.test") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("servers: {}", "servers: lists no server"),
        ("servres: {}", "servres: unknown key"),
        ("servers: {a: {ports: {smtpx: 1}, domains: [a.test], users: {u: {password: "
         "{plain: p}}}}}", "servers.a.ports.smtpx: unknown listener"),
        ("servers: {a: {ports: {smtp: 99999}}}", "servers.a.ports.smtp: must be a port"),
        ("servers: {a: {ports: {smtp: null}}}", "servers.a.ports: enables no listener"),
        ("servers: {a: {ports: {smtp: 0}, routes: {b.test: 'nope'}}}",
         "servers.a.routes.b.test: 'nope' is not host:port"),
        ("servers: {a: {ports: {smtp: 0}, routes: {b.test: {server: zz}}}}",
         "servers.a.routes.b.test.server: no server named 'zz'"),
        ("servers: {a: {ports: {smtp: 2600}}, b: {ports: {imap: 2600}}}",
         "servers.b.ports.imap: port 2600 is already used by servers.a.ports.smtp"),
        ("servers: {a: {ports: {smtp: 0}, domains: [a.test], users: {}}}",
         "servers.a: 'users' is empty"),
        ("servers: {a: {ports: {smtp: 0}, settings: {smtp: {relay: {max_age: -1}}}}}",
         "servers.a.settings.smtp: relay.max_age: must be a positive number"),
        ("servers: {a: {ports: {smtp: 0}, settings: {store: {sync: fdatasync}}}}",
         "servers.a.settings.store.sync: sync method must be one of auto, fsync, syncfs"),
        ("servers: {a: {ports: {smtp: 0}, users_file: missing.yaml}}",
         "servers.a.users_file:"),
        ("servers: [", "not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def _inbox(servers: object, user: str) -> list[bytes]:
    store = servers.ctx.store  # type: ignore[attr-defined]
    folder = store.mailbox(user).folder()
    return [folder.read(info.uid) for info in folder.messages()]


def _submit(port: int, rcpts: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        if client.has_extn("starttls"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo("client.test")
        client.login("alice", "secret")
        client.sendmail("alice@a.test", rcpts,
                        b"From: alice@a.test\r\nSubject: across\r\n\r\nhello mta-b\r\n")


@pytest.mark.skipif(not HAVE_SMTP, reason="reference_servers.smtp.server does not exist yet")
def test_two_reference_mtas_relay_and_bounce(tmp_path: Path) -> None:
    async def body() -> None:
        servers = await start_topology(write(tmp_path, TWO), data_dir=tmp_path / "state")
        try:
            mta_a, mta_b = servers
            # mta-a's settings pick fsync; mta-b makes its deliveries durable the default way.
            assert mta_a.ctx.store.sync_method == "fsync"
            assert mta_b.ctx.store.sync_method == resolve_sync_method("auto")
            port = mta_a.port("submission")
            assert port is not None
            await asyncio.to_thread(_submit, port, ["bob@b.test", "nobody@b.test"])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got_bob = await asyncio.to_thread(_inbox, mta_b, "bob")
                got_alice = await asyncio.to_thread(_inbox, mta_a, "alice")
                if got_bob and got_alice:
                    break
                await asyncio.sleep(0.1)
            assert len(got_bob) == 1 and b"hello mta-b" in got_bob[0]
            assert len(got_alice) == 1  # the bounce for nobody@b.test
            assert b"report-type=delivery-status" in got_alice[0]
            assert b"Final-Recipient: rfc822; nobody@b.test" in got_alice[0]
        finally:
            for running in servers:
                await running.close()

    asyncio.run(asyncio.wait_for(body(), 50))
