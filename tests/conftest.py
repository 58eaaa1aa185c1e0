"""Shared test options: ``--update-golden`` rewrites golden outputs (README/docs examples, rendered tables)."""

import os

import pytest

# The tests read English unless a test asks for another language: the default language follows CNNCALC_LANG and
# the locale (cnncalc.i18n.default_lang), which differ from machine to machine.
os.environ["CNNCALC_LANG"] = "en"


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite expected outputs in README.md, docs/*.md and tests/golden/ instead of comparing",
    )


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")
