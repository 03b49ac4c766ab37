"""The requirement lists (``specs/requirements/*.yaml``) and the traceability they give.

A requirement is one normative statement of an RFC: an id, the RFC and section, its level
and its text. Cases name the requirements they check with ``covers: [ID, ...]``; from the
results of a run this module builds the traceability table (requirement -> cases ->
result) and the coverage figures, so "how much of RFC 5321 is tested" is a number.

File format (one file per RFC is the convention; ``rfc`` at the top is the default)::

    rfc: RFC 5321
    requirements:
      - id: RFC5321-4.1.1.1-ehlo-reply
        section: 4.1.1.1
        level: MUST
        text: "the server MUST respond to EHLO with a 250 reply"
      - id: RFC5321-4.5.3.1-local-part-size
        section: 4.5.3.1.1
        level: MUST
        text: "The maximum total length of a user name or other local-part is 64 octets."
        observable: false          # not testable over the wire; left out of the coverage
        note: "a server may accept longer local parts (§4.5.3.1)"   # or reason: ...
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# RFC 2119 key words, each folded to the level it is counted under.
LEVELS = {
    "MUST": "MUST", "MUST NOT": "MUST", "REQUIRED": "MUST", "SHALL": "MUST",
    "SHALL NOT": "MUST", "SHOULD": "SHOULD", "SHOULD NOT": "SHOULD", "RECOMMENDED": "SHOULD",
    "NOT RECOMMENDED": "SHOULD", "MAY": "MAY", "OPTIONAL": "MAY",
}
_ID = re.compile(r"[A-Za-z0-9_.:-]+")
_KEYS = {"id", "rfc", "section", "level", "text", "observable", "note", "reason"}


class RequirementError(ValueError):
    """Problems in requirement files, one ``file:line: message`` per line."""


@dataclass(frozen=True)
class Requirement:
    id: str
    rfc: str
    section: str
    level: str  # as written (MUST NOT, RECOMMENDED...)
    text: str
    file: str
    line: int
    observable: bool = True
    note: str = ""

    @property
    def bucket(self) -> str:
        """MUST, SHOULD or MAY: the level this requirement is counted under."""
        return LEVELS[self.level]


class _LineLoader(yaml.SafeLoader):
    """Safe loading that remembers the line of every mapping, for error messages."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def load_requirements(directory: Path) -> list[Requirement]:
    """Every requirement in ``directory/*.yaml``; all problems are raised together."""
    if not directory.is_dir():
        return []
    requirements: list[Requirement] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.y*ml")):
        requirements += _load_file(path, problems)
    seen: dict[str, Requirement] = {}
    for requirement in requirements:
        if requirement.id in seen:
            first = seen[requirement.id]
            problems.append(f"{requirement.file}:{requirement.line}: duplicate id "
                            f"{requirement.id!r} (first at {first.file}:{first.line})")
        seen.setdefault(requirement.id, requirement)
    if problems:
        raise RequirementError("\n".join(problems))
    return requirements


def _load_file(path: Path, problems: list[str]) -> list[Requirement]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # safe: a SafeLoader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}:1: cannot read: {exc}")
        return []
    default_rfc = None
    if isinstance(data, dict):
        default_rfc = data.get("rfc")
        data = data.get("requirements")
    if not isinstance(data, list):
        problems.append(f"{path}:1: expected a list of requirements (or 'requirements:')")
        return []
    out = []
    for entry in data:
        requirement = _entry(path, entry, default_rfc, problems)
        if requirement is not None:
            out.append(requirement)
    return out


def _entry(path: Path, entry: Any, default_rfc: Any, problems: list[str]) -> Requirement | None:
    if not isinstance(entry, dict):
        problems.append(f"{path}: each requirement is a mapping, not {entry!r}")
        return None
    line = entry.pop("__line__", 1)
    where = f"{path}:{line}"
    unknown = set(entry) - _KEYS
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {key: entry.get(key) for key in ("id", "section", "level", "text")}
    values["rfc"] = entry.get("rfc", default_rfc)
    missing = [key for key, value in values.items() if value in (None, "")]
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
        return None
    if not _ID.fullmatch(str(values["id"])):
        problems.append(f"{where}: id {values['id']!r} may hold letters, digits and _.:- only")
    level = str(values["level"]).upper()
    if level not in LEVELS:
        problems.append(f"{where}: level {values['level']!r} is not an RFC 2119 key word")
        return None
    return Requirement(
        id=str(values["id"]), rfc=str(values["rfc"]), section=str(values["section"]),
        level=level, text=" ".join(str(values["text"]).split()), file=str(path), line=line,
        observable=bool(entry.get("observable", True)),
        note=str(entry.get("note") or entry.get("reason") or ""),
    )


# -- traceability --------------------------------------------------------------------------


@dataclass
class Trace:
    """One row of the traceability table."""

    requirement: Requirement
    cases: list[tuple[str, str]] = field(default_factory=list)  # (case key, status)

    @property
    def result(self) -> str:
        """untested, pass, fail (any case failed or errored) or skip (every case skipped)."""
        statuses = {status for _, status in self.cases}
        if not statuses:
            return "untested"
        if statuses & {"fail", "error"}:
            return "fail"
        return "pass" if "pass" in statuses else "skip"


def trace(requirements: Iterable[Requirement], cases: Iterable[Mapping[str, Any]]
          ) -> tuple[list[Trace], list[tuple[str, str]]]:
    """Rows for every requirement, and (case key, id) for covers naming no requirement.

    ``cases`` are report entries: mappings with ``key``, ``status`` and ``covers``.
    """
    rows = {requirement.id: Trace(requirement) for requirement in requirements}
    unknown = []
    for case in cases:
        for requirement_id in case.get("covers", ()):
            row = rows.get(requirement_id)
            if row is None:
                unknown.append((case["key"], requirement_id))
            else:
                row.cases.append((case["key"], case["status"]))
    return list(rows.values()), unknown


def coverage(rows: Iterable[Trace]) -> dict[str, Any]:
    """Coverage figures: overall and per level, over the requirements observable on the wire.

    ``covered``: at least one case ran for it (passed, failed or skipped); ``passing``:
    its cases passed. The ratios are of the observable requirements.
    """
    out: dict[str, Any] = {}
    rows = [row for row in rows if row.requirement.observable]
    groups = {"all": rows}
    for level in ("MUST", "SHOULD", "MAY"):
        groups[level] = [row for row in rows if row.requirement.bucket == level]
    for name, group in groups.items():
        total = len(group)
        covered = sum(row.result != "untested" for row in group)
        passing = sum(row.result == "pass" for row in group)
        out[name] = {
            "total": total, "covered": covered, "passing": passing,
            "coverage": round(covered / total, 4) if total else None,
            "pass_rate": round(passing / total, 4) if total else None,
        }
    return out
