"""The terminal view of a run: a progress bar while it runs, then the summary and failures.

Everything shown after the run is rendered from the run document, so ``mailharness report``
prints the same thing from a saved JSON file. Server bytes are always printed as
:class:`rich.text.Text`, never as markup: a reply holding ``[bold]`` must print as sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..transcript import CaseResult
from .summary import groups

STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow"}
Document = Mapping[str, Any]


class RunProgress:
    """A progress bar fed one finished case at a time (from the dispatcher's thread)."""

    def __init__(self, console: Console, total: int, *, enabled: bool = True) -> None:
        self.counts = dict.fromkeys(STYLE, 0)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[tally]}"), TimeElapsedColumn(),
            console=console, disable=not enabled, transient=False,
        )
        self._task = self._progress.add_task("conformance", total=total, tally="")

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, result: CaseResult) -> None:
        self.counts[str(result.status)] += 1
        tally = " ".join(f"[{STYLE[s]}]{n} {s}[/]" for s, n in self.counts.items() if n)
        self._progress.update(self._task, advance=1, tally=tally)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_table(document: Document) -> Table:
    table = Table(title="Conformance by protocol, RFC and level", title_justify="left")
    for column in ("protocol", "RFC", "level"):
        table.add_column(column)
    for status in ("pass", "fail", "error", "skip"):
        table.add_column(status, justify="right", style=STYLE[status])
    table.add_column("pass rate", justify="right")
    for row in groups(document["cases"]):
        table.add_row(row["protocol"], row["rfc"], row["level"], str(row["pass"]),
                      str(row["fail"]), str(row["error"]), str(row["skip"]),
                      _rate(row["pass_rate"]))
    s = document["summary"]
    table.add_section()
    ran = s["pass"] + s["fail"] + s["error"]
    table.add_row("all", "", "", str(s["pass"]), str(s["fail"]), str(s["error"]), str(s["skip"]),
                  _rate(s["pass"] / ran if ran else None), style="bold")
    return table


def _bytes_lines(prefix: str, visible: str, limit: int) -> list[Text]:
    pieces = [piece for piece in re.split(r"(?<=\\n)", visible) if piece]
    lines = [Text(f"      {prefix} {piece}", style="cyan" if prefix == "C:" else "")
             for piece in pieces[:limit]]
    if len(pieces) > limit:
        lines.append(Text(f"      {prefix} ... {len(pieces) - limit} more lines", style="dim"))
    return lines


def render_failure(console: Console, case: Mapping[str, Any], *, limit: int = 20) -> None:
    style = STYLE[case["status"]]
    meta = " ".join(part for part in (case["rfc"], case["level"]) if part)
    head = Text()
    head.append(f"{case['status'].upper()} ", style=f"bold {style}")
    head.append(f"{case['file']}:{case['line']}", style="bold")
    head.append(f"  {case['title']}")
    if meta:
        head.append(f"  [{meta}]", style="dim")
    console.print(head)
    if case["reason"]:
        console.print(Text(f"    {case['reason']}"))
    for step in case["steps"]:
        if step["status"] in ("pass", "skip"):
            continue
        conn = f" [{step['connection']}]" if step["connection"] != "main" else ""
        console.print(Text(f"    step {step['index'] + 1}{conn} at line {step['line']}:",
                           style="bold"))
        for expected in step["expected"]:
            console.print(Text(f"      expected: {expected}"))
        for line in step.get("diff", []):
            console.print(Text(f"      {line}", style="yellow"))
        for text in (_bytes_lines("C:", step["sent"], limit)
                     + _bytes_lines("S:", step["received"], limit)):
            console.print(text)
    console.print()


def render_summary(console: Console, document: Document, *, failures: int = 25) -> None:
    cases = document["cases"]
    bad = [case for case in cases if case["status"] in ("fail", "error")]
    if bad:
        console.rule("failures")
        for case in bad[:failures]:
            render_failure(console, case)
        if len(bad) > failures:
            console.print(Text(f"... and {len(bad) - failures} more failures: see the HTML or "
                               "JSON report", style="dim"))
    skipped = [case for case in cases if case["status"] == "skip"]
    if skipped:
        reasons: dict[str, int] = {}
        for case in skipped:
            reasons[case["reason"]] = reasons.get(case["reason"], 0) + 1
        console.print(Text("skipped:", style="bold yellow"))
        for reason, number in sorted(reasons.items(), key=lambda item: -item[1]):
            console.print(Text(f"  {number:4d}  {reason}"))
    for error in document["load_errors"]:
        console.print(Text(f"{error['file']}:{error['line']}: {error['message']}", style="red"))
    console.print(summary_table(document))
    coverage = document["requirements"]["coverage"]
    if coverage.get("all", {}).get("total"):
        parts = [f"{level} {_rate(c['coverage'])} covered, {_rate(c['pass_rate'])} passing "
                 f"({c['covered']}/{c['total']})"
                 for level, c in coverage.items() if c["total"]]
        console.print(Text("requirements: " + "; ".join(parts)))
    s = document["summary"]
    verdict = (Text("OK: every MUST case passed", style="bold green") if s["ok"] else
               Text(f"FAILED: {s['required_failed']} MUST case(s) failed", style="bold red"))
    verdict.append(f"  ({s['total']} cases in {document['duration']:.1f} s)", style="")
    console.print(verdict)


def render_differential(console: Console, diff: Mapping[str, Any], *, limit: int = 50) -> None:
    console.rule(f"differential ({diff['mode']}): A = {diff['a']}  B = {diff['b']}")
    for d in diff["differences"][:limit]:
        where = f"step {d['step']}" if d["step"] else "verdict"
        console.print(Text(f"{d['file']}:{d['line']}  {d['title']}  ({where}; "
                           f"A {d['a_status']}, B {d['b_status']})", style="bold"))
        console.print(Text(f"    A: {' | '.join(d['a']) or '(nothing)'}"))
        console.print(Text(f"    B: {' | '.join(d['b']) or '(nothing)'}"))
    if len(diff["differences"]) > limit:
        console.print(Text(f"... {len(diff['differences']) - limit} more", style="dim"))
    console.print(Text(f"{diff['compared']} cases compared, {diff['identical']} alike, "
                       f"{len(diff['differences'])} differ", style="bold"))


def render_comparison(console: Console, comparison: Mapping[str, Any]) -> None:
    console.rule(f"compared with {comparison['baseline']}")
    for title, key, style in (("regressed", "regressed", "red"), ("fixed", "fixed", "green"),
                              ("changed", "changed", "yellow"), ("new", "added", "cyan"),
                              ("gone", "removed", "dim")):
        entries = comparison[key]
        if not entries:
            continue
        console.print(Text(f"{title} ({len(entries)}):", style=f"bold {style}"))
        for entry in entries:
            text = f"  {entry['key']}"
            if "before" in entry:
                text += f"  {entry['before']} -> {entry['after']}"
            console.print(Text(text))
    console.print(Text(f"{len(comparison['regressed'])} regressed, {len(comparison['fixed'])} "
                       f"fixed, {comparison['unchanged']} unchanged", style="bold"))
