"""``mailharness bench``: side-by-side benchmarks on this machine, medians of several runs.

``generator``: our native engine against Postfix's smtp-source (Debian package postfix),
both sending to one smtp-sink on loopback with the same sessions and message size, a new
connection per message and reused; then locust's messages per second per worker core on
the same sink. Results go to reports/bench-generator-<time>/ as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from ..load import locust_runner
from ..load.config import LoadConfig
from ..load.native import default_processes, run_native
from ..peers import smtp_tools
from . import bench_servers

Measure = Callable[[int], tuple[float, float]]  # port -> (msgs/s, client CPU s per 1000 msgs)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmark the generator and servers side by side",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("generator", "servers"))
    p.add_argument("--sessions", type=int, default=50, help="concurrent sessions (default 50)")
    p.add_argument("--size", type=int, default=1024, help="message size in octets (default 1024)")
    p.add_argument("--messages", type=int, default=None,
                   help="messages per run (generator: 20000; servers: 20000)")
    p.add_argument("--runs", type=int, default=3, help="runs per contender; the median counts")
    p.add_argument("--processes", type=int, default=None,
                   help="native engine processes (default: half the cores; smtp-sink and "
                   "smtp-source need the rest)")
    p.add_argument("--locust-messages", type=int, default=2000,
                   help="messages per locust run (locust is slower; default 2000)")
    p.add_argument("--no-locust", action="store_true", help="skip the locust measurement")
    p.add_argument("--out", type=Path, default=None, help="report directory")
    p.add_argument("--settle", type=float, default=60.0,
                   help="servers: seconds to wait for queued mail to reach the Maildir")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="servers: processes of the reference servers (serve --workers); "
                   "Postfix and Dovecot use several processes too (default: one per core, "
                   "%(default)s)")
    p.add_argument("--sync", choices=("auto", "fsync", "syncfs"), default="auto",
                   help="servers: how the reference makes a delivery durable (serve --sync; "
                   "default %(default)s)")
    p.add_argument("--pop3-messages", type=int, default=1000,
                   help="servers: messages in each POP3 maildrop (default 1000)")
    p.add_argument("--pop3-seconds", type=float, default=8.0,
                   help="servers: seconds per POP3 run (default 8)")


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _smtp_source(args: argparse.Namespace, reuse: bool) -> Measure:
    def measure(port: int) -> tuple[float, float]:
        result = smtp_tools.smtp_source("127.0.0.1", port, sessions=args.sessions,
                                        messages=args.messages, size=args.size, reuse=reuse)
        if not result.ok:
            raise RuntimeError(f"smtp-source failed ({result.returncode}): {result.stderr[-300:]}")
        return result.rate, result.cpu_seconds / result.messages * 1000

    return measure


def _config(args: argparse.Namespace, port: int, reuse: bool, messages: int) -> LoadConfig:
    # The sink accepts anything; smtp-source's own default recipient is used for both.
    return LoadConfig("smtp", f"smtp://127.0.0.1:{port}", users=args.sessions, duration=120,
                      messages=messages, connection="reuse" if reuse else "new",
                      recipients=("sink@example.test",), profile="smtp-source-1k")


def _native(args: argparse.Namespace, reuse: bool) -> Measure:
    def measure(port: int) -> tuple[float, float]:
        config = _config(args, port, reuse, args.messages)
        if args.size != 1024:
            raise SystemExit("--size other than 1024 needs a profile; use the default")
        cpu = _cpu_self() + _cpu_children()
        result = run_native(config, args.processes or default_processes(config.target))
        cpu = _cpu_self() + _cpu_children() - cpu
        ok = sum(1 for r in result.rows if r.ok)
        if ok != args.messages:
            errors = [r.error for r in result.rows if not r.ok][:3]
            raise RuntimeError(f"native engine: {ok} of {args.messages} accepted: {errors}")
        return ok / (result.ended - result.started), cpu / ok * 1000

    return measure


def _locust(args: argparse.Namespace, reuse: bool) -> Measure:
    def measure(port: int) -> tuple[float, float]:
        config = _config(args, port, reuse, args.locust_messages)
        cpu = _cpu_children()
        outcome = locust_runner.run(config, locust_runner.LocustMode(processes=1))
        cpu = _cpu_children() - cpu
        rows = outcome.result.rows
        ok = sum(1 for r in rows if r.ok)
        if not rows or ok != len(rows):
            raise RuntimeError(f"locust: {ok} of {len(rows)} ok (exit {outcome.returncode})")
        # The rate over the time messages flowed: locust's own startup is not load.
        span = rows[-1].timestamp - rows[0].timestamp + rows[0].latency_ms / 1000
        return ok / span, cpu / ok * 1000

    return measure


def _interleaved(contenders: dict[str, Measure], runs: int) -> dict[str, dict[str, object]]:
    """Each contender once per round, ``runs`` rounds, so machine noise hits all alike."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for number in range(1, runs + 1):
        for name, measure in contenders.items():
            with smtp_tools.smtp_sink(extra_args=("-c",)) as sink:
                rate, cpu = measure(sink.port)
            rates[name].append(rate)
            cpus[name].append(cpu)
            print(f"  {name:<28} run {number}: {rate:8.0f} msg/s  {cpu:6.3f} CPU s/1000 msgs",
                  flush=True)
    return {name: {"runs": rates[name], "median": statistics.median(rates[name]),
                   "cpu_s_per_1000": statistics.median(cpus[name])} for name in contenders}


def _generator(args: argparse.Namespace) -> int:
    reason = smtp_tools.available()
    if reason:
        print(f"mailharness bench: {reason}", file=sys.stderr)
        return 2
    if args.messages is None:
        args.messages = 20000
    results: dict[str, dict[str, object]] = {}
    for reuse in (False, True):
        mode = "reuse" if reuse else "new"
        results.update(_interleaved({f"smtp-source {mode}": _smtp_source(args, reuse),
                                     f"native {mode}": _native(args, reuse)}, args.runs))
    if not args.no_locust:
        results.update(_interleaved({"locust reuse, 1 worker core": _locust(args, True)},
                                    args.runs))
    ratios = {mode: float(results[f"native {mode}"]["median"])  # type: ignore[arg-type]
              / float(results[f"smtp-source {mode}"]["median"])  # type: ignore[arg-type]
              for mode in ("new", "reuse")}
    command = ("mailharness bench generator " + " ".join(sys.argv[3:])).strip()
    out = args.out or Path("reports") / f"bench-generator-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    processes = args.processes or default_processes("smtp://127.0.0.1")
    data = {"command": command, "sessions": args.sessions, "size": args.size,
            "native_processes": processes,
            "messages": args.messages, "runs": args.runs, "results": results,
            "native_over_smtp_source": ratios}
    (out / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [f"# Generator benchmark: {args.sessions} sessions, {args.size}-octet messages, "
             f"against smtp-sink on loopback", "", f"Command: `{command}`", "",
             f"Native engine: {processes} process(es), uvloop when installed, PIPELINING.", "",
             "| contender | median msg/s | runs | client CPU s / 1000 msgs |",
             "|---|---:|---|---:|"]
    for name, value in results.items():
        runs = ", ".join(f"{r:.0f}" for r in value["runs"])  # type: ignore[attr-defined]
        lines.append(f"| {name} | {value['median']:.0f} | {runs} | "
                     f"{value['cpu_s_per_1000']:.3f} |")
    lines += ["", *(f"native / smtp-source ({mode}): {ratio:.2f}x"
                    for mode, ratio in ratios.items())]
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out / 'bench.md'}  {out / 'bench.json'}")
    return 0


def _servers(args: argparse.Namespace) -> int:
    reason = smtp_tools.available()
    if reason:
        print(f"mailharness bench: {reason}", file=sys.stderr)
        return 2
    messages = args.messages or 20000
    smtp: dict[str, dict[str, object]] = {}
    pop3: dict[str, dict[str, object]] = {}
    with bench_servers.base_dir() as base:
        contenders = bench_servers.smtp_contenders(base / "smtp", args.workers, args.sync)
        for reuse in (False, True):
            mode = "reuse" if reuse else "new"
            rows: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
            for number in range(1, args.runs + 1):  # interleaved: noise hits all alike
                for name, make in contenders.items():
                    with make() as server:
                        row = bench_servers.smtp_run(server, messages, reuse, args.sessions,
                                                     settle=args.settle)
                    rows[name].append(row)
                    print(f"  smtp {name:<10} {mode:<5} run {number}: "
                          f"{row['accept_per_s']:7.0f} accepted/s  "
                          f"{row['on_disk']:.0f}/{messages} on disk  "
                          f"server CPU {row['server_cpu_s']:.2f} s", flush=True)
            for name, runs in rows.items():
                smtp[f"{name} {mode}"] = {
                    "runs": runs, "median_accept_per_s": bench_servers.median(runs, "accept_per_s"),
                    "median_stored_per_s": bench_servers.median(runs, "stored_per_s"),
                    "median_server_cpu_s": bench_servers.median(runs, "server_cpu_s"),
                    "all_on_disk": all(r["on_disk"] == messages for r in runs)}
        with bench_servers.pop3_servers(base / "pop3", args.pop3_messages,
                                        args.workers) as servers:
            for server, port in servers.values():  # warm up: indexes, page cache
                bench_servers.pop3_run(server, port, 0.2)
            prows: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for number in range(1, args.runs + 1):
                for name, (server, port) in servers.items():
                    row = bench_servers.pop3_run(server, port, args.pop3_seconds)
                    prows[name].append(row)
                    print(f"  pop3 {name:<10} run {number}: {row['sessions_per_s']:7.2f} "
                          f"sessions/s  server CPU {row['server_cpu_s']:.2f} s  "
                          f"client CPU {row['client_cpu_s']:.2f} s", flush=True)
            for name, runs in prows.items():
                pop3[name] = {"runs": runs,
                              "median_sessions_per_s": bench_servers.median(runs,
                                                                            "sessions_per_s"),
                              "median_server_cpu_s": bench_servers.median(runs, "server_cpu_s"),
                              "median_client_cpu_s": bench_servers.median(runs, "client_cpu_s")}
    ratios = _server_ratios(smtp, pop3)
    command = ("mailharness bench servers " + " ".join(sys.argv[3:])).strip()
    out = args.out or Path("reports") / f"bench-servers-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    data = {"command": command, "cpus": os.cpu_count(), "reference_workers": args.workers,
            "reference_sync": args.sync,
            "smtp_messages": messages,
            "sessions": args.sessions, "runs": args.runs, "pop3_maildrop": args.pop3_messages,
            "pop3_clients": len(bench_servers.POP3_USERS), "pop3_seconds": args.pop3_seconds,
            "smtp": smtp, "pop3": pop3, "ratios": ratios}
    (out / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [f"# Server benchmark ({os.cpu_count()} cores, medians of {args.runs} run(s))", "",
             f"Command: `{command}`", "",
             f"SMTP: smtp-source, {args.sessions} sessions, {messages} messages of 1 KB; "
             "durable Maildir delivery; files counted on disk afterwards. The reference: "
             f"`serve --workers {args.workers} --sync {args.sync}`.", "",
             "| server, mode | accepted msg/s | stored msg/s | server CPU s | all on disk |",
             "|---|---:|---:|---:|---|"]
    for name, value in smtp.items():
        lines.append(f"| {name} | {value['median_accept_per_s']:.0f} | "
                     f"{value['median_stored_per_s']:.0f} | "
                     f"{value['median_server_cpu_s']:.2f} | {value['all_on_disk']} |")
    lines += ["", f"POP3: {len(bench_servers.POP3_USERS)} clients, USER/PASS, STAT, LIST, "
              f"RETR all, QUIT on {args.pop3_messages} messages of 1-50 KB, "
              f"{args.pop3_seconds:g} s per run.", "",
              "| server | sessions/s | server CPU s | client CPU s |", "|---|---:|---:|---:|"]
    for name, value in pop3.items():
        lines.append(f"| {name} | {value['median_sessions_per_s']:.2f} | "
                     f"{value['median_server_cpu_s']:.2f} | {value['median_client_cpu_s']:.2f} |")
    lines += ["", *(f"{name}: {ratio:.2f}x" for name, ratio in ratios.items())]
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten: {out / 'bench.md'}  {out / 'bench.json'}")
    return 0


def _server_ratios(smtp: dict[str, dict[str, object]],
                   pop3: dict[str, dict[str, object]]) -> dict[str, float]:
    ratios: dict[str, float] = {}
    for mode in ("new", "reuse"):
        ours = smtp.get(f"reference {mode}", {}).get("median_accept_per_s")
        for peer in ("aiosmtpd", "postfix"):
            theirs = smtp.get(f"{peer} {mode}", {}).get("median_accept_per_s")
            if ours and theirs:
                ratios[f"smtp reference / {peer} ({mode})"] = float(ours) / float(theirs)  # type: ignore[arg-type]
    ours = pop3.get("reference", {}).get("median_sessions_per_s")
    theirs = pop3.get("dovecot", {}).get("median_sessions_per_s")
    if ours and theirs:
        ratios["pop3 reference / dovecot"] = float(ours) / float(theirs)  # type: ignore[arg-type]
    return ratios


def run(args: argparse.Namespace) -> int:
    if args.what == "generator":
        return _generator(args)
    return _servers(args)
