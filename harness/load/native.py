"""The native engine: asyncio protocols (uvloop where installed), one process per core.

Closed loop (``rate`` 0): every user starts its next message as soon as the last one is
done, as fast as the server allows. Open loop (``rate`` > 0): a pacer issues tickets at
the target rate whatever the server does, and a message's latency is measured from its
ticket's scheduled time, so a slow server shows as latency instead of silently lowering
the offered load (coordinated omission). Tickets still unstarted at the deadline are
counted as ``unsent``: the generator could not keep up with the rate it was asked for.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..target import Target, is_loopback, parse_target
from .config import LoadConfig
from .message import IdSource, MessageTemplate
from .native_pop3 import AsyncPop3, Pop3Error
from .native_smtp import WAIT, Job, SmtpUser, envelope
from .profile import Distribution, Profile, load_profile
from .results import ResultRow, from_tuple

Row = tuple[float, str, float, int, str, str, str]  # a ResultRow's fields, made cheaply

_PROGRESS_INTERVAL = 0.5


@dataclass
class Progress:
    """What happened since the previous report (primary requests only)."""

    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)


ProgressFn = Callable[[Progress], None]


@dataclass
class EngineResult:
    rows: list[ResultRow]
    started: float  # Unix time
    ended: float
    unsent: int = 0  # open loop: tickets the deadline caught before they started
    processes: int = 1


def wants_auth(target: Target) -> bool:
    """AUTH PLAIN (RFC 4954) whenever the SMTP target URL carries a user
    (submission://alice:secret@...). A profile's ``auth: true`` only makes a URL without
    one an error (:func:`check_auth`): there is nothing to authenticate with."""
    return target.username is not None


def check_auth(profile: Profile, target: Target) -> None:
    if profile.smtp.auth and target.username is None:
        raise ValueError(f"profile {profile.name} asks for AUTH: give the target URL a "
                         "user:password@")


def pick_recipients(config: LoadConfig, profile: Profile, rng: random.Random) -> list[str]:
    """The first configured recipient always, then distinct others up to the sampled count.

    Delivery accounting watches the first recipient's mailbox, so every message lands there.
    """
    count = profile.smtp.recipients.sample(rng)
    others = list(config.recipients[1:])
    extra = rng.sample(others, min(count - 1, len(others))) if count > 1 else []
    return [config.recipients[0], *extra]


class _ProcessRun:
    def __init__(self, config: LoadConfig, index: int, report: ProgressFn | None) -> None:
        self.config = config
        self.profile = load_profile(config.profile)
        self.target: Target = parse_target(config.target)
        self.rng = random.Random(config.seed)
        self.ids = IdSource(config.run_id, index)
        self.report = report
        self.rows: list[Row] = []
        self.remaining = config.messages or -1  # -1: no message budget
        self.delta = Progress()
        self.open_loop = config.rate > 0
        self.tickets: deque[float] = deque()  # open loop: issued, not yet claimed
        self.waiters: deque[Callable[[float | None], None]] = deque()
        self.pacing_over = False
        self.deadline = 0.0
        self.primary = "smtp:message" if config.protocol == "smtp" else "pop3:session"
        self.connection = config.connection or self.profile.smtp.connection
        self._templates: dict[tuple[int, tuple[str, ...], int], MessageTemplate] = {}
        self._envelopes: dict[tuple[str, ...], bytes] = {}
        sizes, recipients = self.profile.smtp.sizes, self.profile.smtp.recipients
        # Fixed distributions (the common case) skip sampling on the hot path.
        self._size = sizes.buckets[0].low if _fixed(sizes) else 0
        self._one_recipient = (config.recipients[0],) if _fixed(recipients) and \
            recipients.buckets[0].low <= 1 else None

    # -- bookkeeping ----------------------------------------------------------------------

    def record(self, name: str, latency_ms: float, size: int, code: str, error: str = "",
               message_id: str = "") -> None:
        self.rows.append((time.time(), name, latency_ms, size, code, error, message_id))
        if name == self.primary:
            if error:
                self.delta.errors += 1
            else:
                self.delta.ok += 1
                self.delta.latencies.append(latency_ms)

    def claim_now(self) -> float | str | None:
        """The scheduled start (monotonic) of the next message, None: time to stop, or
        WAIT (open loop, no ticket yet: :meth:`wait` for one)."""
        now = time.monotonic()
        if now >= self.deadline:
            return None
        if self.open_loop:
            if self.tickets:
                return self.tickets.popleft()
            return None if self.pacing_over else WAIT
        if self.remaining == 0:
            return None
        self.remaining -= 1
        return now

    def wait(self, waiter: Callable[[float | None], None]) -> None:
        self.waiters.append(waiter)

    async def claim(self) -> float | None:
        scheduled = self.claim_now()
        if scheduled != WAIT:
            return scheduled  # type: ignore[return-value]
        future: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self.wait(lambda value: None if future.done() else future.set_result(value))
        return await future

    async def pace(self) -> None:
        """Open loop: one ticket every 1/rate seconds until the budget or the deadline."""
        began, issued = time.monotonic(), 0
        while self.remaining != 0:
            due = began + issued / self.config.rate
            if due >= self.deadline:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            issued += 1
            self.remaining -= 1
            if self.waiters:
                self.waiters.popleft()(due)
            else:
                self.tickets.append(due)
        if self.remaining != 0:
            await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        self.pacing_over = True
        while self.waiters:
            self.waiters.popleft()(None)

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(_PROGRESS_INTERVAL)
            self.flush()

    def flush(self) -> None:
        if self.report is not None and (self.delta.ok or self.delta.errors):
            self.report(self.delta)
        self.delta = Progress()

    # -- SMTP -----------------------------------------------------------------------------

    def make_job(self, scheduled: float) -> Job:
        """The next message: a fresh id, its octets patched into a precomputed template."""
        message_id = self.ids.next()
        recipients = self._one_recipient or tuple(pick_recipients(self.config, self.profile,
                                                                  self.rng))
        size = self._size or _bucket(self.profile.smtp.sizes.sample(self.rng))
        key = (size, recipients, len(message_id))
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > 512:
                self._templates.clear()
            template = self._templates[key] = MessageTemplate(
                size, self.config.sender, list(recipients), len(message_id))
        lines = self._envelopes.get(recipients)
        if lines is None:
            lines = self._envelopes[recipients] = envelope(self.config.sender, list(recipients))
        return (message_id, lines, template.render(message_id), scheduled, len(recipients))

    def done(self, job: Job, code: str, error: str) -> None:
        latency = (time.monotonic() - job[3]) * 1000
        self.rows.append((time.time(), "smtp:message", latency, len(job[2]), code, error,
                          job[0]))
        delta = self.delta
        if error:
            delta.errors += 1
        else:
            delta.ok += 1
            delta.latencies.append(latency)

    def smtp_user(self) -> SmtpUser:
        workload = self.profile.smtp
        think = workload.think_time
        return SmtpUser(
            self, self.target,
            limit=1 if self.connection == "new" else max(1, workload.messages_per_connection),
            pipelining=workload.pipelining == "auto", starttls=workload.starttls,
            auth=wants_auth(self.target),
            think=None if think.high <= 0 else (lambda: think.sample(self.rng)))

    async def watchdog(self, users: list[SmtpUser]) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            for user in users:
                user.check(now)

    def account(self, number: int) -> Target:
        """The POP3 login of user ``number``: round robin over the configured accounts."""
        if not self.config.accounts:
            return self.target
        user, _, password = self.config.accounts[number % len(self.config.accounts)].partition(":")
        return replace(self.target, username=user, password=password)

    async def pop3_user(self, number: int) -> None:
        workload = self.profile.pop3
        target = self.account(number)
        while (scheduled := await self.claim()) is not None:
            error, status = "", "+OK"
            session: AsyncPop3 | None = None
            try:
                async with asyncio.timeout(self.target.step_timeout * 4):
                    begun = time.monotonic()
                    session = await AsyncPop3.connect(target)
                    self._timed("pop3:connect", begun, 0)
                    await self._pop3_session(session, target, workload.retr, workload.dele)
            except Pop3Error as exc:
                error, status = str(exc), exc.status
                self.record(f"pop3:{str(exc).split()[0]}", 0.0, 0, status, error)
            except TimeoutError:
                error, status = "session timed out", ""
            finally:
                if session is not None:
                    session.abort()
            latency = (time.monotonic() - scheduled) * 1000
            self.record("pop3:session", latency, 0, status, error)
            if error and not status:
                await asyncio.sleep(0.05)
            await asyncio.sleep(workload.think_time.sample(self.rng))

    def _timed(self, name: str, begun: float, size: int) -> None:
        self.record(name, (time.monotonic() - begun) * 1000, size, "+OK")

    async def _pop3_session(self, session: AsyncPop3, target: Target, retr: int,
                            dele: bool) -> None:
        if target.username is None:
            raise Pop3Error("USER", "", "a POP3 target needs user:password@ or --pop3-user")
        begun = time.monotonic()
        await session.command(b"USER " + target.username.encode())
        await session.command(b"PASS " + (target.password or "").encode())
        self._timed("pop3:login", begun, 0)
        begun = time.monotonic()
        stat = await session.command(b"STAT")
        self._timed("pop3:STAT", begun, 0)
        count = int(stat.line.split()[1]) if len(stat.line.split()) > 1 else 0
        begun = time.monotonic()
        listing = await session.command(b"LIST")
        self._timed("pop3:LIST", begun, len(listing.raw))
        numbers = self.rng.sample(range(1, count + 1), min(retr, count)) if count else []
        for number in numbers:
            begun = time.monotonic()
            response = await session.command(b"RETR %d" % number)
            self._timed("pop3:RETR", begun, len(response.raw))
            if dele:
                begun = time.monotonic()
                await session.command(b"DELE %d" % number)
                self._timed("pop3:DELE", begun, 0)
        begun = time.monotonic()
        await session.command(b"QUIT")
        self._timed("pop3:QUIT", begun, 0)

    # -- the run --------------------------------------------------------------------------

    async def run(self) -> None:
        config = self.config
        self.deadline = time.monotonic() + config.duration
        helpers = [asyncio.create_task(self.progress())]
        if self.open_loop:
            helpers.append(asyncio.create_task(self.pace()))
        if config.protocol == "smtp":
            await self._run_smtp(helpers)
        else:
            await self._run_pop3()
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        self.flush()

    async def _spawned(self, start: Callable[[int], None]) -> None:
        for number in range(self.config.users):
            if self.config.spawn_rate > 0 and number:
                await asyncio.sleep(1 / self.config.spawn_rate)
            if time.monotonic() >= self.deadline:
                break
            start(number)

    async def _run_smtp(self, helpers: list[asyncio.Task[None]]) -> None:
        users: list[SmtpUser] = []

        def start(_: int) -> None:
            users.append(self.smtp_user())
            users[-1].start()

        helpers.append(asyncio.create_task(self.watchdog(users)))
        await self._spawned(start)
        remaining = self.deadline + self.config.grace - time.monotonic()
        if users:
            await asyncio.wait([u.finished for u in users], timeout=max(remaining, 0.1))
        for user in users:
            if not user.finished.done():
                user.abort("cut off: still in flight at the end of the grace period")
        await asyncio.sleep(0)  # let aborted transports report their loss

    async def _run_pop3(self) -> None:
        users: list[asyncio.Task[None]] = []
        await self._spawned(lambda number: users.append(
            asyncio.create_task(self.pop3_user(number))))
        remaining = self.deadline + self.config.grace - time.monotonic()
        if users:
            _, late = await asyncio.wait(users, timeout=max(remaining, 0.1))
            for task in late:
                task.cancel()
            await asyncio.gather(*users, return_exceptions=True)


def _fixed(distribution: Distribution) -> bool:
    return len(distribution.buckets) == 1 and \
        distribution.buckets[0].low == distribution.buckets[0].high


def _bucket(size: int) -> int:
    """Sizes rounded to 64 steps per doubling (<= 1.6 %): few templates, close sizes."""
    step = 1 << max(0, size.bit_length() - 7)
    return max(1, (size + step // 2) // step * step)


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


@dataclass
class _Share:
    rows: list[Row]
    unsent: int
    started: float  # Unix time the load began in this process
    ended: float


def run_process(config: LoadConfig, index: int = 0, report: ProgressFn | None = None,
                ready: Callable[[], None] | None = None) -> _Share:
    """One process's share of a run, in this process. ``ready`` blocks until all go."""
    run = _ProcessRun(config, index, report)
    with _event_loop_runner() as runner:
        runner.get_loop()
        if ready is not None:
            ready()
        started = time.time()
        runner.run(run.run())
    unsent = len(run.tickets)
    return _Share(run.rows, unsent, started, time.time())


def _child(config_json: str, index: int, channel: multiprocessing.Queue[Any],
           go: Any) -> None:
    def report(delta: Progress) -> None:
        channel.put(("progress", index, delta.ok, delta.errors, delta.latencies))

    def ready() -> None:
        channel.put(("ready", index))
        go.wait(60)

    try:
        share = run_process(LoadConfig.from_json(config_json), index, report, ready)
        channel.put(("rows", index, share.rows, share.unsent, share.ended))
    except BaseException as exc:
        channel.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        raise


def default_processes(target: str) -> int:
    """Every core for a remote target; half of them when the server under test runs on this
    machine, since it needs the rest (measured on 2 cores against smtp-sink: one process
    sends 12-13k new-connection msg/s where two, competing with the sink, send 10k)."""
    cores = os.cpu_count() or 1
    return max(1, cores // 2) if is_loopback(parse_target(target).host) else cores


def run_native(config: LoadConfig, processes: int = 1,
               on_progress: ProgressFn | None = None) -> EngineResult:
    """Run the load, split over ``processes`` processes (1: in this process).

    The processes start, build what they need, and then begin together: ``started`` is
    that moment, not the time it took to spawn them.
    """
    processes = max(1, min(processes, config.users))
    if processes == 1:
        share = run_process(config, 0, on_progress)
        rows: list[ResultRow] = [ResultRow(*row) for row in share.rows]
        return EngineResult(rows, share.started, share.ended, share.unsent, 1)
    # spawn, not fork: the caller may hold threads (reference servers, progress printers).
    context = multiprocessing.get_context("spawn")
    channel = context.Queue()
    go = context.Event()
    children = [context.Process(target=_child, args=(config.share(i, processes).to_json(), i,
                                                     channel, go), daemon=True)
                for i in range(processes)]
    for child in children:
        child.start()
    rows = []
    unsent, ready, finished, failures = 0, 0, 0, []
    started, ended = time.time(), 0.0
    hard_stop = time.monotonic() + config.duration + config.grace + 60  # spawn takes a while
    try:
        while finished < processes and time.monotonic() < hard_stop:
            try:
                message = channel.get(timeout=0.5)
            except queue.Empty:
                if all(not c.is_alive() for c in children):
                    break
                continue
            if message[0] == "ready":
                ready += 1
                if ready == processes:
                    started = time.time()
                    go.set()
            elif message[0] == "progress" and on_progress is not None:
                on_progress(Progress(message[2], message[3], message[4]))
            elif message[0] == "rows":
                rows.extend(from_tuple(values) for values in message[2])
                unsent += message[3]
                ended = max(ended, message[4])
                finished += 1
            elif message[0] == "failed":
                failures.append(message[2])
                finished += 1
                go.set()
    finally:
        go.set()
        for child in children:
            child.join(timeout=5)
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, 9)
                child.join(timeout=5)
    if failures:
        raise RuntimeError(f"{len(failures)} engine process(es) failed: {failures[0]}")
    rows.sort(key=lambda r: r.timestamp)
    return EngineResult(rows, started, ended or time.time(), unsent, processes)
