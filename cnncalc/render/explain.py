"""Step-by-step explanations of an analysis, for learners: per layer the formula, the numbers
substituted, the floor/ceil step, the result, the parameter count (per filter too), the MACs, the
receptive-field recurrence and a note where something noteworthy happens. English or Chinese
(``cnncalc.i18n``); text, Markdown or LaTeX; HTML with typeset formulas in Jupyter.

No formula is written here. Each layer is rebuilt with its hyperparameters as symbols (its twin,
``cnncalc.twin``), whose own ``infer``, ``params``, ``macs`` and ``rf_at`` (hence ``formulas.py``) give
the general formula; the numbers are then substituted into that expression. The calculators print
their derivations with this module too (``derivation``, ``Line``, ``render_lines``).
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from html import escape

from .. import i18n
from .. import twin as twins
from ..analysis import analyze
from ..dims import ShapeLike, format_shape, known, symbol
from ..errors import ShapeError
from ..graph import Residual
from ..layers import ConvNd, ConvTransposeNd, Layer, PoolNd, axis_names

LANGS = i18n.LANGS
FORMATS = ("text", "markdown", "latex")

_AXIS_UNITS = {"length": "sample", "depth": "frame", "height": "row", "width": "col"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ROUND = {"floor": ("floor(", ")", r"\left\lfloor ", r" \right\rfloor"),
          "ceiling": ("ceil(", ")", r"\left\lceil ", r" \right\rceil")}


def _word(key, lang, **values):
    return i18n.text(f"explain.{key}", lang, **values)


# --- printing one derivation ----------------------------------------------------------------------------


def _latex(expr, names=None, order=None) -> str:
    from ..symbolic import latex  # sympy only when a formula is printed

    return latex(expr, names, dot=True, order=order)


def text_of(expr, order=None) -> str:
    from ..symbolic import text

    return text(expr, order)


_TOKEN = re.compile(r"§([A-Za-z_][A-Za-z0-9_]*)§")


@lru_cache(maxsize=2048)
def _template(expr, fmt, order=None):
    """Printed once per (expression, format): the general form, the form with symbols as fill-in tokens,
    the same with each floor/ceil replaced by a mark ROUNDi and the marks' (kind, num, den), and the form
    with each sum factor of a product replaced by a mark GROUPi and those sums (64*(3*3^2 + 1) = 64*28)."""
    import sympy

    from ..symbolic import over_one

    roundings = sorted(expr.atoms(sympy.floor, sympy.ceiling), key=str)
    marks = {atom: sympy.Symbol(f"ROUND{i}") for i, atom in enumerate(roundings)}
    marked_expr = expr.xreplace(marks)
    groups = tuple(a for a in expr.args if a.is_Add and a.free_symbols) if expr.is_Mul and not roundings else ()
    grouped_expr = expr.xreplace({g: sympy.Symbol(f"GROUP{i}") for i, g in enumerate(groups)}) if groups else None
    if fmt == "latex":
        names = expr.free_symbols | set(marks.values()) | {sympy.Symbol(f"GROUP{i}") for i in range(len(groups))}
        tokens = {s: f"§{s.name}§" for s in names}
        general, plain = _latex(expr, order=order), _latex(expr, tokens, order)
        marked = _latex(marked_expr, tokens, order)
        grouped = _latex(grouped_expr, tokens, order) if groups else None
    else:
        general = plain = text_of(expr, order)
        marked = text_of(marked_expr, order)
        grouped = text_of(grouped_expr, order) if groups else None
    atoms = tuple((type(a).__name__, *over_one(a.args[0])) for a in roundings)
    return general, plain, marked, atoms, grouped, groups


def _fill(template, values, fmt):
    """A printed template with each symbol (or mark) replaced by its value's text."""
    if fmt == "latex":
        return _TOKEN.sub(
            lambda m: _operand(values[m.group(1)], fmt) if m.group(1) in values else _latex(symbol(m.group(1))), template
        )
    return _NAME.sub(lambda m: _operand(values[m.group(0)], fmt) if m.group(0) in values else m.group(0), template)


def _operand(value, fmt):
    """A value's text where a symbol stood: strings and ints as they are, sums parenthesised."""
    if isinstance(value, (str, int)):
        return str(value)
    text = _fmt_value(value, fmt)
    if getattr(value, "is_Add", False):
        return rf"\left({text}\right)" if fmt == "latex" else f"({text})"
    return text


def derivation(expr, values: dict, result, fmt: str = "text", order=None) -> list:
    """``expr = numbers = rounding step = grouped step = result``, each step shown once (a list of strings);
    ``order="none"`` keeps the terms of an unevaluated sum as written."""
    import sympy

    if not isinstance(expr, sympy.Basic) or expr.is_number:
        return [_fmt_value(result, fmt)]
    general, plain, marked, atoms, grouped, groups = _template(expr, fmt, order)
    steps = [general, _fill(plain, values, fmt)]
    concrete = all(known(values.get(s.name)) for s in expr.free_symbols)
    if atoms and concrete:
        shown, solved = {}, {}
        for i, (kind, num, den) in enumerate(atoms):
            num, den = twins.evaluate(num, values), twins.evaluate(den, values)
            left, right, lleft, lright = _ROUND[kind]
            if den == 1:
                shown[f"ROUND{i}"] = str(num)
            elif fmt == "latex":
                shown[f"ROUND{i}"] = f"{lleft}\\frac{{{num}}}{{{den}}}{lright}"
            else:
                shown[f"ROUND{i}"] = f"{left}{num}/{den}{right}"
            solved[f"ROUND{i}"] = num // den if kind == "floor" else -(-num // den)
        steps.append(_fill(marked, {**values, **shown}, fmt))
        steps.append(_fill(marked, {**values, **solved}, fmt))
    if grouped is not None and concrete:
        sums = {f"GROUP{i}": twins.evaluate(g, values) for i, g in enumerate(groups)}
        steps.append(_fill(grouped, {**values, **{k: _fmt_value(v, fmt) for k, v in sums.items()}}, fmt))
    steps.append(_fmt_value(result, fmt))
    out: list = []
    for step in steps:  # drop repeats (e.g. a substitution that is already the result)
        if not out or out[-1] != step:
            out.append(step)
    return out


def _fmt_value(value, fmt):
    """A result: numbers as they are, symbolic values factored for reading (``symbolic.pretty``)."""
    if fmt == "latex" and known(value) and type(value) is not int:  # a Fraction (stride after upsampling)
        return rf"\frac{{{value.numerator}}}{{{value.denominator}}}"
    if known(value) or isinstance(value, str):
        return str(value)
    from ..symbolic import pretty, readable

    return _latex(readable(value)) if fmt == "latex" else pretty(value)


# --- explanations ----------------------------------------------------------------------------------------


@dataclass
class Line:
    """One explained quantity: a label, ``name = step = step = result``, or a note."""

    label: str
    lhs: str = ""
    steps: list = field(default_factory=list)
    note: bool = False
    plain: bool = False  # words only, no equation
    remark: str = ""  # words after the equation, in parentheses


@dataclass
class LayerExplanation:
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    lines: list
    title: str = ""  # what the heading calls the layer: its name, or its constructor call when it has none


@dataclass
class Explanation:
    """The whole explanation; ``render()`` or ``str()`` prints it in the chosen language and format, and in
    Jupyter it displays as HTML with typeset formulas."""

    model: str
    input_shape: tuple
    layers: list
    totals: list
    lang: str = "en"
    fmt: str = "text"
    source: tuple = field(default=(), repr=False, compare=False)  # (model, input shape): to re-derive in LaTeX

    def __str__(self):
        return self.render()

    def render(self) -> str:
        return _render(self)

    def _repr_pretty_(self, printer, cycle):  # IPython's plain text: the explanation, not the dataclass
        printer.text(self.render())

    def _repr_html_(self) -> str:
        if not self.source:
            return f"<pre>{escape(self.render())}</pre>"
        return explanation_html(explain(*self.source, lang=self.lang, fmt="latex", name=self.model))


def explain(model: Layer, input_shape: ShapeLike, *, lang: str | None = None, fmt: str = "text",
            name: str | None = None, layout: str | None = None) -> Explanation:
    """Explain every layer of ``model`` on ``input_shape`` (see the module docstring); ``lang`` None is
    ``i18n.default_lang()``, ``layout="hwc"`` reads the shape channels last."""
    lang = i18n.check_lang(lang)
    if fmt not in FORMATS:
        raise ShapeError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    report = analyze(model, input_shape, warn=False, name=name, layout=layout)
    layers = [_explain_row(row, lang, fmt) for row in report.layers]
    totals = [
        Line(_word("params", lang), "", [_fmt_value(report.params, fmt)]),
        Line(_word("macs", lang), "", [_fmt_value(report.macs, fmt)]),
    ]
    if report.receptive_field is not None and report.layers and report.layers[0].receptive_field is not None:
        rf = report.receptive_field
        totals.append(Line(_word("rf", lang), "", [_fmt_shape(rf.size, fmt)]))
    return Explanation(report.name, report.input_shape, layers, totals, lang, fmt, (model, report.input_shape))


def _fmt_shape(shape, fmt):
    if fmt == "latex":
        return r" \times ".join(_fmt_value(d, fmt) for d in shape)
    return format_shape(shape)


def _lhs(name, fmt):
    if fmt == "latex":
        return rf"\mathrm{{{name}}}" if "_" not in name else _latex(symbol(name))
    return name


def call_text(layer) -> str:
    """``Conv2d(3, 64, kernel_size=3, padding=1)``: the PyTorch constructor call with only the arguments that differ
    from the defaults (the required ones positionally), one value where every axis agrees."""
    args: list = []
    for f in fields(layer):
        if not f.repr:
            continue
        value = raw = getattr(layer, f.name)
        if f.name == "stride" and f.default is None and raw == getattr(layer, "kernel_size", None):
            continue  # pooling's default stride: the kernel
        if isinstance(value, tuple) and value and all(v == value[0] for v in value):
            value = value[0]
        shown = f"{value!r}" if isinstance(value, str) else _value_text(value)
        if f.default is MISSING and not (f.name == "kernel_size" and args):
            args.append(shown)
        elif f.default is MISSING:
            args.append(f"{f.name}={shown}")
        elif value != f.default:
            args.append(f"{f.name}={shown}")
    return f"{layer.type}({', '.join(args)})"


def _value_text(value):
    """An argument as Python would write it, symbolic values in the readable closed form."""
    if isinstance(value, tuple):
        inner = ", ".join(_value_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return str(value) if known(value) or isinstance(value, bool) or value is None else _fmt_value(value, "text")


def _explain_row(row, lang, fmt):
    layer, rf_in, branches = row.layer, row.rf_in, row.input_shapes
    lines = []
    title = row.name or (call_text(layer) if row.layer.is_leaf else row.type)
    if row.is_merge:
        if row.type in ("Add", "Mul"):
            sign = " + " if row.type == "Add" else (r" \odot " if fmt == "latex" else " * ")
            joined = sign.join(_fmt_shape(b, fmt) for b in branches)
            lines.append(Line(_word(f"merge_{row.type.lower()}", lang), "", [joined, _fmt_shape(row.output_shape, fmt)]))
        elif row.type == "Concat" and layer.dim in (1, -len(row.output_shape) - 1):
            channels = " + ".join(_fmt_value(b[0], fmt) for b in branches)
            lines.append(Line(_word("merge_concat", lang), _lhs("C_out", fmt), [channels, _fmt_value(row.output_shape[0], fmt)]))
        else:
            label = _word("merge_side", lang) if row.type == "Side" else _word("merge_other", lang, kind=row.type)
            shapes = ", ".join(_fmt_shape(b, fmt) for b in branches)
            arrow = r" \to " if fmt == "latex" else " -> "
            lines.append(Line(label, "", [shapes + arrow + _fmt_shape(row.output_shape, fmt)]))
        if isinstance(layer, Residual) and layer.op == "add":  # a gate (op mul) needs no projection note
            if layer.shortcut is not None:
                a, b = format_shape(row.input_shape), format_shape(row.output_shape)
                lines.append(Line(_word("projection", lang, name=layer.shortcut_name, a=a, b=b), note=True))
            else:
                lines.append(Line(_word("identity", lang, a=format_shape(row.input_shape)), note=True))
        return LayerExplanation(row.name, row.type, row.input_shape, row.output_shape, lines, title)
    symbolic, values = twins.twin(layer)
    if symbolic is None:
        kept = row.input_shape == row.output_shape
        label = _word("shape_kept" if kept else "output", lang)
        if row.type.startswith("Adaptive"):
            label = _word("adaptive", lang)
        lines.append(Line(label, "", [_fmt_shape(row.output_shape, fmt)]))
        lines.extend(_counted_lines(row, lang, fmt))
    else:
        lines.extend(_padding_lines(layer, lang, fmt))
        lines.extend(_formula_lines(row, symbolic, values, rf_in, lang, fmt))
    lines.extend(_notes(row, lang))
    return LayerExplanation(row.name, row.type, row.input_shape, row.output_shape, lines, title)


def _padding_lines(layer, lang, fmt):
    """How padding='same' or 'valid' becomes numbers (``twin.same_padding_formulas``)."""
    formulas = twins.same_padding_formulas(layer)
    if not formulas:
        return []
    if layer.padding == "valid":
        return [Line(_word("valid", lang), _lhs("p", fmt), ["0"])]
    label = i18n.term("padding", lang)
    lines = [Line(_word("same", lang), plain=True)]
    lines += [Line(label, _lhs(name, fmt), derivation(expr, values, value, fmt)) for name, expr, values, value in formulas]
    if any(p0 != p1 for p0, p1 in layer.pads):
        p0, p1 = layer.pads[0]
        lines.append(Line(_word("same_uneven", lang, before=p0, after=p1), note=True))
    return lines


def _formula_lines(row, symbolic, values, rf_in, lang, fmt):
    formulas = twins.general(symbolic, len(row.input_shape) - 1)
    values = {**values, **dict(zip(formulas.in_names, row.input_shape))}
    lines, notes = [], []
    out_names = formulas.out_names
    shown = []  # (names, steps): spatial sizes share one line when they follow the same numbers
    concrete = all(known(v) for v in values.values())
    for axis, (name, expr, value) in enumerate(zip(out_names, formulas.out, row.output_shape)):
        if getattr(expr, "is_Symbol", False) or type(expr) is int:
            continue  # the channel count itself, or a size the layer fixes
        if formulas.ceil_counts is not None and concrete:
            expr = formulas.ceil_counts[axis - 1]
            count = twins.evaluate(expr, values)
            steps = derivation(expr, values, count, fmt)
            if count != value:  # the last window would start beyond the input: PyTorch drops it
                steps = [f"{step} - 1" for step in steps[:-1]] + [_fmt_value(value, fmt)]
                p, s = row.layer.padding[axis - 1], row.layer.stride[axis - 1]
                note = Line(_word("ceil_rule", lang, start=(count - 1) * s, n=row.input_shape[axis], p=p,
                                  limit=row.input_shape[axis] + p), note=True)
                if note not in notes:
                    notes.append(note)
        else:
            steps = derivation(expr, values, value, fmt)
        if shown and axis > 1 and shown[-1][0][0] != "C_out" and shown[-1][1][1:] == steps[1:]:
            shown[-1][0].append(name)
            continue
        shown.append(([name], steps))
    label = _word("flatten" if row.type == "Flatten" else "output", lang)
    for names, steps in shown:
        lines.append(Line(label, " = ".join(_lhs(n, fmt) for n in names), steps))
    if not shown and row.input_shape == row.output_shape:
        lines.append(Line(_word("shape_kept", lang), "", [_fmt_shape(row.output_shape, fmt)]))
    params = _readable(formulas.params) if formulas.params != 0 else 0
    per_filter = _per_filter(row.layer, params)
    if per_filter is not None:
        lines.append(Line(_word("per_filter", lang), "", derivation(per_filter, values, twins.evaluate(per_filter, values)
                                                                    if concrete else per_filter.xreplace(_subs(values)), fmt)))
    if params != 0:
        label = _word("bn_params" if formulas.buffers else "params", lang)
        lines.append(Line(label, "", derivation(params, values, row.params, fmt)))
    elif isinstance(row.layer, PoolNd):  # the seeds' point: pooling learns nothing
        lines.append(Line(_word("no_params", lang), plain=True))
    if formulas.buffers != 0:
        lines.append(Line(_word("bn_buffers", lang), "", derivation(formulas.buffers, values, row.layer.buffers, fmt)))
    if formulas.macs != 0:
        out_values = dict(zip(out_names, row.output_shape))
        lines.append(Line(_word("macs", lang), "", derivation(formulas.macs, {**values, **out_values}, row.macs, fmt)))
    if formulas.rf is not None and rf_in is not None and row.receptive_field is not None:
        lines += _rf_lines(row, formulas.rf, values, rf_in, lang, fmt)
    return lines + notes


def _rf_lines(row, recurrences, values, rf_in, lang, fmt):
    """The receptive-field recurrence, once when every axis follows the same numbers, else per axis."""
    field, lines = row.receptive_field, []
    per_axis = []
    for i, (size, jump, _) in enumerate(recurrences):
        rf_values = {**values, "r_in": rf_in.size[i], "j_in": rf_in.stride[i], "x_in": rf_in.start[i]}
        per_axis.append((derivation(size, rf_values, field.size[i], fmt), derivation(jump, rf_values, field.stride[i], fmt)))
    names = axis_names(len(recurrences))
    same = all(steps[:] == per_axis[0] for steps in per_axis) or row.traced
    for i, (size_steps, jump_steps) in enumerate(per_axis[:1] if same else per_axis):
        axis = "" if same else _word("along", lang, axis=i18n.term(names[i], lang))
        if row.traced:  # after upsampling the recurrence gives only a bound: the size was traced
            lines.append(Line(_word("rf_size", lang, axis=""), _lhs("r_out", fmt), [_fmt_value(field.size[0], fmt)]))
            lines.append(Line(_word("rf_traced", lang), note=True))
        else:
            lines.append(Line(_word("rf_size", lang, axis=axis), _lhs("r_out", fmt), size_steps))
        lines.append(Line(_word("rf_jump", lang, axis=axis), _lhs("j_out", fmt), jump_steps))
    return lines


def _subs(values):
    import sympy

    return {symbol(k): sympy.sympify(v) for k, v in values.items() if not isinstance(v, str)}


def _counted_lines(row, lang, fmt):
    """Params (the sum of the layer's tensors) and MACs of a layer without a formula twin."""
    lines = []
    if row.params != 0:
        times = r" \cdot " if fmt == "latex" else "*"
        terms = [times.join(_fmt_value(d, fmt) for d in shape) for shape in row.layer.parameter_shapes().values()]
        steps = [" + ".join(terms)] if len(terms) > 1 or "*" in terms[0] or "cdot" in terms[0] else []
        lines.append(Line(_word("params", lang), _lhs("params", fmt), steps + [_fmt_value(row.params, fmt)]))
    if row.macs != 0:
        lines.append(Line(_word("macs", lang), _lhs("MACs", fmt), [_fmt_value(row.macs, fmt)]))
    return lines


def _readable(params):
    """C_out*(...) when every term has the output count: (k^2*C_in/g + 1)*C_out reads as the textbook's."""
    import sympy

    for name in ("C_out", "F_out", "C"):
        sym = symbol(name)
        if params.has(sym):
            inner = sympy.expand(params / sym)
            if inner.is_Add and not inner.has(sym):
                return sympy.Mul(inner, sym, evaluate=False)
    return params


def _per_filter(layer, params):
    """A convolution's parameters per filter (output channel), C_in*k^2/g + 1: the seeds' (f*f*c_in + 1)."""
    if not isinstance(layer, (ConvNd, ConvTransposeNd)) or not getattr(params, "is_Mul", False):
        return None
    inner = [a for a in params.args if a.is_Add]
    return inner[0] if inner else None


def _notes(row, lang):
    from ..formulas import effective_kernel

    layer, notes = row.layer, []
    if getattr(layer, "windowed", False) and hasattr(layer, "dropped"):
        units = [_AXIS_UNITS[axis] for axis in axis_names(len(row.input_shape) - 1)]
        for lost, what in zip(layer.dropped(row.input_shape), units):
            if lost:
                unit = _word(what + ("s" if lost > 1 else ""), lang)
                notes.append(Line(_word("truncation", lang, n=lost, what=unit, them="them" if lost > 1 else "it"),
                                  note=True))
    if isinstance(layer, ConvNd) and not isinstance(layer.padding, str):
        for k, d, p in zip(layer.kernel_size, layer.dilation, layer.padding):
            if known(k) and known(d) and known(p) and p > effective_kernel(k, d) // 2:
                notes.append(Line(_word("big_padding", lang, p=p, k=effective_kernel(k, d)), note=True))
                break
        one_by_one = all(v == 1 for v in layer.kernel_size + layer.stride) and all(p == 0 for p in layer.padding)
        if one_by_one and layer.in_channels != layer.out_channels:
            notes.append(Line(_word("one_by_one", lang, c_in=layer.in_channels, c_out=layer.out_channels), note=True))
    return notes


# --- rendering -----------------------------------------------------------------------------------------


def _equation(line, sep=" = ", fmt="text", lang="en"):
    eq = sep.join(([line.lhs] if line.lhs else []) + list(line.steps))
    if not line.remark:
        return eq
    remark = f"（{line.remark}）" if lang == "zh" else f" ({line.remark})"
    return eq + (rf" \quad \text{{{remark.strip()}}}" if fmt == "latex" else remark)


def _latex_escape(text):
    return text.replace("_", r"\_").replace("#", r"\#").replace("%", r"\%").replace("&", r"\&")


# Per format: title, layer heading, then the three kinds of line; {c} is the language's colon, {shape}s are
# already formatted.
_STYLES: dict = {
    "text": dict(title="{model_word}{c}{model}   {input_word}{c}{shape}", heading="{name}{type}{c}{a} -> {b}",
                 gap=False, note="  ! {label}", plain="  {label}", equation="  {label}{c}{eq}", total="{total}{c2}",
                 escape=str, fmt="text"),
    "markdown": dict(title="# {model_word}{c}`{model}`{comma}{input_word} `{shape}`", heading="## `{name}`{type}{c}`{a}` → `{b}`",
                     gap=True, note="> **{note_word}{c2}** {label}", plain="- {label}", equation="- {label}{c}`{eq}`",
                     total="## {total}", escape=str, fmt="markdown"),
    "latex": dict(title="\\section*{{{model_word}{c}\\texttt{{{model}}}{comma}{input_word} ${shape}$}}",
                  heading="\\subsection*{{\\texttt{{{name}}}{type}{c}${a} \\to {b}$}}", gap=False,
                  note="\\emph{{{label}}}", plain="{label}", equation="{label}{c}\\[ {eq} \\]",
                  total="\\subsection*{{{total}}}", escape=_latex_escape, fmt="latex"),
}


def _type_text(layer, lang, fmt):
    if layer.title != layer.name or not layer.name:
        return ""  # the heading is the constructor call, which names the type
    if fmt == "text":
        return f"（{layer.type}）" if lang == "zh" else f" ({layer.type})"
    return f" {layer.type}"


def _line_text(line, style: dict, lang):
    esc = style["escape"]
    kind = "note" if line.note else "plain" if line.plain else "equation"
    return style[kind].format(label=esc(line.label), eq=_equation(line, fmt=style["fmt"], lang=lang), note_word=_word("note", lang),
                              c=i18n.colon(lang), c2=i18n.colon(lang).strip())


def render_lines(layers, lang, fmt="text", headings=True) -> list:
    """The text lines of ``LayerExplanation``s (headings, then each line), as ``explain`` renders them."""
    style = _STYLES[fmt]
    out = []
    for layer in layers:
        if headings:
            out.append(style["heading"].format(
                name=style["escape"](layer.title or layer.type), type=_type_text(layer, lang, fmt), c=i18n.colon(lang),
                a=_fmt_shape(layer.input_shape, fmt), b=_fmt_shape(layer.output_shape, fmt)))
            out.extend([""] if style["gap"] else [])
        out.extend(_line_text(line, style, lang) for line in layer.lines)
        if headings:
            out.append("")
    return out


def _render(ex):
    style, fmt, lang = _STYLES[ex.fmt], ex.fmt, ex.lang
    c = i18n.colon(lang)
    out = [style["title"].format(model_word=_word("model", lang), model=style["escape"](ex.model),
                                 input_word=_word("input", lang), shape=_fmt_shape(ex.input_shape, fmt), c=c,
                                 comma="，" if lang == "zh" else ", "), ""]
    out += render_lines(ex.layers, lang, fmt)
    out.append(style["total"].format(total=_word("total", lang), c2=c.strip()))
    out.extend([""] if style["gap"] else [])
    out.extend(_line_text(line, style, lang) for line in ex.totals)
    return "\n".join(out) + "\n"


# --- HTML for Jupyter ------------------------------------------------------------------------------------


def lines_html(lines, lang) -> str:
    """An HTML list of LaTeX-format ``Line``s: labels as text, equations as \\(...\\) for MathJax."""
    items = []
    c = i18n.colon(lang)
    for line in lines:
        if line.note:
            items.append(f"<li><em>{escape(line.label)}</em></li>")
        elif line.plain:
            items.append(f"<li>{escape(line.label)}</li>")
        else:
            items.append(f"<li>{escape(line.label)}{escape(c)}\\({escape(_equation(line, fmt='latex', lang=lang))}\\)</li>")
    return "<ul>" + "".join(items) + "</ul>"


def explanation_html(ex: Explanation) -> str:
    """An explanation in LaTeX format as one HTML fragment (Jupyter typesets the formulas)."""
    c = escape(i18n.colon(ex.lang))
    parts = [f"<div class='cnncalc-explain'><strong>{escape(_word('model', ex.lang))}{c}{escape(ex.model)}</strong> "
             f"({escape(_word('input', ex.lang))} \\({_fmt_shape(ex.input_shape, 'latex')}\\))"]
    for layer in ex.layers:
        kind = "" if layer.title != layer.name or not layer.name else f" ({escape(layer.type)})"
        parts.append(f"<h4><code>{escape(layer.title or layer.type)}</code>{kind}{c}"
                     f"\\({_fmt_shape(layer.input_shape, 'latex')} \\to {_fmt_shape(layer.output_shape, 'latex')}\\)</h4>")
        parts.append(lines_html(layer.lines, ex.lang))
    parts.append(f"<h4>{escape(_word('total', ex.lang))}</h4>" + lines_html(ex.totals, ex.lang) + "</div>")
    return "".join(parts)


__all__ = ["explain", "Explanation", "LayerExplanation", "Line", "LANGS", "FORMATS", "derivation", "render_lines",
           "line_text", "call_text", "lines_html", "explanation_html"]


def line_text(line: Line, lang: str, fmt: str = "text") -> str:
    """One line as ``explain`` prints it in ``fmt``."""
    return _line_text(line, _STYLES[fmt], lang)
