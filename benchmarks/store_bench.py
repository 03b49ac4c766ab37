"""Benchmark the Maildir store: delivery rate (each sync method, fsync off, group commit)
and the time to open a 100,000-message folder the first time (no index) and the second
time (index).

    .venv/bin/python benchmarks/store_bench.py [--messages 100000] [--runs 3]

Writes reports/store_bench.json and prints a summary. Every figure is the median of
``--runs`` runs. The page cache is warm (we do not drop caches on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from reference_servers.store import Store
from reference_servers.store._durable import syncfs_available
from reference_servers.store._filenames import unique_base

REPORT = Path(__file__).resolve().parents[1] / "reports" / "store_bench.json"
BODY = (
    b"From: bench@example.test\r\nTo: alice@example.test\r\nSubject: benchmark\r\n\r\n"
    + b"A line of an ordinary message body, seventy-odd octets long, CRLF.\r\n" * 28
)


def _median(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def deliveries_per_second(base: Path, count: int, *, fsync: bool, sync: str = "auto") -> float:
    root = Path(tempfile.mkdtemp(dir=base))
    store = Store(root, fsync=fsync, sync=sync)
    store.deliver("alice", BODY)  # create the tree outside the timing
    start = time.perf_counter()
    for _ in range(count):
        store.deliver("alice", BODY)
    elapsed = time.perf_counter() - start
    shutil.rmtree(root)
    return count / elapsed


def group_commit_per_second(base: Path, batches: int, recipients: int, sync: str,
                            user_count: int) -> float:
    """Batches of ``recipients`` messages spread over ``user_count`` INBOXes."""
    root = Path(tempfile.mkdtemp(dir=base))
    store = Store(root, sync=sync)
    users = [f"user{i % user_count}" for i in range(recipients)]
    store.deliver_many([(u, BODY) for u in users])
    start = time.perf_counter()
    for _ in range(batches):
        store.deliver_many([(u, BODY) for u in users])
    elapsed = time.perf_counter() - start
    shutil.rmtree(root)
    return batches * recipients / elapsed


def build_big_folder(root: Path, messages: int) -> Path:
    """Write the files directly (as a fast MDA would), named the way the store names them."""
    inbox = Store(root, fsync=False).mailbox("big").folder()
    cur = inbox.path / "cur"
    now = time.time_ns()
    for i in range(messages):
        name = unique_base(len(BODY), len(BODY), now + i * 1000)
        with open(cur / f"{name}:2,S", "wb") as fh:
            fh.write(BODY)
    return inbox.path


def open_times(root: Path, folder_path: Path, messages: int) -> dict[str, float]:
    (folder_path / "mailharness-uidlist").unlink(missing_ok=True)
    t0 = time.perf_counter()
    first = Store(root).mailbox("big").folder().messages()
    t1 = time.perf_counter()
    second_folder = Store(root).mailbox("big").folder()
    second = second_folder.messages()
    t2 = time.perf_counter()
    assert len(first) == len(second) == messages, (len(first), len(second))
    # Unchanged-folder sync: directory mtimes are only trusted once 2 s old.
    time.sleep(2.1)
    second_folder.messages()
    t3 = time.perf_counter()
    second_folder.messages()
    t4 = time.perf_counter()
    return {"first_open_s": t1 - t0, "second_open_s": t2 - t1, "unchanged_sync_s": t4 - t3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fsync-deliveries", type=int, default=300)
    parser.add_argument("--nofsync-deliveries", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to build the test trees (default: a temporary directory)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="store-bench-", dir=args.dir))
    methods = ["fsync", "syncfs"] if syncfs_available() else ["fsync"]
    try:
        results: dict[str, object] = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "runs": args.runs,
            "message_octets": len(BODY),
        }
        for method in methods:
            med, runs = _median(args.runs, partial(
                deliveries_per_second, base, args.fsync_deliveries, fsync=True, sync=method))
            results[f"deliveries_per_s_{method}"] = {"median": med, "runs": runs,
                                                     "count": args.fsync_deliveries}
            print(f"deliveries/s, {method:<7}: {med:9.1f}  {[round(r, 1) for r in runs]}")
        med, runs = _median(args.runs, lambda: deliveries_per_second(
            base, args.nofsync_deliveries, fsync=False))
        results["deliveries_per_s_nofsync"] = {"median": med, "runs": runs,
                                               "count": args.nofsync_deliveries}
        print(f"deliveries/s, fsync off: {med:9.1f}  {[round(r, 1) for r in runs]}")
        for method in methods:
            for recipients, user_count in ((10, 10), (16, 1)):
                med, runs = _median(args.runs, partial(
                    group_commit_per_second, base, 30, recipients, method, user_count))
                key = f"group_commit_msgs_per_s_{method}_{recipients}_to_{user_count}_users"
                results[key] = {"median": med, "runs": runs}
                print(f"deliver_many, {recipients} msgs to {user_count:>2} users, {method:<6}: "
                      f"{med:9.1f} msg/s  {[round(r, 1) for r in runs]}")

        root = base / "big"
        t = time.perf_counter()
        folder_path = build_big_folder(root, args.messages)
        print(f"built {args.messages} messages in {time.perf_counter() - t:.1f} s")
        opens = [open_times(root, folder_path, args.messages) for _ in range(args.runs)]
        for key in ("first_open_s", "second_open_s", "unchanged_sync_s"):
            values = [o[key] for o in opens]
            results[key] = {"median": statistics.median(values), "runs": values,
                            "messages": args.messages}
            print(f"{key:<22} : {statistics.median(values):9.4f} s  "
                  f"{[round(v, 4) for v in values]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
