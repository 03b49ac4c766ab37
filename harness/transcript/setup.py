"""Start states, fixtures and capability probes: bringing a connection to where a case starts.

``connected``      the TCP (or implicit-TLS) connection, nothing read yet
``greeted``        greeting read; STARTTLS/STLS done if the target's scheme asks for it;
                   SMTP/LMTP: EHLO/LHLO done
``authenticated``  greeted, then logged in as the connection's user (SMTP AUTH PLAIN,
                   POP3 USER/PASS, IMAP LOGIN)
``maildrop``       POP3: the user's maildrop emptied, N fixture messages delivered by SMTP
                   (the profile's smtp endpoint), then authenticated. A POP3 connection
                   with ``messages: N`` and another start state gets the same maildrop.
``selected``       IMAP: authenticated, a fresh mailbox created with N fixture messages
                   appended, and selected ($mailbox holds its name)

Anything that goes wrong here is a :class:`SetupError`: the case could not start, which
is an error of the run, not a verdict on the step the case is about.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid

from ..client import ClientError, Session, SessionLog
from ..target import Profile, Target, TlsMode, User
from .model import ConnectionSpec

_POLL = 0.1


class SetupError(Exception):
    pass


class NoEndpoint(SetupError):
    """The target has no endpoint for this protocol: the case is skipped, not failed."""


def endpoint_of(profile: Profile, spec: ConnectionSpec) -> Target:
    """The endpoint a connection uses: the one its spec names, or its protocol's own."""
    if spec.endpoint is None:
        target = profile.endpoint_for(spec.protocol)
        if target is None:
            raise NoEndpoint(f"the target has no {spec.protocol} endpoint")
        return target
    target = profile.endpoints.get(spec.endpoint)
    if target is None:
        raise NoEndpoint(f"the target has no {spec.endpoint!r} endpoint (a {spec.protocol} "
                         "server configured as specs/README.md describes under 'Named "
                         "endpoints'; name it in the profile's endpoints to run this case)")
    if target.protocol != spec.protocol:
        raise SetupError(f"endpoint {spec.endpoint!r} speaks {target.protocol}, the "
                         f"connection {spec.protocol}")
    return target


def open_connection(profile: Profile, spec: ConnectionSpec, *, log: SessionLog, name: str,
                    values: dict[str, str]) -> Session:
    target = endpoint_of(profile, spec)
    user = profile.user(spec.user)
    if spec.start in ("authenticated", "maildrop", "selected") and user is None:
        raise SetupError(f"start {spec.start!r} needs user {spec.user}: give user:password@ in "
                         "the target URL or users in the profile")
    if spec.protocol == "pop3" and (spec.start == "maildrop" or spec.messages):
        # "N messages waiting in the maildrop" also holds for a case that logs in itself.
        if user is None:
            raise SetupError(f"fixture messages need user {spec.user} in the profile")
        prepare_maildrop(profile, user, spec.messages, log)
    session = Session.open(target, log=log, name=name)
    if spec.start == "connected":
        return session
    try:
        greet(session)
        if spec.start in ("authenticated", "maildrop", "selected"):
            assert user is not None
            login(session, user)
        if spec.start == "selected":
            assert user is not None
            values["mailbox"] = select_fixture_mailbox(session, user, spec.messages)
    except (ClientError, SetupError) as exc:
        session.close()
        raise SetupError(f"could not reach start state {spec.start!r}: {exc}") from None
    return session


def greet(session: Session) -> None:
    """Read the greeting, upgrade to TLS if the target's scheme says so, then EHLO/LHLO."""
    protocol = session.protocol
    if protocol in ("smtp", "lmtp"):
        _expect(session.read_smtp().code == 220, "greeting is not 220")
    elif protocol == "pop3":
        _expect(session.read_pop3().ok, "greeting is not +OK")
    else:
        _expect(session.read_imap().status in ("OK", "PREAUTH"), "greeting is not OK")
    if session.target.tls == TlsMode.STARTTLS:
        starttls(session)
    if protocol in ("smtp", "lmtp"):
        hello(session)


def hello(session: Session) -> dict[str, str]:
    verb = b"LHLO " if session.protocol == "lmtp" else b"EHLO "
    reply = session.smtp(verb + session.target.helo.encode())
    _expect(reply.code == 250, f"{verb.decode().strip()} answered {reply.code}")
    return reply.keywords()


def starttls(session: Session) -> None:
    if session.protocol in ("smtp", "lmtp"):
        if session.protocol == "smtp":
            hello(session)
        ok = session.smtp(b"STARTTLS").code == 220
    elif session.protocol == "pop3":
        ok = session.pop3(b"STLS").ok
    else:
        ok = session.imap(b"STARTTLS")[1].status == "OK"
    _expect(ok, "STARTTLS was refused")
    session.start_tls()


def login(session: Session, user: User) -> None:
    if session.protocol == "smtp":
        token = base64.b64encode(f"\0{user.name}\0{user.password}".encode()).decode()
        reply = session.smtp(f"AUTH PLAIN {token}".encode())
        _expect(reply.code == 235, f"AUTH PLAIN answered {reply.code}")
    elif session.protocol == "pop3":
        _expect(session.pop3(f"USER {user.name}".encode()).ok, "USER refused")
        _expect(session.pop3(f"PASS {user.password}".encode()).ok, "PASS refused")
    elif session.protocol == "imap":
        command = f"LOGIN {_quoted(user.name)} {_quoted(user.password)}".encode()
        _expect(session.imap(command)[1].status == "OK", "LOGIN refused")
    else:
        raise SetupError(f"no login for {session.protocol}")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise SetupError(message)


def fixture_message(number: int, sender: str, recipient: str) -> bytes:
    """A small RFC 5322 message; its Subject and body say which fixture it is."""
    return (
        f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: fixture {number}\r\n"
        f"Message-ID: <fixture-{number}-{uuid.uuid4().hex}@harness.example.test>\r\n"
        f"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\nThis is fixture message {number}.\r\n"
    ).encode()


def prepare_maildrop(profile: Profile, user: User, count: int, log: SessionLog) -> None:
    """Empty the user's POP3 maildrop, deliver ``count`` messages by SMTP, wait for them."""
    pop3 = profile.endpoint_for("pop3")
    assert pop3 is not None
    try:
        with Session.open(pop3, log=log, name="setup") as session:
            greet(session)
            login(session, user)
            stat = session.pop3(b"STAT")
            existing = int(stat.line.split()[1]) if stat.ok else 0
            for number in range(1, existing + 1):
                session.pop3(f"DELE {number}".encode())
            session.pop3(b"QUIT")
        if count:
            deliver(profile, user, count, log)
            wait_for_messages(pop3, user, count, log)
    except (ClientError, ValueError, IndexError) as exc:
        raise SetupError(f"could not prepare the maildrop: {exc}") from None


def deliver(profile: Profile, user: User, count: int, log: SessionLog) -> None:
    smtp = profile.endpoint_for("smtp")
    if smtp is None:
        raise SetupError("fixture messages are delivered by SMTP: the profile needs an smtp "
                         "endpoint")
    with Session.open(smtp, log=log, name="setup") as session:
        greet(session)
        for number in range(1, count + 1):
            for line in (f"MAIL FROM:<{user.address}>", f"RCPT TO:<{user.address}>", "DATA"):
                reply = session.smtp(line.encode())
                _expect(reply.code in (250, 354), f"{line} answered {reply.code}")
            message = fixture_message(number, user.address, user.address)
            session.send(dot_stuff(message) + b".\r\n")
            reply = session.read_smtp()
            _expect(reply.code == 250, f"fixture {number} refused: {reply.code}")
        session.smtp(b"QUIT")


def wait_for_messages(pop3_target: Target, user: User, count: int, log: SessionLog, *,
                      timeout: float = 10.0, name: str = "setup") -> None:
    """Poll the maildrop (a fresh POP3 session each time) until it holds ``count`` messages.

    An MTA's 250 to DATA accepts responsibility (RFC 5321 §6.1); one that queues puts the
    message in the maildrop a moment later.
    """
    deadline = time.monotonic() + timeout
    while True:
        with Session.open(pop3_target, log=log, name=name) as session:
            greet(session)
            login(session, user)
            stat = session.pop3(b"STAT")
            session.pop3(b"QUIT")
        held = int(stat.line.split()[1]) if stat.ok else 0
        if held >= count:
            return
        if time.monotonic() > deadline:
            raise SetupError(f"{count} message(s) did not arrive in the maildrop of "
                             f"{user.name} within {timeout:g} s (it holds {held})")
        time.sleep(_POLL)


def select_fixture_mailbox(session: Session, user: User, count: int) -> str:
    mailbox = f"harness-{uuid.uuid4().hex[:12]}"
    _expect(session.imap(f"CREATE {mailbox}".encode())[1].status == "OK", "CREATE refused")
    for number in range(1, count + 1):
        message = fixture_message(number, user.address, user.address)
        tag = session.next_tag()
        session.send_line(f"{tag} APPEND {mailbox} {{{len(message)}}}".encode())
        _expect(session.read_imap().kind == "continuation", "APPEND got no continuation")
        session.send(message + b"\r\n")
        while (response := session.read_imap()).tag != tag:
            pass
        _expect(response.status == "OK", f"APPEND of fixture {number} refused")
    _expect(session.imap(f"SELECT {mailbox}".encode())[1].status == "OK", "SELECT refused")
    return mailbox


def dot_stuff(message: bytes) -> bytes:
    """CRLF line ends, a leading "." doubled (RFC 5321 §4.5.2), and a final CRLF ensured."""
    lines = re.split(rb"\r\n|\n", message)
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def apop_digest(greeting: bytes, password: str) -> str | None:
    """RFC 1939 §7: MD5 of the greeting's timestamp and the secret, or None without one."""
    found = re.search(rb"<[^<>]*@[^<>]*>", greeting)
    if found is None:
        return None
    return hashlib.md5(found.group(0) + password.encode(), usedforsecurity=False).hexdigest()


def probe_capabilities(profile: Profile, protocol: str, log: SessionLog) -> frozenset[str]:
    """What the endpoint advertises, before and after its TLS upgrade, upper-cased.

    SMTP: EHLO keywords plus AUTH=<mech>; POP3: CAPA tags plus SASL=<mech>; IMAP:
    CAPABILITY atoms. A profile may state them instead (``capabilities:``).
    """
    if protocol in profile.capabilities:
        return frozenset(profile.capabilities[protocol])
    target = profile.endpoint_for(protocol)
    if target is None:
        raise NoEndpoint(f"the target has no {protocol} endpoint")
    found: set[str] = set()
    try:
        with Session.open(target, log=log, name="probe") as session:
            if protocol in ("smtp", "lmtp"):
                _expect(session.read_smtp().code == 220, "greeting is not 220")
                found |= _smtp_caps(hello(session))
                if target.tls == TlsMode.STARTTLS:
                    _expect(session.smtp(b"STARTTLS").code == 220, "STARTTLS refused")
                    session.start_tls()
                    found |= _smtp_caps(hello(session))
                session.smtp(b"QUIT")
            elif protocol == "pop3":
                _expect(session.read_pop3().ok, "greeting is not +OK")
                found |= _pop3_caps(session)
                if target.tls == TlsMode.STARTTLS:
                    _expect(session.pop3(b"STLS").ok, "STLS refused")
                    session.start_tls()
                    found |= _pop3_caps(session)
                session.pop3(b"QUIT")
            else:
                session.read_imap()
                found |= _imap_caps(session)
                if target.tls == TlsMode.STARTTLS:
                    _expect(session.imap(b"STARTTLS")[1].status == "OK", "STARTTLS refused")
                    session.start_tls()
                    found |= _imap_caps(session)
                session.imap(b"LOGOUT")
    except ClientError as exc:
        raise SetupError(f"capability probe failed: {exc}") from None
    return frozenset(found)


def _smtp_caps(keywords: dict[str, str]) -> set[str]:
    found = set(keywords)
    found |= {f"AUTH={mech.upper()}" for mech in keywords.get("AUTH", "").split()}
    return found


def _pop3_caps(session: Session) -> set[str]:
    response = session.pop3(b"CAPA")
    if not response.ok:
        return set()
    found = set()
    for line in response.body or ():
        words = line.decode("ascii", "replace").upper().split()
        if words:
            found.add(words[0])
            if words[0] == "SASL":
                found |= {f"SASL={mech}" for mech in words[1:]}
    return found


def _imap_caps(session: Session) -> set[str]:
    untagged, _ = session.imap(b"CAPABILITY")
    found = set()
    for response in untagged:
        words = response.data.upper().split()
        if words and words[0] == "CAPABILITY":
            found |= set(words[1:])
    return found
