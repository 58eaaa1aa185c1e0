"""The source interpreter's budget: how much a model file may make it do before it is refused.

Model definitions are small programs; a file that asks for more (``for i in range(10**8)``,
``10**10**10``, ``'a' * 10**9``, expressions nested hundreds deep) is refused with a one-line error
that names the limit and how to raise it, instead of hanging or exhausting memory. Every limit lives
here, with its default, and each can be raised through an environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from ..errors import ShapeError

__all__ = ["Budget", "LIMITS"]

# name -> (default, environment variable, what it limits)
LIMITS = {
    "steps": (500_000, "CNNCALC_MAX_STEPS", "interpreted steps (statements, loop iterations, calls)"),
    "int_digits": (4300, "CNNCALC_MAX_INT_DIGITS", "decimal digits of an integer"),
    "items": (1_000_000, "CNNCALC_MAX_ITEMS", "items in one list, tuple, dict or string"),
    "calls": (50, "CNNCALC_MAX_CALLS", "nested calls of functions defined in the file"),
    "nesting": (100, "CNNCALC_MAX_NESTING", "nesting depth of expressions and statements"),
    "files": (64, "CNNCALC_MAX_FILES", "model files read for one model (the file and its local imports)"),
}


@dataclass(frozen=True)
class Budget:
    """The limits (see ``LIMITS``); ``Budget.from_env()`` reads the CNNCALC_MAX_* variables."""

    steps: int = LIMITS["steps"][0]
    int_digits: int = LIMITS["int_digits"][0]
    items: int = LIMITS["items"][0]
    calls: int = LIMITS["calls"][0]
    nesting: int = LIMITS["nesting"][0]
    files: int = LIMITS["files"][0]

    @classmethod
    def from_env(cls, environ=None) -> Budget:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            variable = LIMITS[f.name][1]
            text = environ.get(variable)
            if text is None:
                continue
            if not text.strip().isdigit() or int(text) < 1:
                raise ShapeError(f"{variable}={text!r}: expected a positive integer")
            values[f.name] = int(text)
        return cls(**values)

    def exceeded(self, name) -> str:
        """The message for a limit that was reached: what, the limit, and how to raise it."""
        _, variable, what = LIMITS[name]
        limit = getattr(self, name)
        return f"more than {limit:,} {what} (the limit; raise it with {variable}=N)"

    @property
    def int_bits(self) -> int:
        return int(self.int_digits * 3.3219280948873626) + 1  # log2(10)
