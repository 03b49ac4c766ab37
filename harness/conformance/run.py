"""Run a selection of cases against one target: probe once, then many cases at a time.

Capabilities are probed once per protocol before anything runs and handed to the
transcript runner through the profile, so the runner's ``requires`` gate skips cases with
the reason and never re-probes from several threads at once. Cases then run on a thread
pool (each on its own connections); a small dispatcher on the calling thread starts a case
only when the lane it needs is free (see :mod:`.lanes`) and reports each result there, so
progress callbacks never run concurrently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..client import ClientError, SessionLog
from ..target import Profile
from ..transcript import Case, CaseResult, Runner
from ..transcript.setup import NoEndpoint, SetupError, probe_capabilities
from .lanes import Lane, is_serial, mailbox_users

ResultCallback = Callable[[CaseResult], None]
DEFAULT_WORKERS = 8


class RunError(Exception):
    """The run cannot happen: an endpoint the cases need does not answer."""


@dataclass
class Run:
    """The results of one selection against one target, in the selection's order."""

    profile: Profile
    results: list[CaseResult]
    capabilities: dict[str, list[str]]
    started: datetime
    duration: float
    workers: int
    unreachable: dict[str, str] = field(default_factory=dict)


def probe(profile: Profile, protocols: set[str]) -> dict[str, frozenset[str]]:
    """Capabilities of every protocol the cases use that the target has an endpoint for."""
    found: dict[str, frozenset[str]] = {}
    for protocol in sorted(protocols):
        try:
            found[protocol] = probe_capabilities(profile, protocol, SessionLog())
        except NoEndpoint:
            continue  # its cases skip, with the runner's reason
        except (SetupError, ClientError) as exc:
            target = profile.endpoint_for(protocol)
            raise RunError(f"{protocol} endpoint {target} does not answer: {exc}") from None
    return found


def alternatives(profile: Profile, protocols: set[str]) -> dict[str, Profile]:
    """For each other endpoint of a protocol (e.g. submission beside smtp), a profile that
    makes it the protocol's endpoint, with its own capabilities.

    A case whose ``requires`` the main endpoint lacks runs on the first of these that
    advertises them: AUTH is offered on submission, not on the MX port (RFC 6409 §4.3).
    """
    out: dict[str, Profile] = {}
    for kind, target in profile.endpoints.items():
        main = profile.endpoint_for(target.protocol)
        if target.protocol not in protocols or target == main:
            continue
        swapped = replace(profile, endpoints={**profile.endpoints, target.protocol: target},
                          capabilities={})
        try:
            caps = probe_capabilities(swapped, target.protocol, SessionLog())
        except (SetupError, ClientError):
            continue  # an extra endpoint that does not answer only loses its fallback role
        out[kind] = replace(swapped, capabilities={
            **profile.capabilities, target.protocol: tuple(sorted(caps))})
    return out


def run_cases(profile: Profile, cases: list[Case], *, workers: int = DEFAULT_WORKERS,
              lanes: list[Lane] | None = None, on_result: ResultCallback | None = None) -> Run:
    started_at = datetime.now(UTC)
    started = time.monotonic()
    protocols = {spec.protocol for case in cases for spec in case.connections.values()}
    capabilities = probe(profile, protocols)
    profile = replace(profile, capabilities={
        **profile.capabilities, **{p: tuple(sorted(c)) for p, c in capabilities.items()}})
    lanes = lanes or [Lane(0, profile.users)]
    dispatcher = _Dispatcher(profile, lanes, max(1, workers), on_result)
    if any(case.requires for case in cases):
        dispatcher.fallbacks = alternatives(profile, protocols)
    results = dispatcher.run(cases)
    return Run(profile, results, {p: sorted(c) for p, c in capabilities.items()}, started_at,
               time.monotonic() - started, max(1, workers))


@dataclass
class _Job:
    position: int
    case: Case
    mailbox: bool
    serial: bool
    late: bool  # waits until every other case is done (see _Dispatcher)


class _Dispatcher:
    def __init__(self, profile: Profile, lanes: list[Lane], workers: int,
                 on_result: ResultCallback | None) -> None:
        self.base = Runner(profile)
        self.lane_runners = {lane.index: Runner(replace(profile, users=lane.users))
                             for lane in lanes}
        self.free = [lane.index for lane in lanes]
        # When the only lane is the profile's own users, other cases may deliver to those
        # users' mailboxes at any time; mailbox cases then wait until the others are done.
        self.shared = any(set(lane.users) & set(profile.users) for lane in lanes)
        self.workers = workers
        self.on_result = on_result
        self.fallbacks: dict[str, Profile] = {}
        self._runners: dict[tuple[str, int | None], Runner] = {}

    def _runner(self, case: Case, lane: int | None) -> Runner:
        """The base or lane runner, or one on another endpoint that offers what it requires."""
        kind = self._endpoint_for(case)
        if kind is None:
            return self.lane_runners[lane] if lane is not None else self.base
        key = (kind, lane)
        if key not in self._runners:
            profile = self.fallbacks[kind]
            if lane is not None:
                profile = replace(profile, users=self.lane_runners[lane].profile.users)
            self._runners[key] = Runner(profile)
        return self._runners[key]

    def _endpoint_for(self, case: Case) -> str | None:
        main = set(self.base.profile.capabilities.get(case.protocol, ()))
        if not case.requires or set(case.requires) <= main:
            return None
        for kind, profile in self.fallbacks.items():
            caps = profile.capabilities.get(case.protocol)
            if caps is not None and set(case.requires) <= set(caps):
                return kind
        return None

    def run(self, cases: list[Case]) -> list[CaseResult]:
        pending = [self._job(position, case) for position, case in enumerate(cases)]
        results: list[CaseResult | None] = [None] * len(cases)
        running: dict[Future[CaseResult], tuple[_Job, int | None]] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="conformance") as pool:
            while pending or running:
                while len(running) < self.workers:
                    picked = self._next(pending, running)
                    if picked is None:
                        break
                    job, lane = picked
                    pending.remove(job)
                    runner = self._runner(job.case, lane)
                    running[pool.submit(runner.run, job.case)] = (job, lane)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job, lane = running.pop(future)
                    if lane is not None:
                        self.free.append(lane)
                    result = future.result()
                    results[job.position] = result
                    if self.on_result is not None:
                        self.on_result(result)
        return [result for result in results if result is not None]

    def _job(self, position: int, case: Case) -> _Job:
        mailbox = bool(mailbox_users(case))
        return _Job(position, case, mailbox, is_serial(case), mailbox and self.shared)

    def _next(self, pending: list[_Job], running: dict[Future[CaseResult], tuple[_Job, int | None]]
              ) -> tuple[_Job, int | None] | None:
        if any(job.serial for job, _ in running.values()):
            return None
        early_left = any(not job.late and not job.serial for job in pending) or any(
            not job.late for job, _ in running.values())
        for job in pending:
            if job.serial:
                continue
            if job.late and early_left:
                continue
            if job.mailbox:
                if not self.free:
                    continue
                return job, self.free.pop(0)
            return job, None
        # Serial cases last, each alone.
        serial = next((job for job in pending if job.serial), None)
        if serial is not None and not running:
            return serial, (self.free.pop(0) if serial.mailbox and self.free else None)
        return None
