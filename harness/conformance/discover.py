"""Find the suites under ``specs/`` and load their cases, all of them validated before any runs.

A suite is a directory ``specs/<protocol>/`` (smtp, lmtp, pop3, imap): adding the IMAP suite
is adding ``specs/imap/``. Anything else under ``specs/`` (examples, requirements) is not a
suite. Every file is loaded even after a broken one, so one run reports every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..transcript import Case, LoadError, load_file
from .keyword import compile_keyword

SUITE_PROTOCOLS = ("smtp", "lmtp", "pop3", "imap")
_RFC = re.compile(r"(RFC ?\d+)\s*(?:§\s*|section\s+)?([\w.\-]*)", re.IGNORECASE)


class SuiteError(ValueError):
    """A suite that does not exist, or a specs directory that is not there."""


@dataclass
class Selection:
    cases: list[Case] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    suites: list[str] = field(default_factory=list)
    deselected: int = 0


def default_specs_dir() -> Path:
    """``./specs`` when run from a checkout or project, else the one next to the package."""
    here = Path("specs")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "specs"


def find_suites(specs_dir: Path) -> dict[str, Path]:
    if not specs_dir.is_dir():
        raise SuiteError(f"no specs directory at {specs_dir}")
    return {name: specs_dir / name for name in SUITE_PROTOCOLS
            if (specs_dir / name).is_dir() and any((specs_dir / name).rglob("*.yaml"))}


def suite_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def select(specs_dir: Path, suites: Sequence[str] = ("all",), keyword: str | None = None
           ) -> Selection:
    """Load the named suites (``all``: every suite found) and keep the cases ``keyword`` picks."""
    found = find_suites(specs_dir)
    names = list(found) if "all" in suites else list(dict.fromkeys(suites))
    missing = [name for name in names if name not in found]
    if missing:
        have = ", ".join(found) or "none"
        raise SuiteError(f"no suite {', '.join(missing)} under {specs_dir} (found: {have})")
    matches = compile_keyword(keyword or "")
    selection = Selection(suites=names)
    for name in names:
        for path in suite_files(found[name]):
            try:
                cases = load_file(path)
            except LoadError as exc:
                selection.errors.append(exc)
                continue
            for case in cases:
                if matches(keywords(case, specs_dir)):
                    selection.cases.append(case)
                else:
                    selection.deselected += 1
    return selection


def case_key(case: Case, root: Path | None = None) -> str:
    """A stable identity for a case across runs: its file (relative to the specs) and id."""
    return f"{relative(case.path, root)}::{case.id}"


def relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def keywords(case: Case, root: Path | None = None) -> Iterable[str]:
    """What ``-k`` matches against: id, title, path, protocol, RFC, level, tags, covers."""
    yield case.id
    yield case.title
    yield relative(case.path, root)
    yield case.protocol
    if case.rfc:
        yield case.rfc
    if case.level:
        yield case.level
    yield from case.tags
    yield from case.covers


def rfc_parts(rfc: str | None) -> tuple[str, str]:
    """("RFC 5321", "4.1.1.1") from "RFC 5321 §4.1.1.1"; ("", "") when there is none."""
    if not rfc:
        return "", ""
    found = _RFC.match(rfc.strip())
    if found is None:
        return rfc.strip(), ""
    number = re.sub(r"(?i)rfc ?", "", found.group(1))
    return f"RFC {number}", found.group(2).rstrip(".")


def is_required(level: str | None) -> bool:
    """MUST cases decide the exit status; a case that names no level counts as a MUST."""
    return level in (None, "MUST")
