"""Shared test options: ``--update-golden`` rewrites golden outputs (README/docs examples, rendered tables)."""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite expected outputs in README.md, docs/*.md and tests/golden/ instead of comparing",
    )


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")
