"""Every hostile case of every ``cases*.py`` table, each in its own process under a time and memory limit:
bad input is one ``Error:`` line with exit status 2, good input the right answer (``harness.problems``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the tables import the harness as a plain module

from harness import problems, run_cases  # noqa: E402

TABLES = sorted(p.stem for p in Path(__file__).parent.glob("cases*.py"))
CASES = [case for table in TABLES for case in importlib.import_module(table).CASES]


@pytest.fixture(scope="module")
def results():
    return run_cases(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case, results):
    assert problems(case, results[case.id]) == []
