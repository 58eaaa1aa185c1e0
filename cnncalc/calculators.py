"""Single-layer calculators for homework: the answers first, then how they come (the derivation ``explain``
prints, from the layer's symbolic twin), in English or Chinese.

A calculator takes the layer's arguments as PyTorch does, for an input of any rank (``3x16000`` gives a
Conv1d, ``3x16x112x112`` a Conv3d), a padding that may be a number, ``'same'`` or ``'valid'`` (PyTorch's
rules), or TensorFlow's ``'same'`` (``tf_same=True``), and says out loud how it read what it was given:
an input that looks channels last (``32x32x3``) gets the result of the other reading too
(``layout="hwc"`` makes that reading the answer); a symbol in a numeric option is announced.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from . import formulas as F
from . import i18n
from .analysis import analyze
from .dims import format_shape, known, product, symbol
from .errors import ShapeError
from .graph import Sequential
from .layers import (
    AvgPool1d, AvgPool2d, AvgPool3d, BatchNorm1d, BatchNorm2d, BatchNorm3d, Conv1d, Conv2d, Conv3d, ConvTranspose1d,
    ConvTranspose2d, ConvTranspose3d, Flatten, Linear, MaxPool1d, MaxPool2d, MaxPool3d, ReflectionPad1d,
    ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d,
    ZeroPad3d,
)
from .layout import check_layout, looks_channels_last, signal_channels_last, to_channels_first, to_channels_last
from .render.explain import Line, call_text, derivation, explain, explanation_html, line_text, lines_html, render_lines
from .render.table import count
from .twin import size_names

__all__ = ["Calculation", "conv", "conv_transpose", "pool", "linear", "batchnorm", "pad", "build", "read_input", "KINDS",
           "Translated"]

_CLASSES = {
    "conv": (Conv1d, Conv2d, Conv3d), "convtranspose": (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d),
    "maxpool": (MaxPool1d, MaxPool2d, MaxPool3d), "avgpool": (AvgPool1d, AvgPool2d, AvgPool3d),
    "batchnorm": (BatchNorm1d, BatchNorm2d, BatchNorm3d), "zeros": (ZeroPad1d, ZeroPad2d, ZeroPad3d),
    "reflect": (ReflectionPad1d, ReflectionPad2d, ReflectionPad3d),
    "replicate": (ReplicationPad1d, ReplicationPad2d, ReplicationPad3d),
}
KINDS = ("conv", "convtranspose", "maxpool", "avgpool", "linear", "batchnorm", "pad")
PADDING_WORDS = ("same", "valid")


class Translated(ShapeError):
    """A ShapeError whose message is already in the language asked for (the CLI prints it as it is)."""

    translated = True


# --- building the layer --------------------------------------------------------------------------------


def _rank(kind, shape):
    if not 2 <= len(shape) <= 4:
        raise ShapeError(f"{kind} takes a CxL, CxHxW or CxDxHxW map, got {format_shape(shape)}")
    return len(shape) - 1


def _layer_name(kind, rank):
    return _CLASSES[kind][rank - 1].__name__


def _is_word(value):
    return isinstance(value, str) and value in PADDING_WORDS


@dataclass
class Built:
    """What a calculator computes on: the model (one layer, or a pad/flatten and the layer), the name the
    output calls it by, and the lines that come before the layers' own derivations (TensorFlow's 'same')."""

    model: Any
    name: str
    layer: Any
    before: list = field(default_factory=list)  # (label key, [(lhs, expr, values, value)]) per TF-same line


def build(kind: str, input_shape: tuple, *, out=None, kernel_size=None, stride=None, padding=0, dilation=1, groups=1,
          bias=True, output_padding=0, ceil_mode=False, tf_same=False, affine=True, track_running_stats=True,
          mode="zeros") -> Built:
    """The layer a calculator (or a ``check`` question) is about, on a channels-first ``input_shape``."""
    if kind == "linear":
        if len(input_shape) > 1:  # a linear layer reads vectors: the map is flattened first
            features = product(input_shape)
            layer = Linear(features, out, bias)
            return Built(Sequential(Flatten(), layer), call_text(layer), layer)
        layer = Linear(input_shape[0], out, bias)
        return Built(layer, call_text(layer), layer)
    if kind == "batchnorm":  # BatchNorm1d also takes vectors (C,)
        rank = max(_rank(kind, input_shape) if len(input_shape) > 1 else 1, 1)
        layer = _CLASSES[kind][rank - 1](input_shape[0], affine=affine, track_running_stats=track_running_stats)
        return Built(layer, call_text(layer), layer)
    rank = _rank(kind, input_shape)
    if kind == "pad":
        pads = _pad_sides(padding, rank)
        layer = _CLASSES[mode][rank - 1](pads)
        return Built(layer, call_text(layer), layer)
    name = _layer_name(kind, rank)
    if tf_same:
        if padding not in (0, "same"):
            raise ShapeError("--tf-same replaces --padding: leave -p out (or write -p same)")
        return _tf_same(kind, input_shape, rank, out, kernel_size, stride, dilation, groups, bias, ceil_mode)
    if kind == "convtranspose":
        if _is_word(padding):
            raise ShapeError(f"{name}: padding={padding!r} is not supported for transposed convolutions")
        layer = _CLASSES[kind][rank - 1](input_shape[0], out, kernel_size, stride or 1, padding, output_padding,
                                         groups, bias, dilation)
        return Built(layer, call_text(layer), layer)
    if kind == "conv":
        if padding == "same" and any(s != 1 for s in _axes(stride or 1, rank)):
            raise ShapeError(f"{name}: padding='same' is not supported for strided convolutions")
        layer = _CLASSES[kind][rank - 1](input_shape[0], out, kernel_size, stride or 1, padding, dilation, groups, bias)
        return Built(layer, call_text(layer), layer)
    if padding == "same":
        raise ShapeError(f"{name}: PyTorch pooling takes no padding='same' (only convolutions do, with stride 1); "
                         "--tf-same gives TensorFlow's 'same'")
    padding = 0 if padding == "valid" else padding
    args = (kernel_size, stride, padding)
    layer = (_CLASSES[kind][rank - 1](*args, dilation=dilation, ceil_mode=ceil_mode) if kind == "maxpool"
             else _CLASSES[kind][rank - 1](*args, ceil_mode=ceil_mode))
    return Built(layer, call_text(layer), layer)


def _axes(value, rank):
    return tuple(value) if isinstance(value, tuple) else (value,) * rank


def _pad_sides(padding, rank):
    """A pad calculator's padding (one value, or one per spatial axis in shape order) as F.pad's sides."""
    values = _axes(padding, rank)
    if len(values) != rank:
        raise ShapeError(f"padding: give one value or one per spatial axis ({rank}), got {padding!r}")
    sides = []
    for v in reversed(values):  # F.pad: the last axis first
        sides += [v, v]
    return tuple(sides)


def _tf_same(kind, shape, rank, out, kernel_size, stride, dilation, groups, bias, ceil_mode):
    """TensorFlow/Keras padding='same': output ceil(n/s); the pads (extra pixel after) then the layer unpadded."""
    k = _axes(kernel_size, rank)
    s = _axes(stride or (kernel_size if kind in ("maxpool", "avgpool") else 1), rank)
    d = _axes(dilation if kind in ("conv", "maxpool") else 1, rank)
    pads = [F.tf_same_padding(n, *args) for n, args in zip(shape[1:], zip(k, s, d))]
    if kind == "conv":
        layer = _CLASSES[kind][rank - 1](shape[0], out, kernel_size, s, 0, dilation, groups, bias)
    elif kind == "maxpool":
        layer = _CLASSES[kind][rank - 1](kernel_size, s, 0, dilation=dilation)
    elif kind == "avgpool":
        layer = _CLASSES[kind][rank - 1](kernel_size, s, 0, count_include_pad=False)
    else:
        raise ShapeError(f"{_layer_name(kind, rank)}: TensorFlow's 'same' is for convolutions and pooling")
    name = call_text(layer)
    before = _tf_lines(shape, k, s, d)
    if not any(p0 or p1 for p0, p1 in pads):
        return Built(layer, name, layer, before)
    sides = []
    for p0, p1 in reversed(pads):
        sides += [p0, p1]
    return Built(Sequential(_CLASSES["zeros"][rank - 1](tuple(sides)), layer), name, layer, before)


def _tf_lines(shape, kernel, stride, dilation):
    """Per axis: (output ceil(n/s), total padding), each (lhs, general expression, values, value). The total is
    shown as written by hand, max((n_out - 1)*s + k_eff - n, 0) (``formulas.tf_same_padding``'s rule; the values
    are that function's)."""
    import sympy

    rank = len(shape) - 1
    out = []
    for axis, (n, k, s, d) in enumerate(zip(shape[1:], kernel, stride, dilation)):
        size = size_names(rank)[axis]
        n_sym, n_out_sym, s_sym, k_sym = symbol(f"{size}_in"), symbol(f"{size}_out"), symbol("s"), symbol("k")
        k_eff = symbol("k_eff") if d != 1 else k_sym
        n_out = F.tf_same_out(n, s)
        values = {f"{size}_in": n, f"{size}_out": n_out, "s": s, "k": k, **({"k_eff": F.effective_kernel(k, d)} if d != 1 else {})}
        window = sympy.Mul(sympy.Add(n_out_sym, -1, evaluate=False), s_sym, evaluate=False)
        total = sympy.Max(sympy.Add(window, k_eff, -n_sym, evaluate=False), 0, evaluate=False)
        p0, p1 = F.tf_same_padding(n, k, s, d)
        out.append((size, [(f"{size}_out", F.tf_same_out(n_sym, s_sym), values, n_out),
                           (f"P_{size.lower()}", total, values, p0 + p1)], (p0, p1)))
    return out


# --- the calculation -----------------------------------------------------------------------------------


@dataclass
class Calculation:
    """One layer on one input: the answers, the notices (how the input and the options were read) and the
    derivation. ``render()`` or ``str()`` prints it; in Jupyter it displays as HTML with typeset formulas."""

    built: Built
    typed_shape: tuple
    input_shape: tuple
    layout: str | None
    report: Any
    notices: list
    lang: str

    @property
    def layer(self):
        return self.built.layer

    @property
    def model(self):
        return self.built.model

    @property
    def name(self):
        if self.built.before:  # TensorFlow's 'same': the layer itself is unpadded
            return self.built.name + i18n.text("calc.tf_same_name", self.lang)
        return self.built.name

    def explanation(self, fmt="text"):
        ex = explain(self.model, self.input_shape, lang=self.lang, fmt=fmt, name=self.name)
        for layer, row in zip(ex.layers, self.report.layers):
            layer.title = call_text(row.layer) if row.layer.is_leaf else layer.title
        return ex

    def summary(self) -> list:
        """(label, value) pairs: the answers."""
        rep, lang = self.report, self.lang
        output = format_shape(rep.output_shape)
        if self.layout == "hwc" and len(rep.output_shape) > 1:
            last = i18n.text("calc.channels_last", lang, shape=format_shape(to_channels_last(rep.output_shape)))
            output += f"   ({last})" if lang == "en" else f"（{last}）"
        pairs = [(i18n.text("calc.input", lang), format_shape(self.typed_shape)), (i18n.text("calc.output", lang), output),
                 (i18n.text("calc.params", lang), count(rep.params))]
        if rep.buffers:
            pairs.append((i18n.text("calc.buffers", lang), count(rep.buffers)))
        if rep.macs != 0:
            flops = f"{i18n.text('calc.flops', lang)}{i18n.colon(lang)}{count(rep.flops)}"
            pairs.append((i18n.text("calc.macs", lang), f"{count(rep.macs)} ({flops})" if lang == "en" else f"{count(rep.macs)}（{flops}）"))
        rf = rep.receptive_field
        if rf is not None and any(row.layer.windowed or row.layer.upsamples for row in rep.layers):
            pairs.append((i18n.text("calc.rf", lang), i18n.text(
                "calc.rf_value", lang, size=_axes_text(rf.size), stride=_axes_text(rf.stride), start=_axes_text(rf.start))))
        return pairs

    def before(self, fmt="text") -> list:
        """The lines that come before the layers' own: how TensorFlow's 'same' pads (per axis)."""
        lang, lines = self.lang, []
        if self.built.before:
            lines.append(Line(i18n.text("explain.tf_same", lang), plain=True))
        shown: list = []  # (lhs names, steps, total names, total steps, split): axes alike share lines
        for _, pairs, (p0, p1) in self.built.before:
            (out_lhs, out_expr, values, n_out), (total_lhs, total_expr, _, total) = pairs
            steps = derivation(out_expr, values, n_out, fmt)
            total_steps = derivation(total_expr, values, total, fmt, order="none")
            if shown and shown[-1][1][1:] == steps[1:] and shown[-1][3][1:] == total_steps[1:]:
                shown[-1][0].append(out_lhs)
                shown[-1][2].append(total_lhs)
                continue
            shown.append(([out_lhs], steps, [total_lhs], total_steps, (p0, p1)))
        for out_names, steps, total_names, total_steps, (p0, p1) in shown:
            lines.append(Line(i18n.text("explain.tf_out", lang), " = ".join(_lhs(n, fmt) for n in out_names), steps))
            lines.append(Line(i18n.text("explain.tf_total", lang), " = ".join(_lhs(n, fmt) for n in total_names),
                              total_steps, remark=i18n.text("explain.tf_split", lang, before=_show(p0), after=_show(p1))))
        return lines

    def lines(self) -> list:
        """The calculation as text lines: the layer, the notices, the answers, then how they come."""
        lang = self.lang
        out = [self.name] + list(self.notices)
        pairs = self.summary()
        width = max(len(label) for label, _ in pairs) + 2
        for label, value in pairs:
            out.append(f"{label}: ".ljust(width) + value if lang == "en" else f"{label}：{value}")
        out += ["", i18n.text("calc.how", lang)]
        out += [line_text(line, lang) for line in self.before()]
        layers = self.explanation().layers
        many = len(layers) > 1
        out += [("  " + text) if many and text else text for text in render_lines(layers, lang, headings=many)]
        while out and out[-1] == "":
            out.pop()
        return out

    def render(self) -> str:
        return "\n".join(self.lines()) + "\n"

    def __str__(self):
        return self.render()

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.render())

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in self.summary())
        notes = "".join(f"<p><em>{escape(n.strip())}</em></p>" for n in self.notices)
        before = lines_html(self.before("latex"), self.lang) if self.built.before else ""
        how = explanation_html(self.explanation("latex"))
        return (f"<div class='cnncalc-calculation'><strong><code>{escape(self.name)}</code></strong>{notes}"
                f"<table>{rows}</table>{before}{how}</div>")


def _lhs(name, fmt):
    if fmt == "latex":
        from .symbolic import latex

        return latex(symbol(name))
    return name


def _show(value):
    return str(value) if known(value) else count(value)


def _axes_text(values):
    parts = [format_shape((v,)) for v in values]
    return parts[0] if all(p == parts[0] for p in parts) else "x".join(parts)


def read_input(typed: tuple, layout, lang: str, run) -> tuple:
    """(channels-first shape, notices) for a shape as typed: ``layout`` "hwc" reads it channels last; with no
    layout a shape that looks channels last (``layout.looks_channels_last``) is read channels first and the
    notices give the other reading's result (``run(shape)`` returns a report, or raises ShapeError); when only
    the other reading works, the error says so (``Translated``, in ``lang``)."""
    layout = check_layout(layout) if layout is not None else None
    if layout == "hwc":
        first = to_channels_first(typed)
        return first, [i18n.text("layout.read_hwc", lang, typed=format_shape(typed), first=format_shape(first))]
    if layout is not None:
        return tuple(typed), []
    looks = looks_channels_last(typed)
    if not looks and not signal_channels_last(typed):
        return tuple(typed), []
    first = to_channels_first(typed)
    mine = _attempt(run, typed)
    if not looks and not isinstance(mine, ShapeError):
        return tuple(typed), []  # a signal read as written: said only when that reading fails
    other = _attempt(run, first)
    if isinstance(mine, ShapeError) and not isinstance(other, ShapeError):
        raise Translated(i18n.text("layout.refused", lang, error=i18n.translate(str(mine), lang),
                                   shape=format_shape(typed), first=format_shape(first), result=_result(other, lang)))
    if isinstance(mine, ShapeError):
        raise mine
    notices = [i18n.text("layout.read_chw", lang, shape=format_shape(typed), axes=_axes_named(typed, lang))]
    if isinstance(other, ShapeError):
        notices.append(i18n.text("layout.other_fails", lang, first=format_shape(first), error=i18n.translate(str(other), lang)))
    else:
        notices.append(i18n.text("layout.other", lang, first=format_shape(first), result=_result(other, lang)))
    return tuple(typed), notices


def _axes_named(shape, lang):
    """C=32, H=32, W=3: each axis of a channels-first reading by name."""
    names = ("C",) + size_names(len(shape) - 1)
    return ("，" if lang == "zh" else ", ").join(f"{n}={d}" for n, d in zip(names, shape))


def _attempt(run, shape):
    try:
        return run(shape)
    except ShapeError as exc:
        return exc


def _result(report, lang):
    return i18n.text("layout.result", lang, shape=format_shape(report.output_shape), params=count(report.params))


def _symbol_notes(options, lang):
    """A symbol given where a number is expected is said out loud, with the padding word it resembles."""
    names, notes = [], []
    for option, value in options.items():
        for v in value if isinstance(value, tuple) else (value,):
            if known(v) or isinstance(v, (str, bool)) or v is None:
                continue
            for sym in sorted(v.free_symbols, key=str):
                if sym.name not in names:
                    names.append(sym.name)
                guess = difflib.get_close_matches(sym.name.lower(), PADDING_WORDS, n=1, cutoff=0.6)
                if guess and option == "padding":
                    notes.append(i18n.text("symbols.typo", lang, option="--padding", value=sym.name, guess=guess[0]))
    if names:
        key = "symbols.note" if len(names) > 1 else "symbols.note_one"
        notes.insert(0, i18n.text(key, lang, names=("，" if lang == "zh" else ", ").join(names)))
    return notes


def _calculate(kind, typed_shape, layout, lang, options, **settings) -> Calculation:
    lang = i18n.check_lang(lang)
    typed = tuple(typed_shape)

    def run(shape):
        return analyze(build(kind, shape, **settings).model, shape, warn=False, layout="chw")

    shape, notices = read_input(typed, layout, lang, run)
    if kind in ("conv", "convtranspose", "maxpool", "avgpool") and len(shape) == 2 and known(shape[0]) and shape[0] > 4:
        body = i18n.text("layout.one_d", lang, shape=format_shape(shape), c=shape[0], n=shape[1], layer=_layer_name(kind, 1))
        notices.append(i18n.text("layout.note", lang, text=body))  # 28x28 is not an image here: said out loud
    notices += _symbol_notes(options, lang)
    built = build(kind, shape, **settings)
    report = analyze(built.model, shape, warn=False, layout="chw")
    if settings.get("padding") == "valid" and kind in ("maxpool", "avgpool"):
        notices.append(i18n.text("same.note_valid", lang))
    return Calculation(built, typed, shape, check_layout(layout) if layout else None, report, notices, lang)


def _shape(input_shape):
    from .dims import as_shape

    return as_shape(input_shape)


def conv(input_shape, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, *,
         layout=None, tf_same=False, lang=None) -> Calculation:
    """Conv1d/2d/3d (by the input's rank): output shape, params, MACs, receptive field, derived."""
    options = dict(out=out_channels, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return _calculate("conv", _shape(input_shape), layout, lang, options, out=out_channels, kernel_size=kernel_size,
                      stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias, tf_same=tf_same)


def conv_transpose(input_shape, out_channels, kernel_size, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                   bias=True, *, layout=None, lang=None) -> Calculation:
    """ConvTranspose1d/2d/3d: output shape, params, MACs, receptive field, derived."""
    options = dict(out=out_channels, kernel_size=kernel_size, stride=stride, padding=padding,
                   output_padding=output_padding, dilation=dilation, groups=groups)
    return _calculate("convtranspose", _shape(input_shape), layout, lang, options, out=out_channels,
                      kernel_size=kernel_size, stride=stride, padding=padding, output_padding=output_padding,
                      dilation=dilation, groups=groups, bias=bias)


def pool(input_shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, kind="max", *, layout=None,
         tf_same=False, lang=None) -> Calculation:
    """MaxPool/AvgPool 1d/2d/3d (stride defaults to the kernel): output shape and receptive field, derived."""
    if kind not in ("max", "avg"):
        raise ShapeError(f"pooling kind must be 'max' or 'avg', got {kind!r}")
    options = dict(kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    extra = dict(dilation=dilation) if kind == "max" else {}
    return _calculate(f"{kind}pool", _shape(input_shape), layout, lang, options, kernel_size=kernel_size, stride=stride,
                      padding=padding, ceil_mode=ceil_mode, tf_same=tf_same, **extra)


def linear(input_shape, out_features, bias=True, *, layout=None, lang=None) -> Calculation:
    """Linear: output size, params and MACs; a CxHxW input is flattened first (and shown so)."""
    return _calculate("linear", _shape(input_shape), layout, lang, dict(out=out_features), out=out_features, bias=bias)


def batchnorm(input_shape, affine=True, track_running_stats=True, *, layout=None, lang=None) -> Calculation:
    """BatchNorm1d/2d/3d: 2C parameters (gamma, beta) and 2C buffers (running mean and variance)."""
    return _calculate("batchnorm", _shape(input_shape), layout, lang, {}, affine=affine,
                      track_running_stats=track_running_stats)


def pad(input_shape, padding, mode="zeros", *, layout=None, lang=None) -> Calculation:
    """ZeroPad/ReflectionPad/ReplicationPad 1d/2d/3d: ``padding`` one value or one per spatial axis (shape order)."""
    if mode not in ("zeros", "reflect", "replicate"):
        raise ShapeError(f"pad mode must be zeros, reflect or replicate, got {mode!r}")
    return _calculate("pad", _shape(input_shape), layout, lang, dict(padding=padding), padding=padding, mode=mode)
