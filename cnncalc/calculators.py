"""Single-layer calculators for homework: the result, the general formula and the numbers substituted.

The formulas shown are not written out by hand: the same layer is analysed once with every
hyperparameter a symbol (giving the general formula from ``formulas.py``) and once with the values.
"""

from __future__ import annotations

import re

from .analysis import analyze
from .dims import format_shape, product, symbol
from .layers import AvgPool2d, Conv2d, ConvTranspose2d, Linear, MaxPool2d
from .render.table import count

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _substitute(expr, values) -> str:
    """The printed formula with each symbol's name replaced by its value."""
    text = str(expr)
    return _NAME.sub(lambda m: str(values.get(m.group(0), m.group(0))), text)


def _axes(value):
    return value if isinstance(value, tuple) else (value, value)


class Calculation:
    """A layer analysed with numbers and with symbols, for printing."""

    def __init__(self, kind, make, values, input_names, input_values):
        self.kind = kind
        symbols = {name: symbol(name) for name in values}
        symbols.update({name: symbol(name) for name in input_names})
        self.layer = make(values)
        self.report = analyze(self.layer, input_values, warn=False)
        self.general = analyze(make(symbols), tuple(symbols[n] for n in input_names), warn=False)
        self.values = {**{k: v for k, v in values.items()}, **dict(zip(input_names, input_values))}

    def lines(self):
        """The calculation as text lines: shapes with formulas, params, MACs, receptive field."""
        rep, gen, values = self.report, self.general, self.values
        out = [repr(self.layer), f"Input shape:   {format_shape(rep.input_shape)}", f"Output shape:  {format_shape(rep.output_shape)}"]
        names = ("C_out", "H_out", "W_out") if len(rep.output_shape) == 3 else ("F_out",)
        for name, general, value in zip(names, gen.output_shape, rep.output_shape):
            if not getattr(general, "is_Symbol", False) and str(general) != str(value):
                out.append(f"  {name} = {general}")
                out.append(f"  {' ' * len(name)} = {_substitute(general, values)} = {value}")
        out.append(f"Params:        {count(rep.params)}")
        if gen.params != 0:
            out.append(f"  = {gen.params} = {_substitute(gen.params, values)}")
        out.append(f"MACs:          {count(rep.macs)}   (FLOPs: {count(rep.flops)})")
        if gen.macs != 0:
            out.append(f"  = {gen.macs}")
        rf = rep.receptive_field
        if rf is not None:
            out.append(
                f"Receptive field: size {rf.size[0]}x{rf.size[1]}, stride {rf.stride[0]}x{rf.stride[1]}, "
                f"start {rf.start[0]},{rf.start[1]}"
            )
            grf = gen.receptive_field
            if rep.layers[-1].traced:  # the symbolic hull is only a bound here: state the rule that was traced
                out.append("  size = the most input pixels i one output pixel o reads (i*s - p + t*d = o, t < k),"
                           " ceil(k/s) when d = 1")
                out.append(f"  stride = {grf.stride[0]}, start = the first input pixel output pixel 0 reads (per axis)")
            else:
                out.append(f"  size = {grf.size[0]}, stride = {grf.stride[0]}, start = {grf.start[0]} (per axis)")
        out.extend(f"Warning: {w}" for w in rep.warnings)
        return out


def conv(input_shape, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True):
    c, h, w = _map(input_shape)
    values = _pairs(k=kernel_size, s=stride, p=padding, d=dilation)
    values.update(C_out=out_channels, g=groups)

    def make(v):
        return Conv2d(v["C_in"], v["C_out"], (v["k_h"], v["k_w"]), (v["s_h"], v["s_w"]), (v["p_h"], v["p_w"]),
                      (v["d_h"], v["d_w"]), v["g"], bias=bias)

    return Calculation("conv", _with_input(make, c), values, ("C_in", "H", "W"), (c, h, w))


def conv_transpose(input_shape, out_channels, kernel_size, stride=1, padding=0, output_padding=0, dilation=1,
                   groups=1, bias=True):
    c, h, w = _map(input_shape)
    values = _pairs(k=kernel_size, s=stride, p=padding, op=output_padding, d=dilation)
    values.update(C_out=out_channels, g=groups)

    def make(v):
        return ConvTranspose2d(v["C_in"], v["C_out"], (v["k_h"], v["k_w"]), (v["s_h"], v["s_w"]),
                               (v["p_h"], v["p_w"]), (v["op_h"], v["op_w"]), v["g"], bias, (v["d_h"], v["d_w"]))

    return Calculation("convtranspose", _with_input(make, c), values, ("C_in", "H", "W"), (c, h, w))


def pool(input_shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, kind="max"):
    c, h, w = _map(input_shape)
    values = _pairs(k=kernel_size, s=kernel_size if stride is None else stride, p=padding)
    if kind == "max":
        values.update(_pairs(d=dilation))

    def make(v):
        args = ((v["k_h"], v["k_w"]), (v["s_h"], v["s_w"]), (v["p_h"], v["p_w"]))
        if kind == "max":
            return MaxPool2d(*args, dilation=(v["d_h"], v["d_w"]), ceil_mode=ceil_mode)
        return AvgPool2d(*args, ceil_mode=ceil_mode)

    return Calculation("pool", make, values, ("C", "H", "W"), (c, h, w))


def linear(input_shape, out_features, bias=True):
    if len(input_shape) != 1:
        input_shape = (product(input_shape),)
    values = {"F_out": out_features}

    def make(v):
        return Linear(v["F_in"], v["F_out"], bias=bias)

    return Calculation("linear", _with_input(make, input_shape[0], "F_in"), values, ("F_in",), input_shape)


def _with_input(make, channels, name="C_in"):
    """Give the layer factory the input's channel count (a symbol in the general formula)."""

    def build(v):
        return make({**v, name: v.get(name, channels)})

    return build


def _pairs(**named):
    values = {}
    for name, value in named.items():
        values[f"{name}_h"], values[f"{name}_w"] = _axes(value)
    return values


def _map(shape):
    if len(shape) != 3:
        from .errors import ShapeError

        raise ShapeError(f"--input must be CxHxW for this calculator, got {format_shape(shape)}")
    return shape
