"""``mailharness replay FILE... --target URL``: run transcripts and show every exchange.

FILE may be YAML, or a telnet-style log or RFC-style C:/S: transcript (anything that is
not .yaml/.yml), imported on the fly. Exit status: 0 all passed (or skipped), 1 a case
failed, 2 the run could not happen (unreachable target, bad file, set-up error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..target import Profile, TargetError, load_profile, parse_target, profile_from_target
from ..transcript import CaseResult, LoadError, Runner, Status, StepResult, load_file
from ..transcript.importers import TranscriptImportError, import_log
from ..transcript.render import render_header, render_step, render_verdict


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="replay YAML, telnet-style or RFC-style transcripts against a target",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", type=Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--target", metavar="URL", help="e.g. smtp://127.0.0.1:2525")
    where.add_argument("--profile", metavar="FILE", type=Path, help="a target profile YAML")
    parser.add_argument("--protocol", choices=["smtp", "lmtp", "pop3", "imap"],
                        help="protocol of non-YAML logs (default: from the target)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the verdicts")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the results as JSON")


def _profile(args: argparse.Namespace) -> Profile:
    if args.profile:
        return load_profile(args.profile)
    return profile_from_target(parse_target(args.target))


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as cat does. stdout is pointed
        # at /dev/null so the interpreter's final flush does not complain a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1


def _run(args: argparse.Namespace) -> int:
    try:
        profile = _profile(args)
    except TargetError as exc:
        print(f"mailharness replay: {exc}", file=sys.stderr)
        return 2
    default_protocol = args.protocol or next(iter(profile.endpoints.values())).protocol
    cases = []
    for path in args.files:
        try:
            if path.suffix in (".yaml", ".yml"):
                cases += load_file(path)
            else:
                cases.append(import_log(path, protocol=args.protocol or None,
                                        default_protocol=default_protocol))
        except (LoadError, TranscriptImportError) as exc:
            print(exc, file=sys.stderr)
            return 2

    def on_step(_: CaseResult, step: StepResult) -> None:
        if not args.quiet:
            print(render_step(step), flush=True)

    runner = Runner(profile, on_step=on_step)
    results = []
    for case in cases:
        print(render_header(case), flush=True)
        result = runner.run(case)
        print(render_verdict(result), flush=True)
        results.append(result)
    counts = {status: sum(r.status == status for r in results) for status in Status}
    print(", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing ran")
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    if counts[Status.ERROR]:
        return 2
    return 1 if counts[Status.FAIL] else 0
