"""SMTP resident memory per idle connection (issue 3, "Performance").

Throughput is measured side by side with aiosmtpd and Postfix by ``mailharness bench
servers`` (harness/cli/bench_servers.py). This script measures what that command does not:
the reference server's resident memory with N idle connections, each of which completed
EHLO, after a warm-up whose connections are closed again. The server runs as
``mailharness serve`` (one process, uvloop when installed). Writes
``reports/smtp_memory.json``.

    .venv/bin/python benchmarks/smtp_bench.py [--idle 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from harness.cli import bench_servers

ROOT = Path(__file__).resolve().parent.parent


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
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


async def measure(port: int, pid: int, count: int) -> dict[str, Any]:
    for writer in await open_idle(port, 10):  # warm-up: imports, first allocations
        writer.close()
    await asyncio.sleep(1.0)
    before = rss_kb(pid)
    writers = await open_idle(port, count)
    await asyncio.sleep(1.0)
    after = rss_kb(pid)
    for writer in writers:
        writer.close()
    return {"connections": count, "rss_before_kb": before, "rss_after_kb": after,
            "kb_per_connection": round((after - before) / count, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to open")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "smtp_memory.json")
    args = parser.parse_args()
    with bench_servers.base_dir() as base, \
            bench_servers.ReferenceServe(base / "ref", "smtp") as server:
        assert server.proc is not None
        result = asyncio.run(measure(server.port, server.proc.pid, args.idle))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
