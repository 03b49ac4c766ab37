"""The native engine: asyncio streams (uvloop where installed), one process per core.

Closed loop (``rate`` 0): every user starts its next message as soon as the last one is
done, as fast as the server allows. Open loop (``rate`` > 0): a pacer issues tickets at
the target rate whatever the server does, and a message's latency is measured from its
ticket's scheduled time, so a slow server shows as latency instead of silently lowering
the offered load (coordinated omission). Tickets still unstarted at the deadline are
counted as ``unsent``: the generator could not keep up with the rate it was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace

from ..target import Target, parse_target
from .config import LoadConfig
from .message import IdSource, for_data, make_message
from .native_pop3 import AsyncPop3, Pop3Error
from .native_smtp import AsyncSmtp, SmtpError
from .profile import Profile, load_profile
from .results import ResultRow, as_tuple, from_tuple

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
        self.rows: list[ResultRow] = []
        self.remaining = config.messages or -1  # -1: no message budget
        self.delta = Progress()
        self.unsent = 0
        self.tickets: asyncio.Queue[float | None] | None = None
        self.deadline = 0.0
        self.primary = "smtp:message" if config.protocol == "smtp" else "pop3:session"
        self.connection = config.connection or self.profile.smtp.connection

    # -- bookkeeping ----------------------------------------------------------------------

    def record(self, name: str, latency_ms: float, size: int, code: str, error: str = "",
               message_id: str = "") -> None:
        self.rows.append(ResultRow(time.time(), name, latency_ms, size, code, error, message_id))
        if name == self.primary:
            if error:
                self.delta.errors += 1
            else:
                self.delta.ok += 1
                self.delta.latencies.append(latency_ms)

    async def claim(self) -> float | None:
        """The scheduled start (monotonic) of the next message, or None: time to stop."""
        if time.monotonic() >= self.deadline:
            return None
        if self.tickets is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, self.deadline - time.monotonic())):
                    return await self.tickets.get()
            return None
        if self.remaining == 0:
            return None
        self.remaining -= 1
        return time.monotonic()

    async def pace(self) -> None:
        """Open loop: one ticket every 1/rate seconds until the budget or the deadline."""
        assert self.tickets is not None
        began, issued = time.monotonic(), 0
        while self.remaining != 0:
            due = began + issued / self.config.rate
            if due >= self.deadline:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            self.tickets.put_nowait(due)
            issued += 1
            self.remaining -= 1
        await asyncio.sleep(max(0.0, self.deadline - time.monotonic()))
        self.unsent = self.tickets.qsize()
        for _ in range(self.config.users):
            self.tickets.put_nowait(None)

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(_PROGRESS_INTERVAL)
            self.flush()

    def flush(self) -> None:
        if self.report is not None and (self.delta.ok or self.delta.errors):
            self.report(self.delta)
        self.delta = Progress()

    # -- users ----------------------------------------------------------------------------

    async def smtp_user(self) -> None:
        workload = self.profile.smtp
        session: AsyncSmtp | None = None
        on_session = 0
        try:
            while (scheduled := await self.claim()) is not None:
                message_id = self.ids.next()
                recipients = pick_recipients(self.config, self.profile, self.rng)
                data = for_data(make_message(message_id, workload.sizes.sample(self.rng),
                                             self.config.sender, recipients))
                code, error = "", ""
                try:
                    async with asyncio.timeout(self.target.step_timeout):
                        if session is None:
                            session = await AsyncSmtp.connect(
                                self.target, starttls=workload.starttls, auth=workload.auth)
                            on_session = 0
                        pipelining = workload.pipelining == "auto" and session.pipelining
                        error = await session.send_message(
                            self.config.sender, recipients, data, pipelining=pipelining)
                    code = "250"
                except SmtpError as exc:
                    code, error = exc.code, str(exc)
                except TimeoutError:
                    error = f"no reply within {self.target.step_timeout:g} s"
                latency = (time.monotonic() - scheduled) * 1000
                self.record("smtp:message", latency, len(data), code, error, message_id)
                on_session += 1
                broken = bool(error) and not code
                if session is not None and (broken or self.connection == "new"
                                            or on_session >= workload.messages_per_connection):
                    await (self._abort(session) if broken else session.quit())
                    session = None
                if broken:
                    await asyncio.sleep(0.05)  # a dead server must not turn into a busy loop
                await asyncio.sleep(workload.think_time.sample(self.rng))
        finally:
            if session is not None:
                await session.quit()

    @staticmethod
    async def _abort(session: AsyncSmtp) -> None:
        session.abort()

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
        def user(number: int) -> Coroutine[None, None, None]:
            return self.smtp_user() if config.protocol == "smtp" else self.pop3_user(number)

        helpers = [asyncio.create_task(self.progress())]
        if config.rate > 0:
            self.tickets = asyncio.Queue()
            helpers.append(asyncio.create_task(self.pace()))
        users: list[asyncio.Task[None]] = []
        for number in range(config.users):
            if config.spawn_rate > 0 and number:
                await asyncio.sleep(1 / config.spawn_rate)
            if time.monotonic() >= self.deadline:
                break
            users.append(asyncio.create_task(user(number)))
        remaining = self.deadline + config.grace - time.monotonic()
        if users:
            _, late = await asyncio.wait(users, timeout=max(remaining, 0.1))
            for task in late:
                task.cancel()
            await asyncio.gather(*users, return_exceptions=True)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        self.flush()


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def run_process(config: LoadConfig, index: int = 0,
                report: ProgressFn | None = None) -> tuple[list[ResultRow], int]:
    """One process's share of a run, in this process. Returns its rows and unsent count."""
    run = _ProcessRun(config, index, report)
    with _event_loop_runner() as runner:
        runner.run(run.run())
    return run.rows, run.unsent


def _child(config_json: str, index: int, channel: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    def report(delta: Progress) -> None:
        channel.put(("progress", index, delta.ok, delta.errors, delta.latencies))

    try:
        rows, unsent = run_process(LoadConfig.from_json(config_json), index, report)
        channel.put(("rows", index, [as_tuple(r) for r in rows], unsent))
    except BaseException as exc:
        channel.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        raise


def run_native(config: LoadConfig, processes: int = 1,
               on_progress: ProgressFn | None = None) -> EngineResult:
    """Run the load, split over ``processes`` processes (1: in this process)."""
    processes = max(1, min(processes, config.users))
    started = time.time()
    if processes == 1:
        rows, unsent = run_process(config, 0, on_progress)
        return EngineResult(rows, started, time.time(), unsent, 1)
    # spawn, not fork: the caller may hold threads (reference servers, progress printers).
    context = multiprocessing.get_context("spawn")
    channel = context.Queue()
    children = [context.Process(target=_child, args=(config.share(i, processes).to_json(), i,
                                                     channel), daemon=True)
                for i in range(processes)]
    for child in children:
        child.start()
    rows: list[ResultRow] = []
    unsent, finished, failures = 0, 0, []
    hard_stop = time.monotonic() + config.duration + config.grace + 30  # spawn takes a while
    try:
        while finished < processes and time.monotonic() < hard_stop:
            try:
                message = channel.get(timeout=0.5)
            except queue.Empty:
                if all(not c.is_alive() for c in children):
                    break
                continue
            if message[0] == "progress" and on_progress is not None:
                on_progress(Progress(message[2], message[3], message[4]))
            elif message[0] == "rows":
                rows.extend(from_tuple(values) for values in message[2])
                unsent += message[3]
                finished += 1
            elif message[0] == "failed":
                failures.append(message[2])
                finished += 1
    finally:
        for child in children:
            child.join(timeout=5)
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, 9)
                child.join(timeout=5)
    if failures:
        raise RuntimeError(f"{len(failures)} engine process(es) failed: {failures[0]}")
    rows.sort(key=lambda r: r.timestamp)
    return EngineResult(rows, started, time.time(), unsent, processes)
