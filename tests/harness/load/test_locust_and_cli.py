"""The locust engine (local and distributed on loopback) and ``mailharness load`` with its
report files."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.cli import main
from harness.load import locust_runner
from harness.load.accounting import DeliveryTracker, MaildirSource
from harness.load.config import LoadConfig
from harness.peers._ports import free_port


def test_locust_local_run_is_clean_and_rows_match_locust_stats(lossy_smtp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp()
    config = LoadConfig("smtp", url, users=5, duration=8, messages=150, connection="reuse")
    tracker = DeliveryTracker(MaildirSource(server.maildir), config.run_id)
    tracker.start()
    outcome = locust_runner.run(config, locust_runner.LocustMode(), tmp_path)
    accounting = tracker.finish(outcome.result.rows, settle=5)
    rows = outcome.result.rows
    assert outcome.returncode == 0
    assert len(rows) == 150 == outcome.locust_requests
    assert all(r.ok and r.code == "250" and r.name == "smtp:message" for r in rows)
    assert accounting.accepted == 150 and accounting.clean
    assert server.batched_commands == 150  # PIPELINING used by the locust user too


def test_locust_catches_loss_too(lossy_smtp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp(drop_every=5)
    config = LoadConfig("smtp", url, users=2, duration=8, messages=50, connection="new")
    tracker = DeliveryTracker(MaildirSource(server.maildir), config.run_id)
    tracker.start()
    outcome = locust_runner.run(config, locust_runner.LocustMode(), tmp_path)
    accounting = tracker.finish(outcome.result.rows, settle=1)
    assert len(outcome.result.rows) == 50
    assert len(accounting.lost) == 10 == len(server.dropped)


@pytest.mark.parametrize("rate", [40.0, 0.0])
def test_distributed_master_and_two_workers(lossy_smtp, tmp_path: Path, rate: float) -> None:  # type: ignore[no-untyped-def]
    """Bounded by --messages, not by the (long) duration: the master gives each worker
    its share of the budget and of the rate, and quits once all results are in."""
    server, url = lossy_smtp()
    messages = 80
    config = LoadConfig("smtp", url, users=4, duration=60, connection="reuse", rate=rate,
                        messages=messages)
    port = free_port()
    master_mode = locust_runner.LocustMode(master=True, expect_workers=2, master_port=port)
    worker_mode = locust_runner.LocustMode(worker=True, master_port=port)
    (tmp_path / "m").mkdir()
    master = locust_runner.start(config, master_mode, tmp_path / "m")
    workers = []
    for number in range(2):
        (tmp_path / f"w{number}").mkdir()
        workers.append(locust_runner.start(config, worker_mode, tmp_path / f"w{number}"))
    began = time.monotonic()
    try:
        assert locust_runner.stop(master, 40) == 0  # far less than the 60 s duration
        elapsed = time.monotonic() - began
        for worker in workers:
            assert locust_runner.stop(worker, 15) == 0  # the master's quit ends them
    finally:
        for worker in workers:
            locust_runner.stop(worker, 5)
    from harness.load.results import read_csv

    rows = list(read_csv(tmp_path / "m" / "rows.csv"))
    stats = json.loads((tmp_path / "m" / "locust-stats.json").read_text())
    assert len(rows) == messages == stats["num_requests"] == server.accepted
    assert all(r.ok for r in rows)
    assert elapsed < 30, elapsed
    # Ids carry the worker's pid: rows came from both workers, through the master.
    by_worker = Counter(r.message_id.split(".")[1].split("-")[0] for r in rows)
    assert sorted(by_worker.values()) == [messages // 2] * 2  # the budget split exactly
    # Open loop: each worker paced half the rate; together, the target rate.
    starts = sorted(r.timestamp - r.latency_ms / 1000 for r in rows)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    if rate:
        assert abs(achieved - rate) <= 0.15 * rate, achieved


def test_cli_writes_reports_that_parse(lossy_smtp, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    server, url = lossy_smtp(drop_every=10)
    out = tmp_path / "report"
    code = main(["load", "smtp", "--target", url, "--users", "3", "--duration", "5",
                 "--messages", "60", "--maildir", str(server.maildir), "--settle", "1",
                 "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 1  # 6 messages lost: not clean
    assert printed.rstrip().splitlines()[-1].startswith(
        "sent 60  accepted 60  lost 6  duplicated 0  corrupted 0  ")
    data = json.loads((out / "load.json").read_text())
    assert data["accounting"]["accepted"] == 60 and len(data["accounting"]["lost"]) == 6
    assert data["counts"]["smtp:message"] == {"ok": 60, "errors": 0}
    with (out / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 60
    html = (out / "load.html").read_text()
    for chart in ('id="throughput"', 'id="latency"', 'id="histogram"'):
        assert chart in html
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_cli_rejects_a_target_of_the_wrong_protocol(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["load", "smtp", "--target", "pop3://127.0.0.1:1", "--quiet"]) == 2
    assert "does not speak smtp" in capsys.readouterr().err


def test_locust_against_reference_smtp(reference_servers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not reference_servers.available("smtp"):
        pytest.skip("the reference SMTP server is not built yet")
    maildir = reference_servers.data_dir / "mail" / "alice" / "Maildir"
    config = LoadConfig("smtp", reference_servers.url("smtp"), users=4, duration=10,
                        messages=100, connection="new")
    tracker = DeliveryTracker(MaildirSource(maildir), config.run_id)
    tracker.start()
    outcome = locust_runner.run(config, locust_runner.LocustMode(), tmp_path)
    accounting = tracker.finish(outcome.result.rows, settle=10)
    errors = [r for r in outcome.result.rows if not r.ok]
    assert len(outcome.result.rows) == 100 and not errors, errors[:3]
    assert accounting.accepted == 100 and accounting.clean
