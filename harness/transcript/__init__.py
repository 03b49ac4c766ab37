"""Transcripts: the YAML model, its loader, matchers and runner, importers and the recorder.

Typical use (the replay CLI, the conformance runner and the pytest plugin all do this)::

    cases = load_file("specs/examples/rfc5321-d1.yaml")
    runner = Runner(profile_from_target(parse_target("smtp://127.0.0.1:2525")))
    results = [runner.run(case) for case in cases]
"""

from .loader import LoadError, load_file, load_text, schema
from .model import Case, ConnectionSpec, Expect, Location, Step
from .results import CaseResult, Status, StepResult
from .runner import Runner

__all__ = [
    "Case",
    "CaseResult",
    "ConnectionSpec",
    "Expect",
    "LoadError",
    "Location",
    "Runner",
    "Status",
    "Step",
    "StepResult",
    "load_file",
    "load_text",
    "schema",
]
