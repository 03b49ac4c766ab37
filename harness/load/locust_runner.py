"""Runs locust headless in child processes (never in ours: importing locust monkey-patches
the standard library with gevent) and reads back the result rows it wrote.

Modes: a local run (``--processes P`` > 1 makes locust fork P workers and a master
itself), a master waiting for ``expect_workers`` remote workers, or a worker connecting to
a master. Every child gets a hard deadline and is killed by its process id after it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .config import LoadConfig
from .native import EngineResult
from .results import read_csv

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class LocustMode:
    processes: int = 1
    master: bool = False
    expect_workers: int = 1
    worker: bool = False
    master_host: str = "127.0.0.1"
    master_port: int = 5557
    transcript: str | None = None


def _argv(config: LoadConfig, mode: LocustMode) -> list[str]:
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--loglevel", "WARNING", "--skip-log-setup"]
    if mode.worker:
        return [*argv, "--worker", "--master-host", mode.master_host,
                "--master-port", str(mode.master_port)]
    spawn_rate = config.spawn_rate or float(config.users)  # 0 means all at once
    argv += ["-u", str(config.users), "-r", f"{spawn_rate:g}", "-t", f"{config.duration:g}s",
             "--stop-timeout", "5", "--only-summary", "--host", config.target]
    if mode.master:
        argv += ["--master", "--master-bind-host", mode.master_host,
                 "--master-bind-port", str(mode.master_port),
                 "--expect-workers", str(mode.expect_workers),
                 "--expect-workers-max-wait", "30"]
    elif mode.processes > 1:
        argv += ["--processes", str(mode.processes)]
    return argv


def _budget(config: LoadConfig, mode: LocustMode) -> int:
    # A local run's budget. With workers (--processes forks a master and workers) the
    # master sends each worker its exact share when the test starts (locustfile).
    return config.messages


def start(config: LoadConfig, mode: LocustMode, work_dir: Path) -> subprocess.Popen[bytes]:
    """Start one locust process (its own session, so it and its forks can be stopped)."""
    env = dict(os.environ)
    env.update({
        "MAILHARNESS_LOAD_CONFIG": config.to_json(),
        "MAILHARNESS_BUDGET": str(_budget(config, mode)),
        "MAILHARNESS_ROWS": str(work_dir / "rows.csv"),
        "MAILHARNESS_STATS": str(work_dir / "locust-stats.json"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                    env.get("PYTHONPATH")])),
    })
    if mode.transcript:
        env["MAILHARNESS_TRANSCRIPT"] = mode.transcript
    return subprocess.Popen(_argv(config, mode), env=env, cwd=work_dir,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait up to ``timeout``; then SIGTERM, then SIGKILL, the process group we created."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)  # its own group: start_new_session=True above
        except ProcessLookupError:
            break
        try:
            return proc.wait(5)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait(5)


def deadline(config: LoadConfig) -> float:
    """Seconds a locust run may take: the duration, spawning, stop timeout, margin."""
    return config.duration + config.grace + 40


@dataclass
class LocustOutcome:
    result: EngineResult
    returncode: int
    locust_requests: int | None  # locust's own count, to cross-check the rows


def run(config: LoadConfig, mode: LocustMode, work_dir: Path | None = None) -> LocustOutcome:
    """A local or master run to completion; rows come from the file the locustfile wrote."""
    with tempfile.TemporaryDirectory(prefix="mh-locust-") as temp:
        directory = work_dir or Path(temp)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.time()
        proc = start(config, mode, directory)
        code = stop(proc, deadline(config))
        ended = time.time()
        rows_file = directory / "rows.csv"
        rows = list(read_csv(rows_file)) if rows_file.exists() else []
        stats_file = directory / "locust-stats.json"
        requests, unsent = None, 0
        if stats_file.exists():
            stats = json.loads(stats_file.read_text())
            requests = int(stats["num_requests"])
            unsent = int(stats.get("unsent", 0))
    processes = mode.processes if not mode.master else mode.expect_workers
    return LocustOutcome(EngineResult(rows, started, ended, unsent, processes), code, requests)
