"""``mailharness record --listen 127.0.0.1:PORT --target URL --out FILE``.

Point a real client at the listen address; its session with the target is proxied and
written as a YAML case (several sessions with ``--sessions N``: one YAML document each).
STARTTLS/STLS is followed by terminating TLS on both sides with a throwaway certificate,
so the client must not check it. Credentials become the replay target's ($user,
$password, $sasl_plain, $cram_md5...), values the server handed out and the client sent
back (UIDs, message numbers, queue ids) become captured variables. Replay a recording
with user:password@ in the target URL. Exit status: 0 written, 2 nothing recorded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..target import TargetError, parse_target
from ..transcript import LoadError, load_text
from ..transcript.recorder import Recorder, to_yaml


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "record", help="proxy a real client's session and write it as a transcript",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--listen", required=True, metavar="HOST:PORT",
                        help="where the client connects, e.g. 127.0.0.1:2500")
    parser.add_argument("--target", required=True, metavar="URL")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE")
    parser.add_argument("--sessions", type=int, default=1, metavar="N")
    parser.add_argument("--title", default="recorded session")
    parser.add_argument("--match-text", action="store_true",
                        help="also expect each reply's first line (dates, ids, numbers as "
                             "patterns): replays against the same software only")
    parser.add_argument("--wait", type=float, default=300.0, metavar="SECONDS",
                        help="how long to wait for each client (default 300)")


def _listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise TargetError(f"--listen wants HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    try:
        target = parse_target(args.target)
        recorder = Recorder(target, _listen(args.listen))
    except (TargetError, OSError) as exc:
        print(f"mailharness record: {exc}", file=sys.stderr)
        return 2
    documents = []
    try:
        host, port = recorder.address
        print(f"listening on {host}:{port}, proxying to {target}", flush=True)
        for number in range(1, args.sessions + 1):
            try:
                recording = recorder.record_one(accept_timeout=args.wait)
            except TimeoutError:
                print("mailharness record: no client connected in time", file=sys.stderr)
                break
            except OSError as exc:
                print(f"mailharness record: session {number}: {exc}", file=sys.stderr)
                break
            title = args.title if args.sessions == 1 else f"{args.title} {number}"
            documents.append(to_yaml(recording, title=title, source=str(target),
                                     match_text=args.match_text))
            print(f"session {number}: {len(recording.events)} lines recorded", flush=True)
    finally:
        recorder.close()
    if not documents:
        return 2
    text = "---\n".join(documents)
    try:
        load_text(text, args.out)
    except LoadError as exc:
        print(f"mailharness record: the recording does not load:\n{exc}", file=sys.stderr)
        return 2
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
