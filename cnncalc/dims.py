"""Dimensions: the strict parser for shape strings and arithmetic that works on ints and sympy alike.

A dimension is a Python ``int`` or a ``sympy.Expr`` whose symbols are positive integers. sympy is
imported only when a symbol appears, so concrete analysis never pays for it. User text is never
passed to ``eval``, ``exec`` or ``sympify``: symbols are created by name with ``sympy.Symbol``.
"""

from __future__ import annotations

import keyword
import re
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction
from typing import Any, Sequence, Union

from .errors import ShapeError
from .limits import check_digits, check_int

_SEPARATORS = re.compile(r"[xX×]")
_INTEGER = re.compile(r"[0-9]+")
WORDS = ("same", "valid")  # padding words: never symbol names in a shape
_NAMES_ARE_SYMBOLS = ContextVar("names_are_symbols", default=False)


# A dimension: an int, or a sympy expression whose symbols are positive integers (typed loosely, as sympy
# is imported only when a symbol appears). A shape as users give it: "3x224x224", (3, 224, 224), ("C", 32, 32).
Dim = Any
ShapeLike = Union[str, Sequence[Any], int]


def symbol(name: str) -> Dim:
    """A positive-integer sympy symbol called ``name`` (any valid Python identifier but a keyword)."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ShapeError(f"invalid dimension name {_brief(name)}: a symbol must be an identifier such as H or width")
    import sympy

    return sympy.Symbol(name, integer=True, positive=True)


@contextmanager
def names_as_symbols():
    """Within this block ``as_dim`` reads a string as the symbol of that name: spec files write unknown
    sizes as text. Elsewhere a string where a size belongs is refused, as PyTorch refuses it."""
    token = _NAMES_ARE_SYMBOLS.set(True)
    try:
        yield
    finally:
        _NAMES_ARE_SYMBOLS.reset(token)


def _brief(value, width=40):
    """A value for an error message, cut to ``width`` characters (a hostile input may be megabytes)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _parse_part(part: str, text: str):
    part = part.strip()
    if _INTEGER.fullmatch(part):
        if len(part) > 20:  # the limit's lookup and message only for long numbers: a shape may have 10**5 parts
            check_digits(part, f"invalid shape {_brief(text)}", "a dimension of")
        value = int(part)
        if value <= 0:
            raise ShapeError(f"invalid shape {_brief(text)}: dimension {part!r} must be positive")
        return value
    if part.lower() in WORDS:
        raise ShapeError(f"invalid shape {_brief(text)}: {part!r} is a padding word, not a size")
    if part.isidentifier() and not keyword.iskeyword(part):
        return symbol(part)
    raise ShapeError(
        f"invalid shape {_brief(text)}: {_brief(part)} is neither a positive integer nor a name "
        "(write e.g. 3x224x224 or 3xHxW)"
    )


def parse_shape(text: str) -> tuple:
    """Parse ``"3x224x224"``, ``"3xHxW"``, ``"3,224,224"`` or ``"3×224×224"`` into a shape tuple.

    With commas, only commas separate (so names may contain x); otherwise x, X and × do.
    """
    if not isinstance(text, str):
        raise ShapeError(f"invalid shape {_brief(text)}: expected a string such as 3x224x224")
    body = text.strip()
    if body.startswith(("(", "[")) and body.endswith((")", "]")):
        body = body[1:-1]
    parts = body.split(",") if "," in body else _SEPARATORS.split(body)
    if parts and parts[-1].strip() == "" and "," in body:
        parts = parts[:-1]  # "(3,)" style trailing comma
    if not parts or any(p.strip() == "" for p in parts):
        raise ShapeError(f"invalid shape {_brief(text)}: empty dimension (write e.g. 3x224x224)")
    return tuple(_parse_part(p, text) for p in parts)


def as_dim(value, what: str = "dimension"):
    """Normalise one user-supplied size: int stays int, integral sympy numbers become int; an expression's
    symbols must be positive integers (``symbol``); a string is a symbol's name only in spec files
    (``names_as_symbols``). Integers have at most ``limits.MAX_DIGITS`` digits."""
    if type(value) is int:
        return check_int(value, f"invalid {what}")
    if isinstance(value, bool):
        raise ShapeError(f"invalid {what} {value!r}: expected an integer")
    if isinstance(value, int):
        return check_int(int(value), f"invalid {what}")
    if isinstance(value, str):
        if _NAMES_ARE_SYMBOLS.get():
            return symbol(value)
        raise ShapeError(f"invalid {what} {_brief(value)}: expected an integer (for an unknown size, a symbol: "
                         f"cnncalc.symbol({_brief(value)}))")
    if hasattr(value, "__index__") and not hasattr(value, "free_symbols"):
        return check_int(int(value.__index__()), f"invalid {what}")  # numpy integers and the like
    if hasattr(value, "free_symbols") and hasattr(value, "is_Integer"):  # a sympy expression
        if value.is_Integer:
            return check_int(int(value), f"invalid {what}")
        if value.is_number:
            raise ShapeError(f"invalid {what} {_brief(value)}: expected an integer")
        for name in value.free_symbols:
            if not (name.is_integer and name.is_positive):
                raise ShapeError(f"invalid {what} {_brief(value)}: the symbol {name} must be a positive integer "
                                 f"(make it with cnncalc.symbol({str(name)!r}))")
        return value
    raise ShapeError(f"invalid {what} {_brief(value)}: expected an integer or a symbol")


_ARITY = {1: "a single value", 2: "a pair", 3: "a triple"}


def ntuple(value, n: int, name: str = "value", single: bool = True, convert=as_dim) -> tuple:
    """An int-or-tuple argument as an n-tuple, as PyTorch's ``_single``/``_pair``/``_triple``.

    PyTorch's kernels also expand a one-element list to every axis (not for a convolution's
    kernel_size, which shapes the weight): ``single`` allows that. ``convert(v, name)`` normalises
    each entry (``as_dim`` by default).
    """
    if isinstance(value, (tuple, list)):
        if single and len(value) == 1:
            value = tuple(value) * n
        if len(value) != n:
            raise ShapeError(f"{name} must be an int or {_ARITY.get(n, f'{n} values')}, got {value!r}")
        return tuple(convert(v, name) for v in value)
    v = convert(value, name)
    return (v,) * n


def as_shape(shape) -> tuple:
    """A shape from a string, a tuple/list of ints, names or sympy expressions."""
    if isinstance(shape, str):
        return parse_shape(shape)
    if isinstance(shape, int) or hasattr(shape, "free_symbols"):
        shape = (shape,)
    if isinstance(shape, (dict, set, frozenset, bytes)):
        raise ShapeError(f"invalid shape {_brief(shape)}: expected e.g. (3, 224, 224) or '3x224x224'")
    try:
        shape = tuple(shape)
    except TypeError:
        raise ShapeError(f"invalid shape {_brief(shape)}: expected e.g. (3, 224, 224) or '3x224x224'") from None
    with names_as_symbols():  # ("C", 32, 32) as "Cx32x32"
        dims = tuple(as_dim(d) for d in shape)
    if not dims:
        raise ShapeError("invalid shape (): at least one dimension is needed")
    for d in dims:
        if type(d) is int and d <= 0:
            raise ShapeError(f"invalid shape {_brief(shape)}: dimension {d} must be positive")
    return dims


def known(x) -> bool:
    """True when ``x`` is a concrete number (int or Fraction), False for a symbolic expression."""
    return type(x) is int or type(x) is Fraction


def floor_div(a, b):
    """floor(a / b) for ints and sympy expressions alike."""
    if type(a) is int and type(b) is int:
        return a // b
    from .symbolic import floor_div as symbolic_floor_div

    return symbolic_floor_div(a, b)


def ceil_div(a, b):
    """ceil(a / b) for ints and sympy expressions alike."""
    if type(a) is int and type(b) is int:
        return -(-a // b)
    from .symbolic import ceil_div as symbolic_ceil_div

    return symbolic_ceil_div(a, b)


def settle(x):
    """An int as it is; a symbolic size in closed form, one floor or ceiling (``symbolic.simplify_dim``)."""
    if type(x) is int:
        return x
    from .symbolic import simplify_dim

    return simplify_dim(x)


def divide(a, b):
    """a / b exactly: an int when it divides, a Fraction otherwise, a sympy expression for symbols."""
    if type(a) is int and type(b) is int:
        return a // b if a % b == 0 else Fraction(a, b)
    if known(a) and known(b):
        q = Fraction(a) / Fraction(b)
        return q.numerator if q.denominator == 1 else q
    import sympy

    return simplify_int(sympy.sympify(a) / b)


def simplify_int(expr):
    """Return a plain int when a sympy expression has become a number."""
    if getattr(expr, "is_Integer", False):
        return int(expr)
    return expr


def product(values):
    """The product of ints and sympy expressions alike (1 for none)."""
    result = 1
    for v in values:
        result = result * v
    return simplify_int(result) if type(result) is not int else result


def generic_min(values):
    values = list(values)
    if all(known(v) for v in values):
        return min(values)
    import sympy

    return simplify_int(sympy.Min(*values))


def generic_max(values):
    values = list(values)
    if all(known(v) for v in values):
        return max(values)
    import sympy

    return simplify_int(sympy.Max(*values))


def is_positive(x):
    """True, False, or None when a symbolic value's sign cannot be decided."""
    if known(x):
        return x > 0
    return x.is_positive


def is_nonnegative(x):
    if known(x):
        return x >= 0
    return x.is_nonnegative


def to_json_value(x):
    """An int stays an int; a Fraction or expression becomes a string (sympy syntax)."""
    if type(x) is int:
        return x
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}"
    return str(x)


def format_dim(x) -> str:
    """A dimension for a shape string: compound expressions in parentheses, so 64x(H/2)x(W/2) reads unambiguously."""
    if known(x) or x.is_Atom:
        return str(x)
    from .symbolic import pretty  # a symbol is present, so sympy is loaded already

    text = pretty(x).replace(" ", "")
    return text if x.is_Function else f"({text})"


def format_shape(shape, sep: str = "x") -> str:
    """3x224x224; () for one number per sample."""
    return sep.join(format_dim(d) for d in shape) if shape else "()"
