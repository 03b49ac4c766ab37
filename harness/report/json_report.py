"""The JSON run document: everything a run found, in a stable, versioned schema.

This document is the one source the other reports render from (terminal, HTML, JUnit),
whether the run just happened or ``mailharness report`` reads it back from disk, and what
``--compare`` diffs two runs with. ``run-schema.json`` (package data) is its JSON Schema;
a change that would break a reader bumps ``SCHEMA_VERSION``.
"""

from __future__ import annotations

import json
import platform
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .. import __version__
from ..conformance.discover import case_key, is_required, relative, rfc_parts
from ..conformance.run import Run
from ..requirements import Requirement, coverage, trace
from ..transcript import CaseResult, LoadError
from .summary import counts, groups, required_failures

_SURROGATE = re.compile(r"[\udc80-\udcff]")
SCHEMA_NAME = "mailharness-run"
SCHEMA_VERSION = 1


class ReportError(ValueError):
    """A file that is not a run document this version can read."""


@cache
def schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("run-schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def printable(value: Any) -> Any:
    """Strings with surrogate escapes (undecodable server octets) as \\xNN, recursively.

    Matchers decode replies with ``surrogateescape``; such strings cannot be written as
    UTF-8 (JSON, HTML, a terminal), so the octet is shown the way the byte logs show it.
    """
    if isinstance(value, str):
        return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", value)
    if isinstance(value, list):
        return [printable(item) for item in value]
    if isinstance(value, dict):
        return {key: printable(item) for key, item in value.items()}
    return value


def case_entry(result: CaseResult, root: Path | None) -> dict[str, Any]:
    entry: dict[str, Any] = printable(result.to_dict())
    rfc_doc, section = rfc_parts(result.case.rfc)
    entry.update({
        "key": case_key(result.case, root),
        "file": relative(result.case.path, root),
        "covers": list(result.case.covers),
        "rfc_doc": rfc_doc,
        "section": section,
        "required": is_required(result.case.level),
    })
    return entry


def build_document(run: Run, *, suites: list[str], specs_dir: Path | None = None,
                   keyword: str | None = None, deselected: int = 0,
                   requirements: list[Requirement] | None = None,
                   load_errors: list[LoadError] | None = None) -> dict[str, Any]:
    cases = [case_entry(result, specs_dir) for result in run.results]
    figures = counts(cases)
    failed_required = required_failures(cases)
    return {
        "schema": SCHEMA_NAME,
        "version": SCHEMA_VERSION,
        "tool": {"name": "mailharness", "version": __version__,
                 "python": platform.python_version()},
        "started": run.started.isoformat(timespec="seconds"),
        "duration": round(run.duration, 3),
        "workers": run.workers,
        "target": {"name": run.profile.name,
                   "endpoints": {kind: str(t) for kind, t in run.profile.endpoints.items()}},
        "selection": {"suites": suites, "keyword": keyword, "deselected": deselected},
        "capabilities": run.capabilities,
        "summary": {**figures, "required_failed": len(failed_required),
                    "ok": not failed_required},
        "groups": groups(cases),
        "cases": cases,
        "requirements": requirements_section(requirements or [], cases),
        "load_errors": [{"file": e.file, "line": line, "message": message}
                        for e in load_errors or [] for line, message in e.problems],
    }


def requirements_section(requirements: list[Requirement], cases: list[dict[str, Any]]
                         ) -> dict[str, Any]:
    rows, unknown = trace(requirements, cases)
    return {
        "coverage": coverage(rows),
        "rows": [{
            "id": row.requirement.id, "rfc": row.requirement.rfc,
            "section": row.requirement.section, "level": row.requirement.level,
            "text": row.requirement.text, "observable": row.requirement.observable,
            "note": row.requirement.note, "result": row.result,
            "cases": [{"key": key, "status": status} for key, status in row.cases],
        } for row in rows],
        "unknown_covers": [{"case": key, "id": rid} for key, rid in unknown],
    }


def exit_status(document: dict[str, Any]) -> int:
    """0: every MUST case passed (or was skipped); 1: some failed."""
    return 0 if document["summary"]["ok"] else 1


def write_json(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA_NAME:
        raise ReportError(f"{path}: not a mailharness run report")
    if document.get("version") != SCHEMA_VERSION:
        raise ReportError(f"{path}: report version {document.get('version')}; this mailharness "
                          f"reads version {SCHEMA_VERSION}")
    errors = sorted(Draft202012Validator(schema()).iter_errors(document), key=lambda e: e.path)
    if errors:
        where = "/".join(str(part) for part in errors[0].absolute_path) or "(top)"
        raise ReportError(f"{path}: {where}: {errors[0].message}")
    return document
