"""A run document with a pass, a MUST failure, a SHOULD case and a skip, from a real run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.conformance import run_cases, select
from harness.report.json_report import build_document
from harness.requirements import load_requirements
from harness.target import parse_target, profile_from_target

from ..conformance.conftest import SPECS, picky_smtp
from ..conftest import FakeServer


@pytest.fixture
def picky_document(fake_server: Callable[..., FakeServer]) -> dict[str, Any]:
    server = fake_server(picky_smtp)
    selection = select(SPECS, ["smtp"])
    run = run_cases(profile_from_target(parse_target(server.url())), selection.cases)
    return build_document(run, suites=["smtp"], specs_dir=SPECS,
                          requirements=load_requirements(SPECS / "requirements"))
