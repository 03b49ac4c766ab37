"""SMTP throughput and memory benchmark (issue 3, "Performance").

Drives Postfix's ``smtp-source`` against three servers, each delivering durably into a
Maildir on this machine, and writes the figures to ``reports/smtp_bench.json``:

- ``reference``: the reference server (uvloop when installed), group-committed delivery;
- ``aiosmtpd``: aiosmtpd whose handler writes tmp/, fsyncs, renames into new/ and
  fsyncs the directory (in the default thread pool, so the loop is not blocked);
- ``postfix``: a private Postfix instance (own config and queue dirs, loopback only,
  a high port) delivering through virtual(8) into a Maildir.

Each load runs ``--runs`` times with a new connection per message and with ``-d``
(connections reused); the median messages/s is reported with the ratios, and the files
in the Maildirs are counted after every run. Resident memory with ``--idle`` idle
connections is measured on the reference server.

    .venv/bin/python benchmarks/smtp_bench.py                    # the issue's full load
    .venv/bin/python benchmarks/smtp_bench.py --messages 2000 --runs 1   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def count_files(path: Path) -> int:
    return sum(len(files) for root, _, files in os.walk(path) if root.endswith("new"))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


# -- the servers under test (each in its own process) ------------------------------------


def serve_reference(port: int, data_dir: Path) -> None:
    from reference_servers.embedded import EmbeddedServers, ServeConfig

    async def main() -> None:
        config = ServeConfig(data_dir=data_dir, ports={"smtp": port})
        servers = await EmbeddedServers.start(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await servers.close()

    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def serve_aiosmtpd(port: int, data_dir: Path) -> None:
    from aiosmtpd.controller import Controller

    maildir = data_dir / "alice" / "Maildir"
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    counter = iter(range(1 << 62))

    def deliver(data: bytes) -> None:
        name = f"{time.time_ns()}.{os.getpid()}_{next(counter)}.bench"
        tmp, new = maildir / "tmp" / name, maildir / "new" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, new)
        dfd = os.open(maildir / "new", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            data = b"Return-Path: <%s>\r\n" % envelope.mail_from.encode() + envelope.content
            await asyncio.get_running_loop().run_in_executor(None, deliver, data)
            return "250 2.0.0 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
myhostname = bench.localhost
mydomain = localhost
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = example.test
virtual_mailbox_base = {dir}/vmail
virtual_mailbox_maps = texthash:{dir}/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
smtpd_banner = $myhostname ESMTP
default_process_limit = 100
biff = no
"""


def start_postfix(port: int, base: Path) -> Path:
    conf = base / "conf"
    conf.mkdir(parents=True)
    # Postfix creates the queue's subdirectories itself, but not the queue directory.
    (base / "queue").mkdir()
    (base / "data").mkdir()
    subprocess.run(["chown", "postfix", str(base / "data")], check=True)
    (base / "vmail" / "alice" / "Maildir").mkdir(parents=True)
    subprocess.run(["chown", "-R", "65534:65534", str(base / "vmail")], check=True)
    (base / "vmailbox").write_text("alice@example.test alice/Maildir/\n")
    (conf / "main.cf").write_text(MAIN_CF.format(dir=base))
    master = Path("/etc/postfix/master.cf").read_text()
    lines = [ln for ln in master.splitlines() if not ln.startswith("smtp      inet")]
    lines.insert(0, f"127.0.0.1:{port} inet n - y - - smtpd")
    lines.append("postlog   unix-dgram n  -       n       -       1       postlogd")
    (conf / "master.cf").write_text("\n".join(dict.fromkeys(lines)) + "\n")
    env = {**os.environ, "MAIL_CONFIG": str(conf)}
    subprocess.run([POSTFIX, "-c", str(conf), "start"], check=True, env=env,
                   capture_output=True, timeout=60)
    return conf


def stop_postfix(conf: Path) -> None:
    subprocess.run([POSTFIX, "-c", str(conf), "stop"], check=False, capture_output=True,
                   timeout=60)


@contextlib.contextmanager
def running(kind: str, base: Path) -> Iterator[tuple[int, Path, int | None]]:
    """Start a server; yield (port, directory holding the Maildirs, pid)."""
    port = free_port()
    if kind == "postfix":
        conf = start_postfix(port, base)
        try:
            wait_port(port)
            yield port, base / "vmail", None
        finally:
            stop_postfix(conf)
        return
    proc = subprocess.Popen([sys.executable, __file__, f"serve-{kind}", str(port), str(base)],
                            cwd=ROOT)
    try:
        wait_port(port)
        yield port, base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the load ---------------------------------------------------------------------------


def run_load(port: int, sessions: int, messages: int, size: int, reuse: bool) -> float:
    cmd = [SMTP_SOURCE, "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-f", "a@example.test", "-t", "alice@example.test", "-M", "client.test"]
    if reuse:
        cmd.append("-d")
    cmd.append(f"127.0.0.1:{port}")
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def wait_count(path: Path, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    found = count_files(path)
    while found < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        found = count_files(path)
    return found


def bench(kind: str, args: argparse.Namespace, reuse: bool) -> dict[str, Any]:
    runs = []
    for _ in range(args.runs):
        base = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-", dir=args.tmp))
        try:
            with running(kind, base) as (port, maildirs, _pid):
                seconds = run_load(port, args.sessions, args.messages, args.size, reuse)
                # Postfix accepts into its queue first; wait for the Maildir deliveries.
                files = wait_count(maildirs, args.messages, 600 if kind == "postfix" else 5)
                end_to_end = time.perf_counter()
            runs.append({"seconds": round(seconds, 3), "rate": round(args.messages / seconds, 1),
                         "files": files})
            del end_to_end
        finally:
            shutil.rmtree(base, ignore_errors=True)
        print(f"  {kind:9} reuse={reuse!s:5} {runs[-1]}", flush=True)
    return {"runs": runs, "median_rate": statistics.median(r["rate"] for r in runs),
            "all_on_disk": all(r["files"] == args.messages for r in runs)}


async def _open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    """``count`` connections that each completed EHLO and then stay idle."""

    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()  # the 220 greeting
        writer.write(b"EHLO idle.test\r\n")
        while (line := await reader.readline())[3:4] == b"-":
            pass  # the multi-line EHLO reply, up to its last line
        if not line.startswith(b"250"):
            raise RuntimeError(f"EHLO refused: {line!r}")
        return writer

    writers: list[asyncio.StreamWriter] = []
    for start in range(0, count, 100):  # in batches, well below the listen backlog
        writers += await asyncio.gather(*(one() for _ in range(min(100, count - start))))
    return writers


def idle_memory(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="bench-idle-", dir=args.tmp))
    try:
        with running("reference", base) as (port, _, pid):
            assert pid is not None

            async def measure() -> dict[str, Any]:
                # Warm up (imports, the first allocations), then close those again, so
                # that "before" is a server with no connection open.
                for writer in await _open_idle(port, 10):
                    writer.close()
                await asyncio.sleep(1.0)
                before = rss_kb(pid)
                writers = await _open_idle(port, args.idle)
                await asyncio.sleep(1.0)  # every connection has completed EHLO by now
                after = rss_kb(pid)
                for writer in writers:
                    writer.close()
                return {"connections": args.idle, "rss_before_kb": before,
                        "rss_after_kb": after,
                        "kb_per_connection": round((after - before) / args.idle, 2)}

            return asyncio.run(measure())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1].startswith("serve-"):
        target = {"serve-reference": serve_reference, "serve-aiosmtpd": serve_aiosmtpd}
        target[sys.argv[1]](int(sys.argv[2]), Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--servers", default="reference,aiosmtpd,postfix")
    parser.add_argument("--tmp", default=None, help="where the Maildirs go (a real disk)")
    parser.add_argument("--output", default=str(ROOT / "reports" / "smtp_bench.json"))
    args = parser.parse_args()
    kinds = args.servers.split(",")
    results: dict[str, Any] = {"load": {"sessions": args.sessions, "messages": args.messages,
                                        "size": args.size, "runs": args.runs}}
    for reuse in (False, True):
        mode = "reuse" if reuse else "new_connection"
        results[mode] = {}
        for kind in kinds:
            try:
                results[mode][kind] = bench(kind, args, reuse)
            except (subprocess.SubprocessError, RuntimeError, OSError) as exc:
                results[mode][kind] = {"error": str(exc)}
                print(f"  {kind}: failed: {exc}", flush=True)
        ref = results[mode].get("reference", {}).get("median_rate")
        for other in ("aiosmtpd", "postfix"):
            rate = results[mode].get(other, {}).get("median_rate")
            if ref and rate:
                results[mode][f"ratio_reference_to_{other}"] = round(ref / rate, 2)
    if "reference" in kinds and args.idle:
        results["idle_memory"] = idle_memory(args)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
