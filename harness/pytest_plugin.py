"""pytest plugin: the YAML cases under ``specs/`` as pytest items, run against a target.

Active only with ``--mail-target URL`` or ``--mail-profile FILE``::

    pytest specs/smtp --mail-target smtp://127.0.0.1:2525 -m must -k "ehlo and not tls"
    pytest specs --mail-profile profile.yaml -n 4        # pytest-xdist

Each case is an item named by its id, reported at its YAML file and line; a failure shows
the failing step's line, the expectation and the bytes exchanged. Markers: the level
(``must``, ``should``, ``may``), the protocol (``smtp``, ``pop3``...), the RFC (``rfc5321``)
and the case's tags. Cases that read a POP3 maildrop are marked ``mailbox``: RFC 1939 §4 lets
one session at a time hold a maildrop, so under pytest-xdist they take an inter-process lock
(a file lock shared by the workers of one run) and run one at a time while every other case
runs in parallel. (``xdist_group`` cannot do this: pytest 9 derives node ids in a way that
pytest-xdist 3.8's ``--dist loadgroup`` no longer rewrites.)
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .client.log import format_entries
from .conformance.lanes import mailbox_users
from .report.json_report import printable
from .target import Profile, TargetError, load_profile, parse_target, profile_from_target
from .transcript import Case, CaseResult, LoadError, Runner, Status, load_file
from .transcript.render import render_step

_RUNNER = pytest.StashKey[Runner]()
_BASE_MARKERS = {
    "must": "a MUST case (RFC 2119)", "should": "a SHOULD case", "may": "a MAY case",
    "smtp": "an SMTP case", "lmtp": "an LMTP case", "pop3": "a POP3 case",
    "imap": "an IMAP case", "mailbox": "a case that reads a mailbox (runs one at a time)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailharness", "mailharness conformance suites")
    group.addoption("--mail-target", metavar="URL",
                    help="run specs/**/*.yaml against this target, e.g. smtp://127.0.0.1:25")
    group.addoption("--mail-profile", metavar="FILE",
                    help="run specs/**/*.yaml against the endpoints and users of a profile")
    group.addoption("--mail-specs", metavar="DIR",
                    help="collect YAML cases only under DIR (default: any directory named "
                    "'specs', except specs/requirements)")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("--mail-target") or config.getoption("--mail-profile"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in _BASE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if not _active(config):
        return
    if config.getoption("--mail-target") and config.getoption("--mail-profile"):
        raise pytest.UsageError("give --mail-target or --mail-profile, not both")
    try:
        profile = _profile(config)
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_RUNNER] = Runner(profile)


def _profile(config: pytest.Config) -> Profile:
    profile_file = config.getoption("--mail-profile")
    if profile_file:
        return load_profile(profile_file)
    return profile_from_target(parse_target(config.getoption("--mail-target")))


def _is_spec(path: Path, config: pytest.Config) -> bool:
    if path.suffix not in (".yaml", ".yml"):
        return False
    root = config.getoption("--mail-specs")
    if root:
        base = Path(root).resolve()
        resolved = path.resolve()
        return resolved.is_relative_to(base) and "requirements" not in resolved.relative_to(
            base).parts[:1]
    parts = path.resolve().parts
    if "specs" not in parts:
        return False
    below = parts[len(parts) - parts[::-1].index("specs"):]
    return bool(below) and below[0] != "requirements"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _active(parent.config) and _is_spec(file_path, parent.config):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    def collect(self) -> Any:
        try:
            cases = load_file(self.path)
        except LoadError as exc:
            raise self.CollectError(str(exc)) from None
        for case in cases:
            yield CaseItem.from_parent(self, name=case.id, case=case)


@contextlib.contextmanager
def _mailbox_lock(config: pytest.Config, needed: bool) -> Iterator[None]:
    """Hold the run-wide mailbox lock when ``needed`` and running under pytest-xdist."""
    workerinput = getattr(config, "workerinput", None)
    if not needed or workerinput is None:
        yield
        return
    run = workerinput.get("testrunuid", "run")
    path = Path(tempfile.gettempdir()) / f"mailharness-{run}-mailbox.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CaseFailed(Exception):
    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.reason)
        self.result = result


def _marker_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", text.lower())


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        names = [case.protocol, *case.tags]
        if case.level:
            names.append(case.level.lower())
        rfc = re.match(r"RFC ?(\d+)", case.rfc or "", re.IGNORECASE)
        if rfc:
            names.append(f"rfc{rfc.group(1)}")
        for name in dict.fromkeys(_marker_name(n) for n in names if _marker_name(n)):
            self.config.addinivalue_line("markers", f"{name}: mailharness case marker")
            self.add_marker(name)
        if mailbox_users(case):
            self.add_marker("mailbox")
        self.extra_keyword_matches.add(case.title)
        if case.rfc:
            self.extra_keyword_matches.add(case.rfc)

    def runtest(self) -> None:
        with _mailbox_lock(self.config, bool(mailbox_users(self.case))):
            result = self.config.stash[_RUNNER].run(self.case)
        for name in ("rfc", "level"):
            value = getattr(self.case, name)
            if value:
                self.user_properties.append((name, value))
        if result.status == Status.SKIP:
            # Reported at the YAML case, not at this line of the plugin.
            raise pytest.skip.Exception(result.reason, _use_item_location=True)
        if result.status in (Status.FAIL, Status.ERROR):
            raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if not isinstance(excinfo.value, CaseFailed):
            return super().repr_failure(excinfo, style)
        result = excinfo.value.result
        meta = " ".join(part for part in (self.case.rfc, self.case.level) if part)
        lines = [f"{result.location}: {result.status.upper()}: {result.reason}",
                 f"case {self.case.id}: {self.case.title}" + (f" [{meta}]" if meta else "")]
        lines += [render_step(step) for step in result.steps]
        lines += ["", "byte log:", format_entries(result.log.entries)]
        return str(printable("\n".join(lines)))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.location.line - 1, f"{self.case.id}: {self.case.title}"
