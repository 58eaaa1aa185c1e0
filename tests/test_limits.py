"""cnncalc.limits: the budgets, their variables, the digit count and the byte sizes; README lists them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnncalc import limits
from cnncalc.errors import LimitError, ShapeError

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("text, value", [
    ("4000000", 4_000_000), ("4G", 4 * 10**9), ("4GB", 4 * 10**9), ("4Gi", 4 * 2**30), ("4GiB", 4 * 2**30),
    ("1.5Gi", 3 * 2**29), ("512 MB", 512 * 10**6), ("10,000,000", 10**7), ("2k", 2000), ("1Ti", 2**40),
], ids=lambda v: str(v))
def test_byte_sizes(text, value):
    assert limits.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "0", "-5", "4X", "1e9", "0.1", "9" * 31])
def test_what_is_not_a_byte_size(text):
    assert limits.parse_bytes(text) is None


@pytest.mark.parametrize("n", [0, 1, 9, 10, 99, 100, 10**50 - 1, 10**50, 2**1000, 3**2000, -(10**7), 10**4000])
def test_digits_of_counts_without_converting(n):
    assert limits.digits_of(n) == len(str(abs(n)))


def test_an_integer_of_the_limit_passes_one_digit_more_does_not():
    assert limits.check_int(10**1000 - 1, "x") == 10**1000 - 1
    assert limits.check_int(-(10**1000 - 1), "x") == -(10**1000 - 1)
    with pytest.raises(LimitError, match=r"^size: an integer of 1,001 digits, over the limit of 1,000 "
                                         r"\(set CNNCALC_MAX_DIGITS to raise it\)$"):
        limits.check_int(10**1000, "size")


def test_digits_in_text_are_counted_before_conversion():
    with pytest.raises(LimitError, match="a number of 1,001 digits"):
        limits.check_digits("7" * 1001, "--size")
    assert limits.check_digits("7" * 1000, "--size") == "7" * 1000


def test_a_variable_raises_or_lowers_its_limit(monkeypatch):
    monkeypatch.setenv("CNNCALC_MAX_DIGITS", "5")
    with pytest.raises(LimitError, match="an integer of 6 digits, over the limit of 5"):
        limits.check_int(123456, "x")
    monkeypatch.setenv("CNNCALC_MAX_FILE_SIZE", "2Mi")
    assert limits.MAX_FILE_SIZE.value == 2 * 2**20


@pytest.mark.parametrize("variable, text", [("CNNCALC_MAX_DIGITS", "many"), ("CNNCALC_MAX_DEPTH", "0"),
                                            ("CNNCALC_MAX_FILE_SIZE", "big")])
def test_a_bad_variable_is_refused_by_name(monkeypatch, variable, text):
    monkeypatch.setenv(variable, text)
    limit = next(lim for lim in limits.LIMITS if lim.variable == variable)
    with pytest.raises(LimitError, match=f"^{variable}='{text}': expected a positive integer"):
        limit.value


def test_limit_errors_are_shape_errors_saying_how_to_raise_them():
    error = limits.MAX_SEARCH.refuse("solve conv", "the search would try", 5, 3)
    assert isinstance(error, ShapeError)
    assert str(error) == "solve conv: the search would try 5 settings, over the limit of 3 (set CNNCALC_MAX_SEARCH to raise it)"
    assert "(--max-memory or CNNCALC_MAX_MEMORY)" in str(limits.MAX_MEMORY.refuse("verify", "needs about", 9, 1))


def _everything_limited():
    """(variable, default) of every budget: cnncalc.limits and the source interpreter's."""
    from cnncalc.frontends.budget import LIMITS as INTERPRETER

    return [(lim.variable, lim.default) for lim in limits.LIMITS] + [(v, d) for d, v, _ in INTERPRETER.values()]


@pytest.mark.parametrize("variable, default", _everything_limited(), ids=lambda v: str(v))
def test_readme_states_every_limit_and_its_default(variable, default):
    row = next((line for line in README.splitlines() if line.startswith(f"| `{variable}`")), None)
    assert row is not None, f"README's limits table lacks {variable}"
    if default:
        assert re.search(rf"\| {default:,} [a-z]+ \|", row), row
