"""POP3 sessions per second: the reference server against Dovecot, side by side.

One session = connect, USER/PASS, STAT, LIST, RETR of every message (pipelined), QUIT,
on a maildrop of 1,000 messages of 1-50 KB. Ten concurrent clients, each its own user
(our server locks a maildrop per session, RFC 1939 §4), so both servers do the same work.
Both serve the same message files (hard links), LF line endings as Maildir usually holds.

The client is one asyncio process with raw sockets; its CPU is reported next to both
servers' CPU (utime+stime from /proc, Dovecot's reaped per-session processes included)
so it is visible which side is the bottleneck. Writes reports/pop3_bench.json.

    .venv/bin/python benchmarks/pop3_bench.py [--seconds 8] [--runs 3] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USERS = [f"user{i}" for i in range(10)]
PASSWORD = "secret"
MESSAGES = 1000
TICK = os.sysconf("SC_CLK_TCK")


# -- data ------------------------------------------------------------------------------------


def make_message(rng: random.Random, index: int) -> bytes:
    size = rng.randint(1024, 50 * 1024)
    head = (f"From: sender{index}@example.test\nTo: user@example.test\n"
            f"Subject: benchmark message {index}\nMessage-ID: <{index}@bench.test>\n\n")
    lines = [head]
    total = len(head)
    while total < size:
        width = rng.randint(20, 76)
        line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz   ") for _ in range(width))
        if rng.random() < 0.02:
            line = "." + line  # exercises byte-stuffing
        lines.append(line + "\n")
        total += width + 1
    return "".join(lines).encode("ascii")


def prepare(base: Path) -> tuple[Path, Path, int]:
    """(our data dir, dovecot mail root, total octets per maildrop)."""
    sys.path.insert(0, str(ROOT))
    from reference_servers.store import Store

    ours = base / "ours"
    store = Store(ours / "mail", fsync=False)
    rng = random.Random(8)
    folder = store.mailbox(USERS[0]).folder("INBOX")
    for i in range(MESSAGES):
        folder.deliver(make_message(rng, i))
    octets = sum(m.size for m in folder.messages())
    first = ours / "mail" / USERS[0] / "Maildir"
    for user in USERS[1:]:
        target = store.mailbox(user).path  # creates the Maildir skeleton
        for name in os.listdir(first / "new"):
            os.link(first / "new" / name, target / "new" / name)
    dove = base / "dovecot-mail"
    for user in USERS:
        maildir = dove / user / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        for name in os.listdir(first / "new"):
            os.link(first / "new" / name, maildir / "cur" / f"{name}:2,")
    return ours, dove, octets


# -- servers ---------------------------------------------------------------------------------


def serve_ours(data_dir: Path, use_uvloop: bool) -> None:
    """--serve mode: run the reference POP3 server alone in this process."""
    sys.path.insert(0, str(ROOT))
    from reference_servers.embedded import LISTENERS, EmbeddedServers, ServeConfig

    users = data_dir / "users.yaml"
    users.write_text("domains: [example.test]\nusers:\n" + "".join(
        f"  {u}: {{password: {{plain: {PASSWORD}}}}}\n" for u in USERS))
    ports: dict[str, int | None] = {spec.kind: None for spec in LISTENERS}
    ports["pop3"] = 0
    config = ServeConfig(data_dir=data_dir, users_file=users, ports=ports,
                         settings={"pop3": {"auth_failure_delay": 0.0}})

    async def main() -> None:
        servers = await EmbeddedServers.start(config)
        print(servers.port("pop3"), flush=True)
        await asyncio.Event().wait()

    if use_uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main())


def start_ours(data_dir: Path, use_uvloop: bool) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, __file__, "--serve", str(data_dir)] + (["--uvloop"] if use_uvloop
                                                                 else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DOVECOT_CONF = """\
instance_name = mailharness-bench
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 8
mail_location = maildir:{mail}/%u/Maildir
pop3_no_flag_updates = yes
passdb {{
  driver = passwd-file
  args = {base}/passwd
}}
userdb {{
  driver = static
  args = uid=8 gid=8 home={mail}/%u
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


def start_dovecot(base: Path, mail: Path) -> tuple[subprocess.Popen[bytes], int]:
    conf_dir = base / "dovecot"
    for sub in ("run", "state"):
        (conf_dir / sub).mkdir(parents=True, exist_ok=True)
    (conf_dir / "passwd").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in USERS))
    port = free_port()
    conf = conf_dir / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(base=conf_dir, mail=mail, port=port))
    subprocess.run(["chown", "-R", "8:8", str(mail)], check=True)
    proc = subprocess.Popen(["dovecot", "-F", "-c", str(conf)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"dovecot did not start; see {conf_dir / 'dovecot.log'}")


def cpu_of_tree(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children, plus children it has reaped."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        if int(entry) == pid or ppid == pid:
            # utime stime cutime cstime are fields 14-17 (1-based) of the whole line.
            total += sum(int(x) for x in fields[11:15])
    return total / TICK


# -- client ----------------------------------------------------------------------------------


class Lines:
    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buf = bytearray()

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
        return line

    async def body(self) -> int:
        """Skip one multi-line body (after its status line); return its stuffed size."""
        scan = 0
        while len(self.buf) < 3:
            await self._fill()
        if self.buf[:3] == b".\r\n":
            del self.buf[:3]
            return 0
        while (end := self.buf.find(b"\r\n.\r\n", scan)) < 0:
            scan = max(0, len(self.buf) - 4)
            await self._fill()
        del self.buf[: end + 5]
        return end + 2


async def session(port: int, user: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = Lines(reader)
    try:
        _expect(await lines.line())
        writer.write(f"USER {user}\r\n".encode())
        _expect(await lines.line())
        writer.write(f"PASS {PASSWORD}\r\n".encode())
        _expect(await lines.line())
        writer.write(b"STAT\r\n")
        count, octets = (int(x) for x in _expect(await lines.line()).split()[1:3])
        writer.write(b"LIST\r\n")
        _expect(await lines.line())
        await lines.body()
        writer.write(b"".join(b"RETR %d\r\n" % n for n in range(1, count + 1)))
        received = 0
        for _ in range(count):
            _expect(await lines.line())
            received += await lines.body()
        if received < octets:
            raise RuntimeError(f"received {received} octets, STAT said {octets}")
        writer.write(b"QUIT\r\n")
        _expect(await lines.line())
        return count
    finally:
        writer.close()


def _expect(line: bytes) -> bytes:
    if not line.startswith(b"+OK"):
        raise RuntimeError(f"unexpected reply {line[:200]!r}")
    return line


@dataclass
class Result:
    server: str
    run: int
    sessions: int
    seconds: float
    sessions_per_s: float
    messages_per_s: float
    server_cpu_s: float
    client_cpu_s: float


async def load(port: int, seconds: float) -> tuple[int, int, float]:
    deadline = time.monotonic() + seconds
    done = [0, 0]

    async def worker(user: str) -> None:
        while time.monotonic() < deadline:
            count = await session(port, user)
            done[1] += count
            done[0] += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(u) for u in USERS))
    return done[0], done[1], time.monotonic() - start


def measure(name: str, run: int, port: int, pid: int, seconds: float) -> Result:
    cpu0, client0 = cpu_of_tree(pid), time.process_time()
    sessions, messages, elapsed = asyncio.run(load(port, seconds))
    cpu1, client1 = cpu_of_tree(pid), time.process_time()
    return Result(name, run, sessions, round(elapsed, 3), round(sessions / elapsed, 3),
                  round(messages / elapsed, 1), round(cpu1 - cpu0, 2),
                  round(client1 - client0, 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run our server on uvloop")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "pop3_bench.json")
    args = parser.parse_args()
    if args.serve:
        serve_ours(args.serve, args.uvloop)
        return 0
    if shutil.which("dovecot") is None:
        print("dovecot is not installed", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="pop3bench-"))
    base.chmod(0o755)  # Dovecot's auth and mail processes run as other users
    ours_proc = dove_proc = None
    try:
        ours_dir, dove_mail, octets = prepare(base)
        ours_proc, ours_port = start_ours(ours_dir, args.uvloop)
        dove_proc, dove_port = start_dovecot(base, dove_mail)
        for port in (ours_port, dove_port):  # warm up: indexes, page cache, scrypt cache
            asyncio.run(load(port, 0.1))
        results: list[Result] = []
        for run in range(1, args.runs + 1):  # interleaved so drift hits both alike
            results.append(measure("reference", run, ours_port, ours_proc.pid, args.seconds))
            results.append(measure("dovecot", run, dove_port, dove_proc.pid, args.seconds))
            for r in results[-2:]:
                print(json.dumps(asdict(r)), flush=True)
        summary = {}
        for name in ("reference", "dovecot"):
            mine = [r for r in results if r.server == name]
            summary[name] = {
                "median_sessions_per_s": statistics.median(r.sessions_per_s for r in mine),
                "median_server_cpu_s": statistics.median(r.server_cpu_s for r in mine),
                "median_client_cpu_s": statistics.median(r.client_cpu_s for r in mine),
            }
        ratio = (summary["reference"]["median_sessions_per_s"]
                 / summary["dovecot"]["median_sessions_per_s"])
        report = {
            "benchmark": "pop3 sessions/s: USER/PASS, STAT, LIST, RETR all (pipelined), QUIT",
            "maildrop": {"messages": MESSAGES, "octets": octets, "sizes": "1-50 KB"},
            "clients": len(USERS), "seconds_per_run": args.seconds, "runs": args.runs,
            "our_event_loop": "uvloop" if args.uvloop else "asyncio",
            "cpus": os.cpu_count(),
            "results": [asdict(r) for r in results],
            "summary": summary,
            "ratio_reference_over_dovecot": round(ratio, 3),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps({"summary": summary, "ratio": round(ratio, 3)}, indent=2))
        return 0
    finally:
        for proc in (ours_proc, dove_proc):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if os.environ.get("POP3_BENCH_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
