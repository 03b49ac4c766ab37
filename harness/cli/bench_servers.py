"""``mailharness bench servers``: the reference servers against third-party peers.

SMTP: the reference server (a ``mailharness serve`` subprocess, durable Maildir delivery),
the aiosmtpd peer and a private Postfix delivering to a Maildir (harness.peers), each
driven by Postfix's ``smtp-source`` (50 sessions, 1 KB, a new connection per message and
``-d``), counting the files on disk afterwards. POP3: the reference server against a
private Dovecot, sessions per second of USER/PASS, STAT, LIST, RETR of every message
(pipelined), QUIT on a 1,000-message maildrop of 1-50 KB, ten concurrent clients, each
its own user (a maildrop is locked per session, RFC 1939 §8). Every figure comes with
the server's CPU (utime+stime from /proc, reaped children included) and the client's.

The reference servers run in their own process (DESIGN.md: the harness does not import
them), so their CPU is measurable apart from the load generator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from ..peers import (
    AiosmtpdPeer,
    DovecotInstance,
    PostfixInstance,
    _maildir,
    dovecot,
    free_port,
    postfix,
    smtp_tools,
)
from ..peers._ports import LOOPBACK, wait_for_greeting
from ..peers._runtime import descendants, private_base_dir, terminate

TICK = os.sysconf("SC_CLK_TCK")
POP3_USERS = [f"user{i}" for i in range(10)]
PASSWORD = "secret"
_KINDS = ("smtp", "smtps", "submission", "pop3", "pop3s", "imap", "imaps")


class Server(Protocol):
    def pids(self) -> list[int]: ...


def pids_of(server: Any) -> list[int]:
    """The server's processes (peers expose ``pids`` as a method or a property)."""
    pids = server.pids
    return list(pids() if callable(pids) else pids)


def cpu_seconds(pids: list[int]) -> float:
    """utime+stime of these processes and of the children they have reaped."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])
    return total / TICK


def _client_cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# -- the reference servers, as `mailharness serve` -------------------------------------------


class ReferenceServe:
    """``mailharness serve`` in a child process with one listener on a free port."""

    def __init__(self, data_dir: Path, kind: str, users_file: Path | None = None,
                 workers: int = 1, sync: str = "auto") -> None:
        self.data_dir, self.kind, self.port = data_dir, kind, free_port()
        argv = [sys.executable, "-m", "harness", "serve", "--data-dir", str(data_dir),
                "--workers", str(workers), "--sync", sync]
        for other in _KINDS:
            argv += [f"--{other}-port", str(self.port if other == kind else 0)]
        if users_file is not None:
            argv += ["--users", str(users_file)]
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ReferenceServe:
        # Unbuffered, so that select() sees every line the banner has not yet read.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, bufsize=0,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            wait_for_greeting(LOOPBACK, self.port, b"+OK" if self.kind == "pop3" else b"220",
                              deadline=deadline,
                              alive=lambda: self.proc is not None and self.proc.poll() is None)
            # The port answers before every worker process may be up; serve prints its
            # banner's last line once they all listen.
            self._wait_for_banner(deadline)
        except Exception:
            self.__exit__()
            raise
        return self

    def _wait_for_banner(self, deadline: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([out], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = out.readline()
            if not line:
                raise ChildProcessError("mailharness serve exited during start-up")
            if line.startswith(b"Ctrl-C stops."):
                return
        raise TimeoutError("mailharness serve did not finish starting within 30 s")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None:
            terminate(self.proc, 10)

    def pids(self) -> list[int]:
        # With --workers, the extra processes are children nobody reaps while we measure.
        return descendants(self.proc.pid) if self.proc is not None else []

    def maildir(self, user: str) -> Path:
        return self.data_dir / "mail" / user / "Maildir"


# -- SMTP ------------------------------------------------------------------------------------


def _count(maildir: Path) -> int:
    return len(_maildir.message_files(maildir)) if maildir.exists() else 0


def smtp_contenders(base: Path, workers: int = 1,
                    sync: str = "auto") -> dict[str, Callable[[], Any]]:
    """Name -> a fresh server context (each run starts from an empty Maildir)."""
    counter = iter(range(1 << 30))

    def fresh(name: str) -> Path:
        path = base / f"{name}-{next(counter)}"
        path.mkdir(parents=True)
        path.chmod(0o755)
        return path

    contenders: dict[str, Callable[[], Any]] = {
        "reference": lambda: ReferenceServe(fresh("ref"), "smtp", workers=workers, sync=sync),
        "aiosmtpd": lambda: AiosmtpdPeer(fresh("aiosmtpd")),
    }
    if postfix.available() is None:
        contenders["postfix"] = lambda: PostfixInstance(fresh("pf"), smtp_port=free_port())
    return contenders


def _smtp_port(server: Any) -> int:
    return server.port if isinstance(server, ReferenceServe | AiosmtpdPeer) else \
        server.smtp_port


def smtp_run(server: Any, messages: int, reuse: bool, sessions: int,
             settle: float) -> dict[str, float]:
    """One smtp-source run; then wait (up to ``settle`` s) for every file to be on disk."""
    maildir = server.maildir("alice")
    cpu = cpu_seconds(pids_of(server))
    began = time.perf_counter()
    result = smtp_tools.smtp_source(LOOPBACK, _smtp_port(server), sessions=sessions,
                                    messages=messages, size=1024, reuse=reuse,
                                    recipient="alice@example.test")
    deadline = time.monotonic() + settle
    while (on_disk := _count(maildir)) < result.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    stored = time.perf_counter() - began
    return {"accepted": result.messages, "on_disk": on_disk, "accept_per_s": result.rate,
            "stored_per_s": on_disk / stored if stored > 0 else 0.0,
            "server_cpu_s": cpu_seconds(pids_of(server)) - cpu,
            "client_cpu_s": result.cpu_seconds, "exit": result.returncode}


# -- POP3 ------------------------------------------------------------------------------------


def pop3_message(rng: random.Random, index: int) -> bytes:
    size = rng.randint(1024, 50 * 1024)
    head = (f"From: sender{index}@example.test\nTo: user@example.test\n"
            f"Subject: benchmark message {index}\nMessage-ID: <{index}@bench.test>\n\n")
    lines, total = [head], len(head)
    while total < size:
        width = rng.randint(20, 76)
        line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz   ") for _ in range(width))
        if rng.random() < 0.02:
            line = "." + line  # exercises byte-stuffing
        lines.append(line + "\n")
        total += width + 1
    return "".join(lines).encode("ascii")


def pop3_maildrops(base: Path, count: int) -> tuple[Path, Path]:
    """The same ``count`` messages (hard links, LF line ends as Maildir holds them) for
    every user, under a reference data dir and a Dovecot mail root."""
    rng = random.Random(8)
    first = base / "ref" / "mail" / POP3_USERS[0] / "Maildir"
    _maildir.make_maildir(first)
    for index in range(count):
        _maildir.deliver_durably(first, pop3_message(rng, index))
    names = sorted(os.listdir(first / "new"))
    for user in POP3_USERS[1:]:
        target = _maildir.make_maildir(base / "ref" / "mail" / user / "Maildir")
        for name in names:
            os.link(first / "new" / name, target / "new" / name)
    dove = base / "dovecot-mail"
    for user in POP3_USERS:
        target = _maildir.make_maildir(dove / user / "Maildir")
        for name in names:
            os.link(first / "new" / name, target / "cur" / f"{name}:2,")
    return base / "ref", dove


class _Lines:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader, self.buf = reader, bytearray()

    async def _fill(self) -> None:
        chunk = await self.reader.read(1 << 18)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    async def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            await self._fill()
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        if not line.startswith(b"+OK"):
            raise RuntimeError(f"unexpected reply {line[:200]!r}")
        return line

    async def body(self) -> int:
        """Skip one multi-line body (after its status line); return its stuffed size."""
        while len(self.buf) < 3:
            await self._fill()
        if self.buf[:3] == b".\r\n":
            del self.buf[:3]
            return 0
        scan = 0
        while (end := self.buf.find(b"\r\n.\r\n", scan)) < 0:
            scan = max(0, len(self.buf) - 4)
            await self._fill()
        del self.buf[: end + 5]
        return end + 2


async def pop3_session(port: int, user: str) -> int:
    """USER/PASS, STAT, LIST, RETR of every message (one write), QUIT; messages read."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    lines = _Lines(reader)
    try:
        await lines.line()
        writer.write(f"USER {user}\r\nPASS {PASSWORD}\r\n".encode())
        await lines.line()
        await lines.line()
        writer.write(b"STAT\r\nLIST\r\n")
        count, octets = (int(x) for x in (await lines.line()).split()[1:3])
        await lines.line()
        await lines.body()
        writer.write(b"".join(b"RETR %d\r\n" % n for n in range(1, count + 1)))
        received = 0
        for _ in range(count):
            await lines.line()
            received += await lines.body()
        if received < octets:
            raise RuntimeError(f"received {received} octets, STAT said {octets}")
        writer.write(b"QUIT\r\n")
        await lines.line()
        return count
    finally:
        writer.close()


async def _pop3_load(port: int, seconds: float) -> tuple[int, int, float]:
    deadline = time.monotonic() + seconds
    done = [0, 0]

    async def worker(user: str) -> None:
        while time.monotonic() < deadline:
            retrieved = await pop3_session(port, user)  # += across an await loses updates
            done[1] += retrieved
            done[0] += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(u) for u in POP3_USERS))
    return done[0], done[1], time.monotonic() - start


def pop3_run(server: Server, port: int, seconds: float) -> dict[str, float]:
    cpu, client = cpu_seconds(pids_of(server)), _client_cpu()
    sessions, messages, elapsed = asyncio.run(_pop3_load(port, seconds))
    return {"sessions_per_s": sessions / elapsed, "messages_per_s": messages / elapsed,
            "server_cpu_s": cpu_seconds(pids_of(server)) - cpu,
            "client_cpu_s": _client_cpu() - client, "seconds": elapsed}


@contextlib.contextmanager
def pop3_servers(base: Path, count: int,
                 workers: int = 1) -> Iterator[dict[str, tuple[Server, int]]]:
    """The reference POP3 and (when installed) Dovecot, serving the same maildrops."""
    ref_dir, dove_mail = pop3_maildrops(base, count)
    users = ref_dir / "users.yaml"
    users.write_text("domains: [example.test]\nusers:\n" + "".join(
        f"  {u}: {{password: {{plain: {PASSWORD}}}}}\n" for u in POP3_USERS))
    with contextlib.ExitStack() as stack:
        ref = stack.enter_context(ReferenceServe(ref_dir, "pop3", users, workers=workers))
        servers: dict[str, tuple[Server, int]] = {"reference": (ref, ref.port)}
        if dovecot.available() is None:
            dove = DovecotInstance(base / "dovecot", pop3_port=free_port(),
                                   imap_port=free_port(),
                                   users=dict.fromkeys(POP3_USERS, PASSWORD),
                                   maildir_root=dove_mail)
            uid, gid = dove.settings.mail_uid, dove.settings.mail_gid
            for root, dirs, files in os.walk(dove_mail):
                for name in (*dirs, *files):
                    os.chown(os.path.join(root, name), uid, gid)
            os.chown(dove_mail, uid, gid)
            stack.enter_context(dove)
            servers["dovecot"] = (_Tree(dove), dove.pop3_port)
        yield servers


class _Tree:
    """Dovecot's CPU: its master and every process below it (login, pop3, auth)."""

    def __init__(self, server: DovecotInstance) -> None:
        self.server = server

    def pids(self) -> list[int]:
        return descendants(self.server.pid) if self.server.pid else []


def base_dir() -> contextlib.AbstractContextManager[Path]:
    return private_base_dir("mh-bench-")


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows) if rows else 0.0
