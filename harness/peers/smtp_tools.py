"""Postfix's smtp-sink and smtp-source test programs (Debian package postfix; the mail
system itself need not run): a fast SMTP sink to aim load at, and a reference load
generator to compare our own engine with."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from harness.peers._ports import LOOPBACK, free_port, listened_by, someone_listens
from harness.peers._runtime import PeerStartError, terminate

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"


def available() -> str | None:
    for binary in (SMTP_SINK, SMTP_SOURCE):
        if not os.access(binary, os.X_OK):
            return f"{binary} is not installed (Debian package postfix)"
    return None


@dataclass
class SinkProcess:
    host: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return [self.proc.pid]


@contextlib.contextmanager
def smtp_sink(
    port: int | None = None,
    *,
    host: str = LOOPBACK,
    backlog: int = 256,
    user: str = "nobody",
    extra_args: Sequence[str] = (),
    start_timeout: float = 10.0,
) -> Iterator[SinkProcess]:
    """Run `smtp-sink [extra_args] host:port backlog` until the block ends.

    extra_args are smtp-sink's own flags, e.g. ("-c",) to count, ("-q", "rcpt") to
    disconnect after RCPT, ("-R", dir) to keep the mail. smtp-sink refuses to run as
    root without -u, so as root it drops to `user` after binding.
    """
    if port is None:
        port = free_port(host)
    argv = [SMTP_SINK, *extra_args]
    if os.geteuid() == 0 and "-u" not in extra_args:
        argv += ["-u", user]
    argv += [f"{host}:{port}", str(backlog)]
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # smtp-sink serves from the very process that binds: its listening means ready.
            try:
                _wait_listening(proc, host, port, start_timeout)
            except (TimeoutError, ChildProcessError) as exc:
                output.seek(0)
                tail = output.read().decode(errors="replace")[-2000:]
                raise PeerStartError(f"smtp-sink on {host}:{port}", str(exc), tail) from exc
            yield SinkProcess(host, port, proc)
        finally:
            terminate(proc, 5)


def _wait_listening(proc: subprocess.Popen[bytes], host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ChildProcessError(f"smtp-sink exited with status {proc.returncode}")
        if listened_by(host, port, [proc.pid]):
            return
        if time.monotonic() >= deadline:
            if someone_listens(host, port):
                raise TimeoutError(f"another process listens on {host}:{port} too")
            raise TimeoutError(f"smtp-sink is not listening on {host}:{port}")
        time.sleep(0.02)


@dataclass(frozen=True)
class SourceResult:
    """One smtp-source run. `messages` counts completed DATA transactions (its -c counter)."""

    messages: int
    requested: int
    seconds: float
    rate: float
    returncode: int
    stderr: str
    cpu_seconds: float  # user + system time of smtp-source itself

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.messages == self.requested


_COUNTER = re.compile(rb"\d+")


def parse_counter(stdout: bytes) -> int:
    """The last value of the counter smtp-source -c prints ("1\\r2\\r...\\rN\\r\\n")."""
    numbers = _COUNTER.findall(stdout)
    return int(numbers[-1]) if numbers else 0


def smtp_source(
    host: str,
    port: int,
    *,
    sessions: int = 1,
    messages: int = 1,
    size: int = 1024,
    reuse: bool = False,
    sender: str = "source@client.test",
    recipient: str = "sink@example.test",
    extra_args: Sequence[str] = (),
    timeout: float = 600.0,
) -> SourceResult:
    """Run smtp-source once and time it; `reuse` is -d (many messages per connection).

    The wall time spans process start to exit, so it includes smtp-source's own startup
    (a few ms); benchmarks should send enough messages for that to vanish.
    """
    if shutil.which(SMTP_SOURCE) is None:
        raise FileNotFoundError(f"{SMTP_SOURCE} is not installed (Debian package postfix)")
    argv = [
        SMTP_SOURCE,
        "-c",
        "-s",
        str(sessions),
        "-m",
        str(messages),
        "-l",
        str(size),
        "-f",
        sender,
        "-t",
        recipient,
    ]
    if reuse:
        argv.append("-d")
    argv += [*extra_args, f"{host}:{port}"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        # wait4 rather than communicate(): it also returns the child's CPU usage.
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode(errors="replace")
    count = parse_counter(stdout)
    return SourceResult(
        messages=count,
        requested=messages,
        seconds=seconds,
        rate=count / seconds if seconds > 0 else 0.0,
        returncode=proc.returncode,
        stderr=stderr,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
