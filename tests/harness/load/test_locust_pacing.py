"""Locust's open loop (``--rate``): one shared pacer per process issues arrivals at the
target rate, and any free user takes the next one, so a slow reply delays one message,
not the offered load (per-user constant_throughput loses every slot a slow reply spans)."""

from __future__ import annotations

from pathlib import Path

from harness.load import locust_runner
from harness.load.config import LoadConfig


def test_open_loop_holds_the_rate_against_a_slow_server(lossy_smtp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Every 4th message waits 0.6 s for its 250. Per user, 10 users at 40/s means a slot
    # every 0.25 s: closed-loop pacing per user would reach ~1 / (0.75 * 0.25 + 0.25 * 0.6)
    # = 3 messages/s per user, 30/s in all (-26 %). Little's law: 40/s * 0.16 s mean
    # latency needs ~6.3 busy users of the 10, so a shared pacer can hold 40/s.
    server, url = lossy_smtp(slow_every=4, slow_seconds=0.6)
    rate, duration = 40.0, 6.0
    config = LoadConfig("smtp", url, users=10, duration=duration, rate=rate,
                        connection="reuse")
    outcome = locust_runner.run(config, locust_runner.LocustMode(), tmp_path)
    messages = [r for r in outcome.result.rows if r.name == "smtp:message"]
    assert outcome.returncode == 0
    assert all(r.ok for r in messages)
    # The arrival rate: messages over the span of their scheduled starts (end time less
    # latency, which open-loop latency runs from), so locust's start-up does not count.
    starts = sorted(r.timestamp - r.latency_ms / 1000 for r in messages)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert abs(achieved - rate) <= 0.15 * rate, (achieved, rate)
    assert len(messages) >= 0.85 * rate * (duration - 1)
    assert outcome.result.unsent == 0
    assert server.accepted == len(messages)
    # Latency runs from the scheduled arrival: a queued arrival shows as latency.
    assert max(r.latency_ms for r in messages) >= 600


def test_forked_workers_share_the_budget_exactly(lossy_smtp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``--processes 2``: locust forks a master and two workers; the master's shares add
    up to --messages exactly (ceil per worker would overshoot 45 to 46)."""
    server, url = lossy_smtp()
    config = LoadConfig("smtp", url, users=4, duration=30, messages=45, connection="reuse")
    outcome = locust_runner.run(config, locust_runner.LocustMode(processes=2), tmp_path)
    assert outcome.returncode == 0
    assert len(outcome.result.rows) == 45 == server.accepted
    assert outcome.result.ended - outcome.result.started < 20
