"""Recordings replay against a *second* server whose volatile values differ.

Each fake server below hands out values another instance would not (UIDs, UIDVALIDITY,
POP3 message numbers and UIDLs, queue ids, dates, session ids, CRAM-MD5 challenges) and
checks that the client sends back the ones it handed out; the recording is made against
instance A and replayed against instance B, as another user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import imaplib
import poplib
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from harness.transcript import Status

from ..conftest import FakeConnection, FakeServer
from .test_recorder import record, replay


@dataclass
class Instance:
    user: str
    password: str
    greeting: str = "ESMTP ready Thu, 01 Jan 2026 10:00:00 +0000 <a1b2c3d4e5@fake>"
    queue_id: str = "Q4FA9X2"
    challenge: bytes = b"<1896.697170952@fake.example.test>"
    uidvalidity: int = 7
    uids: list[int] = field(default_factory=lambda: [40, 41])
    uidls: list[str] = field(default_factory=lambda: ["aaa", "bbb"])
    seen: list[bytes] = field(default_factory=list)  # what the client sent

    def cram_ok(self, answer: bytes) -> bool:
        user, _, digest = base64.b64decode(answer).decode().partition(" ")
        want = hmac.new(self.password.encode(), self.challenge, hashlib.md5).hexdigest()
        return user == self.user and digest == want


A = dict(user="alice", password="secret")
B = dict(user="bob", password="pw", greeting="ESMTP ready Fri, 2 Jan 2026 "
         "23:59:01 -0500 <zz99yy88xx@fake>", queue_id="Z0077QQ",
         challenge=b"<4711.123456789@fake.example.test>", uidvalidity=1719000000,
         uids=[300, 305, 310], uidls=["x1", "y2", "z3"])


def smtp_server(inst: Instance) -> Callable[[FakeConnection], None]:
    def serve(conn: FakeConnection) -> None:
        conn.send(f"220 fake.example.test {inst.greeting}\r\n".encode())
        while line := conn.recv_line():
            inst.seen.append(line)
            words = line.strip().split(b" ")
            verb = words[0].upper()
            if verb == b"EHLO":
                conn.send(b"250-fake.example.test\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")
            elif verb == b"AUTH":
                conn.send(b"235 2.7.0 ok\r\n" if auth(conn, inst, words) else b"535 5.7.8 no\r\n")
            elif verb in (b"MAIL", b"RCPT"):
                conn.send(b"250 2.0.0 OK\r\n")
            elif verb == b"DATA":
                conn.send(b"354 go ahead\r\n")
                while conn.recv_line() not in (b".\r\n", b""):
                    pass
                conn.send(f"250 2.0.0 Ok: queued as {inst.queue_id}\r\n".encode())
            elif verb == b"XQUEUE":  # "is this my message?": only the id it was given
                ok = words[1:] == [inst.queue_id.encode()]
                conn.send(b"250 2.0.0 known\r\n" if ok else b"550 5.0.0 unknown\r\n")
            elif verb == b"QUIT":
                conn.send(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.send(b"500 5.5.2 what\r\n")
    return serve


def auth(conn: FakeConnection, inst: Instance, words: list[bytes]) -> bool:
    mechanism = words[1].upper()
    if mechanism == b"PLAIN":
        if len(words) < 3:
            conn.send(b"334 \r\n")
            words.append(conn.recv_line().strip())
        return base64.b64decode(words[2]) == f"\0{inst.user}\0{inst.password}".encode()
    if mechanism == b"LOGIN":
        conn.send(b"334 VXNlcm5hbWU6\r\n")
        user = base64.b64decode(conn.recv_line().strip())
        conn.send(b"334 UGFzc3dvcmQ6\r\n")
        password = base64.b64decode(conn.recv_line().strip())
        return (user, password) == (inst.user.encode(), inst.password.encode())
    conn.send(b"334 " + base64.b64encode(inst.challenge) + b"\r\n")
    return inst.cram_ok(conn.recv_line().strip())


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_smtplib_with_sasl_and_a_queue_id(fake_server: Callable[..., FakeServer],
                                          mechanism: str) -> None:
    first, second = Instance(**A), Instance(**B)  # type: ignore[arg-type]
    url_a = fake_server(smtp_server(first)).url()
    server_b = fake_server(smtp_server(second))

    def client(host: str, port: int) -> None:
        with smtplib.SMTP(host, port, timeout=5) as smtp:
            smtp.ehlo("me.example.test")
            smtp.user, smtp.password = "alice", "secret"
            method = {"PLAIN": smtp.auth_plain, "LOGIN": smtp.auth_login,
                      "CRAM-MD5": smtp.auth_cram_md5}[mechanism]
            smtp.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")
            smtp.sendmail("alice@example.test", ["bob@example.test"], b"Subject: x\r\n\r\nhi\r\n")
            assert smtp.docmd("XQUEUE", "Q4FA9X2")[0] == 250

    from harness.transcript.recorder import to_yaml

    text = to_yaml(record(url_a, client), title="smtp", source=url_a, match_text=True)
    assert "secret" not in text and "AGFsaWNlAHNlY3JldA" not in text
    assert "XQUEUE $queue_id" in text and "(?P<queue_id>" in text
    want = {"PLAIN": "AUTH PLAIN $sasl_plain", "LOGIN": "$sasl_password",
            "CRAM-MD5": "send: $cram_md5"}[mechanism]
    assert want in text, text
    result = replay(text, server_b.url().replace("://", "://bob:pw@"))
    assert result.status == Status.PASS, (result.reason, text)
    assert b"XQUEUE Z0077QQ\r\n" in second.seen
    # match_text pins the wording: a server that words its greeting otherwise fails.
    other = Instance(**B)  # type: ignore[arg-type]
    other.greeting = "Postfix"
    result = replay(text, fake_server(smtp_server(other)).url().replace("://", "://bob:pw@"))
    assert result.status == Status.FAIL


def pop3_server(inst: Instance) -> Callable[[FakeConnection], None]:
    def serve(conn: FakeConnection) -> None:
        conn.send(b"+OK POP3 ready " + inst.challenge + b"\r\n")
        messages = [f"Subject: {uidl}\r\n\r\nbody\r\n".encode() for uidl in inst.uidls]
        while line := conn.recv_line():
            inst.seen.append(line)
            words = line.strip().split()
            verb = words[0].upper()
            number = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
            if verb == b"USER":
                conn.send(b"+OK\r\n" if words[1].decode() == inst.user else b"-ERR who\r\n")
            elif verb == b"PASS":
                conn.send(b"+OK\r\n" if words[1].decode() == inst.password else b"-ERR no\r\n")
            elif verb == b"STAT":
                conn.send(b"+OK %d %d\r\n" % (len(messages), sum(map(len, messages))))
            elif verb == b"UIDL" and number:
                conn.send(f"+OK {number} {inst.uidls[number - 1]}\r\n".encode())
            elif verb == b"UIDL":
                body = "".join(f"{i} {u}\r\n" for i, u in enumerate(inst.uidls, 1))
                conn.send(f"+OK\r\n{body}.\r\n".encode())
            elif verb == b"RETR" and 0 < number <= len(messages):
                conn.send(b"+OK\r\n" + messages[number - 1] + b".\r\n")
            elif verb == b"DELE" and 0 < number <= len(messages):
                conn.send(b"+OK deleted\r\n")
            elif verb == b"QUIT":
                conn.send(b"+OK bye\r\n")
                return
            else:
                conn.send(b"-ERR no\r\n")
    return serve


def test_poplib_uidl_then_retr_by_number(fake_server: Callable[..., FakeServer]) -> None:
    first, second = Instance(**A), Instance(**B)  # type: ignore[arg-type]
    url_a = fake_server(pop3_server(first)).url("pop3")
    server_b = fake_server(pop3_server(second))

    def client(host: str, port: int) -> None:
        pop = poplib.POP3(host, port, timeout=5)
        pop.user("alice")
        pop.pass_("secret")
        listing = [line.split() for line in pop.uidl()[1]]
        newest = listing[-1][0].decode()  # the newest message, by its number
        pop.retr(int(newest))
        pop.uidl(newest)
        pop.dele(newest)
        pop.quit()

    from harness.transcript.recorder import to_yaml

    text = to_yaml(record(url_a, client), title="pop3", source=url_a)
    assert "USER $user" in text and "PASS $password" in text
    assert "RETR $msg1" in text and "(?P<msg1>" in text, text
    result = replay(text, server_b.url("pop3").replace("://", "://bob:pw@"))
    assert result.status == Status.PASS, (result.reason, text)
    assert [line for line in second.seen if line.startswith((b"RETR", b"DELE"))] == [
        b"RETR 3\r\n", b"DELE 3\r\n"]


def imap_server(inst: Instance) -> Callable[[FakeConnection], None]:
    def serve(conn: FakeConnection) -> None:
        uids = list(inst.uids)
        conn.send(b"* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5 UIDPLUS] ready\r\n")
        while line := conn.recv_line():
            inst.seen.append(line)
            tag, _, rest = line.strip().partition(b" ")
            words = rest.split(b" ")
            verb = words[0].upper()
            uid_command = verb == b"UID"
            if uid_command:
                verb, words = words[1].upper(), words[1:]
            if verb == b"AUTHENTICATE":
                conn.send(b"+ " + base64.b64encode(inst.challenge) + b"\r\n")
                ok = inst.cram_ok(conn.recv_line().strip())
                conn.send(tag + (b" OK done\r\n" if ok else b" NO bad\r\n"))
            elif verb == b"LOGIN":
                ok = [w.strip(b'"') for w in words[1:]] == [inst.user.encode(),
                                                            inst.password.encode()]
                conn.send(tag + (b" OK done\r\n" if ok else b" NO bad\r\n"))
            elif verb == b"SELECT":
                conn.send(b"* %d EXISTS\r\n* OK [UIDVALIDITY %d] ok\r\n* OK [UIDNEXT %d] n\r\n"
                          % (len(uids), inst.uidvalidity, uids[-1] + 1) + tag + b" OK [READ-WRITE] "
                          b"selected\r\n")
            elif verb == b"APPEND":
                size = int(rest[rest.rindex(b"{") + 1: rest.rindex(b"}")])
                conn.send(b"+ go\r\n")
                inst.seen.append(conn.recv_exact(size))
                conn.recv_line()
                uids.append(uids[-1] + 3)  # UIDs may skip: UIDNEXT is not the new UID
                conn.send(tag + b" OK [APPENDUID %d %d] done\r\n" % (inst.uidvalidity, uids[-1]))
            elif verb == b"SEARCH":
                conn.send(b"* SEARCH " + b" ".join(b"%d" % u for u in uids) + b"\r\n"
                          + tag + b" OK done\r\n")
            elif verb in (b"FETCH", b"STORE") and uid_command:
                known = int(words[1]) in uids
                if known:
                    seq = uids.index(int(words[1])) + 1
                    conn.send(b"* %d FETCH (UID %s FLAGS ())\r\n" % (seq, words[1]))
                conn.send(tag + (b" OK done\r\n" if known else b" NO no such UID\r\n"))
            elif verb == b"LOGOUT":
                conn.send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                return
            else:
                conn.send(tag + b" OK done\r\n")
    return serve


@pytest.mark.parametrize("login", ["LOGIN", "CRAM-MD5"])
def test_imaplib_append_uids_and_search(fake_server: Callable[..., FakeServer],
                                        login: str) -> None:
    first, second = Instance(**A), Instance(**B)  # type: ignore[arg-type]
    url_a = fake_server(imap_server(first)).url("imap")
    server_b = fake_server(imap_server(second))

    def client(host: str, port: int) -> None:
        imap = imaplib.IMAP4(host, port, timeout=5)
        if login == "LOGIN":
            imap.login("alice", "secret")
        else:
            imap.login_cram_md5("alice", "secret")
        imap.select("INBOX")
        _, data = imap.append("INBOX", "", None, b"Subject: $5 off\r\n\r\n{3}\r\n")
        appended = data[0].split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]").decode()
        assert imap.uid("FETCH", appended, "(FLAGS)")[0] == "OK"
        first_uid = imap.uid("SEARCH", "ALL")[1][0].split()[0].decode()
        assert imap.uid("STORE", first_uid, "+FLAGS", r"(\Seen)")[0] == "OK"
        imap.logout()

    from harness.transcript.recorder import to_yaml

    text = to_yaml(record(url_a, client), title="imap", source=url_a)
    assert "APPEND INBOX {literal}" in text and "$$5 off" in text
    assert "UID FETCH $uid1 (FLAGS)" in text and "UID STORE $uid2 +FLAGS" in text, text
    assert "(?P<uid2>" in text and ("send_raw: \"$cram_md5\\r\\n\"" in text) == (
        login == "CRAM-MD5")
    result = replay(text, server_b.url("imap").replace("://", "://bob:pw@"))
    assert result.status == Status.PASS, (result.reason, text)
    sent = b"".join(second.seen)
    assert b"UID FETCH 313 (FLAGS)" in sent and b"UID STORE 300 +FLAGS" in sent
    assert b"Subject: $5 off\r\n\r\n{3}\r\n" in second.seen


def test_client_literals_import_from_logs(imap_fake: FakeServer) -> None:
    from pathlib import Path

    from harness.transcript import load_text
    from harness.transcript.importers import import_text

    rfc = ("S: * OK ready\nC: A003 APPEND saved-messages (\\Seen) {21}\nS: + Ready\n"
           "C: Subject: hi\nC: \nC: body\nC:\nS: A003 OK APPEND completed\n")
    telnet = ("$ telnet h 143\n* OK ready\na1 APPEND INBOX {21}\n+ Ready\nSubject: hi\n\n"
              "body\n\na1 OK done\na2 LOGOUT\n* BYE\na2 OK bye\n")
    for log in (rfc, telnet):
        text = import_text(log, source="x")
        [case] = load_text(text, Path("x.yaml"))
        send = case.steps[1].action
        assert send.lines[0].endswith("{literal}")  # type: ignore[union-attr]
        assert send.literals == ("Subject: hi\r\n\r\nbody\r\n",), text  # type: ignore[union-attr]
        assert case.steps[1].expects[0].tag == "OK"
    assert replay(import_text(rfc, source="x"), imap_fake.url("imap")).status == Status.PASS


def test_cram_md5_and_sasl_variables_follow_rfc_2195_and_4616() -> None:
    from harness.transcript.computed import cram_md5, credential_variables

    challenge = base64.b64encode(b"<1896.697170952@postoffice.reston.mci.net>").decode()
    assert cram_md5(challenge, "tim", "tanstaaftanstaaf") == \
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"  # RFC 2195 §2's example
    assert cram_md5("not base64!", "tim", "x") is None
    assert credential_variables("tim", "tanstaaftanstaaf")["sasl_plain"] == \
        base64.b64encode(b"\0tim\0tanstaaftanstaaf").decode()


def test_generalize_turns_volatile_values_into_patterns() -> None:
    import re

    from harness.transcript.volatile import generalize

    one = "ready Thu, 01 Jan 2026 10:00:00 +0000 <a1b2@x> 2 msgs id=Q1X2Y3Z4 $9"
    two = "ready Fri, 2 Jan 2026 23:59:01 -0500 (EST) <zz@y> 17 msgs id=ABC $9"
    pattern = generalize(one)
    assert re.fullmatch(pattern, one) and re.fullmatch(pattern, two)
    assert not re.fullmatch(pattern, two.replace("ready", "steady"))
    assert "$" not in pattern  # a dollar would read as a variable
