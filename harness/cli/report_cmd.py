"""``mailharness report RUN.json``: re-render a saved run; with ``--compare``, diff two runs.

Prints the summary (and failures) of RUN.json as ``mailharness check`` did; ``--html``
and ``--junit`` write those reports from it again. ``--compare OTHER.json`` treats OTHER as
the baseline and lists what regressed (passed there, fails here), what got fixed, and
what is new or gone.

Exit status: 0, or 1 when ``--compare`` finds regressions; 2 when a file cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ..report.compare import compare
from ..report.html import write_html
from ..report.json_report import ReportError, read_json
from ..report.junit import write_junit
from ..report.terminal import render_comparison, render_differential, render_summary


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="re-render or compare run reports", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_file", metavar="RUN.json", type=Path)
    parser.add_argument("--compare", metavar="OTHER.json", type=Path,
                        help="a baseline run to compare with")
    parser.add_argument("--html", metavar="FILE", type=Path, help="write the HTML report")
    parser.add_argument("--junit", metavar="FILE", type=Path, help="write JUnit XML")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="only the comparison (or nothing but the files written)")


def run(args: argparse.Namespace) -> int:
    try:
        document = read_json(args.run_file)
        baseline = read_json(args.compare) if args.compare else None
    except ReportError as exc:
        print(f"mailharness report: {exc}", file=sys.stderr)
        return 2
    console = Console()
    if not args.quiet:
        render_summary(console, document)
        if document.get("differential"):
            render_differential(console, document["differential"])
    comparison = None
    if baseline is not None:
        comparison = compare(document, baseline, baseline_name=str(args.compare))
        render_comparison(console, comparison)
    if args.html:
        write_html(document, args.html, comparison=comparison)
        console.print(f"html  report: {args.html}", highlight=False)
    if args.junit:
        write_junit(document, args.junit)
        console.print(f"junit report: {args.junit}", highlight=False)
    return 1 if comparison and comparison["regressed"] else 0
