"""``mailharness load smtp|pop3``: generate load, account for every accepted message,
print a live progress line and one totals line, write JSON/CSV/HTML reports."""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import tempfile
from pathlib import Path

from ..load import locust_runner
from ..load.accounting import (
    Accounting,
    AccountingError,
    DeliveryTracker,
    MaildirSource,
    Pop3Source,
    Source,
)
from ..load.config import LoadConfig
from ..load.native import (
    EngineResult,
    Progress,
    check_auth,
    default_processes,
    run_native,
)
from ..load.profile import DEFAULT_PROFILE, ProfileError, load_profile
from ..load.progress import LivePrinter, ProgressLine
from ..load.stats import Percentiles, Summary, is_primary, summarize, totals_line
from ..report import load_report
from ..target import TargetError, parse_target


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "load", help="generate SMTP/POP3 load (locust or the native engine)",
        description="Generate load against a target, bounded by --duration and --messages "
        "(it always stops by itself), with delivery accounting over POP3 (--account) or a "
        "Maildir (--maildir). Ends with: sent N  accepted N  lost N  duplicated N  "
        "corrupted N  R msg/s  p50/p95/p99 (end-to-end delivery time when accounting ran, "
        "else the SMTP transaction latency). Exit status 0 only for a run without errors "
        "and, with accounting, without loss.")
    p.add_argument("protocol", choices=("smtp", "pop3", "transcript"),
                   help="transcript: run --transcript FILE's cases as locust tasks")
    p.add_argument("--target", required=True, help="target URL, e.g. smtp://127.0.0.1:2525")
    p.add_argument("--users", type=int, default=10, help="concurrent sessions (default 10)")
    p.add_argument("--spawn-rate", type=float, default=0.0,
                   help="users started per second (default: all at once)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds (default 10)")
    p.add_argument("--messages", type=int, default=0,
                   help="stop after this many messages (POP3: sessions; transcript: case "
                   "runs), failed ones included; 0 = by duration only. Distributed locust: "
                   "the master splits it over the workers and ends the run when all "
                   "results are in")
    p.add_argument("--rate", type=float, default=0.0,
                   help="open loop: arrivals per second from one pacer per process that "
                   "the users draw from, latency counted from each scheduled arrival "
                   "(distributed locust: split over the workers); needs --users >= rate x "
                   "latency. Default closed loop (as fast as it goes)")
    p.add_argument("--engine", choices=("native", "locust"), default="native")
    p.add_argument("--processes", type=int, default=None,
                   help="native engine processes; default: one per core for a remote target, "
                        "half the cores for a loopback target (the server needs the rest)")
    p.add_argument("--master", action="store_true", help="locust: run as the master")
    p.add_argument("--expect-workers", type=int, default=1,
                   help="locust master: workers to wait for")
    p.add_argument("--worker", action="store_true", help="locust: run as a worker")
    p.add_argument("--master-host", default="127.0.0.1", help="locust master address")
    p.add_argument("--master-port", type=int, default=5557, help="locust master port")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help="workload profile file, or built-in name: smtp-source-1k (the "
                   "default: Postfix smtp-source -l 1024 style) or mixed (ILLUSTRATIVE "
                   "hand-picked size/recipient weights, not from a published benchmark)")
    p.add_argument("--connection", choices=("new", "reuse"), default=None,
                   help="override the profile: a new connection per message, or reuse")
    p.add_argument("--sender", default="loadgen@client.example.test")
    p.add_argument("--rcpt", action="append", default=None, metavar="ADDRESS",
                   help="recipient (repeatable); the first one's mailbox is accounted "
                   "(default alice@example.test)")
    p.add_argument("--pop3-user", action="append", default=None, metavar="USER:PASSWORD",
                   help="POP3 load: logins spread over the users (repeatable); a maildrop "
                   "takes one session at a time (RFC 1939 §8)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--account", metavar="POP3_URL",
                       help="find accepted messages again over POP3 (pop3://user:pass@host:port)")
    group.add_argument("--maildir", type=Path, metavar="PATH",
                       help="find accepted messages again in this Maildir")
    p.add_argument("--settle", type=float, default=10.0,
                   help="seconds to wait after the load for deliveries to show (default 10)")
    p.add_argument("--transcript", default=None, help="YAML transcript for protocol transcript")
    p.add_argument("--out", type=Path, default=None,
                   help="report directory (default reports/load-<time>-<run id>)")
    p.add_argument("--quiet", action="store_true", help="no live progress line")


def _config(args: argparse.Namespace) -> LoadConfig:
    if args.users < 1 or args.duration <= 0 or args.messages < 0 or args.rate < 0:
        raise ValueError("--users must be >= 1, --duration > 0, --messages and --rate >= 0")
    target = parse_target(args.target)
    expected = {"smtp": ("smtp", "lmtp"), "pop3": ("pop3",)}.get(args.protocol)
    if expected and target.protocol not in expected:
        raise ValueError(f"--target {target} does not speak {args.protocol}")
    profile = load_profile(args.profile)  # fail early, before any process starts
    if target.protocol in ("smtp", "lmtp"):
        check_auth(profile, target)
    return LoadConfig(
        protocol=args.protocol, target=args.target, users=args.users,
        spawn_rate=args.spawn_rate, duration=args.duration, messages=args.messages,
        rate=args.rate, profile=args.profile, sender=args.sender,
        recipients=tuple(args.rcpt or ("alice@example.test",)), connection=args.connection,
        accounts=tuple(args.pop3_user or ()))


def _source(args: argparse.Namespace) -> Source | None:
    if args.maildir is not None:
        return MaildirSource(args.maildir)
    if args.account:
        return Pop3Source(parse_target(args.account))
    return None


def _run_engine(args: argparse.Namespace, config: LoadConfig,
                progress: ProgressLine) -> EngineResult:
    if args.engine == "native":
        def report(delta: Progress) -> None:
            progress.add(delta.ok, delta.errors, delta.latencies)

        processes = args.processes or default_processes(config.target)
        if args.quiet:
            return run_native(config, processes, report)
        with LivePrinter(progress):
            return run_native(config, processes, report)
    mode = locust_runner.LocustMode(
        processes=args.processes or 1, master=args.master, expect_workers=args.expect_workers,
        master_host=args.master_host, master_port=args.master_port, transcript=args.transcript)
    outcome = locust_runner.run(config, mode)
    if outcome.locust_requests is not None and outcome.locust_requests != len(outcome.result.rows):
        print(f"warning: locust counted {outcome.locust_requests} requests but "
              f"{len(outcome.result.rows)} rows came back", file=sys.stderr)
    return outcome.result


def _worker(args: argparse.Namespace, config: LoadConfig) -> int:
    mode = locust_runner.LocustMode(worker=True, master_host=args.master_host,
                                    master_port=args.master_port, transcript=args.transcript)
    with tempfile.TemporaryDirectory(prefix="mh-worker-") as work:
        proc = locust_runner.start(config, mode, Path(work))
        # A worker lives as long as its master says; the bound is the master's run plus
        # the time it waits for workers, so a lost master cannot keep it forever.
        return locust_runner.stop(proc, locust_runner.deadline(config) + 60)


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        if args.protocol == "transcript" and (args.engine != "locust" or not args.transcript):
            raise ValueError("protocol transcript needs --engine locust and --transcript FILE")
        if (args.master or args.worker) and args.engine != "locust":
            args.engine = "locust"  # distributed mode is locust's
        if args.worker:
            return _worker(args, config)
        source = _source(args)
        tracker = DeliveryTracker(source, config.run_id) if source is not None else None
        if tracker is not None:
            tracker.start()
    except (ValueError, TargetError, ProfileError, AccountingError, OSError) as exc:
        print(f"mailharness load: {exc}", file=sys.stderr)
        return 2
    progress = ProgressLine()
    result = _run_engine(args, config, progress)
    accounting = tracker.finish(result.rows, args.settle) if tracker is not None else None
    # A transcript run's primary requests are its cases, one row name per case.
    primary = {"smtp": "smtp:message", "pop3": "pop3:session"}.get(args.protocol,
                                                                   "transcript:")
    summary = summarize(result.rows, result.started, result.ended, primary)
    latency = Percentiles.of([r.latency_ms for r in result.rows
                              if r.ok and is_primary(r.name, primary)])
    totals = _totals(result, summary.rate(), latency, accounting, primary)
    _print(summary, accounting, result)
    meta = {
        "protocol": args.protocol, "target": parse_target(args.target).url(),
        "engine": args.engine, "processes": result.processes, "users": config.users,
        "rate": config.rate, "duration": config.duration, "messages": config.messages,
        "profile": load_profile(config.profile).name,
        "profile_source": load_profile(config.profile).source,
        "connection": config.connection, "run_id": config.run_id, "unsent": result.unsent,
        "started_iso": datetime.datetime.fromtimestamp(result.started).isoformat(),
    }
    out = args.out or Path("reports") / (
        f"load-{datetime.datetime.now():%Y%m%d-%H%M%S}-{config.run_id}")
    paths = load_report.write(out, load_report.build(summary, meta, totals, accounting),
                              result.rows)
    print(f"reports: {paths['html']}  {paths['json']}  {paths['csv']}")
    print(totals)
    errors = sum(err for _, err in summary.counts.values())
    return 0 if not errors and (accounting is None or accounting.clean) else 1


def _totals(result: EngineResult, rate: float, latency: Percentiles | None,
            accounting: Accounting | None, primary: str) -> str:
    sent = sum(1 for row in result.rows if is_primary(row.name, primary))
    if primary == "smtp:message":
        accepted = sum(1 for row in result.rows if row.accepted)
    else:
        accepted = sum(1 for row in result.rows if is_primary(row.name, primary) and row.ok)
    nothing = Percentiles(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    if accounting is None:
        return totals_line(sent, accepted, 0, 0, 0, rate, latency or nothing)
    return totals_line(sent, accepted, len(accounting.lost), len(accounting.duplicated),
                       len(accounting.corrupted), rate, accounting.end_to_end)


def _print(summary: Summary, accounting: Accounting | None, result: EngineResult) -> None:
    for name, (ok, err) in summary.counts.items():
        p = summary.requests.get(name)
        lat = f"p50 {p.p50:.1f}  p95 {p.p95:.1f}  p99 {p.p99:.1f} ms" if p else ""
        print(f"  {name:<16} ok {ok:<7} errors {err:<5} {lat}")
    for code, count in summary.errors_by_code.items():
        print(f"  error {code or '(no reply)'} x{count}: {summary.error_samples[code]}")
    if result.unsent:
        print(f"  {result.unsent} scheduled messages never started: the generator or the "
              "server could not keep up with --rate")
    if accounting is not None:
        state = "clean" if accounting.clean else "NOT CLEAN"
        print(f"  accounting via {accounting.source}: {state}; unexpected "
              f"{len(accounting.unexpected)}; poll resolution {accounting.resolution_ms:g} ms")
        for error in accounting.poll_errors[:3]:
            print(f"  accounting poll error: {error}")
        if accounting.lost:
            print(f"  lost: {', '.join(accounting.lost[:10])}")
