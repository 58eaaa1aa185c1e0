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
from .layers import AvgPoolNd, BatchNormNd, ConvNd, ConvTransposeNd, Flatten, Linear, MaxPoolNd, PadNd, SamePad2d, Upsample
from .receptive_field import ReceptiveField

__all__ = ["twin", "general", "General", "evaluate", "size_names", "same_padding_formulas"]

_SIZES = {0: (), 1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
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
        pads = getattr(layer, "pads")  # (before, after) per axis, 'same' and 'valid' resolved
        befores = tuple(p0 for p0, _ in pads)
        afters = tuple(p1 for _, p1 in pads)
        numeric = replace(layer, padding=befores) if isinstance(layer.padding, str) else layer
        layer = numeric  # 'valid' is p = 0 and 'same' its pads (same_padding_formulas shows how they come)
        kwargs = dict(in_channels=one(layer.in_channels, "C_in"), out_channels=one(layer.out_channels, "C_out"),
                      kernel_size=axes("kernel_size", "k"), dilation=axes("dilation", "d", True),
                      groups=one(layer.groups, "g", True), stride=axes("stride", "s"))
        if befores == afters:
            return replace(layer, padding=axes("padding", "p"), **kwargs), values
        # 'same' with an even kernel span: p_before before and p_after after, as PyTorch pads it
        before, before_values = _axes_symbols(befores, "p_before")
        after, after_values = _axes_symbols(afters, "p_after")
        values.update(before_values, **after_values)
        uneven = replace(layer, padding=befores, **kwargs)
        object.__setattr__(uneven, "pads", tuple(zip(before, after)))
        return uneven, values
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
    if isinstance(layer, PadNd):
        return replace(layer, padding=_pad_symbols(layer, values)), values  # type: ignore[type-var]
    if isinstance(layer, SamePad2d):
        return replace(layer, kernel_size=axes("kernel_size", "k"), stride=axes("stride", "s"),
                       dilation=axes("dilation", "d", True)), values
    if isinstance(layer, Flatten) and (layer.start_dim, layer.end_dim) == (1, -1):
        return layer, values  # F_out = C_in*H_in*W_in
    factors = layer.scale_factor if isinstance(getattr(layer, "scale_factor", None), tuple) else (getattr(layer, "scale_factor", None),)
    if isinstance(layer, Upsample) and layer.scale_factor is not None and all(type(v) is int for v in factors):
        return layer, values  # n_out = s*n_in with the factor as it is
    return None, values


_SIDES = {1: ("left", "right"), 2: ("left", "right", "top", "bottom"), 3: ("left", "right", "top", "bottom", "front", "back")}


def _pad_symbols(layer, values):
    """The pad layer's (left, right, top, ...) as symbols: one p when every side agrees, p_h, p_w when each
    axis is symmetric, else one per side (p_left, p_right, ...)."""
    flat, rank = layer.padding, layer.rank
    if all(v == flat[0] for v in flat):
        values["p"] = flat[0]
        return (symbol("p"),) * len(flat)
    if all(flat[i] == flat[i + 1] for i in range(0, len(flat), 2)):
        suffixes = _SUFFIXES[rank][::-1]  # F.pad order: the last axis first
        out = []
        for i, suffix in enumerate(suffixes):
            values[f"p_{suffix}"] = flat[2 * i]
            out += [symbol(f"p_{suffix}")] * 2
        return tuple(out)
    names = tuple(f"p_{side}" for side in _SIDES[rank])
    values.update(zip(names, flat))
    return tuple(symbol(n) for n in names)


def same_padding_formulas(layer: Any) -> list:
    """How a convolution's padding word becomes numbers: [(name, general expression, {symbol: value}, value)],
    empty for a numeric padding. 'valid' is p = 0; PyTorch's 'same' pads floor(d*(k - 1)/2) before and the rest
    after (``formulas.torch_same_padding``)."""
    if not isinstance(layer, ConvNd) or not isinstance(layer.padding, str):
        return []
    if layer.padding == "valid":
        return [("p", 0, {}, 0)]
    out = []
    pads = getattr(layer, "pads")
    uneven = any(p0 != p1 for p0, p1 in pads)
    for axis, (k, d, (p0, p1)) in enumerate(zip(layer.kernel_size, layer.dilation, pads)):
        if axis and (k, d) == (layer.kernel_size[0], layer.dilation[0]):
            continue  # every axis alike: said once
        suffix = "" if len(set(zip(layer.kernel_size, layer.dilation))) == 1 else f"_{_SUFFIXES[layer.rank][axis]}"
        values = {f"k{suffix}": k, **({f"d{suffix}": d} if d != 1 else {})}
        k_sym = symbol(f"k{suffix}")
        d_sym = symbol(f"d{suffix}") if d != 1 else 1
        before, after = F.torch_same_padding(k_sym, d_sym)
        if uneven:  # p_after = d*(k - 1) - p_before: what is left of the total
            rest = before + after - symbol(f"p_before{suffix}")
            out += [(f"p_before{suffix}", before, values, p0), (f"p_after{suffix}", rest, {**values, f"p_before{suffix}": p0}, p1)]
        else:
            out.append((f"p{suffix}", before, values, p0))
    return out


def _leading_names(count):
    """Names of the axes before a Linear's features: L (tokens), H and W (a channels-last map), D, H and W."""
    return ("L",) if count == 1 else _SIZES.get(count, tuple(f"N_{i}" for i in range(1, count + 1))) if count else ()


@dataclass
class General:
    """The general formulas of one twin: output dims, params, MACs, receptive-field recurrence (per spatial
    axis: size, jump, start), the input's names and the output's names."""

    out: tuple
    params: object
    macs: object
    rf: tuple | None
    in_names: tuple
    out_names: tuple
    ceil_counts: tuple | None = None  # ceil_mode pooling: PyTorch's count before its last-window rule
    buffers: object = 0


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
    if isinstance(layer, Linear):
        named_out = tuple(symbol(n) for n in out_names)
    elif len(out) == 1:  # flattened
        out_names, named_out = ("F_out",), (symbol("F_out"),)
    else:
        named_out = out[:1] + tuple(symbol(n) for n in out_names[1:])
    macs = layer.macs(shape, named_out)
    rf = None
    if layer.windowed or isinstance(layer, ConvTransposeNd):
        r, j, x = symbol("r_in"), symbol("j_in"), symbol("x_in")
        axes = len(shape) - 1
        field = layer.rf_at(ReceptiveField((r,) * axes, (j,) * axes, (x,) * axes), shape)
        rf = None if field is None else tuple(zip(field.size, field.stride, field.start))
    ceil_counts: tuple | None = None
    if getattr(layer, "ceil_mode", False):
        ceil_counts = tuple(
            F.pool_ceil_count(n, layer.kernel_size[i], layer.stride[i], layer.padding[i], layer.dilations[i])
            for i, n in enumerate(shape[1:])
        )
    return General(out, layer.params, macs, rf, in_names, out_names, ceil_counts, layer.buffers)


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
        return int(out) if isinstance(out, Fraction) and out.denominator == 1 else out
    if expr.is_Pow:
        base, exp = args
        return base**exp if exp >= 0 else Fraction(1) / Fraction(base) ** -exp  # exact: never a float
    name = type(expr).__name__
    if name in ("floor", "ceiling"):
        q = Fraction(args[0])
        return q.numerator // q.denominator if name == "floor" else -(-q.numerator // q.denominator)
    if name in ("Min", "Max"):
        return min(args) if name == "Min" else max(args)
    raise ShapeError(f"cannot evaluate {expr}")
