"""Step-by-step explanations of an analysis, for learners: per layer the formula, the numbers
substituted, the floor/ceil step, the result, the parameter count, the MACs, the receptive-field
recurrence and a note where something noteworthy happens. English or Chinese; text, Markdown or LaTeX.

No formula is written here. Each layer is rebuilt with its hyperparameters as symbols (its twin,
``cnncalc.twin``), whose own ``infer``, ``params``, ``macs`` and ``rf_at`` (hence ``formulas.py``) give
the general formula; the numbers are then substituted into that expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..analysis import analyze
from ..dims import format_shape, known, symbol
from ..errors import ShapeError
from ..graph import Residual
from ..dims import ShapeLike
from ..layers import ConvNd, Layer, axis_names
from .. import twin as twins

LANGS = ("en", "zh")
FORMATS = ("text", "markdown", "latex")

TEXT = {
    "en": {
        "output": "output size",
        "params": "parameters",
        "macs": "MACs",
        "rf": "receptive field",
        "rf_size": "receptive field size",
        "rf_jump": "receptive field jump (stride in input pixels)",
        "rf_traced": "after a transposed convolution with stride > 1, neighbouring output pixels read regions of "
                     "different sizes: the size is the largest, found by tracing the input pixels each one reads",
        "no_params": "no parameters",
        "shape_kept": "shape unchanged",
        "flatten": "flattened",
        "adaptive": "adaptive pooling: the output size is given",
        "merge_add": "element-wise sum of the branches",
        "merge_mul": "element-wise product of the branches (a gate, broadcast over the 1x1 axes)",
        "merge_concat": "channels concatenated",
        "merge_side": "the first branch passes on; the others are read by the next layer",
        "merge_other": "branches combined ({kind})",
        "total": "Total",
        "truncation": "floor truncation drops the last {n} {what} of the input: no window reaches them",
        "row": "row",
        "col": "column",
        "sample": "sample",
        "slice": "slice",
        "note": "Note",
        "ceil_rule": "ceil_mode: the last window would start at {start} >= input {n} + left padding {p} = {limit}, "
                     "outside the input, so PyTorch drops it (-1)",
        "big_padding": "padding {p} is more than half the kernel ({k}): the border outputs see mostly zeros",
        "one_by_one": "a 1x1 convolution with stride 1 changes only the channels ({c_in} -> {c_out}), not the feature-map size",
        "projection": "the residual needs a projection: the shortcut {name} maps {a} to {b} so the shapes can be added",
        "identity": "identity shortcut: the input {a} is added as it is",
        "model": "Model",
        "input": "input",
    },
    "zh": {
        "output": "输出尺寸",
        "params": "参数量",
        "macs": "乘加次数 (MACs)",
        "rf": "感受野",
        "rf_size": "感受野大小",
        "rf_jump": "感受野等效步长 (相邻输出在输入上的间距)",
        "rf_traced": "经过步长大于 1 的转置卷积后，相邻输出像素在输入上覆盖的区域大小不同："
                     "感受野大小取其中最大者，由逐像素回溯得到",
        "no_params": "没有参数",
        "shape_kept": "形状不变",
        "flatten": "展平",
        "adaptive": "自适应池化：输出尺寸是给定的",
        "merge_add": "各分支逐元素相加",
        "merge_mul": "各分支逐元素相乘 (门控，按 1×1 维度广播)",
        "merge_concat": "沿通道拼接",
        "merge_side": "第一个分支原样传递，其余分支供下一层读取",
        "merge_other": "分支合并 ({kind})",
        "total": "合计",
        "truncation": "向下取整截断：输入最后 {n} {what}没有被任何窗口覆盖，被丢弃",
        "row": "行",
        "col": "列",
        "sample": "个采样点",
        "slice": "帧",
        "note": "注意",
        "ceil_rule": "ceil_mode：最后一个窗口的起点 {start} ≥ 输入 {n} + 左侧填充 {p} = {limit}，落在输入之外，"
                     "PyTorch 会去掉它 (-1)",
        "big_padding": "填充 {p} 超过卷积核的一半 ({k})：边缘的输出几乎只看到补的零",
        "one_by_one": "步长为 1 的 1×1 卷积只改变通道数 ({c_in} → {c_out})，不改变特征图的空间尺寸",
        "projection": "残差相加需要投影：捷径分支 {name} 把 {a} 变为 {b}，形状一致才能相加",
        "identity": "恒等捷径：输入 {a} 直接相加",
        "model": "模型",
        "input": "输入",
    },
}

_AXIS_UNITS = {"length": "sample", "depth": "slice", "height": "row", "width": "col"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ROUND = {"floor": ("floor(", ")", r"\left\lfloor ", r" \right\rfloor"),
          "ceiling": ("ceil(", ")", r"\left\lceil ", r" \right\rceil")}


# --- printing one derivation ----------------------------------------------------------------------------


def _text(expr) -> str:
    return str(expr).replace("**", "^").replace("ceiling(", "ceil(")


def _latex(expr, names=None) -> str:
    return _latex_printer(names).doprint(expr)


def _latex_printer(names):
    """sympy's LaTeX printer with \\cdot products and each floor/ceil over one fraction."""
    from sympy.printing.latex import LatexPrinter

    from ..symbolic import over_one

    class Printer(LatexPrinter):
        def _over_one(self, arg):
            num, den = over_one(arg)
            return self._print(num) if den == 1 else rf"\frac{{{self._print(num)}}}{{{self._print(den)}}}"

        def _print_floor(self, expr, exp=None):
            return rf"\left\lfloor{{{self._over_one(expr.args[0])}}}\right\rfloor"

        def _print_ceiling(self, expr, exp=None):
            return rf"\left\lceil{{{self._over_one(expr.args[0])}}}\right\rceil"

    return Printer({"symbol_names": names or {}, "mul_symbol": "dot"})


_TOKEN = re.compile(r"§([A-Za-z_][A-Za-z0-9_]*)§")


@lru_cache(maxsize=2048)
def _template(expr, fmt):
    """Printed once per (expression, format): the general form, the form with symbols as fill-in
    tokens, the same with each floor/ceil replaced by a mark ROUNDi, and the marks' (kind, num, den)."""
    import sympy

    from ..symbolic import over_one

    roundings = sorted(expr.atoms(sympy.floor, sympy.ceiling), key=str)
    marks = {atom: sympy.Symbol(f"ROUND{i}") for i, atom in enumerate(roundings)}
    marked_expr = expr.xreplace(marks)
    if fmt == "latex":
        tokens = {s: f"§{s.name}§" for s in expr.free_symbols | set(marks.values())}
        general, plain, marked = _latex(expr), _latex(expr, tokens), _latex(marked_expr, tokens)
    else:
        general = plain = _text(expr)
        marked = _text(marked_expr)
    atoms = tuple((type(a).__name__, *over_one(a.args[0])) for a in roundings)
    return general, plain, marked, atoms


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


def _derivation(expr, values, result, fmt):
    """``expr = numbers = rounding step = result``, each step shown once (a list of strings)."""
    import sympy

    if not isinstance(expr, sympy.Basic) or expr.is_number:
        return [_fmt_value(result, fmt)]
    general, plain, marked, atoms = _template(expr, fmt)
    steps = [general, _fill(plain, values, fmt)]
    if atoms and all(known(v) for v in values.values()):
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
    steps.append(_fmt_value(result, fmt))
    out = []
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


@dataclass
class LayerExplanation:
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    lines: list


@dataclass
class Explanation:
    """The whole explanation; ``render()`` or ``str()`` prints it in the chosen language and format."""

    model: str
    input_shape: tuple
    layers: list
    totals: list
    lang: str = "en"
    fmt: str = "text"

    def __str__(self):
        return self.render()

    def render(self) -> str:
        return _render(self)


def explain(model: Layer, input_shape: ShapeLike, *, lang: str = "en", fmt: str = "text",
            name: str | None = None) -> Explanation:
    """Explain every layer of ``model`` on ``input_shape`` (see the module docstring)."""
    if lang not in LANGS:
        raise ShapeError(f"unknown language {lang!r}: choose one of {', '.join(LANGS)}")
    if fmt not in FORMATS:
        raise ShapeError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    report = analyze(model, input_shape, warn=False, name=name)
    words = TEXT[lang]
    layers = [_explain_row(row, words, fmt) for row in report.layers]
    totals = [
        Line(words["params"], "", [_fmt_value(report.params, fmt)]),
        Line(words["macs"], "", [_fmt_value(report.macs, fmt)]),
    ]
    if report.receptive_field is not None:
        rf = report.receptive_field
        totals.append(Line(words["rf"], "", [_fmt_shape(rf.size, fmt)]))
    return Explanation(report.name, report.input_shape, layers, totals, lang, fmt)


def _fmt_shape(shape, fmt):
    if fmt == "latex":
        return r" \times ".join(_fmt_value(d, fmt) for d in shape)
    return format_shape(shape)


def _lhs(name, fmt):
    if fmt == "latex":
        return rf"\mathrm{{{name}}}" if "_" not in name else _latex(symbol(name))
    return name


def _explain_row(row, words, fmt):
    layer, rf_in, branches = row.layer, row.rf_in, row.input_shapes
    lines = []
    if row.is_merge:
        if row.type in ("Add", "Mul"):
            sign = " + " if row.type == "Add" else (r" \odot " if fmt == "latex" else " * ")
            joined = sign.join(_fmt_shape(b, fmt) for b in branches)
            lines.append(Line(words[f"merge_{row.type.lower()}"], "", [joined, _fmt_shape(row.output_shape, fmt)]))
        elif row.type == "Concat" and layer.dim in (1, -len(row.output_shape) - 1):
            channels = " + ".join(_fmt_value(b[0], fmt) for b in branches)
            lines.append(Line(words["merge_concat"], _lhs("C_out", fmt), [channels, _fmt_value(row.output_shape[0], fmt)]))
        else:
            label = words["merge_side"] if row.type == "Side" else words["merge_other"].format(kind=row.type)
            shapes = ", ".join(_fmt_shape(b, fmt) for b in branches)
            arrow = r" \to " if fmt == "latex" else " -> "
            lines.append(Line(label, "", [shapes + arrow + _fmt_shape(row.output_shape, fmt)]))
        if isinstance(layer, Residual) and layer.op == "add":  # a gate (op mul) needs no projection note
            if layer.shortcut is not None:
                a, b = format_shape(row.input_shape), format_shape(row.output_shape)
                lines.append(Line(words["projection"].format(name=layer.shortcut_name, a=a, b=b), note=True))
            else:
                lines.append(Line(words["identity"].format(a=format_shape(row.input_shape)), note=True))
        return LayerExplanation(row.name, row.type, row.input_shape, row.output_shape, lines)
    symbolic, values = twins.twin(layer)
    if symbolic is None:
        kept = row.input_shape == row.output_shape
        label = words["shape_kept"] if kept else words["flatten"] if row.type == "Flatten" else words["output"]
        if row.type.startswith("Adaptive"):
            label = words["adaptive"]
        lines.append(Line(label, "", [_fmt_shape(row.output_shape, fmt)]))
        lines.extend(_counted_lines(row, words, fmt))
    else:
        lines.extend(_formula_lines(row, symbolic, values, rf_in, words, fmt))
    lines.extend(_notes(row, words))
    return LayerExplanation(row.name, row.type, row.input_shape, row.output_shape, lines)


def _formula_lines(row, symbolic, values, rf_in, words, fmt):
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
            steps = _derivation(expr, values, count, fmt)
            if count != value:  # the last window would start beyond the input: PyTorch drops it
                steps = [f"{step} - 1" for step in steps[:-1]] + [_fmt_value(value, fmt)]
                p, s = row.layer.padding[axis - 1], row.layer.stride[axis - 1]
                notes.append(Line(words["ceil_rule"].format(start=(count - 1) * s, n=row.input_shape[axis], p=p,
                                                            limit=row.input_shape[axis] + p), note=True))
        else:
            steps = _derivation(expr, values, value, fmt)
        if shown and axis > 1 and shown[-1][0][0] != "C_out" and shown[-1][1][1:] == steps[1:]:
            shown[-1][0].append(name)
            continue
        shown.append(([name], steps))
    for names, steps in shown:
        lines.append(Line(words["output"], " = ".join(_lhs(n, fmt) for n in names), steps))
    if formulas.params != 0:
        lines.append(Line(words["params"], _lhs("params", fmt), _derivation(_readable(formulas.params), values, row.params, fmt)))
    else:
        lines.append(Line(f"{words['params']}: {words['no_params']}", plain=True))
    if formulas.macs != 0:
        out_values = dict(zip(out_names, row.output_shape))
        lines.append(Line(words["macs"], _lhs("MACs", fmt), _derivation(formulas.macs, {**values, **out_values}, row.macs, fmt)))
    if formulas.rf is not None and rf_in is not None and row.receptive_field is not None:
        rf_values = {**values, "r_in": rf_in.size[0], "j_in": rf_in.stride[0], "x_in": rf_in.start[0]}
        size, jump, _ = formulas.rf
        if row.traced:  # after upsampling the recurrence gives only a bound: the size was traced
            lines.append(Line(words["rf_size"], _lhs("r_out", fmt), [_fmt_value(row.receptive_field.size[0], fmt)]))
            lines.append(Line(words["rf_traced"], note=True))
        else:
            lines.append(Line(words["rf_size"], _lhs("r_out", fmt),
                              _derivation(size, rf_values, row.receptive_field.size[0], fmt)))
        lines.append(Line(words["rf_jump"], _lhs("j_out", fmt),
                          _derivation(jump, rf_values, row.receptive_field.stride[0], fmt)))
    return lines + notes


def _counted_lines(row, words, fmt):
    """Params (the sum of the layer's tensors) and MACs of a layer without a formula twin."""
    lines = []
    if row.params != 0:
        times = r" \cdot " if fmt == "latex" else "*"
        terms = [times.join(_fmt_value(d, fmt) for d in shape) for shape in row.layer.parameter_shapes().values()]
        steps = [" + ".join(terms)] if len(terms) > 1 or "*" in terms[0] or "cdot" in terms[0] else []
        lines.append(Line(words["params"], _lhs("params", fmt), steps + [_fmt_value(row.params, fmt)]))
    if row.macs != 0:
        lines.append(Line(words["macs"], _lhs("MACs", fmt), [_fmt_value(row.macs, fmt)]))
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


def _notes(row, words):
    layer, notes = row.layer, []
    if getattr(layer, "windowed", False) and hasattr(layer, "dropped"):
        units = [_AXIS_UNITS[axis] for axis in axis_names(len(row.input_shape) - 1)]
        for lost, what in zip(layer.dropped(row.input_shape), units):
            if lost:
                plural = "s" if lost > 1 and words is TEXT["en"] else ""
                notes.append(Line(words["truncation"].format(n=lost, what=words[what] + plural), note=True))
    if isinstance(layer, ConvNd) and not isinstance(layer.padding, str):
        for k, p in zip(layer.kernel_size, layer.padding):
            if known(k) and known(p) and p > k // 2:
                notes.append(Line(words["big_padding"].format(p=p, k=k), note=True))
                break
        one_by_one = all(v == 1 for v in layer.kernel_size + layer.stride) and all(p == 0 for p in layer.padding)
        if one_by_one and layer.in_channels != layer.out_channels:
            notes.append(Line(words["one_by_one"].format(c_in=layer.in_channels, c_out=layer.out_channels), note=True))
    return notes


# --- rendering -----------------------------------------------------------------------------------------


def _equation(line, sep=" = "):
    return sep.join(([line.lhs] if line.lhs else []) + list(line.steps))


def _latex_escape(text):
    return text.replace("_", r"\_").replace("#", r"\#").replace("%", r"\%").replace("&", r"\&")


# Per format: title, layer heading, then the three kinds of line; {shape}s are already formatted.
_STYLES = {
    "text": dict(title="{model_word}: {model}   {input_word}: {shape}", heading="{name} ({type}): {a} -> {b}",
                 gap=False, note="  ! {label}", plain="  {label}", equation="  {label}: {eq}", total="{total}:",
                 escape=str),
    "markdown": dict(title="# {model_word}: `{model}`, {input_word} `{shape}`", heading="## `{name}` {type}: `{a}` → `{b}`",
                     gap=True, note="> **{note_word}:** {label}", plain="- {label}", equation="- {label}: `{eq}`",
                     total="## {total}", escape=str),
    "latex": dict(title="\\section*{{{model_word}: \\texttt{{{model}}}, {input_word} ${shape}$}}",
                  heading="\\subsection*{{\\texttt{{{name}}} {type}: ${a} \\to {b}$}}", gap=False,
                  note="\\emph{{{label}}}", plain="{label}", equation="{label}: \\[ {eq} \\]",
                  total="\\subsection*{{{total}}}", escape=_latex_escape),
}


def _render(ex):
    words, style, fmt = TEXT[ex.lang], _STYLES[ex.fmt], ex.fmt
    esc = style["escape"]

    def line_text(line):
        kind = "note" if line.note else "plain" if line.plain else "equation"
        return style[kind].format(label=esc(line.label), eq=_equation(line), note_word=words["note"])

    out = [style["title"].format(model_word=words["model"], model=esc(ex.model), input_word=words["input"],
                                 shape=_fmt_shape(ex.input_shape, fmt)), ""]
    for layer in ex.layers:
        out.append(style["heading"].format(name=esc(layer.name or layer.type), type=layer.type,
                                           a=_fmt_shape(layer.input_shape, fmt), b=_fmt_shape(layer.output_shape, fmt)))
        out.extend([""] if style["gap"] else [])
        out.extend(line_text(line) for line in layer.lines)
        out.append("")
    out.append(style["total"].format(total=words["total"]))
    out.extend([""] if style["gap"] else [])
    out.extend(line_text(line) for line in ex.totals)
    return "\n".join(out) + "\n"


__all__ = ["explain", "Explanation", "LayerExplanation", "Line", "LANGS", "FORMATS"]
