"""Jupyter display of reports: an HTML table (``Report._repr_html_``), LaTeX for symbolic values
(``_repr_latex_``) and a pandas DataFrame (``Report.to_pandas``). Formatting only, no maths.

Symbolic values are written as inline LaTeX ``\\(...\\)`` inside the HTML, which Jupyter typesets.
"""

from __future__ import annotations

from html import escape, unescape
from typing import Any

from ..dims import format_shape, known, product
from ..graph import container_types
from ..report import Report, batched, dtype_size
from .table import byte_size, megabytes

COLUMNS = ("name", "type", "input_shape", "output_shape", "params", "macs", "output_numel", "activation_bytes",
           "rf_size", "rf_stride", "rf_start")

# One scoped stylesheet inside the fragment (no external assets); numbers right-aligned in tabular figures.
_CSS = (
    ".cnncalc-report{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px;line-height:1.4;"
    "max-width:100%;overflow-x:auto}"
    ".cnncalc-report .title{font-size:15px;margin:0 0 6px 0}"
    ".cnncalc-report table{border-collapse:collapse;margin:2px 0}"
    ".cnncalc-report table.totals th{text-align:left;font-weight:600;padding:1px 12px 1px 0;white-space:nowrap}"
    ".cnncalc-report table.totals td{text-align:left;padding:1px 0}"
    ".cnncalc-report table.rows{table-layout:fixed}"
    ".cnncalc-report th,.cnncalc-report td{border:none;background:none;font-variant-numeric:tabular-nums}"
    ".cnncalc-report table.rows th{text-align:right;font-weight:600;padding:2px 5px;"
    "border-bottom:1px solid rgba(127,127,127,.5)}"
    ".cnncalc-report table.rows td{text-align:right;padding:1px 5px;white-space:nowrap}"
    ".cnncalc-report table.rows .l{text-align:left;white-space:normal;overflow-wrap:anywhere}"  # wrapped, never cut
    ".cnncalc-report details{border-left:2px solid rgba(127,127,127,.25);padding-left:calc(2ch - 2px)}"
    ".cnncalc-report summary{cursor:pointer;padding:2px 0;white-space:nowrap}"
    ".cnncalc-report .muted{opacity:.7;font-variant-numeric:tabular-nums}"
)
# The layer table's columns: heading and alignment
_HEADINGS = (("Layer", "left"), ("Type", "left"), ("Output shape", "right"), ("Params", "right"), ("MACs", "right"),
             ("Output #", "right"), ("Output mem", "right"), ("RF size", "right"), ("RF stride", "right"))
_ALIGN = {"left": " class='l'", "right": ""}
_INDENT_CH = 2  # a nesting level's indent (a details' border and padding, the CSS's 2px + 1.6ch): the name column
                # gives it up, so the numbers line up


def _latex(value) -> str:
    """A closed form as the CLI prints it (``symbolic.pretty``), in LaTeX: each floor/ceil over one fraction."""
    from ..symbolic import latex, readable

    return latex(readable(value))


def _is_symbolic(value) -> bool:
    if isinstance(value, (tuple, list)):
        return any(_is_symbolic(v) for v in value)
    return value is not None and not known(value)


def _cell(value) -> str:
    """HTML for a count, a shape or a (h, w) pair; symbols as inline LaTeX."""
    if isinstance(value, tuple):
        if _is_symbolic(value):
            return f"\\({_shape_latex(value)}\\)"
        return escape(format_shape(value))
    if _is_symbolic(value):
        return f"\\({_latex(value)}\\)"
    return f"{value:,}" if isinstance(value, int) and value else ("--" if value == 0 else escape(str(value)))


def _axes(values) -> str:
    """Per-axis values as the terminal table writes them: 3 when every axis agrees, else 3x5."""
    if _is_symbolic(values):
        return _cell(values)
    texts = [escape(format_shape((v,))) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def _bytes_cell(n) -> str:
    return escape(byte_size(n)) if known(n) else f"\\({_latex(n)}\\) B"


def _record(row, batch, itemsize):
    rf = row.receptive_field
    return {
        "name": row.name, "type": row.type, "input_shape": row.input_shape, "output_shape": row.output_shape,
        "params": row.params, "macs": row.macs, "output_numel": product((row.output_numel, batch)),
        "activation_bytes": product((row.activations, batch, itemsize)),
        "rf_size": rf and rf.size, "rf_stride": rf and rf.stride, "rf_start": rf and rf.start,
    }


def records(report, dtype="float32"):
    """One dict per row with the ``COLUMNS`` keys: shapes as (unbatched) tuples, the receptive field as per-axis
    tuples, ``output_numel`` and ``activation_bytes`` (bytes of ``dtype``) for the whole batch."""
    itemsize = dtype_size(dtype)
    return [_record(row, report.batch, itemsize) for row in report.layers]


class _Block:
    """A container in the display tree: its path, class name, children (rows and blocks, in order) and every
    row beneath it."""

    def __init__(self, path, kind):
        self.path, self.kind, self.children, self.rows = path, kind, [], []


def _tree(report):
    """The rows nested in their blocks (by dotted name), as ``_Block``s; a merge row closes its own block."""
    types = container_types(report.model)
    root = _Block("", types.get("", "Sequential"))
    blocks = {"": root}
    for row in report.layers:
        parts = row.name.split(".") if row.name else []
        own = parts if row.is_merge else parts[:-1]
        node = root
        for i in range(len(own)):
            path = ".".join(own[: i + 1])
            if path not in blocks:
                blocks[path] = _Block(path, types.get(path, "Block"))
                node.children.append(blocks[path])
            node = blocks[path]
            node.rows.append(row)
        node.children.append(row)
    return root


class _Layers:
    """The layer rows as HTML: a block is a collapsible <details> and each run of rows a table. The tables'
    columns line up across blocks: every column's width is its longest cell's (in ``ch``), the name column
    giving up each nesting level's indent."""

    def __init__(self, report, itemsize):
        self.report, self.itemsize = report, itemsize
        self.cells = {}  # id(row) -> HTML cells
        self.widths = [len(heading) for heading, _ in _HEADINGS]
        self._measure(_tree(report), 0)

    def _row_cells(self, row, block, level):
        rec = _record(row, self.report.batch, self.itemsize)
        name = "+" if row.is_merge else row.name[len(block) + 1 if block else 0 :]  # relative to its block
        texts = [name, row.type]
        cells = [f"<span title='{escape(row.name)}'>{escape(name)}</span>", escape(row.type),
                 _cell(batched(row.output_shape, self.report.batch)), _cell(row.params), _cell(row.macs),
                 _cell(rec["output_numel"]), _bytes_cell(rec["activation_bytes"])]
        cells += ["--" if rec[k] is None else _axes(rec[k]) for k in ("rf_size", "rf_stride")]
        texts += [unescape(c) for c in cells[2:]]
        for i, text in enumerate(texts):
            if not text.startswith("\\("):  # typeset formulas size themselves
                self.widths[i] = max(self.widths[i], len(text) + (_INDENT_CH * level if i == 0 else 0))
        return cells

    def _measure(self, block, level):
        for child in block.children:
            if isinstance(child, _Block):
                self._measure(child, level + 1)
            else:
                self.cells[id(child)] = self._row_cells(child, block.path, level)

    def _table(self, rows, level, head=False):
        cols = "".join(f"<col style='width:calc({w:g}ch + 10px)'/>" if i else  # + the cell's padding
                       f"<col style='width:calc({(w - _INDENT_CH * level) * 1.1:g}ch + 10px)'/>"  # letters: wider than 1ch
                       for i, w in enumerate(self.widths))
        if head:
            return (f"<table class='rows'><colgroup>{cols}</colgroup><thead><tr>"
                    + "".join(f"<th{_ALIGN[align]}>{h}</th>" for h, align in _HEADINGS) + "</tr></thead></table>")
        body = "".join("<tr>" + "".join(f"<td{_ALIGN[align]}>{c}</td>" for c, (_, align) in zip(self.cells[id(row)], _HEADINGS))
                       + "</tr>" for row in rows)
        return f"<table class='rows'><colgroup>{cols}</colgroup><tbody>{body}</tbody></table>"

    def html(self, block=None, level=0):
        """The headings, then ``block``'s children (the whole network by default)."""
        if block is None:
            return self._table((), 0, head=True) + self.html(_tree(self.report), 0)
        out, run = [], []
        for child in block.children:
            if not isinstance(child, _Block):
                run.append(child)
                continue
            if run:
                out.append(self._table(run, level))
                run = []
            rows = child.rows
            shape = _cell(batched(rows[-1].output_shape, self.report.batch))
            summary = (f"<strong>{escape(child.path.rsplit('.', 1)[-1])}</strong> ({escape(child.kind)})"
                       f" <span class='muted'>&#8594; {shape} &#183; params {_cell(sum((r.params for r in rows), 0))}"
                       f" &#183; MACs {_cell(sum((r.macs for r in rows), 0))} &#183; {len(rows)} rows</span>")
            out.append(f"<details><summary title='{escape(child.path)}'>{summary}</summary>"
                       f"{self.html(child, level + 1)}</details>")
        if run:
            out.append(self._table(run, level))
        return "".join(out)


def _totals(report, dtype):
    """(label, HTML) pairs of the totals, memory included, shown above the layers."""
    rf, memory = report.receptive_field, report.memory(dtype)
    lines = [
        ("Input shape", _cell(batched(report.input_shape, report.batch))),
        ("Output shape", _cell(batched(report.output_shape, report.batch))),
        ("Params", _cell(report.params)), ("Trainable params", _cell(report.trainable_params)),
        ("Buffers", _cell(report.buffers)), ("MACs", _cell(report.macs)), ("FLOPs", _cell(report.flops)),
    ]
    if rf is not None:
        lines.append(("Receptive field", f"size {_cell(rf.size)}, stride {_cell(rf.stride)}, start {_cell(rf.start)}"))
    lines += [("Assumes", escape(text)) for text in report.assumptions]
    lines += [
        ("Memory", f"{escape(dtype)}, batch {_cell(report.batch)}"),
        ("Input size (MB)", escape(megabytes(memory.input_bytes))),
        ("Forward/backward pass size (MB)", escape(megabytes(memory.forward_backward_bytes))),
        ("Params size (MB)", escape(megabytes(memory.params_bytes))),
        ("Estimated total size (MB)", escape(megabytes(memory.total_bytes)) + " (torchinfo's rules)"),
    ]
    if memory.saved_for_backward is not None:  # what autograd keeps in a training step (docs/memory.md)
        lines += [("Saved for backward (MB)", escape(megabytes(memory.saved_for_backward))),
                  ("Training step, SGD / Adam (MB)",
                   f"{escape(megabytes(memory.training_step('sgd')))} / {escape(megabytes(memory.training_step('adam')))}")]
    lines += [("Warning", escape(note)) for note in report.warnings]
    return lines


def report_html(report, dtype="float32") -> str:
    """Totals first, then the layers, every block a collapsible <details>; inline styles, no external assets."""
    itemsize = dtype_size(dtype)
    totals = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in _totals(report, dtype))
    return (f"<div class='cnncalc-report'><style>{_CSS}</style>"
            f"<div class='title'><strong>{escape(report.name)}</strong></div>"
            f"<table class='totals'>{totals}</table>{_Layers(report, itemsize).html()}</div>")


def report_latex(report):
    """Output shape, params, MACs and receptive field as LaTeX when any of them is symbolic, else None."""
    values = [report.output_shape, report.params, report.macs]
    if not _is_symbolic(values) and not _is_symbolic(report.input_shape):
        return None
    lines = [
        f"\\text{{output}} &= {_shape_latex(report.output_shape)}",
        f"\\text{{params}} &= {_value_latex(report.params)}",
        f"\\text{{MACs}} &= {_value_latex(report.macs)}",
    ]
    return "$$\\begin{aligned}" + " \\\\ ".join(lines) + "\\end{aligned}$$"


def rf_latex(rf):
    """A receptive field as LaTeX when it is symbolic, else None."""
    if not _is_symbolic((rf.size, rf.stride, rf.start)):
        return None
    parts = [f"\\text{{{key}}} = ({', '.join(_value_latex(v) for v in getattr(rf, key))})" for key in ("size", "stride", "start")]
    return "$" + ",\\quad ".join(parts) + "$"


def _value_latex(value) -> str:
    return _latex(value) if _is_symbolic(value) else f"{value:,}".replace(",", "{,}")


def _shape_latex(shape) -> str:
    """C x H x W with every sum in parentheses, so 6 x (H - 4) cannot be misread."""
    parts = []
    for v in shape:
        text = _value_latex(v)
        parts.append(f"\\left({text}\\right)" if getattr(v, "is_Add", False) else text)
    return " \\times ".join(parts)


def memory_html(memory) -> str:
    """A memory estimate (``Report.memory()``) as an HTML table: dtype and batch, then every byte count in B, MB and
    MiB (the ``*_bytes`` fields, what autograd saves, a training step per optimizer where known)."""
    fields = memory._asdict()
    rows = [("dtype", escape(str(memory.dtype))), ("batch", _cell(memory.batch))]
    sizes = [(key.removesuffix("_bytes"), value) for key, value in fields.items() if key.endswith("_bytes")]
    if fields.get("saved_for_backward") is not None:
        sizes.append(("saved for backward", fields["saved_for_backward"]))
        for optimizer in ("sgd", "momentum", "adam"):
            sizes.append((f"training step ({optimizer})", memory.training_step(optimizer)))
    for key, value in sizes:
        if _is_symbolic(value):
            rows.append((key, f"\\({_latex(value)}\\) B"))
        else:
            rows.append((key, f"{value:,} B = {value / 1e6:,.2f} MB = {value / 2**20:,.2f} MiB"))
    body = "".join(f"<tr><th style='text-align:left'>{escape(k.replace('_', ' '))}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='cnncalc-memory'>{body}</table>"


def to_pandas(report: Report, dtype: str = "float32") -> Any:
    """The layer rows as a pandas DataFrame (needs the optional ``pandas`` extra); symbols stay sympy.

    Columns: ``COLUMNS``; ``output_numel`` and ``activation_bytes`` (of ``dtype``) are for the whole batch."""
    try:
        import pandas
    except ImportError:
        raise ImportError("Report.to_pandas() needs pandas: pip install 'cnncalc[pandas]' (or pip install pandas)") from None
    return pandas.DataFrame.from_records(records(report, dtype), columns=list(COLUMNS))
