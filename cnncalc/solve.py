"""Solving for sizes: the padding that keeps a size, the inputs a network accepts, the input for a
wanted output, the kernel/stride/padding settings that map one size to another.

Answers are exact sets, written as ``SizeSet`` (an interval intersected with residues modulo a
period), never samples. They rest on two facts about every size formula in ``formulas.py``:

- each size is non-decreasing in the input size (a window count only grows with the input);
- once the input grows by the network's period P (the lcm of the receptive-field jumps j*s of the
  windowed layers), every layer's input grows by a multiple of its stride, so the floor remainders,
  hence truncation and the matching of residual/concat branches, repeat with period P.

The concrete engine (``analysis.analyze``) is the oracle for each residue; the symbolic closed form
gives the period and the monotone bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import lcm

from .analysis import analyze
from .dims import ShapeLike, as_shape, format_shape
from .errors import ShapeError
from . import i18n
from .formulas import effective_kernel, tf_same_out
from .layout import read_shape
from .formulas import tf_same_padding as tf_same
from .layers import Layer, Linear
from .limits import MAX_ANALYSES, MAX_SEARCH

SCAN_LIMIT = 4096  # the largest input size searched for a network's smallest accepted size


def _affordable(count, subject, what):
    """Refuse a search of ``count`` analyses (MAX_ANALYSES) or settings (MAX_SEARCH) before it starts."""
    (MAX_SEARCH if what == "settings" else MAX_ANALYSES).check(count, subject, "the search would try")


@dataclass(frozen=True)
class SizeSet:
    """{n : start <= n <= stop, n mod period in residues} plus the sizes ``also`` listed below ``start``.

    ``stop`` None means unbounded, ``start`` None the empty set.
    """

    start: int | None
    stop: int | None = None
    period: int = 1
    residues: tuple = (0,)
    name: str = "n"
    also: tuple = ()

    @classmethod
    def empty(cls, name="n"):
        return cls(None, name=name)

    @classmethod
    def of(cls, values, name="n"):
        """The exact set of a finite collection of ints (an interval when they are consecutive)."""
        values = sorted(set(values))
        if not values:
            return cls.empty(name)
        if values[-1] - values[0] + 1 == len(values):
            return cls(values[0], values[-1], name=name)
        span = values[-1] - values[0] + 1
        return cls(values[0], values[-1], span, tuple(sorted({v % span for v in values})), name)

    @property
    def is_empty(self):
        return self.start is None

    @property
    def minimum(self):
        return self.also[0] if self.also else self.start

    def __contains__(self, n):
        if n in self.also:
            return True
        if self.start is None or n < self.start or (self.stop is not None and n > self.stop):
            return False
        return n % self.period in self.residues

    def __iter__(self):
        if self.start is None:
            return iter(())
        if self.stop is None:
            raise ValueError(f"{self} is infinite")
        return iter(self.values(self.stop))

    def values(self, limit):
        """The members up to ``limit`` (a list)."""
        if self.start is None:
            return []
        top = limit if self.stop is None else min(limit, self.stop)
        listed = [n for n in self.also if n <= limit]
        return listed + [n for n in range(self.start, top + 1) if n % self.period in self.residues]

    def __str__(self):
        return self.text("en")

    def text(self, lang: str = "en") -> str:
        """The set in mathematical notation; the empty set said in ``lang``."""
        if self.also:
            extra = "{" + ", ".join(str(n) for n in self.also) + "}"
            return extra + " ∪ " + SizeSet(self.start, self.stop, self.period, self.residues, self.name).text(lang)
        n = self.name
        if self.start is None:
            return i18n.text("solve.no_size", lang)
        if self.stop is not None and self.stop == self.start:
            return "{" + str(self.start) + "}"
        bound = f"{self.start} <= {n} <= {self.stop}" if self.stop is not None else f"{n} >= {self.start}"
        if self.period == 1:
            return "{" + f"{n} : {bound}" + "}"
        if len(self.residues) == 1:
            r = self.residues[0]
            form = f"{n} = {self.period}m" + (f" + {r}" if r else "")
            return "{" + f"{n} : {bound}, {form}" + "}"
        if self.stop is not None and self.stop - self.start < 12 * self.period and len(self.values(self.stop)) <= 12:
            return "{" + ", ".join(str(v) for v in self.values(self.stop)) + "}"
        listed = ", ".join(str(r) for r in self.residues)
        member = "∈" if lang == "zh" else "in"
        return "{" + f"{n} : {bound}, {n} mod {self.period} {member} {{{listed}}}" + "}"

    def _repr_pretty_(self, printer, cycle):
        printer.text(str(self))

    def _repr_latex_(self) -> str:
        """The set as LaTeX for Jupyter: \\{H : H \\ge 32,\\ H = 32m\\}."""
        text = self.text("en").replace("{} (no size)", "\\emptyset")
        for old, new in (("{", "\\{"), ("}", "\\}"), (">=", "\\ge"), ("<=", "\\le"), ("∪", "\\cup"), (" in ", " \\in "),
                         (" mod ", " \\bmod "), (", ", ",\\ ")):
            text = text.replace(old, new)
        return f"${text}$"


# --- padding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaddingAnswer:
    """The symmetric paddings (a SizeSet of p) giving ``target`` outputs, and a one-line explanation."""

    paddings: SizeSet
    explanation: str

    @property
    def padding(self):
        """The smallest solution, or None when there is none."""
        return self.paddings.start

    def __str__(self):
        return self.explanation

    def _repr_html_(self) -> str:
        from html import escape

        return f"<div class='cnncalc-solve'>{escape(self.explanation)}</div>"

    def _repr_pretty_(self, printer, cycle):
        printer.text(self.explanation)


def same_padding(kernel_size: int, stride: int = 1, dilation: int = 1, size: int | None = None, *,
                 lang: str | None = None) -> PaddingAnswer:
    """The symmetric padding p with conv output ceil(n/s) ("same": n itself for stride 1).

    For every n (``size`` None): floor((n + 2p - k_eff)/s) + 1 = ceil(n/s) for all n exactly when
    2p = k_eff - 1, so p = (k_eff - 1)/2 if k_eff is odd and no symmetric padding otherwise. For one
    concrete n, all p in an interval may work; they are returned exactly.
    """
    lang = i18n.check_lang(lang)
    k, s, d = _positive(kernel_size, "kernel_size"), _positive(stride, "stride"), _positive(dilation, "dilation")
    k_eff = effective_kernel(k, d)
    want = "n" if s == 1 else f"ceil(n/{s})"
    if size is None:
        if k_eff % 2:
            p = (k_eff - 1) // 2
            return PaddingAnswer(SizeSet(p, p, name="p"), i18n.text("solve.same_every", lang, k_eff=k_eff, p=p, want=want))
        return PaddingAnswer(SizeSet.empty("p"), i18n.text("solve.same_none", lang, want=want, odd=k_eff - 1,
                                                           before=(k_eff - 1) // 2, after=k_eff // 2))
    n = _positive(size, "size")
    target = -(-n // s)
    answer = padding_for(n, target, k, s, d, lang=lang)
    return PaddingAnswer(answer.paddings, answer.explanation)


def tf_same_padding(size: int, kernel_size: int, stride: int = 1, dilation: int = 1, *,
                    lang: str | None = None) -> PaddingAnswer:
    """TensorFlow/Keras padding='same' for one input size: ``formulas.tf_same_padding`` (the extra pixel after),
    output ceil(n/s). ``paddings`` holds the total."""
    lang = i18n.check_lang(lang)
    n, k = _positive(size, "size"), _positive(kernel_size, "kernel_size")
    s, d = _positive(stride, "stride"), _positive(dilation, "dilation")
    before, after = tf_same(n, k, s, d)
    total = before + after
    text = i18n.text("solve.tf_same", lang, n=n, s=s, total=total, before=before, after=after, out=tf_same_out(n, s))
    return PaddingAnswer(SizeSet(total, total, name="p"), text)


def padding_for(size: int, output: int, kernel_size: int, stride: int = 1, dilation: int = 1, *,
                lang: str | None = None) -> PaddingAnswer:
    """Every padding p >= 0 with floor((size + 2p - k_eff)/s) + 1 == output, exactly.

    The floor equals output - 1 iff (output - 1)*s <= size + 2p - k_eff <= (output - 1)*s + s - 1.
    """
    n, out = _positive(size, "size"), _positive(output, "output")
    k, s, d = _positive(kernel_size, "kernel_size"), _positive(stride, "stride"), _positive(dilation, "dilation")
    k_eff = effective_kernel(k, d)
    low = max(0, -(-((out - 1) * s - n + k_eff) // 2))
    high = ((out - 1) * s + s - 1 - n + k_eff) // 2
    lang = i18n.check_lang(lang)
    if high < low:
        return PaddingAnswer(SizeSet.empty("p"), i18n.text("solve.no_padding", lang, n=n, out=out, k=k_eff, s=s))
    ps = SizeSet(low, high, name="p")
    return PaddingAnswer(ps, i18n.text("solve.maps", lang, set=ps.text(lang), n=n, out=out, k=k_eff, s=s))


# --- networks ---------------------------------------------------------------------------------------


def _positive(value, what, minimum=1):
    if type(value) is not int or value < minimum:
        raise ShapeError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _unknown(shape_text):
    """The input shape and its one symbol (possibly repeated, e.g. 3xNxN)."""
    shape = as_shape(shape_text)
    symbols = set()
    for d in shape:
        if type(d) is not int:
            symbols |= d.free_symbols
    if len(symbols) != 1 or any(type(d) is not int and not d.is_Symbol for d in shape):
        raise ShapeError(
            f"input shape {format_shape(shape)}: name exactly one unknown size, e.g. 3xHx224 or 3xNxN"
        )
    return shape, symbols.pop()


def _at(shape, sym, n):
    return tuple(n if type(d) is not int else d for d in shape)


def _period(report):
    """lcm of the numerators of the receptive-field jumps after every windowed layer."""
    period = 1
    for row in report.layers:
        rf = row.receptive_field
        if rf is None or row.is_merge or not row.layer.windowed:
            continue
        for j in rf.stride:
            if isinstance(j, (int, Fraction)):
                period = lcm(period, Fraction(j).numerator)
    return period


def _bounded_by_linear(report, sym):
    """(row index, in_features) of the first Linear whose input depends on the unknown, or None."""
    for i, row in enumerate(report.layers):
        if isinstance(row.layer, Linear) and type(row.input_shape[-1]) is not int and sym in row.input_shape[-1].free_symbols:
            return i, row.layer.in_features
    return None


def _ok(model, shape, sym, n, full):
    try:
        report = analyze(model, _at(shape, sym, n), warn=False)
    except ShapeError:
        return False
    return not (full and report.warnings)


def _evaluate(expr, sym, n):
    return expr if type(expr) is int else int(expr.subs(sym, n))


def input_sizes(model: Layer, input_shape: ShapeLike, *, full_coverage: bool = False, layout: str | None = None) -> SizeSet:
    """Every size of the unknown in ``input_shape`` (e.g. "3xHxH") that the network accepts, exactly.

    With ``full_coverage`` only the sizes for which no layer's floor truncation drops input pixels
    (every pixel reaches some window): "H must be 32m for VGG16 to use every pixel".
    """
    input_shape = read_shape(as_shape(input_shape), layout)  # HxHx3 with layout="hwc"
    shape, sym = _unknown(input_shape)
    general = analyze(model, shape, warn=False)
    period = _period(general)
    start = next((n for n in range(1, SCAN_LIMIT + 1) if _ok(model, shape, sym, n, False)), None)
    if start is None:
        raise ShapeError(f"no input size up to {SCAN_LIMIT} is accepted for {format_shape(shape)}")
    linear = _bounded_by_linear(general, sym)
    if linear is not None:  # the features reaching the Linear grow with n: a finite interval
        index, features = linear
        expr = general.layers[index].input_shape[-1]
        stop = _last_at_most(expr, sym, features, start)
        _affordable(stop - start + 1, f"solve input {format_shape(shape)}", "analyses")
        return SizeSet.of([n for n in range(start, stop + 1) if _ok(model, shape, sym, n, full_coverage)], sym.name)
    # Periodic from the size on which no unknown-dependent size is 1 any more (1 broadcasts in a residual add).
    tail = max([start] + [_last_at_most(e, sym, 1, 1) + 1 for e in _dependent_sizes(general, sym)])
    _affordable(tail + period - start, f"solve input {format_shape(shape)} (period {period:,})", "analyses")
    accepted = {n for n in range(start, tail + period) if _ok(model, shape, sym, n, full_coverage)}
    residues = tuple(sorted({n % period for n in range(tail, tail + period) if n in accepted}))
    if not residues:
        return SizeSet.of(accepted, sym.name)
    period, residues = _smallest_period(period, residues)
    low = tail  # extend the pattern downwards while no refused size fits it; accepted misfits are listed
    while low > start and ((low - 1) in accepted or (low - 1) % period not in residues):
        low -= 1
    first = next(n for n in range(low, low + period) if n % period in residues)
    also = sorted(n for n in accepted if n < first or n % period not in residues)
    return SizeSet(first, None, period, residues, sym.name, tuple(also))


def _dependent_sizes(report, sym):
    """The distinct symbolic sizes (of every row) that depend on the unknown."""
    return {
        d for row in report.layers for d in row.output_shape[1:] if type(d) is not int and sym in d.free_symbols
    }


def _smallest_period(period, residues):
    """The shortest period describing the same residues: {1, 3, 5, ...} mod 16 is 1 mod 2."""
    chosen = set(residues)
    for q in range(1, period + 1):
        if period % q == 0:
            reduced = {r % q for r in chosen}
            if {r for r in range(period) if r % q in reduced} == chosen:
                return q, tuple(sorted(reduced))
    return period, tuple(sorted(chosen))


def _last_at_most(expr, sym, limit, low):
    """The largest n >= low with expr(n) <= limit, for a non-decreasing expr (exponential + binary search)."""
    if _evaluate(expr, sym, low) > limit:
        return low - 1
    high = low + 1
    while _evaluate(expr, sym, high) <= limit:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        if _evaluate(expr, sym, mid) <= limit:
            low = mid
        else:
            high = mid
    return low


def input_for_output(model: Layer, input_shape: ShapeLike, output: int, *, layer: str | None = None,
                     layout: str | None = None) -> SizeSet:
    """Every accepted size n of the unknown for which the output (or the named layer's output) has
    size ``output`` along the unknown's axis, exactly: an interval, since sizes grow with n. ``layout="hwc"``
    reads the shape channels last (HxHx3)."""
    input_shape = read_shape(as_shape(input_shape), layout)
    shape, sym = _unknown(input_shape)
    output = _positive(output, "output")
    general = analyze(model, shape, warn=False)
    rows = [r for r in general.layers if layer is None or r.name == layer]
    if not rows:
        raise ShapeError(f"no layer named {layer!r}")
    found = [
        d for r in rows for d in (r.output_shape if len(r.output_shape) == 3 or layer is not None else ())
        if type(d) is not int and sym in d.free_symbols
    ]
    if not found:
        raise ShapeError(f"no output {'of ' + repr(layer) + ' ' if layer else ''}depends on {sym}")
    expr = found[-1]
    accepted = input_sizes(model, input_shape)
    low = _last_at_most(expr, sym, output - 1, 1) + 1
    high = _last_at_most(expr, sym, output, low)
    _affordable(high - max(low, accepted.start) + 1, f"solve output {format_shape(shape)}", "analyses")
    found = [n for n in range(max(low, accepted.start), high + 1) if n in accepted and _evaluate(expr, sym, n) == output]
    return SizeSet.of(found, sym.name)


@dataclass(frozen=True)
class ConvSetting:
    """Kernel, padding, dilation and the exact set of strides that map ``size`` to ``output``."""

    kernel_size: int
    padding: int
    dilation: int
    strides: SizeSet

    def __str__(self):
        return self.text("en")

    def text(self, lang: str = "en") -> str:
        sep = "，" if lang == "zh" else ", "
        dil = f"{sep}d={self.dilation}" if self.dilation != 1 else ""
        return i18n.text("solve.setting", lang, k=self.kernel_size, p=self.padding, dil=dil, strides=self.strides.text(lang))


class ConvSettings(list):
    """The settings ``conv_settings`` finds: a list, shown as a table in Jupyter."""

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{c.kernel_size}</td><td>{c.padding}</td><td>{c.dilation}</td>"
                       f"<td>\\({c.strides._repr_latex_().strip('$')}\\)</td></tr>" for c in self)
        return ("<table class='cnncalc-solve'><thead><tr><th>k</th><th>p</th><th>d</th><th>s</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def conv_settings(size: int, output: int, *, max_kernel: int = 11, max_padding: int | None = None,
                  dilation: int = 1) -> ConvSettings:
    """All (kernel, padding) with kernel <= max_kernel and padding <= max_padding (default kernel//2)
    and, for each, the exact set of strides s with floor((size + 2p - k_eff)/s) + 1 == output.

    With A = size + 2p - k_eff >= 0 the floor is output - 1 iff A/output < s <= A/(output - 1), so the
    strides form an interval (unbounded when output is 1).
    """
    n, out, d = _positive(size, "size"), _positive(output, "output"), _positive(dilation, "dilation")
    kernels = _positive(max_kernel, "max_kernel")
    if max_padding is None:  # p <= k//2: sum of (k//2 + 1) over k = floor(K**2/4) + K pairs
        tried, paddings = kernels * kernels // 4 + kernels, "k//2"
    else:  # a kernel wider than the most padded input never fits: k_eff <= n + 2*max_padding
        top = _positive(max_padding, "max_padding", 0)
        kernels = min(kernels, (n + 2 * top - 1) // d + 1)
        tried, paddings = kernels * (top + 1), f"{top:,}"
    _affordable(tried, f"solve conv (kernels up to {kernels:,}, paddings up to {paddings})", "settings")
    settings = []
    for k in range(1, kernels + 1):
        top = k // 2 if max_padding is None else max_padding
        for p in range(max(0, -(-(effective_kernel(k, d) - n) // 2)), top + 1):  # from the first p with a >= 0
            a = n + 2 * p - effective_kernel(k, d)
            low = a // out + 1
            strides: SizeSet | None
            if out == 1:
                strides = SizeSet(low, None, name="s")
            else:
                high = a // (out - 1)
                strides = SizeSet(low, high, name="s") if low <= high else None
            if strides is not None:
                settings.append(ConvSetting(k, p, d, strides))
    return ConvSettings(settings)


__all__ = [
    "SizeSet", "PaddingAnswer", "ConvSetting", "ConvSettings", "same_padding", "tf_same_padding", "padding_for",
    "input_sizes", "input_for_output", "conv_settings",
]


def solve(question: str, *args, **kwargs) -> PaddingAnswer | SizeSet | list:
    """The solvers behind one name, as ``cnncalc solve QUESTION`` on the command line:

    - ``solve("padding", kernel_size, stride=1, dilation=1, size=None)``: ``same_padding``; with
      ``output=`` (and ``size=``) ``padding_for``: the paddings giving that output;
    - ``solve("input", model, "3xHxH", full_coverage=False)``: ``input_sizes``;
    - ``solve("output", model, "3xHxH", output, layer=None)``: ``input_for_output``;
    - ``solve("conv", size, output, max_kernel=11, ...)``: ``conv_settings``.
    """
    if question == "padding":
        if kwargs.get("output") is not None:
            kernel_size, *rest = args if args else (kwargs.pop("kernel_size"),)
            return padding_for(kwargs.pop("size"), kwargs.pop("output"), kernel_size, *rest, **kwargs)
        kwargs.pop("output", None)
        return same_padding(*args, **kwargs)
    solvers: dict = {"input": input_sizes, "output": input_for_output, "conv": conv_settings}
    if question not in solvers:
        raise ShapeError(f"unknown question {question!r}: choose padding, input, output or conv")
    return solvers[question](*args, **kwargs)
