"""Jupyter display of reports: an HTML table (``Report._repr_html_``), LaTeX for symbolic values
(``_repr_latex_``) and a pandas DataFrame (``Report.to_pandas``). Formatting only, no maths.

Symbolic values are written as inline LaTeX ``\\(...\\)`` inside the HTML, which Jupyter typesets.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..dims import format_shape, known
from ..report import Report

COLUMNS = ("name", "type", "input_shape", "output_shape", "params", "macs", "rf_size", "rf_stride", "rf_start")


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


def records(report):
    """One dict per row with the ``COLUMNS`` keys (shapes as tuples, receptive field as (h, w) pairs)."""
    out = []
    for row in report.layers:
        rf = row.receptive_field
        out.append({
            "name": row.name, "type": row.type, "input_shape": row.input_shape, "output_shape": row.output_shape,
            "params": row.params, "macs": row.macs,
            "rf_size": rf and rf.size, "rf_stride": rf and rf.stride, "rf_start": rf and rf.start,
        })
    return out


def report_html(report) -> str:
    """The layer table and the totals as one HTML fragment."""
    head = "".join(f"<th>{h}</th>" for h in ("Layer", "Type", "Output shape", "Params", "MACs", "RF size", "RF stride"))
    body = []
    for rec in records(report):
        cells = [escape(rec["name"]), escape(rec["type"]), _cell(rec["output_shape"]), _cell(rec["params"]),
                 _cell(rec["macs"])]
        cells += ["--" if rec[k] is None else _cell(rec[k]) for k in ("rf_size", "rf_stride")]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    rf = report.receptive_field
    totals = [
        ("Input shape", _cell(report.input_shape)), ("Output shape", _cell(report.output_shape)),
        ("Params", _cell(report.params)), ("Trainable params", _cell(report.trainable_params)),
        ("Buffers", _cell(report.buffers)), ("MACs", _cell(report.macs)), ("FLOPs", _cell(report.flops)),
    ]
    if rf is not None:
        totals.append(("Receptive field", f"size {_cell(rf.size)}, stride {_cell(rf.stride)}, start {_cell(rf.start)}"))
    memory = report.memory()
    if memory.saved_for_backward is not None:  # float32, the report's batch (docs/memory.md)
        totals += [("Saved for backward (bytes)", _cell(memory.saved_for_backward)),
                   ("Training step, SGD / Adam (bytes)",
                    f"{_cell(memory.training_step('sgd'))} / {_cell(memory.training_step('adam'))}")]
    summary = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in totals)
    return (f"<div class='cnncalc-report'><strong>{escape(report.name)}</strong>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<table>{summary}</table></div>")


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


def install(report_cls, rf_cls, memory_cls=None):
    """Give the report classes their Jupyter display and ``to_pandas`` (the report module draws nothing)."""
    report_cls._repr_html_ = report_html
    report_cls._repr_latex_ = report_latex
    report_cls.to_pandas = to_pandas
    rf_cls._repr_latex_ = rf_latex
    if memory_cls is not None:
        memory_cls._repr_html_ = memory_html


def to_pandas(report: Report) -> Any:
    """The layer rows as a pandas DataFrame (needs the optional ``pandas`` extra); symbols stay sympy."""
    try:
        import pandas
    except ImportError:
        raise ImportError("Report.to_pandas() needs pandas: pip install 'cnncalc[pandas]' (or pip install pandas)") from None
    return pandas.DataFrame.from_records(records(report), columns=list(COLUMNS))
