"""Several processes delivering, renaming and reading one folder at once."""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from pathlib import Path
from typing import Any

from reference_servers.store import Store

WRITERS = 4
PER_WRITER = 25


def _body(writer: int, n: int) -> bytes:
    return f"Subject: w{writer} n{n}\r\n\r\nfrom writer {writer}, message {n}\r\n".encode()


def _writer(root: str, writer: int, out: str, start: Any) -> None:
    store = Store(root)
    start.wait()
    uids: list[int] = []
    if writer == 0:
        # The group-commit path, as SMTP uses it for multi-recipient mail.
        for n in range(0, PER_WRITER, 5):
            infos = store.deliver_many([("alice", _body(0, k)) for k in range(n, n + 5)])
            uids.extend(i.uid for i in infos)
    else:
        inbox = store.mailbox("alice").folder()
        rng = random.Random(writer)
        for n in range(PER_WRITER):
            uids.append(store.deliver("alice", _body(writer, n)).uid)
            if writer == 1:
                # Flag churn: renames while others list the directory.
                inbox.set_flags(rng.choice(uids), rng.choice([["\\Seen"], [], ["\\Flagged"]]))
            if writer == 2 and n % 5 == 4:
                inbox.claim_new()
    Path(out).write_text(json.dumps(uids))


def _reader(root: str, out: str, stop: Any, start: Any) -> None:
    """Snapshot the folder over and over, checking what an IMAP session relies on."""
    inbox = Store(root).mailbox("alice").folder()
    start.wait()
    uid_of: dict[str, int] = {}
    highest = 0
    problems: list[str] = []
    snapshots = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = stop.is_set()
        msgs = inbox.messages()
        snapshots += 1
        uids = [m.uid for m in msgs]
        if uids != sorted(set(uids)):
            problems.append(f"not strictly ascending: {uids}")
        for m in msgs:
            if m.key not in uid_of and m.uid <= highest:
                # RFC 3501 §2.3.1.1: a message added later has a higher UID than any seen.
                problems.append(f"new message uid {m.uid} not above {highest}")
            if uid_of.setdefault(m.key, m.uid) != m.uid:
                problems.append(f"{m.key} changed uid {uid_of[m.key]} -> {m.uid}")
        highest = max([highest, *uids])
        if done:
            break
    Path(out).write_text(json.dumps({"problems": problems[:20], "snapshots": snapshots,
                                     "last": len(inbox.messages())}))


def test_concurrent_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    root = str(tmp_path / "mail")
    Store(root).mailbox("alice")
    start = ctx.Barrier(WRITERS + 1)
    stop = ctx.Event()
    writers = [ctx.Process(target=_writer, args=(root, w, str(tmp_path / f"w{w}.json"), start))
               for w in range(WRITERS)]
    reader = ctx.Process(target=_reader, args=(root, str(tmp_path / "r.json"), stop, start))
    for p in [*writers, reader]:
        p.start()
    for p in writers:
        p.join(60)
    stop.set()
    reader.join(60)
    assert [p.exitcode for p in [*writers, reader]] == [0] * (WRITERS + 1)

    per_writer = [json.loads((tmp_path / f"w{w}.json").read_text()) for w in range(WRITERS)]
    for uids in per_writer:
        assert uids == sorted(uids) and len(set(uids)) == len(uids)
    everything = sorted(u for uids in per_writer for u in uids)
    total = WRITERS * PER_WRITER
    assert everything == list(range(1, total + 1))  # unique, none skipped, none lost

    inbox = Store(root).mailbox("alice").folder()
    msgs = inbox.messages()
    assert [m.uid for m in msgs] == list(range(1, total + 1))
    bodies = {inbox.read(m.uid) for m in msgs}
    assert bodies == {_body(w, n) for w in range(WRITERS) for n in range(PER_WRITER)}
    assert inbox.uidnext == total + 1

    report = json.loads((tmp_path / "r.json").read_text())
    assert report["problems"] == []
    assert report["last"] == total
    assert report["snapshots"] > 1
