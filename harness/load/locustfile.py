"""The locustfile ``mailharness load --engine locust`` runs (``python -m locust -f`` this).

Configured through the environment, by :mod:`.locust_runner`:
``MAILHARNESS_LOAD_CONFIG`` (a LoadConfig as JSON), ``MAILHARNESS_BUDGET`` (this process's
message budget), ``MAILHARNESS_ROWS`` (where the local or master process writes the result
rows as CSV), ``MAILHARNESS_STATS`` (locust's own totals, to cross-check the rows) and
``MAILHARNESS_TRANSCRIPT`` for the transcript user.

Rows: every request event becomes a ResultRow. A worker ships its rows to the master with
each report (``report_to_master``, whose final one locust sends when the worker quits); the
master, or a plain local run, writes them all when locust quits.
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

from harness.load.locust_users import CONFIG, Budget, Pop3User, SmtpUser, TranscriptUser
from harness.load.progress import ProgressLine
from harness.load.results import ResultRow, as_tuple, from_tuple, write_csv

_rows: list[ResultRow] = []
_progress = ProgressLine()
_PRIMARY = {"smtp": ("SMTP", "message"), "pop3": ("POP3", "session")}.get(CONFIG.protocol)


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
    _rows.clear()


@events.worker_report.add_listener
def _collect_rows(client_id: str, data: dict[str, Any]) -> None:
    rows = [from_tuple(values) for values in data.get("mailharness_rows", [])]
    _rows.extend(rows)
    for row in rows:
        if _PRIMARY and row.name == f"{_PRIMARY[0].lower()}:{_PRIMARY[1]}":
            _progress.add(0 if row.error else 1, 1 if row.error else 0,
                          [] if row.error else [row.latency_ms])


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
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_print_progress)
    if not isinstance(environment.runner, MasterRunner | WorkerRunner) and CONFIG.messages:
        gevent.spawn(_quit_when_budget_spent, environment)


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
        }))
