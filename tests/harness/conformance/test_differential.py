from __future__ import annotations

from typing import Any

import pytest

from harness.conformance.differential import compare_runs, normalise_text, signature


def test_volatile_parts_are_normalised() -> None:
    line = ("250 2.0.0 Ok: queued as 4F2A1B03ZZ at Thu, 01 Jan 2026 10:00:00 +0000 "
            "by mx1.example.test [192.0.2.7] <1896.697170952@dbc.mtview.ca.us>")
    assert normalise_text(line) == ("250 2.0.0 Ok: queued as <id> at <date> by <host> <ip> "
                                    "<id@host>")


def test_codes_signatures_per_protocol() -> None:
    smtp = "250-mx.example.test\\r\\n250-SIZE 100\\r\\n250 2.0.0 OK\\r\\n"
    assert signature("smtp", smtp, "codes") == ["250 2.0.0"]
    assert signature("pop3", "+OK 2 messages\\r\\n1 120\\r\\n.\\r\\n", "codes") == ["+OK"]
    imap = "* 3 EXISTS\\r\\n* OK [UIDNEXT 4] x\\r\\nA001 OK [READ-WRITE] done\\r\\n"
    assert signature("imap", imap, "codes") == ["* EXISTS", "* OK UIDNEXT", "TAG OK READ-WRITE"]


def _doc(name: str, *cases: dict[str, Any]) -> dict[str, Any]:
    return {"target": {"name": name}, "cases": list(cases)}


def _case(key: str, status: str, *received: str) -> dict[str, Any]:
    return {"key": key, "title": key, "file": f"{key}.yaml", "line": 1, "protocol": "smtp",
            "status": status, "reason": "",
            "steps": [{"line": 2 + n, "received": r} for n, r in enumerate(received)]}


def test_compare_runs_finds_the_first_differing_step() -> None:
    a = _doc("A", _case("same", "pass", "220 a.test hi\\r\\n", "250 2.0.0 ok\\r\\n"),
             _case("differs", "pass", "220 x\\r\\n", "250 2.0.0 ok\\r\\n"),
             _case("skipped", "skip"))
    b = _doc("B", _case("same", "pass", "220 b.test hello\\r\\n", "250 2.0.0 fine\\r\\n"),
             _case("differs", "fail", "220 y\\r\\n", "502 5.5.1 no\\r\\n"),
             _case("skipped", "pass", "220\\r\\n"))
    result = compare_runs(a, b)
    assert (result["compared"], result["identical"]) == (2, 1)
    [difference] = result["differences"]
    assert difference["key"] == "differs" and difference["step"] == 2 and difference["line"] == 3
    assert (difference["a"], difference["b"]) == (["250 2.0.0"], ["502 5.5.1"])
    text = compare_runs(a, b, "text")
    assert len(text["differences"]) == 2  # in text mode "ok" and "fine" differ too
    with pytest.raises(ValueError, match="differential mode"):
        compare_runs(a, b, "bytes")
