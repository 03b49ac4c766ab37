"""The locustfile ``mailharness load --engine locust`` runs (``python -m locust -f`` this).

Configured through the environment, by :mod:`.locust_runner`:
``MAILHARNESS_LOAD_CONFIG`` (a LoadConfig as JSON), ``MAILHARNESS_BUDGET`` (this process's
message budget), ``MAILHARNESS_ROWS`` (where the local or master process writes the result
rows as CSV), ``MAILHARNESS_STATS`` (locust's own totals, to cross-check the rows) and
``MAILHARNESS_TRANSCRIPT`` for the transcript user.

Rows: every request event becomes a ResultRow. A worker ships its rows to the master with
each report (``report_to_master``, whose final one locust sends when the worker quits), and
at once when its share of the budget is spent and its users are done (a
``mailharness_rows`` message); the master, or a plain local run, writes them all when
locust quits.

Distributed runs: when the test starts, the master sends every worker its share
(``mailharness_share``: the open-loop rate divided by the number of workers, and its exact
part of ``--messages``), and quits the run once the workers have reported that many
results (accepted or failed), so ``--messages`` bounds a distributed run as well as
``--duration``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.load.locust_users import (
    CONFIG,
    OPEN_LOOP,
    Budget,
    Pacer,
    Pop3User,
    SmtpUser,
    TranscriptUser,
)
from harness.load.progress import ProgressLine
from harness.load.results import ResultRow, as_tuple, from_tuple, write_csv
from harness.load.stats import is_primary

_rows: list[ResultRow] = []
_progress = ProgressLine()
_PRIMARY = {"smtp": ("SMTP", "message"), "pop3": ("POP3", "session")}.get(CONFIG.protocol)
_PRIMARY_NAME = {"smtp": "smtp:message", "pop3": "pop3:session"}.get(CONFIG.protocol,
                                                                     "transcript:")
_master = {"results": 0, "quitting": False}  # results the workers reported; quit asked
_unsent: dict[str, int] = {}  # worker -> arrivals its pacer issued that no user took
_environment: list[Environment] = []


class MailSmtpUser(SmtpUser):
    abstract = CONFIG.protocol != "smtp"


class MailPop3User(Pop3User):
    abstract = CONFIG.protocol != "pop3"


class MailTranscriptUser(TranscriptUser):
    abstract = CONFIG.protocol != "transcript"


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response_length: int,
                exception: BaseException | None = None, context: dict[str, Any] | None = None,
                **_kwargs: Any) -> None:
    context = context or {}
    row = ResultRow(time.time(), f"{request_type.lower()}:{name}", float(response_time),
                    int(response_length or 0), str(context.get("code", "")),
                    "" if exception is None else str(exception) or type(exception).__name__,
                    str(context.get("message_id", "")))
    _rows.append(row)
    if (request_type, name) == _PRIMARY:
        _progress.add(0 if row.error else 1, 1 if row.error else 0,
                      [] if row.error else [row.latency_ms])


@events.report_to_master.add_listener
def _ship_rows(client_id: str, data: dict[str, Any]) -> None:
    data["mailharness_rows"] = [as_tuple(row) for row in _rows]
    data["mailharness_unsent"] = Pacer.backlog()
    _rows.clear()


@events.worker_report.add_listener
def _collect_rows(client_id: str, data: dict[str, Any]) -> None:
    if "mailharness_unsent" in data:
        _unsent[client_id] = int(data["mailharness_unsent"])
    rows = [from_tuple(values) for values in data.get("mailharness_rows", [])]
    _rows.extend(rows)
    for row in rows:
        if is_primary(row.name, _PRIMARY_NAME):
            _master["results"] += 1
            _progress.add(0 if row.error else 1, 1 if row.error else 0,
                          [] if row.error else [row.latency_ms])
    if _environment:  # worker_report listeners get no environment; init keeps it
        _quit_if_all_reported(_environment[0])


def _rows_message(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    """Master: a worker that spent its budget sent its rows without waiting for a report."""
    _collect_rows(msg.node_id, msg.data)


def _quit_if_all_reported(environment: Environment) -> None:
    if CONFIG.messages and _master["results"] >= CONFIG.messages and not _master["quitting"]:
        _master["quitting"] = True
        runner = environment.runner
        if runner is not None:
            gevent.spawn(runner.quit)  # not from the runner's own greenlets


def _take_share(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    """Worker: this worker's part of the run, from the master (see the module docstring)."""
    Budget.remaining = int(msg.data["budget"])
    if float(msg.data["rate"]) > 0:
        Pacer.start(float(msg.data["rate"]))


def _send_shares(runner: MasterRunner) -> None:
    workers = sorted(runner.clients.ready + runner.clients.running + runner.clients.spawning,
                     key=lambda client: client.id)
    for index, worker in enumerate(workers):
        budget = -1
        if CONFIG.messages:
            budget = CONFIG.messages // len(workers) + (
                1 if index < CONFIG.messages % len(workers) else 0)
        runner.send_message("mailharness_share", {"budget": budget,
                                                  "rate": CONFIG.rate / len(workers)},
                            client_id=worker.id)


def _flush_when_spent(environment: Environment) -> None:
    # Worker: once its budget is spent and its users are done, its rows go at once.
    while True:
        gevent.sleep(0.2)
        runner = environment.runner
        if runner is not None and Budget.remaining == 0 and runner.user_count == 0 and _rows:
            rows = [as_tuple(row) for row in _rows]
            _rows.clear()
            runner.send_message("mailharness_rows", {"mailharness_rows": rows,
                                                     "mailharness_unsent": Pacer.backlog()})


def _print_progress() -> None:
    while True:
        gevent.sleep(1.0)
        print(_progress.line(), flush=True)


def _quit_when_budget_spent(environment: Environment) -> None:
    # A local run ends early once its budget is spent and every user has finished.
    while True:
        gevent.sleep(0.2)
        runner = environment.runner
        if runner is not None and Budget.remaining == 0 and runner.user_count == 0:
            runner.quit()
            return


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    _environment[:] = [environment]
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message("mailharness_share", _take_share)
        gevent.spawn(_flush_when_spent, environment)
    else:
        gevent.spawn(_print_progress)
    if isinstance(runner, MasterRunner):
        runner.register_message("mailharness_rows", _rows_message)
    elif not isinstance(runner, WorkerRunner) and CONFIG.messages:
        gevent.spawn(_quit_when_budget_spent, environment)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _send_shares(runner)  # before the spawn messages, on the same ordered channel
    elif not isinstance(runner, WorkerRunner) and OPEN_LOOP:
        Pacer.start(CONFIG.rate)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_kwargs: Any) -> None:
    Pacer.stop()


@events.quitting.add_listener
def _write_rows(environment: Environment, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    rows_path = os.environ.get("MAILHARNESS_ROWS")
    if rows_path:
        write_csv(sorted(_rows, key=lambda r: r.timestamp), Path(rows_path))
    stats_path = os.environ.get("MAILHARNESS_STATS")
    if stats_path:
        total = environment.stats.total
        Path(stats_path).write_text(json.dumps({
            "num_requests": total.num_requests, "num_failures": total.num_failures,
            "start_time": total.start_time, "last_request_timestamp": total.last_request_timestamp,
            "unsent": sum(_unsent.values()) if _unsent else Pacer.backlog(),
        }))
