"""Every validator rule fires on a crafted bad message and stays silent on a good one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reference_servers.mime import parse, validate
from reference_servers.mime.lint import lint_paths
from reference_servers.mime.parse import MAX_DEPTH
from reference_servers.mime.rules import RULES, Severity


def msg(*lines: str) -> bytes:
    return "\r\n".join(lines).encode("utf-8")


HEAD = (
    "MIME-Version: 1.0",
    "Date: Tue, 2 Jan 2024 08:00:00 +0100",
    "From: =?utf-8?Q?J=C3=B6rg?= <joerg@example.de>",
    'To: "Doe, John" <john@example.com>, Team: a@x.org;',
    "Subject: =?iso-8859-1?q?caf=E9?= ok",
    "Message-ID: <good@example.de>",
)


def good(ctype: str = "multipart/mixed; boundary=b1", *body: str) -> bytes:
    if not body:
        body = (
            "--b1",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "caf=C3=A9 au lait, a soft =",
            "break",
            "--b1",
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.bin",
            "",
            "AAECAwQ=",
            "--b1",
            "Content-Type: message/rfc822",
            "",
            "Subject: inner",
            "",
            "inner text",
            "--b1--",
            "",
        )
    return msg(*HEAD, f"Content-Type: {ctype}", "", *body)


def rules_of(data: bytes) -> set[str]:
    return {v.rule for v in validate(parse(data))}


def test_good_message_is_clean() -> None:
    assert validate(parse(good())) == []


def test_plain_rfc5322_message_needs_no_mime_version() -> None:
    data = msg("Date: Tue, 2 Jan 2024 08:00:00 +0100", "From: a@example.com", "", "hi", "")
    assert validate(parse(data)) == []


def _replace(old: str, new: str) -> bytes:
    data = good()
    assert old.encode() in data
    return data.replace(old.encode(), new.encode(), 1)


BAD: dict[str, bytes] = {
    "mime-version-missing": _replace("MIME-Version: 1.0\r\n", ""),
    "line-too-long": _replace("inner text", "x" * 999),
    "bare-line-ending": _replace("inner text\r\n", "inner text\n"),
    "8bit-in-7bit": _replace("inner text", "inner t\u00e9xt"),
    "base64-invalid": _replace("AAECAwQ=", "AAE*AwQ"),
    "qp-invalid": _replace("caf=C3=A9", "caf=X3=A9"),
    "cte-unknown": _replace("Transfer-Encoding: base64", "Transfer-Encoding: x-rot13"),
    "cte-not-allowed": _replace(
        "Content-Type: message/rfc822",
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64",
    ),
    "boundary-missing": _replace("multipart/mixed; boundary=b1", "multipart/mixed"),
    "boundary-not-found": _replace("boundary=b1", "boundary=zz"),
    "boundary-not-unique": good(
        "multipart/mixed; boundary=b1",
        "--b1",
        "Content-Type: multipart/alternative; boundary=b1x",
        "",
        "--b1x",
        "",
        "a",
        "--b1x--",
        "--b1--",
        "",
    ),
    "boundary-in-content": _replace("inner text", "--b1 is not a delimiter"),
    "boundary-syntax": good(
        'multipart/mixed; boundary="' + "b" * 71 + '"',
        "--" + "b" * 71,
        "",
        "x",
        "--" + "b" * 71 + "--",
        "",
    ),
    "multipart-not-closed": _replace("--b1--", "--b1-"),
    "content-type-malformed": _replace("application/octet-stream", "application"),
    "content-disposition-malformed": _replace("attachment; filename*=", "attachment; filename*"),
    "encoded-word-malformed": _replace("=?iso-8859-1?q?caf=E9?=", "=?x-unknown?q?caf=E9?="),
    "header-syntax": _replace("Subject: inner", "Subject inner"),
    "header-duplicate": _replace("Message-ID:", "Subject: again\r\nMessage-ID:"),
    "date-missing": _replace("Date: Tue, 2 Jan 2024 08:00:00 +0100\r\n", ""),
    "date-malformed": _replace("Tue, 2 Jan 2024 08:00:00 +0100", "yesterday"),
    "date-obsolete": _replace("Tue, 2 Jan 2024 08:00:00 +0100", "Tue, 2 Jan 24 08:00:00 EST"),
    "from-missing": _replace("From: =?utf-8?Q?J=C3=B6rg?= <joerg@example.de>\r\n", ""),
    "from-malformed": _replace("<joerg@example.de>", "<joerg@>"),
    "address-malformed": _replace("<john@example.com>", "<john example.com>"),
    "address-obsolete": _replace("<john@example.com>", "<@relay.example:john@example.com>"),
    "nesting-too-deep": good(
        "multipart/mixed; boundary=b1",
        *[
            f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n"
            for i in range(1, MAX_DEPTH + 2)
        ],
        "",
    ),
}


def test_every_rule_has_a_bad_message() -> None:
    assert set(BAD) == set(RULES)


@pytest.mark.parametrize("rule", sorted(BAD))
def test_rule_fires_on_bad_message(rule: str) -> None:
    found = validate(parse(BAD[rule]))
    assert rule in {v.rule for v in found}
    v = next(v for v in found if v.rule == rule)
    assert v.rfc == RULES[rule].rfc and v.severity is RULES[rule].severity
    assert v.line >= 1


def test_location_points_at_part_and_line() -> None:
    found = [v for v in validate(parse(BAD["base64-invalid"])) if v.rule == "base64-invalid"]
    assert found[0].path == "2"
    lines = BAD["base64-invalid"].split(b"\r\n")
    assert lines[found[0].line - 1] == b"AAE*AwQ"
    found = [v for v in validate(parse(BAD["qp-invalid"])) if v.rule == "qp-invalid"]
    assert BAD["qp-invalid"].split(b"\r\n")[found[0].line - 1].startswith(b"caf=X3")
    found = [v for v in validate(parse(BAD["8bit-in-7bit"])) if v.rule == "8bit-in-7bit"]
    assert found[0].path == "3"
    assert b"inner t" in BAD["8bit-in-7bit"].split(b"\r\n")[found[0].line - 1]


def test_lint_exit_codes_and_output(tmp_path: Path) -> None:
    ok = tmp_path / "ok.eml"
    ok.write_bytes(good())
    bad = tmp_path / "bad.eml"
    bad.write_bytes(BAD["boundary-not-found"])
    warn = tmp_path / "warn.eml"
    warn.write_bytes(BAD["date-obsolete"])
    assert lint_paths([str(ok)], False) == (0, f"{ok}: 0 error(s), 0 warning(s)")
    code, text = lint_paths([str(warn)], False)
    assert code == 0 and "warning date-obsolete (RFC 5322 §4.3)" in text
    code, text = lint_paths([str(ok), str(bad)], False)
    assert code == 1
    assert f"{bad}:" in text and "error boundary-not-found (RFC 2046 §5.1.1)" in text
    code, text = lint_paths([str(bad), str(tmp_path / "missing.eml")], True)
    assert code == 2
    report = json.loads(text)
    assert report["exit"] == 2
    assert report["files"][0]["errors"] >= 1
    assert report["files"][0]["violations"][0]["severity"] == Severity.ERROR.value
    assert "cannot read" in report["files"][1]["error"]
