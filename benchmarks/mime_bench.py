"""Parse + BODYSTRUCTURE throughput of reference_servers.mime against the stdlib email package.

    .venv/bin/python benchmarks/mime_bench.py [--count 1000] [--seed 1] [--runs 3]

Both sides see the same seeded corpus (reference_servers.mime.corpus, default size and type
mix: 1 KB to 1 MB). Ours: ``parse`` then ``bodystructure(...).to_imap()``. The stdlib:
``email.message_from_bytes(data, policy=email.policy.default)`` then a walk over its parts
reading each part's content type and parameters (what BODYSTRUCTURE needs at least). Runs
alternate between the two; the medians and their ratio are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reference_servers.mime import bodystructure, parse
from reference_servers.mime.corpus import generate_corpus


def ours(data: bytes) -> None:
    bodystructure(parse(data), True).to_imap()


def stdlib(data: bytes) -> None:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    for part in msg.walk():
        part.get_content_type()
        part.get_params()


def timed(fn: Callable[[bytes], None], corpus: list[bytes]) -> float:
    start = time.perf_counter()
    for data in corpus:
        fn(data)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default="reports/mime_bench.json")
    args = ap.parse_args(argv)

    corpus = list(generate_corpus(args.count, args.seed))
    total = sum(map(len, corpus))
    times: dict[str, list[float]] = {"mailharness": [], "stdlib": []}
    for _ in range(args.runs):
        times["mailharness"].append(timed(ours, corpus))
        times["stdlib"].append(timed(stdlib, corpus))
    result: dict[str, object] = {
        "benchmark": "parse + BODYSTRUCTURE vs email.message_from_bytes + walk",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "messages": len(corpus),
        "bytes": total,
        "min_size": min(map(len, corpus)),
        "max_size": max(map(len, corpus)),
        "seed": args.seed,
        "runs": args.runs,
    }
    for name, runs in times.items():
        med = statistics.median(runs)
        result[name] = {
            "seconds": runs,
            "median_seconds": med,
            "messages_per_second": len(corpus) / med,
            "mb_per_second": total / med / 1e6,
        }
        print(
            f"{name:12s} median {med:7.3f} s  {len(corpus) / med:9.0f} msg/s  "
            f"{total / med / 1e6:7.1f} MB/s  runs {[round(r, 3) for r in runs]}"
        )
    ratio = statistics.median(times["stdlib"]) / statistics.median(times["mailharness"])
    result["speedup"] = ratio
    print(
        f"corpus: {len(corpus)} messages, {total / 1e6:.1f} MB; speedup {ratio:.1f}x (target >= 2x)"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
