"""specs/examples/ replayed against the reference servers (skipped where one is not built)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.target import Profile, User, parse_target, profile_from_target
from harness.transcript import Runner, Status, load_file
from harness.transcript.importers import import_log

EXAMPLES = Path(__file__).parents[3] / "specs" / "examples"
YAML = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
LOGS = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".txt", ".telnet"))


def references(fixture: Any, *kinds: str) -> Profile:
    for kind in kinds:
        if not fixture.available(kind):
            pytest.skip(f"the reference {kind} server is not built yet")
    endpoints = {kind: parse_target(fixture.url(kind) + "?timeout=5") for kind in kinds}
    users = (User("alice", "secret", "alice@example.test"), User("bob", "secret",
                                                                  "bob@example.test"))
    return Profile(endpoints, users, "example.test", "references")


def test_every_example_loads() -> None:
    assert YAML and LOGS
    for path in EXAMPLES.glob("*.yaml"):
        assert load_file(path)


@pytest.mark.parametrize("name", YAML)
def test_yaml_examples_pass(reference_servers: Any, name: str) -> None:
    [case] = load_file(EXAMPLES / name)
    kinds = sorted({spec.protocol for spec in case.connections.values()} | {"smtp"})
    profile = references(reference_servers, *kinds)
    result = Runner(profile).run(case)
    assert result.status == Status.PASS, result.reason


@pytest.mark.parametrize("name", LOGS)
def test_logs_replay_directly(reference_servers: Any, name: str) -> None:
    profile = references(reference_servers, "smtp")
    case = import_log(EXAMPLES / name)
    assert Runner(profile).run(case).status == Status.PASS


def test_the_yaml_examples_are_what_the_importer_writes() -> None:
    """The shipped YAML twins of the logs are the importer's output (plus title/rfc)."""
    from harness.transcript.importers import import_text

    for name in LOGS:
        twin = EXAMPLES / (Path(name).stem + ".yaml")
        imported = import_text((EXAMPLES / name).read_text(), source=name)
        shipped = twin.read_text()
        steps = lambda text: text[text.index("steps:"):]  # noqa: E731
        assert steps(imported) == steps(shipped), name


def test_smtp_examples_against_a_profile_from_a_url(reference_servers: Any) -> None:
    if not reference_servers.available("smtp"):
        pytest.skip("no reference smtp server")
    profile = profile_from_target(parse_target(reference_servers.url("smtp")))
    [case] = load_file(EXAMPLES / "rfc5321-d2.yaml")
    assert Runner(profile).run(case).status == Status.PASS


def test_authenticated_start_on_submission(reference_servers: Any, tmp_path: Path) -> None:
    if not reference_servers.available("submission"):
        pytest.skip("no reference submission server")
    path = tmp_path / "auth.yaml"
    path.write_text("protocol: smtp\ntitle: t\nstart: authenticated\nrequires: [AUTH=PLAIN]\n"
                    "steps:\n  - send: MAIL FROM:<$user@example.test>\n    expect: 250\n")
    [case] = load_file(path)
    url = reference_servers.url("submission", user="alice") + "?timeout=5"
    result = Runner(profile_from_target(parse_target(url))).run(case)
    assert result.status == Status.PASS, result.reason
    assert any(b"TLS established" in e.data for e in result.log.entries)
