"""Two runs of the same suites: what regressed, what got fixed, what is new or gone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_GOOD = {"pass"}
_BAD = {"fail", "error"}


def compare(current: Mapping[str, Any], baseline: Mapping[str, Any], *,
            baseline_name: str = "baseline") -> dict[str, Any]:
    """Cases matched by key; ``regressed``: passed before, fails now; ``fixed``: the reverse."""
    before = {case["key"]: case for case in baseline["cases"]}
    now = {case["key"]: case for case in current["cases"]}
    out: dict[str, Any] = {"baseline": baseline_name, "regressed": [], "fixed": [],
                           "changed": [], "added": [], "removed": [], "unchanged": 0}
    for key, case in now.items():
        old = before.get(key)
        if old is None:
            out["added"].append({"key": key, "status": case["status"]})
            continue
        a, b = old["status"], case["status"]
        entry = {"key": key, "title": case["title"], "file": case["file"], "line": case["line"],
                 "before": a, "after": b, "reason": case["reason"]}
        if a == b:
            out["unchanged"] += 1
        elif a in _GOOD and b in _BAD:
            out["regressed"].append(entry)
        elif a in _BAD and b in _GOOD:
            out["fixed"].append(entry)
        else:
            out["changed"].append(entry)
    out["removed"] = [{"key": key, "status": case["status"]}
                      for key, case in before.items() if key not in now]
    return out
