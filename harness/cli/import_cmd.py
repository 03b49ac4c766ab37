"""``mailharness import LOG [-o FILE]``: a telnet-style log or C:/S: transcript as YAML.

The protocol comes from ``--protocol``, else the port of the ``telnet host port`` line,
else the first reply. Exit status: 0 written, 2 the input could not be imported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..transcript import LoadError, load_text
from ..transcript.importers import TranscriptImportError, import_text


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import", help="convert a telnet log or C:/S: transcript to YAML",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("log", type=Path, metavar="LOG")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="where to write the YAML (default: standard output)")
    parser.add_argument("--protocol", choices=["smtp", "lmtp", "pop3", "imap"])
    parser.add_argument("--title", help="the case's title (default: from the file name)")
    parser.add_argument("--rfc", help='the RFC section, e.g. "RFC 5321 §D.1"')


def run(args: argparse.Namespace) -> int:
    try:
        text = args.log.read_text(encoding="utf-8", errors="surrogateescape")
        yaml_text = import_text(text, source=args.log.name, protocol=args.protocol,
                                title=args.title)
    except OSError as exc:
        print(f"mailharness import: {args.log}: {exc.strerror}", file=sys.stderr)
        return 2
    except TranscriptImportError as exc:
        print(f"mailharness import: {exc}", file=sys.stderr)
        return 2
    if args.rfc:
        yaml_text = yaml_text.replace("\nstart: ", f"\nrfc: {args.rfc}\nstart: ", 1)
    try:  # what we write must load: same schema as a hand-written case
        load_text(yaml_text, args.output or Path("<stdout>"))
    except LoadError as exc:
        print(f"mailharness import: the result does not load:\n{exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(yaml_text, encoding="utf-8")
    else:
        sys.stdout.write(yaml_text)
    return 0
