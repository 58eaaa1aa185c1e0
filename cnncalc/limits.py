"""Budgets: how much cnncalc reads, nests, counts, traces and allocates, and how to raise each limit.

Every reader states its budget (as Python's ``sys.set_int_max_str_digits`` and PyYAML's ``SafeLoader``
do) and an input over it is refused with a ``LimitError`` (a ``ShapeError``: exit status 2 on the
command line) whose one line names the limit and the variable that raises it::

    net.py: the file is 52,428,800 bytes, over the limit of 10,000,000 (set CNNCALC_MAX_FILE_SIZE to raise it)

Each limit is read from its environment variable when it is checked, so a variable set at any time
applies; README's "Security and limits" lists them.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from .errors import LimitError

__all__ = ["Limit", "LIMITS", "MAX_FILE_SIZE", "MAX_DIGITS", "MAX_DEPTH", "MAX_TRACE", "MAX_SEARCH", "MAX_ANALYSES",
           "MAX_MEMORY", "check_int", "digits_of", "parse_bytes", "allow_digits"]


@dataclass(frozen=True)
class Limit:
    """One budget: its environment variable, default, unit and what it bounds (README's table)."""

    variable: str
    default: int
    unit: str
    bounds: str
    option: str = ""  # a command-line option that sets it too, if any

    @property
    def value(self) -> int:
        text = os.environ.get(self.variable)
        if text is None or not text.strip():
            return self.default
        value = parse_bytes(text) if self.unit == "bytes" else _positive_int(text)
        if value is None:
            raise LimitError(f"{self.variable}={text!r}: expected a positive integer"
                             + (" (bytes; K, M, G, T or Ki, Mi, Gi, Ti may follow)" if self.unit == "bytes" else ""))
        return value

    @property
    def how(self) -> str:
        """How to raise it, as the messages say."""
        return f"{self.option} or {self.variable}" if self.option else f"set {self.variable} to raise it"

    def refuse(self, subject: str, what: str, amount, limit=None) -> LimitError:
        """The error for ``amount`` (a number, or text such as "more than 1,000") over the limit."""
        limit = self.value if limit is None else limit
        amount = f"{amount:,}" if type(amount) is int else amount
        prefix = f"{subject}: " if subject else ""
        return LimitError(f"{prefix}{what} {amount} {self.unit}, over the limit of {limit:,} ({self.how})")

    def check(self, amount: int, subject: str, what: str, limit=None) -> int:
        """``amount`` when it is within the limit; else raise ``refuse``."""
        limit = self.value if limit is None else limit
        if amount > limit:
            raise self.refuse(subject, what, amount, limit)
        return amount


MAX_FILE_SIZE = Limit("CNNCALC_MAX_FILE_SIZE", 10_000_000, "bytes",
                      "the size of a file read: model source, spec and homework files")
MAX_DIGITS = Limit("CNNCALC_MAX_DIGITS", 1000, "digits",
                   "the digits of any integer read (sizes, answers) or computed (shapes, params, MACs)")
MAX_DEPTH = Limit("CNNCALC_MAX_DEPTH", 100, "levels",
                  "the nesting of lists and mappings in a spec or homework file, and of a spec written")
MAX_TRACE = Limit("CNNCALC_MAX_TRACE", 1_000_000, "steps",
                  "the work of tracing receptive fields pixel by pixel after upsampling")
MAX_SEARCH = Limit("CNNCALC_MAX_SEARCH", 1_000_000, "settings",
                   "the kernel/padding pairs `solve conv` tries")
MAX_ANALYSES = Limit("CNNCALC_MAX_ANALYSES", 20_000, "analyses",
                     "the input sizes `solve input` and `solve output` analyse")
MAX_MEMORY = Limit("CNNCALC_MAX_MEMORY", 0, "bytes",
                   "the memory `verify` may allocate (default: 3/4 of the machine's memory)", "--max-memory")

LIMITS = (MAX_FILE_SIZE, MAX_DIGITS, MAX_DEPTH, MAX_TRACE, MAX_SEARCH, MAX_ANALYSES, MAX_MEMORY)


def _positive_int(text):
    text = text.strip().replace("_", "").replace(",", "")
    if not text.isdigit() or len(text) > 30 or int(text) < 1:
        return None
    return int(text)


_BYTES = re.compile(r"([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([KMGT]i?)?B?", re.IGNORECASE)
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_bytes(text):
    """A byte count: ``4000000``, ``4G`` (10**9), ``4GiB`` (2**30), ``1.5Gi``; None when it is not one."""
    match = _BYTES.fullmatch(str(text).strip())
    if not match or len(match.group(1)) > 30:
        return None
    number, scale = match.group(1).replace("_", "").replace(",", ""), _SCALE[(match.group(2) or "").lower()]
    whole, _, frac = number.partition(".")
    value = int(whole) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    return value if value >= 1 else None


def digits_of(n: int) -> int:
    """The number of decimal digits of |n| (exact, without converting to text)."""
    n = abs(n)
    guess = (max(n.bit_length() - 1, 0) * 30102999566) // 10**11 + 1  # digits of 2**(bits - 1): exact or one short
    return guess + (n >= 10**guess)


def check_int(n: int, subject: str, what: str = "an integer of"):
    """``n`` when it has at most MAX_DIGITS digits, else a LimitError naming ``subject``."""
    limit = MAX_DIGITS.value
    if n.bit_length() > 3.32 * limit and abs(n) >= 10**limit:  # 2**(3.32*limit) < 10**limit: the cheap test first
        raise MAX_DIGITS.refuse(subject, what, digits_of(n), limit)
    return n


def check_digits(text: str, subject: str, what: str = "a number of"):
    """Refuse a run of digits longer than MAX_DIGITS before converting it (``int()`` of a huge text is slow)."""
    count = sum(c.isdigit() for c in text)
    if count > MAX_DIGITS.value:
        raise MAX_DIGITS.refuse(subject, what, count)
    return text


def allow_digits():
    """Let ``str(int)`` print every integer within MAX_DIGITS (Python's own limit is 4,300 digits): numbers
    computed from inputs within the limit have at most a few times its digits. The command line calls
    this once; library users keep their interpreter's setting."""
    if hasattr(sys, "set_int_max_str_digits"):
        wanted = 4 * MAX_DIGITS.value + 100
        current = sys.get_int_max_str_digits()
        if current and current < wanted:
            sys.set_int_max_str_digits(wanted)
