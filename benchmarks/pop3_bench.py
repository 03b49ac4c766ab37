"""POP3 sessions per second: the reference server against Dovecot, side by side.

The logic lives in ``mailharness bench servers`` (harness/cli/bench_servers.py), which
starts the reference server as ``mailharness serve`` and Dovecot through harness.peers;
this script runs only its POP3 half and prints the medians as JSON.

    .venv/bin/python benchmarks/pop3_bench.py [--seconds 8] [--runs 3] [--messages 1000]
"""

from __future__ import annotations

import argparse
import json
import sys

from harness.cli import bench_servers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {}
    with bench_servers.base_dir() as base, \
            bench_servers.pop3_servers(base, args.messages) as servers:
        for server, port in servers.values():
            bench_servers.pop3_run(server, port, 0.2)  # warm up
        for _ in range(args.runs):  # interleaved so drift hits both alike
            for name, (server, port) in servers.items():
                rows.setdefault(name, []).append(bench_servers.pop3_run(server, port,
                                                                        args.seconds))
    summary = {name: {key: bench_servers.median(runs, key) for key in
                      ("sessions_per_s", "server_cpu_s", "client_cpu_s")}
               for name, runs in rows.items()}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
