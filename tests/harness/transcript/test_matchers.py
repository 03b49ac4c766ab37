from __future__ import annotations

from harness.client import ImapFramer, Pop3Framer, SmtpFramer
from harness.transcript.matchers import check_imap, check_pop3, check_smtp, code_matches
from harness.transcript.model import Expect, Location

HERE = Location("t.yaml", 1)


def smtp(data: bytes):  # type: ignore[no-untyped-def]
    framer = SmtpFramer()
    framer.feed(data)
    return framer.next_reply()


def test_code_patterns() -> None:
    assert code_matches("250", 250) and code_matches("2xx", 251) and code_matches("25x", 252)
    assert not code_matches("2xx", 354) and not code_matches("250", 251)


def test_smtp_code_match_capture_and_diff() -> None:
    reply = smtp(b"250-mx greets\r\n250 SIZE 1000\r\n")
    values: dict[str, str] = {}
    verdict = check_smtp(
        Expect(HERE, codes=("250",), match=r"(?m)^250 SIZE (?P<size>\d+)"), reply, values)
    assert verdict.ok and verdict.captures == {"size": "1000"}
    bad = check_smtp(Expect(HERE, codes=("221",), forbid=("SIZE",)), reply, values)
    assert not bad.ok and len(bad.problems) == 2
    assert bad.diff() == ["- code 221", "- nothing matching /SIZE/", "+ 250-mx greets",
                          "+ 250 SIZE 1000"]


def test_smtp_enhanced_and_variables() -> None:
    reply = smtp(b"550 5.1.1 <bob@example.test> unknown\r\n")
    assert check_smtp(Expect(HERE, enhanced="5.1.x"), reply, {}).ok
    assert not check_smtp(Expect(HERE, enhanced="5.7"), reply, {}).ok
    assert check_smtp(Expect(HERE, match="<$address>"), reply, {"address": "bob@example.test"}).ok
    assert not check_smtp(Expect(HERE, match="<$address>"), reply, {"address": "b.b@x"}).ok


def test_pop3_body_diff() -> None:
    framer = Pop3Framer()
    framer.feed(b"+OK\r\n1 100\r\n2 201\r\n.\r\n")
    response = framer.next_response(multiline=True)
    assert check_pop3(Expect(HERE, status="+OK", body=("1 100", "2 201")), response, {}).ok
    verdict = check_pop3(Expect(HERE, status="-ERR", body=("1 100", "2 200")), response, {})
    assert len(verdict.problems) == 2
    assert "-2 200" in verdict.diff() and "+2 201" in verdict.diff()


def imap(data: bytes) -> list:  # type: ignore[type-arg]
    framer = ImapFramer()
    framer.feed(data)
    out = []
    while (response := framer.next_response()) is not None:
        out.append(response)
    return out


SELECT = (b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 43] next\r\n"
          b"A1 OK [READ-WRITE] done\r\n")


def test_imap_untagged_order_forbid_may_and_code() -> None:
    *untagged, final = imap(SELECT)
    values: dict[str, str] = {}
    verdict = check_imap(Expect(HERE, tag="OK", resp_code="READ-WRITE",
                                untagged=(r"OK \[UIDNEXT (?P<uidnext>\d+)", r"^\d+ EXISTS"),
                                unordered=True), untagged, final, values)
    assert verdict.ok and verdict.captures == {"uidnext": "43"}
    ordered = check_imap(Expect(HERE, untagged=(r"UIDNEXT", r"EXISTS")), untagged, final, values)
    assert not ordered.ok and "in this order" in ordered.problems[0]
    forbidden = check_imap(Expect(HERE, forbid=("EXISTS",)), untagged, final, values)
    assert not forbidden.ok
    exclusive = check_imap(Expect(HERE, untagged=("EXISTS",), may=("UIDNEXT",)), untagged,
                           final, values)
    assert exclusive.problems == ["untagged 'OK [UIDVALIDITY 7] ok' is neither expected nor "
                                  "allowed"]
    assert not check_imap(Expect(HERE, tag="NO"), untagged, final, values).ok
