"""``mailharness mime lint FILE... [--json]``: the logic, for the CLI to call."""

from __future__ import annotations

import json

from .parse import parse
from .rules import Severity
from .validate import Violation, validate

EXIT_CLEAN, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


def lint_paths(paths: list[str], as_json: bool) -> tuple[int, str]:
    """Validate each file; return the exit code and the text to print.

    Exit 2 when a file cannot be read (that outranks everything), else 1 when any file
    has an error-severity violation, else 0: warnings alone do not fail a file.
    """
    results: list[dict[str, object]] = []
    lines: list[str] = []
    unreadable = has_errors = False
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            unreadable = True
            results.append({"path": path, "error": f"cannot read: {exc.strerror or exc}"})
            lines.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        found = validate(parse(data))
        errors = sum(v.severity is Severity.ERROR for v in found)
        has_errors = has_errors or errors > 0
        results.append(
            {
                "path": path,
                "errors": errors,
                "warnings": len(found) - errors,
                "violations": [v.as_dict() for v in found],
            }
        )
        lines.extend(_line(path, v) for v in found)
        lines.append(f"{path}: {errors} error(s), {len(found) - errors} warning(s)")
    code = EXIT_UNREADABLE if unreadable else EXIT_ERRORS if has_errors else EXIT_CLEAN
    if as_json:
        return code, json.dumps({"files": results, "exit": code}, indent=2, ensure_ascii=False)
    return code, "\n".join(lines)


def _line(path: str, v: Violation) -> str:
    where = f" part {v.path}" if v.path else ""
    return f"{path}:{v.line}: {v.severity.value} {v.rule} ({v.rfc}){where}: {v.message}"
