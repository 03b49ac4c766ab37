"""aiosmtpd with durable Maildir delivery, in its own process: the fair third-party peer
for the SMTP benchmark (same fsync discipline as the reference server).

    python -m harness.peers.aiosmtpd_peer --maildir-root DIR [--host H] [--port P]

prints `READY <port>` on stdout once it listens, and stops on SIGTERM or SIGINT.
Mail to <local>@<any domain> lands in DIR/<local>/Maildir/new/ (the layout Postfix and
Dovecot use here), fsync'd before the 250 reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

from harness.peers import _maildir
from harness.peers._ports import LOOPBACK
from harness.peers._runtime import Peer, PeerStartError, terminate

# A local part that is safe as one path component (no '/', no leading dot).
_SAFE_LOCAL = re.compile(r"^[A-Za-z0-9_+=-][A-Za-z0-9._+=-]{0,63}$")


class MaildirHandler:
    """aiosmtpd handler: one durable Maildir delivery per recipient."""

    def __init__(self, root: Path, domains: frozenset[str] | None = None) -> None:
        self.root = root
        self.domains = domains
        self._ready: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        local, _, domain = address.rpartition("@")
        if self.domains is not None and domain.lower() not in self.domains:
            return "550 5.7.1 Relaying denied"
        if not _SAFE_LOCAL.match(local):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        received = (
            f"Return-Path: <{envelope.mail_from}>\r\n"
            f"Received: from {session.host_name or 'unknown'} ([{session.peer[0]}])\r\n"
            f"\tby aiosmtpd-peer; {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}"
            "\r\n"
        ).encode()
        # Kept as received (CRLF): Dovecot reads either line ending.
        message = received + envelope.original_content
        for address in envelope.rcpt_tos:
            local = address.rpartition("@")[0]
            # fsync blocks: a worker thread keeps other sessions running meanwhile, which
            # is what a competent aiosmtpd deployment would do.
            await asyncio.to_thread(self._deliver, local, message)
        return "250 2.0.0 OK: delivered"

    def _deliver(self, local: str, message: bytes) -> None:
        maildir = self.root / local / "Maildir"
        if local not in self._ready:
            _maildir.make_maildir(maildir)
            self._ready.add(local)
        _maildir.deliver_durably(maildir, message)


async def serve(host: str, port: int, root: Path, domains: frozenset[str] | None) -> None:
    from aiosmtpd.smtp import SMTP

    handler = MaildirHandler(root, domains)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="aiosmtpd-peer", decode_data=False, enable_SMTPUTF8=True),
        host=host,
        port=port,
        backlog=1024,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maildir-root", type=Path, required=True)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--domain", action="append", help="accept only these domains")
    args = parser.parse_args(argv)
    args.maildir_root.mkdir(parents=True, exist_ok=True)
    domains = frozenset(d.lower() for d in args.domain) if args.domain else None
    asyncio.run(serve(args.host, args.port, args.maildir_root, domains))
    return 0


class AiosmtpdPeer(Peer):
    """Context manager: the server above in a child process on host:port (0 = any free).

    The child binds and reports its port itself, so there is no free-port race.
    """

    def __init__(
        self,
        maildir_root: Path,
        port: int = 0,
        *,
        host: str = LOOPBACK,
        domains: tuple[str, ...] = (),
        start_timeout: float = 15.0,
    ) -> None:
        self.maildir_root = Path(maildir_root)
        self.host = host
        self.port = port
        self.domains = domains
        self.start_timeout = start_timeout
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def pids(self) -> list[int]:
        return [self._proc.pid] if self._proc else []

    @property
    def ports(self) -> dict[str, int]:
        return {"smtp": self.port}

    def maildir(self, user: str) -> Path:
        return self.maildir_root / user / "Maildir"

    def messages(self, user: str) -> list[Path]:
        return _maildir.message_files(self.maildir(user))

    def start(self) -> None:
        began = time.monotonic()
        argv = [
            sys.executable,
            "-m",
            "harness.peers.aiosmtpd_peer",
            "--maildir-root",
            str(self.maildir_root),
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        for domain in self.domains:
            argv += ["--domain", domain]
        # stderr to a file, not a pipe: aiosmtpd logs through `logging` under load, and a
        # full pipe nobody reads would stall the server mid-benchmark.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        try:
            self.port = self._read_ready(began + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _read_ready(self, deadline: float) -> int:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail("no READY line in time")
            ready, _, _ = select.select([proc.stdout], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                self._fail(f"exited with status {proc.wait(5)}")
            line += chunk
        match = re.match(rb"READY (\d+)\n", line)
        if not match:
            self._fail(f"unexpected output {line!r}")
        return int(match.group(1))

    def _fail(self, reason: str) -> NoReturn:
        proc = self._proc
        assert proc is not None
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        raise PeerStartError("aiosmtpd peer", reason, self.stderr_tail())

    def stderr_tail(self, limit: int = 4000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return str(self._stderr.read().decode(errors="replace")[-limit:])

    def stop(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is None:
            return
        terminate(proc, timeout)
        if proc.stdout:
            with contextlib.suppress(OSError):
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._proc = None


if __name__ == "__main__":
    sys.exit(main())
