"""POP3 sessions per second: the reference server against Dovecot, side by side.

The POP3 half of ``mailharness bench servers`` (harness/cli/bench_servers.py), which
starts Dovecot through harness.peers and the reference as ``mailharness serve --workers N``
(uvloop when installed), and drives both. It prints the medians as JSON and writes every
run to ``reports/pop3_bench.json``.

One session: USER/PASS, STAT, LIST, RETR of every message (pipelined), QUIT, on a
1,000-message maildrop of 1-50 KB; ten concurrent clients. CPU per session (utime+stime
of the server's processes over sessions completed) is the figure to trust on a shared
machine; sessions/s moves with whatever else runs.

    .venv/bin/python benchmarks/pop3_bench.py [--seconds 8] [--runs 3] [--messages 1000]
                                              [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from harness.cli import bench_servers

ROOT = Path(__file__).resolve().parent.parent


def _per_session(row: dict[str, float], key: str) -> float:
    sessions = row["sessions_per_s"] * row["seconds"]
    return 1000 * row[key] / sessions if sessions else 0.0


def summarize(rows: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, runs in rows.items():
        for run in runs:
            run["server_cpu_ms_per_session"] = _per_session(run, "server_cpu_s")
            run["client_cpu_ms_per_session"] = _per_session(run, "client_cpu_s")
        summary[name] = {key: statistics.median(r[key] for r in runs) for key in (
            "sessions_per_s", "server_cpu_s", "client_cpu_s", "server_cpu_ms_per_session",
            "client_cpu_ms_per_session")}
    if "reference" in summary and "dovecot" in summary:
        ref, dove = summary["reference"], summary["dovecot"]
        summary["ratio_sessions_per_s"] = ref["sessions_per_s"] / dove["sessions_per_s"]
        # Dovecot's CPU per session over ours: above 1 means we do a session with less CPU.
        summary["ratio_cpu_per_session"] = (dove["server_cpu_ms_per_session"]
                                            / ref["server_cpu_ms_per_session"])
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="reference server processes sharing the port, as Dovecot "
                             "runs a process per session (default: one per CPU, %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "pop3_bench.json")
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {}
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(bench_servers.base_dir())
        servers = stack.enter_context(bench_servers.pop3_servers(base, args.messages,
                                                                 args.workers))
        for server, port in servers.values():
            bench_servers.pop3_run(server, port, 0.2)  # warm up
        for _ in range(args.runs):  # interleaved so drift hits both alike
            for name, (server, port) in servers.items():
                rows.setdefault(name, []).append(bench_servers.pop3_run(server, port,
                                                                        args.seconds))
    summary = summarize(rows)
    report = {"workers": args.workers, "seconds": args.seconds, "messages": args.messages,
              "median": summary, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
