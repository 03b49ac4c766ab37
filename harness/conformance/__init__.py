"""Conformance runs: discover the suites under ``specs/``, run them, collect the results.

::

    selection = select(Path("specs"), ["smtp"], keyword="ehlo and not starttls")
    run = run_cases(profile, selection.cases, workers=8)

:mod:`.discover` finds and loads suites, :mod:`.lanes` decides which cases may run side by
side, :mod:`.run` runs them on a thread pool, :mod:`.differential` compares two runs' replies.
The reports (:mod:`harness.report`) render what :mod:`.run` returns.
"""

from .differential import compare_runs
from .discover import Selection, SuiteError, default_specs_dir, find_suites, select
from .keyword import KeywordError, compile_keyword
from .lanes import Lane, lane_user_names, make_lanes
from .run import Run, RunError, run_cases

__all__ = [
    "KeywordError",
    "Lane",
    "Run",
    "RunError",
    "Selection",
    "SuiteError",
    "compare_runs",
    "compile_keyword",
    "default_specs_dir",
    "find_suites",
    "lane_user_names",
    "make_lanes",
    "run_cases",
    "select",
]
