"""JUnit XML, the format CI systems read: one testsuite per protocol, one testcase per case.

A failure's text is the failing step with its YAML line, the expectation and the bytes,
so a CI page shows what went wrong without opening the HTML report. Only MUST cases (and
cases naming no level) are ``<failure>``; a failing SHOULD or MAY case is reported as
``<skipped>`` with the verdict in its message, so CI status matches the exit status.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .summary import counts

_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_BAD.sub("?", text)


def failure_text(case: Mapping[str, Any]) -> str:
    lines = [f"{case['file']}:{case['line']}: {case['title']}"]
    if case["reason"]:
        lines.append(case["reason"])
    for step in case["steps"]:
        if step["status"] in ("pass", "skip"):
            continue
        lines.append(f"step {step['index'] + 1} (line {step['line']}): {step['message']}")
        lines += [f"  expected: {expected}" for expected in step["expected"]]
        lines += [f"  {line}" for line in step.get("diff", [])]
        lines += [f"  C: {line}" for line in step["sent"].split("\\r\\n") if line]
        lines += [f"  S: {line}" for line in step["received"].split("\\r\\n") if line]
    return "\n".join(lines)


def _log(case: Mapping[str, Any]) -> str:
    return "\n".join(f"{entry['t']:8.3f} {entry['conn']}:{entry['dir']}: {entry['data']}"
                     for entry in case["log"])


def _testcase(parent: ET.Element, case: Mapping[str, Any]) -> None:
    classname = case["file"].rsplit(".", 1)[0].replace("/", ".")
    element = ET.SubElement(parent, "testcase", classname=classname, name=case["id"],
                            file=case["file"], line=str(case["line"]),
                            time=f"{case['duration']:.3f}")
    properties = ET.SubElement(element, "properties")
    for name in ("rfc", "level"):
        if case[name]:
            ET.SubElement(properties, "property", name=name, value=case[name])
    for requirement in case["covers"]:
        ET.SubElement(properties, "property", name="covers", value=requirement)
    status, message = case["status"], _clean(case["reason"])
    if status in ("fail", "error") and case["required"]:
        tag = "failure" if status == "fail" else "error"
        node = ET.SubElement(element, tag, message=message, type=case["level"] or "MUST")
        node.text = _clean(failure_text(case))
        ET.SubElement(element, "system-out").text = _clean(_log(case))
    elif status in ("fail", "error"):
        ET.SubElement(element, "skipped", message=f"{case['level']} not met: {message}")
    elif status == "skip":
        ET.SubElement(element, "skipped", message=message)


def to_xml(document: Mapping[str, Any]) -> ET.ElementTree:
    cases = document["cases"]
    root = ET.Element("testsuites", name="mailharness check", time=f"{document['duration']:.3f}")
    by_protocol: dict[str, list[Mapping[str, Any]]] = {}
    for case in cases:
        by_protocol.setdefault(case["protocol"], []).append(case)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for protocol, members in sorted(by_protocol.items()):
        figures = counts(members)
        failures = sum(c["status"] == "fail" and c["required"] for c in members)
        errors = sum(c["status"] == "error" and c["required"] for c in members)
        skipped = figures["total"] - figures["pass"] - failures - errors
        suite = ET.SubElement(
            root, "testsuite", name=protocol, tests=str(figures["total"]),
            failures=str(failures), errors=str(errors), skipped=str(skipped),
            time=f"{sum(c['duration'] for c in members):.3f}",
            timestamp=document["started"],
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="target", value=document["target"]["name"])
        for capability in document["capabilities"].get(protocol, []):
            ET.SubElement(properties, "property", name="capability", value=capability)
        for case in members:
            _testcase(suite, case)
        for key, value in (("tests", figures["total"]), ("failures", failures),
                           ("errors", errors), ("skipped", skipped)):
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(document: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    to_xml(document).write(path, encoding="utf-8", xml_declaration=True)
