"""``mailharness check``: run the conformance suites against a target, or the references.

With no ``--target``/``--profile`` it starts the embedded reference servers on free
loopback ports with a temporary data directory and runs every suite against them.
Reports go to ``reports/`` (JUnit XML, JSON, HTML) unless told otherwise.

Exit status: 0 every MUST case passed (skips allowed); 1 some MUST case failed (or, with
``--diff-target``, the two targets' replies differ); 2 the run could not happen (bad
arguments, a spec or requirement file that does not load, an endpoint that does not answer).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from ..conformance import (
    KeywordError,
    Lane,
    RunError,
    Selection,
    SuiteError,
    compare_runs,
    default_specs_dir,
    lane_user_names,
    make_lanes,
    run_cases,
    select,
)
from ..conformance.differential import MODES
from ..conformance.lanes import users_needed
from ..conformance.run import DEFAULT_WORKERS
from ..report.html import write_html
from ..report.json_report import build_document, exit_status, write_json
from ..report.junit import write_junit
from ..report.terminal import RunProgress, render_differential, render_summary
from ..requirements import Requirement, RequirementError, load_requirements
from ..target import Profile, TargetError, User, load_profile, parse_target, profile_from_target

REFERENCE_DOMAIN = "example.test"
REFERENCE_PASSWORD = "secret"
# Listener kind -> URL scheme; the scheme carries the TLS mode (submission: STARTTLS).
REFERENCE_SCHEMES = {"smtp": "smtp", "submission": "submission", "smtps": "smtps",
                     "pop3": "pop3", "pop3s": "pop3s", "imap": "imap", "imaps": "imaps"}
# Extra SMTP references, each a named endpoint of the profile (see the file's comments).
EXTRA_REFERENCES = Path(__file__).with_name("embedded_check.yaml")


def extra_references() -> dict[str, dict[str, Any]]:
    """Named endpoint -> {"settings": SMTP settings, "aliases": an aliases file's content}."""
    data = yaml.safe_load(EXTRA_REFERENCES.read_text(encoding="utf-8")) or {}
    return dict(data.get("endpoints") or {})


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check", help="run the conformance suites against a target or the references",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--target", metavar="URL", help="e.g. smtp://127.0.0.1:25")
    where.add_argument("--profile", metavar="FILE", type=Path,
                       help="a profile YAML naming several endpoints and test users")
    parser.add_argument("--suite", action="append", metavar="NAME",
                        help="smtp, pop3, imap... or all (the default); may repeat")
    parser.add_argument("-k", dest="keyword", metavar="PATTERN",
                        help="only cases matching: words (substrings of id, title, file, RFC, "
                        "level, tags) with and/or/not, as pytest -k")
    parser.add_argument("--specs", type=Path, metavar="DIR", help="the specs directory")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                        help="cases run at once, each on its own connections (default "
                        "%(default)s)")
    reports = parser.add_argument_group("reports (default: all three under reports/)")
    reports.add_argument("--junit", type=Path, metavar="FILE")
    reports.add_argument("--json", type=Path, metavar="FILE")
    reports.add_argument("--html", type=Path, metavar="FILE")
    reports.add_argument("--reports-dir", type=Path, default=Path("reports"), metavar="DIR")
    reports.add_argument("--no-reports", action="store_true",
                         help="write only the reports named with --junit/--json/--html")
    diff = parser.add_argument_group("differential mode")
    other = diff.add_mutually_exclusive_group()
    other.add_argument("--diff-target", metavar="URL",
                       help="run the same cases against this target too and show where the "
                       "replies differ (the first target is --target/--profile, or the "
                       "references)")
    other.add_argument("--diff-profile", metavar="FILE", type=Path)
    diff.add_argument("--diff-mode", choices=MODES, default="codes",
                      help="codes: reply codes and statuses only (default); text: whole "
                      "lines with volatile parts normalised")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar and no failure details")


@dataclass
class _Target:
    profile: Profile
    lanes: list[Lane] = field(default_factory=list)


def _given_target(url: str | None, profile_file: Path | None) -> Profile | None:
    if profile_file is not None:
        return load_profile(profile_file)
    if url is not None:
        return profile_from_target(parse_target(url))
    return None


@contextlib.contextmanager
def references(lane_count: int, per_lane: int) -> Iterator[_Target]:
    """The embedded reference servers, free ports, a temporary data dir; stopped on exit."""
    from . import _embedded

    kinds = _embedded.available_kinds()
    if not kinds:
        raise RunError("no reference server is built")
    lane_names = lane_user_names(lane_count, per_lane)
    with tempfile.TemporaryDirectory(prefix="mailharness-check-") as tmp:
        data_dir = Path(tmp)
        users_file = data_dir / "users.yaml"
        names = ["alice", "bob", *(name for lane in lane_names for name in lane)]
        users_file.write_text(
            f"domains: [{REFERENCE_DOMAIN}]\nusers:\n" + "".join(
                f"  {name}: {{password: {{plain: {REFERENCE_PASSWORD}}}}}\n" for name in names),
            encoding="utf-8")
        config = _embedded.ServeConfig(data_dir=data_dir / "state", users_file=users_file,
                                       ports={kind: 0 for kind in kinds})
        with contextlib.ExitStack() as stack:
            thread = stack.enter_context(_embedded.EmbeddedThread(config))
            assert thread.servers is not None
            endpoints = {
                item.kind: parse_target(f"{REFERENCE_SCHEMES[item.kind]}://127.0.0.1:{item.port}",
                                        {"domain": REFERENCE_DOMAIN})
                for item in thread.servers.listening if item.kind in REFERENCE_SCHEMES
            }
            if "smtp" in kinds:
                for name, extra in extra_references().items():
                    port = stack.enter_context(_extra_reference(data_dir, users_file, name, extra))
                    endpoints[name] = parse_target(f"smtp://127.0.0.1:{port}",
                                                   {"domain": REFERENCE_DOMAIN})

            def user(name: str) -> User:
                return User(name, REFERENCE_PASSWORD, f"{name}@{REFERENCE_DOMAIN}")

            profile = Profile(endpoints, (user("alice"), user("bob")), REFERENCE_DOMAIN,
                              name="reference servers")
            lanes = make_lanes([tuple(user(name) for name in lane) for lane in lane_names])
            yield _Target(profile, lanes)


@contextlib.contextmanager
def _extra_reference(data_dir: Path, users_file: Path, name: str,
                     extra: dict[str, Any]) -> Iterator[int]:
    """One more embedded SMTP server with its own settings and aliases; yields its port."""
    from . import _embedded

    state = data_dir / name
    state.mkdir()
    settings = dict(extra.get("settings") or {})
    if extra.get("aliases"):
        aliases_file = state / "aliases.yaml"
        aliases_file.write_text(yaml.safe_dump(extra["aliases"]), encoding="utf-8")
        settings["aliases_file"] = str(aliases_file)
    config = _embedded.ServeConfig(data_dir=state, users_file=users_file, ports={"smtp": 0},
                                   settings={"smtp": settings})
    with _embedded.EmbeddedThread(config) as thread:
        assert thread.servers is not None
        port = thread.servers.port("smtp")
        assert port is not None
        yield port


@contextlib.contextmanager
def _target(profile: Profile | None, workers: int, per_lane: int) -> Iterator[_Target]:
    if profile is not None:
        yield _Target(profile)
    else:
        with references(workers, per_lane) as target:
            yield target


def _report_paths(args: argparse.Namespace) -> dict[str, Path]:
    paths = {"junit": args.junit, "json": args.json, "html": args.html}
    if not args.no_reports:
        defaults = {"junit": "check-junit.xml", "json": "check.json", "html": "check.html"}
        for kind, name in defaults.items():
            paths[kind] = paths[kind] or args.reports_dir / name
    return {kind: path for kind, path in paths.items() if path is not None}


def _fail(message: str) -> int:
    print(f"mailharness check: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    specs_dir: Path = args.specs or default_specs_dir()
    try:
        profile = _given_target(args.target, args.profile)
        diff_profile = _given_target(args.diff_target, args.diff_profile)
        selection = select(specs_dir, args.suite or ["all"], args.keyword)
        requirements = load_requirements(specs_dir / "requirements")
    except (TargetError, SuiteError, KeywordError, RequirementError) as exc:
        return _fail(str(exc))
    if selection.errors:
        for error in selection.errors:
            print(error, file=sys.stderr)
        return _fail(f"{len(selection.errors)} spec file(s) do not load; nothing was run")
    if not selection.cases:
        return _fail("no case selected")
    console = Console()
    progress_console = Console(stderr=True)
    try:
        document = _check(args, profile, selection, requirements, specs_dir, progress_console)
        if diff_profile is not None:
            other = _check(args, diff_profile, selection, requirements, specs_dir,
                           progress_console)
            document["differential"] = compare_runs(document, other, args.diff_mode)
    except RunError as exc:
        return _fail(str(exc))
    except OSError as exc:  # the references could not start (ports, data dir)
        return _fail(f"cannot start the reference servers: {exc}")
    if not args.quiet:
        render_summary(console, document)
    if "differential" in document:
        render_differential(console, document["differential"])
    for kind, path in _report_paths(args).items():
        {"junit": write_junit, "json": write_json, "html": write_html}[kind](document, path)
        console.print(f"{kind:5} report: {path}", highlight=False)
    if "differential" in document:
        return 1 if document["differential"]["differences"] else 0
    return exit_status(document)


def _check(args: argparse.Namespace, profile: Profile | None, selection: Selection,
           requirements: list[Requirement], specs_dir: Path, console: Console) -> dict[str, Any]:
    workers = max(1, args.workers)
    with _target(profile, workers, users_needed(selection.cases)) as target:
        show = not args.quiet and console.is_terminal
        with RunProgress(console, len(selection.cases), enabled=show) as progress:
            run = run_cases(target.profile, selection.cases, workers=workers,
                            lanes=target.lanes or None, on_result=progress.advance)
    return build_document(run, suites=selection.suites, specs_dir=specs_dir,
                          keyword=args.keyword, deselected=selection.deselected,
                          requirements=requirements, load_errors=selection.errors)
