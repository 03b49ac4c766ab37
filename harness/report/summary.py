"""Figures every report shows, computed from a run document (see :mod:`.json_report`).

Kept apart from the writers so the terminal, HTML and JUnit outputs, and ``mailharness
report`` re-rendering a saved run, all count the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STATUSES = ("pass", "fail", "skip", "error")
Case = Mapping[str, Any]


def counts(cases: Iterable[Case]) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for case in cases:
        out[case["status"]] += 1
    out["total"] = sum(out[status] for status in STATUSES)
    return out


def pass_rate(figures: Mapping[str, int]) -> float | None:
    """Passed out of the cases that ran (skips do not count either way)."""
    ran = figures["pass"] + figures["fail"] + figures["error"]
    return figures["pass"] / ran if ran else None


def required_failures(cases: Iterable[Case]) -> list[Case]:
    """MUST cases (and cases naming no level) that failed or errored: they decide the exit."""
    return [case for case in cases
            if case["required"] and case["status"] in ("fail", "error")]


def groups(cases: Iterable[Case]) -> list[dict[str, Any]]:
    """One row per (protocol, RFC, level), sorted, with its counts and pass rate."""
    buckets: dict[tuple[str, str, str], list[Case]] = {}
    for case in cases:
        key = (case["protocol"], case["rfc_doc"] or "-", case["level"] or "-")
        buckets.setdefault(key, []).append(case)
    rows = []
    for (protocol, rfc, level), members in sorted(buckets.items(), key=_group_order):
        figures = counts(members)
        rows.append({"protocol": protocol, "rfc": rfc, "level": level, **figures,
                     "pass_rate": pass_rate(figures)})
    return rows


def _group_order(item: tuple[tuple[str, str, str], list[Case]]) -> tuple[str, int, str, int]:
    protocol, rfc, level = item[0]
    digits = "".join(ch for ch in rfc if ch.isdigit())
    return protocol, int(digits) if digits else 0, rfc, ("MUST", "SHOULD", "MAY").index(
        level) if level in ("MUST", "SHOULD", "MAY") else 3


def by_level(cases: Iterable[Case]) -> dict[str, dict[str, int]]:
    buckets: dict[str, list[Case]] = {}
    for case in cases:
        buckets.setdefault(case["level"] or "-", []).append(case)
    return {level: counts(members) for level, members in sorted(buckets.items())}
