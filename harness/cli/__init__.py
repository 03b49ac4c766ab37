"""The ``mailharness`` command: one subcommand a module, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from .. import __version__

# (name, module, one-line help). A module that is not there yet makes an "unbuilt" command.
SUBCOMMANDS: tuple[tuple[str, str, str], ...] = (
    ("serve", "serve_cmd", "run the reference servers on loopback"),
    ("check", "check_cmd", "run the conformance suites against a target or the references"),
    ("replay", "replay_cmd", "replay YAML, telnet-style or RFC-style transcripts against a target"),
    ("import", "import_cmd", "convert a telnet log or C:/S: transcript to YAML"),
    ("record", "record_cmd", "proxy a real client's session and write it as a transcript"),
    ("fuzz", "fuzz_cmd", "fuzz a target or a protocol core and write findings as transcripts"),
    ("load", "load_cmd", "generate SMTP/POP3 load (locust or the native engine)"),
    ("bench", "bench_cmd", "benchmark the generator and servers side by side"),
    ("report", "report_cmd", "re-render or compare run reports"),
    ("mime", "mime_cmd", "MIME tools: lint messages"),
)


def _module(name: str) -> object | None:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailharness",
        description="Conformance, fuzzing and load testing for SMTP, POP3, IMAP4 and MIME, "
        "with strict reference servers to test against.",
    )
    parser.add_argument("--version", action="version", version=f"mailharness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in SUBCOMMANDS:
        module = _module(module_name)
        if module is None:
            p = sub.add_parser(name, help=f"{help_text} (not built yet)",
                               description=f"{help_text}. Not built yet in this version.")
            p.set_defaults(_run=_unbuilt(name))
        else:
            module.add_parser(sub)  # type: ignore[attr-defined]
            sub.choices[name].set_defaults(_run=module.run)  # type: ignore[attr-defined]
    return parser


def _unbuilt(name: str) -> Callable[[argparse.Namespace], int]:
    def run(_args: argparse.Namespace) -> int:
        print(f"mailharness {name}: not built yet in this version", file=sys.stderr)
        return 2

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
