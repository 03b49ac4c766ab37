"""The SMTP suite against a private Postfix, the POP3 suite against a private Dovecot.

Both run on one `MailSystem` (Postfix delivering into the Maildirs Dovecot serves), so the
POP3 cases that start from a filled maildrop, or deliver by SMTP and read back by POP3,
have a real SMTP side. The outcome of every case is compared with the one kept in
``tests/interop/expected/{postfix-smtp,dovecot-pop3}.yaml``: a harness change that turns a
passing case into a failure (or the reverse) against a real server shows up as a diff.

Only the outcome (pass/fail/skip/error) is compared, never the failure text: that carries
queue ids, timestamps and socket errors that differ from run to run.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from harness.conformance import run_cases, select
from harness.peers import MailSystem, private_base_dir
from harness.peers import dovecot as dovecot_module
from harness.peers import postfix as postfix_module
from harness.target import Profile, load_profile
from harness.transcript import CaseResult

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

if os.geteuid() != 0:
    pytest.skip("starting private Postfix and Dovecot needs root", allow_module_level=True)
if reason := postfix_module.available() or dovecot_module.available():
    pytest.skip(reason, allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
EXPECTED = Path(__file__).resolve().parent / "expected"
OUTCOMES = ("pass", "fail", "skip")
SEPARATOR = " — "
# Cases that need one user's maildrop run one at a time (one lane: alice and bob); the
# rest run side by side. Four keeps both cores busy without queueing Postfix's smtpd.
WORKERS = 4

# Timing knobs only, no protocol behaviour: without them a case's outcome would depend on
# how a step's time limit races a server's deliberate delays.
POSTFIX_MAIN_CF = {
    # After smtpd_soft_error_limit (10) errors Postfix sleeps 1 s before each reply, so a
    # case sending 20 bad commands would race its step time limit.
    "smtpd_error_sleep_time": "0",
}
DOVECOT_CONFIG = """\
# A failed login is answered after auth_failure_delay (2 s), and anvil's auth penalty
# delays every later login from 127.0.0.1 by up to 15 s; the suite fails logins on purpose.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
"""


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str = ""
    where: str = ""


def base_id(result: CaseResult) -> str:
    """The case id without the loader's ``#N`` document index, which moves when a case is
    added above it."""
    return result.case.id.split("#", 1)[0]


def actual_outcome(result: CaseResult) -> Outcome:
    failed = result.failed_step
    message = result.reason or (failed.message if failed else "")
    where = str(result.location)
    return Outcome(str(result.status), message.strip(), where)


def load_expected(path: Path) -> dict[str, Outcome]:
    """``id: pass`` or ``id: fail — why`` / ``id: skip — why``; a fail/skip needs its reason."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, dict) or not cases:
        raise AssertionError(f"{path}: expected a mapping 'cases: {{id: outcome}}'")
    expected: dict[str, Outcome] = {}
    problems: list[str] = []
    for case_id, value in cases.items():
        text = str(value).strip()
        status, _, reason = text.partition(SEPARATOR.strip())
        status, reason = status.strip(), reason.strip()
        if status not in OUTCOMES:
            problems.append(f"{case_id}: outcome {status!r} is not one of {', '.join(OUTCOMES)}")
        elif status != "pass" and not reason:
            problems.append(f"{case_id}: a {status} needs its reason ('{status} — why')")
        expected[str(case_id)] = Outcome(status, reason)
    assert not problems, f"{path}:\n" + "\n".join(problems)
    return expected


def differences(expected: dict[str, Outcome], results: list[CaseResult]) -> list[str]:
    actual: dict[str, Outcome] = {}
    lines: list[str] = []
    for result in results:
        case_id = base_id(result)
        if case_id in actual:
            lines.append(f"{case_id}: two cases share this id; the expected file cannot tell "
                         "them apart")
        actual[case_id] = actual_outcome(result)
    for case_id in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(case_id), actual.get(case_id)
        if got is None:
            lines.append(f"{case_id}: expected {want.status if want else '?'}, "
                         "but the suite has no such case (remove it from the expected file)")
        elif want is None:
            lines.append(f"{case_id}: not in the expected file; actual {got.status} "
                         f"({got.where}) {got.reason}".rstrip())
        elif want.status != got.status:
            line = f"{case_id}: expected {want.status}, actual {got.status} ({got.where})"
            if want.reason:
                line += f"\n    expected because: {want.reason}"
            if got.reason:
                line += f"\n    actual: {got.reason}"
            lines.append(line)
    return lines


def drain_postfix_queue(system: MailSystem, timeout: float = 30.0) -> None:
    """Wait until Postfix has delivered (or bounced) everything it accepted.

    A 250 to DATA is acceptance, not delivery (RFC 5321 §6.1): mail and DSNs from the SMTP
    suite may still land in alice's or bob's maildrop after a POP3 case emptied it, and its
    STAT would count one message too many. Deferred mail stays deferred for minutes
    (minimal_backoff_time), far longer than this test, so it is not waited for.
    """
    queue = system.postfix.settings.queue_dir
    busy = ("maildrop", "incoming", "active")
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:  # three looks in a row: a bounce is queued after its original leaves
        pending = [p for name in busy for p in (queue / name).rglob("*") if p.is_file()]
        quiet = 0 if pending else quiet + 1
        if pending and time.monotonic() > deadline:
            raise AssertionError(f"Postfix still has {len(pending)} message(s) in its queue")
        time.sleep(0.1)


def mail_system(base: Path) -> MailSystem:
    system = MailSystem(base)
    # MailSystem has no parameters for extra settings yet: give both instances theirs
    # before they write their configuration files (start() does).
    system.postfix.settings = dataclasses.replace(
        system.postfix.settings, extra_main_cf=POSTFIX_MAIN_CF)
    system.dovecot.settings = dataclasses.replace(
        system.dovecot.settings, extra_config=DOVECOT_CONFIG)
    return system


def profile_of(system: MailSystem, directory: Path) -> Profile:
    """The system's own profile, read back the way `mailharness check --profile` reads it."""
    path = directory / "profile.yaml"
    path.write_text(yaml.safe_dump(system.profile_dict()))
    return load_profile(path)


@dataclass
class Live:
    system: MailSystem
    profile: Profile


def run_suite(profile: Profile, suite: str) -> list[CaseResult]:
    selection = select(SPECS, [suite])
    assert not selection.errors, "\n".join(str(error) for error in selection.errors)
    return run_cases(profile, selection.cases, workers=WORKERS).results


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """One mail system for both suites (under pytest-xdist, one per worker that needs it)."""
    with private_base_dir() as base, mail_system(base) as system:
        yield Live(system, profile_of(system, Path(base)))


def check(expected_file: str, results: list[CaseResult]) -> None:
    path = EXPECTED / expected_file
    diff = differences(load_expected(path), results)
    assert not diff, (
        f"{len(diff)} case(s) differ from {path.relative_to(ROOT)} (update that file only "
        "after deciding from the RFC who is right):\n" + "\n".join(diff))


def test_smtp_suite_against_postfix(live: Live) -> None:
    try:
        results = run_suite(live.profile, "smtp")
    finally:
        # Whatever ran, what Postfix accepted must not reach a POP3 case's maildrop later.
        drain_postfix_queue(live.system)
    check("postfix-smtp.yaml", results)


def test_pop3_suite_against_dovecot(live: Live) -> None:
    check("dovecot-pop3.yaml", run_suite(live.profile, "pop3"))


def test_expected_file_format(tmp_path: Path) -> None:
    """The comparison itself: reasons are required, and every kind of difference is shown."""
    path = tmp_path / "expected.yaml"
    path.write_text("cases:\n  a: pass\n  b: fail\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="b: a fail needs its reason"):
        load_expected(path)
    path.write_text("cases:\n  a: pass\n  b: skip — no STARTTLS\n  c: maybe\n",
                    encoding="utf-8")
    with pytest.raises(AssertionError, match="c: outcome 'maybe'"):
        load_expected(path)
