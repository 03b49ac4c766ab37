"""Plain-text rendering of results: what was sent, what came back, and the diff on a mismatch."""

from __future__ import annotations

from ..client.log import visible
from .model import Case
from .results import CaseResult, Status, StepResult

MARK = {Status.PASS: "ok", Status.FAIL: "FAIL", Status.SKIP: "skip", Status.ERROR: "ERROR"}


def _lines(prefix: str, data: bytes, limit: int) -> list[str]:
    pieces = data.splitlines(keepends=True)
    out = [f"    {prefix} {visible(piece)}" for piece in pieces[:limit]]
    if len(pieces) > limit:
        out.append(f"    {prefix} ... {len(pieces) - limit} more lines")
    return out


def render_step(result: StepResult, *, limit: int = 20) -> str:
    step = result.step
    who = f" [{step.connection}]" if step.connection != "main" else ""
    head = f"  step {step.index + 1}{who} (line {step.location.line}): {MARK[result.status]}"
    lines = [head]
    if step.note:
        lines.append(f"    # {step.note}")
    shown = 0
    for entry in result.entries:
        if entry.direction == "*":
            lines.append(f"    -- {entry.data.decode('utf-8', 'replace')}")
            continue
        pieces = _lines(f"{entry.direction}:", entry.data, limit - shown)
        shown += len(pieces)
        lines += pieces
        if shown >= limit:
            break
    if result.status != Status.PASS:
        lines.append(f"    !! {result.message}")
        lines += [f"    {line}" for line in result.diff]
    return "\n".join(lines)


def render_header(case: Case) -> str:
    meta = " ".join(part for part in (case.rfc, case.level) if part)
    return f"{case.location}: {case.title}" + (f" [{meta}]" if meta else "")


def render_verdict(result: CaseResult) -> str:
    text = f"=> {MARK[result.status]} ({result.duration:.2f} s)"
    if result.reason:
        text += f": {result.reason}"
    return text
