"""``mailharness mime``: MIME tools over the reference MIME library (``lint`` for now)."""

from __future__ import annotations

import argparse
import sys

from . import _embedded


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("mime", help="MIME tools: lint messages",
                       description="MIME tools built on the reference MIME library.")
    tools = p.add_subparsers(dest="mime_command", metavar="TOOL", required=True)
    lint = tools.add_parser(
        "lint",
        help="check messages against RFC 5322 and RFC 2045-2049, 2047, 2231",
        description="Report every violation as rule, RFC section, location and severity. "
        "Exit 0 when no file has errors, 1 when one has, 2 when a file cannot be read.",
    )
    lint.add_argument("files", nargs="+", metavar="FILE", help="message files (raw RFC 5322)")
    lint.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    code, text = _embedded.mime_lint(list(args.files), args.json)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return code
