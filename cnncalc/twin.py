"""Symbolic twins: a layer with symbols in place of its hyperparameters, and the general formulas it gives.

No formula is written here: the twin's own ``infer``, ``params``, ``macs`` and ``rf_at`` (hence
``formulas.py``) give the general formula, into which the numbers are then substituted (``explain``,
the calculators). A hyperparameter that is the same on every axis gets one symbol (``k``), otherwise
one per axis (``k_h``, ``k_w``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any

from . import formulas as F
from .dims import symbol
from .errors import ShapeError
from .layers import AvgPoolNd, BatchNormNd, ConvNd, ConvTransposeNd, Linear, MaxPoolNd, Upsample
from .receptive_field import ReceptiveField

__all__ = ["twin", "general", "General", "evaluate", "size_names"]

_SIZES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_SUFFIXES = {1: ("l",), 2: ("h", "w"), 3: ("d", "h", "w")}


def size_names(rank: int) -> tuple:
    """The names of the sizes of ``rank`` spatial axes: ("H", "W") for a 2-D map."""
    return _SIZES[rank]


def _axes_symbols(values, name):
    """(symbols, {symbol name: value}) for a per-axis argument: one symbol when every axis agrees."""
    if all(v == values[0] for v in values):
        return (symbol(name),) * len(values), {name: values[0]}
    names = tuple(f"{name}_{s}" for s in _SUFFIXES[len(values)])
    return tuple(symbol(n) for n in names), dict(zip(names, values))


def twin(layer: Any) -> tuple:
    """(symbolic twin, {symbol name: value}); (None, {}) when the layer has no hyperparameter to explain."""
    values: dict = {}

    def axes(attr, name, keep_one=False):
        current = getattr(layer, attr)
        if keep_one and all(v == 1 for v in current):
            return current
        syms, vals = _axes_symbols(current, name)
        values.update(vals)
        return syms

    def one(value, name, keep_one=False):
        if keep_one and value == 1:
            return value
        values[name] = value
        return symbol(name)

    if isinstance(layer, ConvNd):
        kwargs = dict(in_channels=one(layer.in_channels, "C_in"), out_channels=one(layer.out_channels, "C_out"),
                      kernel_size=axes("kernel_size", "k"), dilation=axes("dilation", "d", True),
                      groups=one(layer.groups, "g", True))
        if not isinstance(layer.padding, str):
            kwargs.update(stride=axes("stride", "s"), padding=axes("padding", "p"))
        return replace(layer, **kwargs), values
    if isinstance(layer, ConvTransposeNd):
        return replace(layer, in_channels=one(layer.in_channels, "C_in"), out_channels=one(layer.out_channels, "C_out"),
                       kernel_size=axes("kernel_size", "k"), stride=axes("stride", "s"), padding=axes("padding", "p"),
                       output_padding=axes("output_padding", "op"), dilation=axes("dilation", "d", True),
                       groups=one(layer.groups, "g", True)), values
    if isinstance(layer, MaxPoolNd):
        return replace(layer, kernel_size=axes("kernel_size", "k"), stride=axes("stride", "s"),  # type: ignore[type-var]
                       padding=axes("padding", "p"), dilation=axes("dilation", "d", True)), values
    if isinstance(layer, AvgPoolNd):
        return replace(layer, kernel_size=axes("kernel_size", "k"), stride=axes("stride", "s"),  # type: ignore[type-var]
                       padding=axes("padding", "p")), values
    if isinstance(layer, Linear):
        return replace(layer, in_features=one(layer.in_features, "F_in"), out_features=one(layer.out_features, "F_out")), values
    if isinstance(layer, BatchNormNd):
        return replace(layer, num_features=one(layer.num_features, "C")), values  # type: ignore[type-var]
    factors = layer.scale_factor if isinstance(getattr(layer, "scale_factor", None), tuple) else (getattr(layer, "scale_factor", None),)
    if isinstance(layer, Upsample) and layer.scale_factor is not None and all(type(v) is int for v in factors):
        return layer, values  # n_out = s*n_in with the factor as it is
    return None, values


def _leading_names(count):
    """Names of the axes before a Linear's features: L (tokens), H and W (a channels-last map), D, H and W."""
    return ("L",) if count == 1 else _SIZES.get(count, tuple(f"N_{i}" for i in range(1, count + 1))) if count else ()


@dataclass
class General:
    """The general formulas of one twin: output dims, params, MACs, receptive-field recurrence (one
    axis: size, jump, start), the input's names and the output's names."""

    out: tuple
    params: object
    macs: object
    rf: tuple | None
    in_names: tuple
    out_names: tuple
    ceil_counts: tuple | None = None  # ceil_mode pooling: PyTorch's count before its last-window rule


@lru_cache(maxsize=512)
def general(layer: Any, rank: int = 2) -> General:
    """Formulas of a twin on an input with ``rank`` spatial axes (cached: most layers of a network share a twin)."""
    in_names: tuple
    out_names: tuple
    shape: tuple
    if isinstance(layer, Linear):  # on the last axis of a vector, tokens (L, F_in) or a channels-last map
        leading = _leading_names(rank)
        in_names, out_names = leading + ("F_in",), leading + ("F_out",)
        shape = tuple(symbol(n) for n in in_names)
    else:
        rank = getattr(layer, "rank", rank)
        sizes = size_names(rank)
        channel = "C" if isinstance(layer, BatchNormNd) else "C_in"
        in_names = (channel,) + tuple(f"{n}_in" for n in sizes)
        out_names = ("C_out",) + tuple(f"{n}_out" for n in sizes)
        channels = getattr(layer, "in_channels", getattr(layer, "num_features", symbol("C_in")))
        shape = (channels,) + tuple(symbol(n) for n in in_names[1:])
    out = layer.infer(shape)
    named_out = tuple(symbol(n) for n in out_names) if isinstance(layer, Linear) else out[:1] + tuple(symbol(n) for n in out_names[1:])
    macs = layer.macs(shape, named_out)
    rf = None
    if layer.windowed or isinstance(layer, ConvTransposeNd):
        r, j, x = symbol("r_in"), symbol("j_in"), symbol("x_in")
        axes = len(shape) - 1
        field = layer.rf_at(ReceptiveField((r,) * axes, (j,) * axes, (x,) * axes), shape)
        rf = None if field is None else (field.size[0], field.stride[0], field.start[0])
    ceil_counts: tuple | None = None
    if getattr(layer, "ceil_mode", False):
        ceil_counts = tuple(
            F.pool_ceil_count(n, layer.kernel_size[i], layer.stride[i], layer.padding[i], layer.dilations[i])
            for i, n in enumerate(shape[1:])
        )
    return General(out, layer.params, macs, rf, in_names, out_names, ceil_counts)


def evaluate(expr, values: dict):
    """An integer-valued sympy expression evaluated exactly with Python ints (no sympy substitution)."""
    if expr.is_Integer:
        return int(expr)
    if expr.is_Rational:
        return Fraction(int(expr.p), int(expr.q))
    if expr.is_Symbol:
        return values[expr.name]
    args = [evaluate(a, values) for a in expr.args]
    if expr.is_Add:
        return sum(args)
    if expr.is_Mul:
        out = 1
        for a in args:
            out *= a
        return out
    if expr.is_Pow:
        return args[0] ** args[1]
    name = type(expr).__name__
    if name in ("floor", "ceiling"):
        q = Fraction(args[0])
        return q.numerator // q.denominator if name == "floor" else -(-q.numerator // q.denominator)
    if name in ("Min", "Max"):
        return min(args) if name == "Min" else max(args)
    raise ShapeError(f"cannot evaluate {expr}")
