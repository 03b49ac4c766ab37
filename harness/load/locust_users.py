"""Locust users for SMTP, POP3 and YAML transcripts, driving :class:`harness.client.Session`.

Imports locust (and so gevent's monkey-patching): import this module only from
:mod:`.locustfile`, which runs in a locust process of its own. Each request is reported
through ``environment.events.request.fire`` (locust's documented way for non-HTTP users),
with the reply code and message id in ``context`` so :mod:`.locustfile` can turn it into
the same :class:`~harness.load.results.ResultRow` the native engine writes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import time
from dataclasses import replace
from itertools import count, cycle
from typing import Any

import gevent
import gevent.queue
from locust import User, task
from locust.exception import StopUser

from ..client import ClientError, Session, SmtpReply
from ..target import TlsMode, parse_target, profile_from_target
from .config import LoadConfig
from .message import IdSource, for_data, make_message
from .native import pick_recipients, wants_auth
from .profile import load_profile

CONFIG = LoadConfig.from_json(os.environ["MAILHARNESS_LOAD_CONFIG"])
PROFILE = load_profile(CONFIG.profile)
TARGET = parse_target(CONFIG.target)
OPEN_LOOP = CONFIG.rate > 0
_user_numbers = count(1)


class Budget:
    """This process's message budget (``MAILHARNESS_BUDGET``; 0 or unset: unlimited, -1).
    A distributed worker gets its exact share from the master instead (``locustfile``)."""

    remaining = int(os.environ.get("MAILHARNESS_BUDGET", "0")) or -1

    @classmethod
    def take(cls) -> bool:
        if cls.remaining == 0:
            return False
        cls.remaining -= 1
        return True


class Pacer:
    """Open loop (``--rate``): one token bucket per process that every user draws from.

    A greenlet issues an arrival every 1/rate seconds whatever the server does (and takes
    the budget as it issues); any free user takes the oldest. A slow reply thus delays one
    message, not the offered load, unlike per-user ``constant_throughput``, which loses
    every slot a slow reply spans. A message's latency runs from its scheduled arrival, so
    queueing shows as latency (no coordinated omission). Arrivals no user was free to take
    stay queued; those left at the end are reported as ``unsent``: raise ``--users`` to
    rate x latency (Little's law). In distributed mode each worker paces its share of the
    rate, sent by the master (``locustfile``).
    """

    rate = 0.0
    over = False  # the budget is spent: no more arrivals after the queued ones
    halted = False  # the run is stopping: no more arrivals at all
    tickets: gevent.queue.Queue[float] = gevent.queue.Queue()
    _greenlet: gevent.Greenlet | None = None

    @classmethod
    def start(cls, rate: float) -> None:
        cls.stop()
        cls.rate, cls.over, cls.halted = rate, False, False
        cls.tickets = gevent.queue.Queue()
        cls._greenlet = gevent.spawn(cls._issue)

    @classmethod
    def stop(cls) -> None:
        """The run is stopping: no more arrivals; the queued ones stay counted as unsent."""
        cls.halted = True
        if cls._greenlet is not None:
            cls._greenlet.kill(block=False)

    @classmethod
    def _issue(cls) -> None:
        began, issued = time.monotonic(), 0
        while Budget.take():
            due = began + issued / cls.rate
            gevent.sleep(max(0.0, due - time.monotonic()))
            cls.tickets.put(due)
            issued += 1
        cls.over = True

    @classmethod
    def take(cls) -> float | None:
        """The next arrival's scheduled time (monotonic); None once the budget is spent."""
        while not cls.halted:
            try:
                return cls.tickets.get(timeout=0.2)
            except gevent.queue.Empty:
                if cls.over:
                    return None
        return None

    @classmethod
    def backlog(cls) -> int:
        return cls.tickets.qsize()


_NO_TICKET = -1.0


class PacedUser(User):
    """Closed loop: a message as soon as the last is done (plus the profile's think time).
    Open loop: the user waits for the :class:`Pacer`'s next arrival in ``wait_time``,
    where locust may stop it at once."""

    abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ticket: float | None = _NO_TICKET

    def wait_time(self) -> float:
        if OPEN_LOOP:
            self._ticket = Pacer.take()
            return 0.0
        think = PROFILE.smtp.think_time if CONFIG.protocol == "smtp" else PROFILE.pop3.think_time
        return think.sample(random)

    def scheduled(self) -> float:
        """When this task was due (monotonic): its arrival, or now; StopUser when over."""
        if not OPEN_LOOP:
            if not Budget.take():
                raise StopUser()
            return time.monotonic()
        ticket = Pacer.take() if self._ticket == _NO_TICKET else self._ticket
        self._ticket = _NO_TICKET
        if ticket is None:
            raise StopUser()
        return ticket


class StepFailed(Exception):
    def __init__(self, step: str, code: str, text: str) -> None:
        super().__init__(f"{step} {code}: {text}" if code else f"{step}: {text}")
        self.code = code


def _expect(reply: SmtpReply, step: str, *codes: int) -> SmtpReply:
    if reply.code not in codes:
        text = reply.lines[0].decode("utf-8", "replace") if reply.lines else ""
        raise StepFailed(step, str(reply.code), text)
    return reply


class SmtpUser(PacedUser):
    """Messages from the profile's size and recipient distributions, over a new
    connection each or a reused one, with PIPELINING when offered, STARTTLS and AUTH
    when the profile or the target URL asks for them."""

    abstract = True
    def on_start(self) -> None:
        self.rng = random.Random(CONFIG.seed + os.getpid())
        self.ids = IdSource(CONFIG.run_id, f"{os.getpid()}-{next(_user_numbers)}")
        self.session: Session | None = None
        self.pipelining = False
        self.on_session = 0

    def on_stop(self) -> None:
        self._close()

    def _close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(ClientError):
                self.session.smtp(b"QUIT")
            self.session.close()
            self.session = None

    def _connect(self) -> Session:
        workload = PROFILE.smtp
        session = Session.open(TARGET)
        try:
            _expect(session.read_smtp(), "greeting", 220)
            self._ehlo(session)
            if workload.starttls or TARGET.tls == TlsMode.STARTTLS:
                _expect(session.smtp(b"STARTTLS"), "STARTTLS", 220)
                session.start_tls()
                self._ehlo(session)
            if wants_auth(TARGET):
                token = base64.b64encode(
                    b"\0" + (TARGET.username or "").encode() + b"\0"
                    + (TARGET.password or "").encode())
                _expect(session.smtp(b"AUTH PLAIN " + token), "AUTH", 235)
        except BaseException:
            session.close()
            raise
        self.on_session = 0
        return session

    def _ehlo(self, session: Session) -> None:
        reply = session.smtp(b"EHLO " + TARGET.helo.encode())
        if reply.code != 250:
            _expect(session.smtp(b"HELO " + TARGET.helo.encode()), "HELO", 250)
            self.pipelining = False
            return
        self.pipelining = PROFILE.smtp.pipelining == "auto" and "PIPELINING" in reply.keywords()

    def _transaction(self, session: Session, recipients: list[str], data: bytes) -> str:
        commands = [f"MAIL FROM:<{CONFIG.sender}>".encode(),
                    *(f"RCPT TO:<{r}>".encode() for r in recipients), b"DATA"]
        if self.pipelining:  # RFC 2920: the whole batch at once, then every reply
            session.send(b"\r\n".join(commands) + b"\r\n")
            replies = [session.read_smtp() for _ in commands]
        else:
            replies = []
            for command in commands:
                replies.append(session.smtp(command))
                if replies[0].code != 250:
                    break
        mail, data_reply = replies[0], replies[-1]
        refused = [r for r in replies[1:len(commands) - 1] if r.code not in (250, 251)]
        if mail.code != 250 or data_reply.code != 354:
            if self.pipelining and data_reply.code == 354:
                session.send(b".\r\n")  # a 354 despite the failure: end the data empty
                session.read_smtp()
            session.smtp(b"RSET")
            _expect(mail, "MAIL", 250)
            if refused:
                _expect(refused[0], "RCPT", 250)
            _expect(data_reply, "DATA", 354)
        session.send(data)
        _expect(session.read_smtp(), "end of data", 250)
        return f"{len(refused)} recipients refused ({refused[0].code})" if refused else ""

    @task
    def send_message(self) -> None:
        began = self.scheduled()
        workload = PROFILE.smtp
        message_id = self.ids.next()
        recipients = pick_recipients(CONFIG, PROFILE, self.rng)
        data = for_data(make_message(message_id, workload.sizes.sample(self.rng),
                                     CONFIG.sender, recipients))
        exception: Exception | None
        code, exception = "", None
        try:
            if self.session is None:
                self.session = self._connect()
            note = self._transaction(self.session, recipients, data)
            code = "250"
            exception = StepFailed("RCPT", "250", note) if note else None
        except StepFailed as exc:
            code, exception = exc.code, exc
        except ClientError as exc:
            exception = exc
            if self.session is not None:
                self.session.close()
            self.session = None
        elapsed = (time.monotonic() - began) * 1000
        self.environment.events.request.fire(
            request_type="SMTP", name="message", response_time=elapsed,
            response_length=len(data), exception=exception,
            context={"code": code, "message_id": message_id})
        self.on_session += 1
        if self.session is not None and (
                (CONFIG.connection or workload.connection) == "new"
                or self.on_session >= workload.messages_per_connection):
            self._close()


class Pop3User(PacedUser):
    """A POP3 session per task: login, STAT, LIST, RETR n (n from the profile), optional
    DELE, QUIT; each command one request, and the whole session one more."""

    abstract = True
    def on_start(self) -> None:
        self.rng = random.Random(CONFIG.seed + os.getpid())
        self.target = TARGET
        if CONFIG.accounts:  # one maildrop per session (RFC 1939 §8): spread the logins
            login = CONFIG.accounts[next(_user_numbers) % len(CONFIG.accounts)]
            user, _, password = login.partition(":")
            self.target = replace(TARGET, username=user, password=password)

    def _command(self, session: Session, line: bytes, name: str) -> Any:
        began = time.perf_counter()
        exception: Exception | None
        reply, exception = None, None
        try:
            reply = session.pop3(line)
            if not reply.ok:
                exception = StepFailed(name, reply.status, reply.line.decode("utf-8", "replace"))
        except ClientError as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="POP3", name=name, response_time=(time.perf_counter() - began) * 1000,
            response_length=len(reply.raw) if reply else 0, exception=exception,
            context={"code": reply.status if reply else ""})
        if exception is not None:
            raise exception
        return reply

    @task
    def session(self) -> None:
        began = self.scheduled()
        workload = PROFILE.pop3
        exception: Exception | None = None
        try:
            with Session.open(self.target) as session:
                greeting = session.read_pop3()
                if not greeting.ok:
                    raise StepFailed("greeting", greeting.status, "")
                user, password = self.target.username or "", self.target.password or ""
                self._command(session, b"USER " + user.encode(), "USER")
                self._command(session, b"PASS " + password.encode(), "PASS")
                stat = self._command(session, b"STAT", "STAT")
                total = int(stat.line.split()[1]) if len(stat.line.split()) > 1 else 0
                self._command(session, b"LIST", "LIST")
                for number in self.rng.sample(range(1, total + 1), min(workload.retr, total)):
                    self._command(session, b"RETR %d" % number, "RETR")
                    if workload.dele:
                        self._command(session, b"DELE %d" % number, "DELE")
                self._command(session, b"QUIT", "QUIT")
        except (ClientError, StepFailed) as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="POP3", name="session",
            response_time=(time.monotonic() - began) * 1000, response_length=0,
            exception=exception, context={"code": "" if exception else "+OK"})


class TranscriptUser(PacedUser):
    """Runs the cases of the YAML transcript ``MAILHARNESS_TRANSCRIPT`` one per task, in
    turn, through :mod:`harness.transcript`'s runner; each run is one request (and one
    message of the budget, one arrival of the open loop); a case that does not pass
    (nor is skipped) is a failure."""

    abstract = True

    def on_start(self) -> None:
        from ..transcript import Runner, load_file

        self.cases = cycle(load_file(os.environ["MAILHARNESS_TRANSCRIPT"]))
        self.runner = Runner(profile_from_target(TARGET))

    @task
    def run_case(self) -> None:
        from ..transcript import Status

        began = self.scheduled()
        case = next(self.cases)
        result = self.runner.run(case)
        failed = result.status not in (Status.PASS, Status.SKIP)
        self.environment.events.request.fire(
            request_type="TRANSCRIPT", name=case.id,
            response_time=(time.monotonic() - began) * 1000, response_length=0,
            exception=StepFailed(case.id, str(result.status), result.reason) if failed
            else None, context={"code": str(result.status)})
