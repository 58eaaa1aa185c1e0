"""Closed forms for symbolic sizes: one floor or ceiling per dimension instead of a tower of them.

Every symbol is a positive integer, so these identities are exact (``a``, ``c`` integers, ``b``, ``d``
positive integers, ``N`` any integer-valued expression):

- floor((floor(N/b) + c)/d) = floor((N + c*b)/(b*d)), and the same with ceiling outside and inside;
- ceil(N/b) = floor((N + b - 1)/b), which turns a mixed tower into one of a single kind;
- floor((g*N + a)/(g*d)) = floor((N + floor(a/g))/d) for a positive integer g (common factors cancel);
- floor((N + a)/b) = ceil((N + a - b + 1)/b), used to show the shorter of the two.

The engine calls ``floor_div``/``ceil_div`` here only for symbolic values (see ``dims.py``), so
concrete analysis never imports sympy.
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import sympy
import sympy.printing.str
from sympy import Add, ceiling, floor

_ROUNDING = (floor, ceiling)


def _is_int(expr) -> bool:
    return expr.is_integer is True


def _is_pos_int(expr) -> bool:
    return expr.is_integer is True and expr.is_positive is True


def over_one(arg):
    """(numerator, denominator) of ``arg`` as one fraction: (H - 7, 4) also for 1/4*(H - 7), which
    ``together`` alone hands back distributed as H/4 - 7/4."""
    num, den = sympy.fraction(sympy.together(arg))
    return sympy.fraction(sympy.together(sympy.expand(arg))) if den == 1 else (num, den)


def _quotient(arg):
    """(numerator, denominator) of a rounding function's argument, both integer-valued, or None."""
    num, den = over_one(arg)
    if den.is_negative:
        num, den = -num, -den
    if _is_pos_int(den) and _is_int(num):
        return sympy.expand(num, deep=False), den
    return None


def _fold(kind, num, den):
    """Fold the one rounding term of ``num`` (coefficient 1) into the outer rounding of num/den."""
    terms = Add.make_args(num)
    inner = [t for t in terms if isinstance(t, _ROUNDING)]
    if len(inner) != 1:
        return None
    rest = num - inner[0]
    if not _is_int(rest):
        return None
    parts = _quotient(inner[0].args[0])
    if parts is None:
        return None
    n1, d1 = parts
    if type(inner[0]) is not kind:  # ceil(x/b) = floor((x + b - 1)/b), floor(x/b) = ceil((x - b + 1)/b)
        n1 = n1 + (d1 - 1 if kind is floor else 1 - d1)
    return sympy.expand(n1 + rest * d1, deep=False), d1 * den


def _cancel_common(num, den):
    """floor((g*N + a)/(g*d)) = floor((N + floor(a/g))/d): cancel the integer factor all terms share."""
    if not den.is_Integer:
        return num, den
    const, body = num.as_coeff_Add()
    if not const.is_Integer:
        return num, den
    g = int(den)
    for term in Add.make_args(body):
        coeff, rest = term.as_coeff_Mul()
        if not (coeff.is_Integer and _is_int(rest)):
            return num, den
        g = gcd(g, int(coeff))
        if g == 1:
            return num, den
    if g <= 1:
        return num, den
    return sympy.expand(body / g) + int(const) // g, den / g


def _make(kind, num, den):
    """kind(num/den), already in closed form: sympy's own evaluation is skipped (it is slow and adds nothing)."""
    if num.is_Integer and den.is_Integer:
        return kind(num / den)
    return kind(num / den, evaluate=False)


def _split_whole(num, den):
    """(rest, quotient): the terms of num that are whole multiples of den, divided out."""
    whole = Add(*[t for t in Add.make_args(num) if _is_int(t / den)])
    return num - whole, sympy.expand(whole / den)


def _present(num, den):
    """floor(num/den) as the shortest of its equal forms: floor((L + a)/b), floor((L + r)/b) + q, ceil(...) + q."""
    num, den = _cancel_common(num, den)
    if den == 1:
        return num
    if not den.is_Integer:  # floor or ceil, whichever numerator is shorter, with whole multiples pulled out
        down = _split_whole(num, den)
        up = _split_whole(sympy.expand(num - den + 1), den)
        if len(Add.make_args(up[0])) < len(Add.make_args(down[0])):
            return _make(ceiling, up[0], den) + up[1]
        return _make(floor, down[0], den) + down[1]
    b = int(den)
    const, body = num.as_coeff_Add()
    a = int(const)
    up = a - b + 1  # floor((L + a)/b) = ceil((L + a - b + 1)/b)
    # (kind, constant inside, constant outside): fewest constants first, then the smallest ones
    forms = ((floor, a, 0), (floor, a % b, a // b), (ceiling, up, 0), (ceiling, up % b, up // b))
    kind, inside, outside = min(forms, key=lambda f: ((f[1] != 0) + (f[2] != 0), abs(f[1]) + abs(f[2])))
    return _make(kind, body + inside, b) + outside


def rounded(kind, num, den, rest=0):
    """floor(num/den) + rest (kind=floor) or ceil(num/den) + rest (kind=ceiling) in closed form."""
    num, den = sympy.sympify(num), sympy.sympify(den)
    if den.is_negative:
        num, den = -num, -den
    if den == 1 and _is_int(num):
        return num + rest
    if not (_is_pos_int(den) and _is_int(num)):
        return kind(num / den) + rest
    num = sympy.expand(num + rest * den, deep=False)
    while True:
        folded = _fold(kind, num, den)
        if folded is None:
            break
        num, den = folded
    if kind is ceiling:  # present everything through floor: ceil(N/b) = floor((N + b - 1)/b)
        num = num + den - 1
    return _present(num, den)


def floor_div(a, b):
    """floor(a / b) for symbolic values, simplified."""
    return _to_int(rounded(floor, a, b))


def ceil_div(a, b):
    """ceil(a / b) for symbolic values, simplified."""
    return _to_int(rounded(ceiling, a, b))


def _to_int(expr):
    return int(expr) if expr.is_Integer else expr


def _rewrite(expr):
    """One rounding node rebuilt through ``rounded`` (used bottom-up by ``simplify_dim``)."""
    return rounded(type(expr), *over_one(expr.args[0]))


def simplify_dim(expr):
    """An equal expression with nested floors/ceilings folded into one each (ints pass through).

    A sum ``floor(N/b) + c`` (c integer-valued) is itself folded into ``floor((N + c*b)/b)`` and shown
    in its shortest form, so ``floor((H - 1)/2) + 1`` reads ``ceiling(H/2)``.
    """
    if not isinstance(expr, sympy.Basic):
        return expr
    if isinstance(expr, sympy.Piecewise):
        return sympy.Piecewise(*[(simplify_dim(e), c) for e, c in expr.args])
    if any(a.args[0].has(*_ROUNDING) for a in expr.atoms(*_ROUNDING)):  # a tower: fold it bottom-up
        expr = expr.replace(lambda e: isinstance(e, _ROUNDING), _rewrite)
    if isinstance(expr, Add):
        inner = [t for t in expr.args if isinstance(t, _ROUNDING)]
        if len(inner) == 1:
            rest = expr - inner[0]
            parts = _quotient(inner[0].args[0])
            if parts is not None and _is_int(rest):
                expr = rounded(type(inner[0]), *parts, rest=rest)
    return _to_int(expr)


@lru_cache(maxsize=1024)
def _factor(expr):
    factored = sympy.factor(expr)
    factored = factored if sympy.count_ops(factored) <= sympy.count_ops(expr) else sympy.factor_terms(expr)
    return expr if _needless(factored) else factored


def _needless(factored) -> bool:
    """A number pulled out of a sum whose terms keep numbers of their own: 144*(3*H*W + 2*H) is clearer as the sum
    it came from, 432*H*W + 288*H. A structural factor stays: C_out*(C_in*k^2 + 1), 64*(C*k^2 + 1)."""
    if not factored.is_Mul:
        return False
    coeff, rest = factored.as_coeff_Mul()
    sums = [f for f in sympy.Mul.make_args(rest) if f.is_Add]
    return bool(coeff.is_Integer and coeff != 1 and sums
                and any(abs(t.as_coeff_Mul()[0]) != 1 for s in sums for t in s.args if not t.is_number))


def readable(expr):
    """The closed form factored for reading (an int or sympy expression; see ``pretty``)."""
    expr = simplify_dim(expr)
    if isinstance(expr, sympy.Basic) and not expr.is_number:
        expr = _factor(expr)
    return expr


def pretty(expr) -> str:
    """A closed form for reading: factored (``C_out*(C_in*k^2 + 1)``), each floor/ceil over one fraction
    (``floor((H - 35)/32)``), ``^`` for powers. Not meant to be parsed back."""
    if not isinstance(expr, sympy.Basic):
        return str(expr)
    return text(readable(expr))


def text(expr, order=None) -> str:
    """``expr`` as it is (not simplified), printed as ``pretty`` prints: the one text printer. ``order="none"``
    keeps the terms of an unevaluated sum in the order they were written."""
    if not isinstance(expr, sympy.Basic):
        return str(expr)
    return _ReadablePrinter({"order": order}).doprint(expr).replace("**", "^")


def latex(expr, names=None, dot=False, order=None) -> str:
    """``expr`` as it is in LaTeX, printed as ``text`` prints it: each floor/ceil over one fraction
    (``\\left\\lceil{\\frac{H - 1}{4}}\\right\\rceil``, never H/4 - 1/4), ``names`` replacing symbols' names,
    ``dot`` writing products with \\cdot (derivations with numbers in them need it)."""
    if not isinstance(expr, sympy.Basic):
        return str(expr)
    return _latex_printer(bool(dot))(names or {}, order).doprint(expr)


@lru_cache(maxsize=2)
def _latex_printer(dot):
    from sympy.printing.latex import LatexPrinter

    class Printer(LatexPrinter):
        def __init__(self, names, order=None):
            super().__init__({"symbol_names": names, "mul_symbol": "dot" if dot else None, "order": order})

        def _print_Max(self, expr, exp=None):
            return rf"\max\left({', '.join(self._print(a) for a in _numbers_last(expr.args))}\right)"

        def _over_one(self, arg):
            num, den = over_one(arg)
            return self._print(num) if den == 1 else rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"

        def _print_floor(self, expr, exp=None):
            return rf"\left\lfloor{{{self._over_one(expr.args[0])}}}\right\rfloor"

        def _print_ceiling(self, expr, exp=None):
            return rf"\left\lceil{{{self._over_one(expr.args[0])}}}\right\rceil"

    return Printer


def _numbers_last(args):
    """max(x, 0) as written by hand: the number after the expression."""
    return sorted(args, key=lambda a: bool(a.is_number))


class _ReadablePrinter(sympy.printing.str.StrPrinter):
    """sympy's printer with rounding written over a single fraction and ceiling as ceil."""

    def _print_floor(self, expr):
        return f"floor({self._over_one(expr.args[0])})"

    def _print_ceiling(self, expr):
        return f"ceil({self._over_one(expr.args[0])})"

    def _print_Max(self, expr):
        return f"max({', '.join(self._print(a) for a in _numbers_last(expr.args))})"

    def _print_Min(self, expr):
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _over_one(self, arg):
        """``(H - 19)/16``: one numerator over one denominator (sympy would distribute the 1/16)."""
        num, den = over_one(arg)
        if den == 1:
            return self._print(num)
        text = [self._print(part) for part in (num, den)]
        text = [f"({t})" if part.is_Add or (i and not part.is_Atom) else t for i, (part, t) in enumerate(zip((num, den), text))]
        return f"{text[0]}/{text[1]}"


__all__ = ["simplify_dim", "pretty", "text", "latex", "readable", "floor_div", "ceil_div", "rounded"]
