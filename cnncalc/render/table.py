"""The terminal table of a Report (torchinfo-like): a tree of layers, then totals and memory. No maths here
beyond sums of rows."""

from __future__ import annotations

import re
import textwrap
from fractions import Fraction

from .. import i18n
from ..dims import format_shape, known, product
from ..errors import ShapeError
from ..graph import container_types
from ..receptive_field import ReceptiveField
from ..report import batched, collapse, dtype_size

__all__ = ["table", "totals", "count", "units", "megabytes", "byte_size", "rf_text", "collapse", "COLUMNS",
           "DEFAULT_COLUMNS", "TABLE_WIDTH"]

COLUMNS = ("input_shape", "output_shape", "params", "macs", "rf", "numel", "memory", "params_percent", "macs_percent")
DEFAULT_COLUMNS = ("output_shape", "params", "macs", "rf")
_HEADINGS = {column: f"table.{column}" for column in COLUMNS}  # i18n keys
_NAME_MIN = 36  # the layer column never narrower than this at the classic width ...
_NAME_MIN_NARROW = 20  # ... nor than this on a narrower terminal (longer names wrap)
_WIDTHS = {"input_shape": 16, "output_shape": 16, "params": 13, "macs": 15, "rf": 15, "numel": 13, "memory": 11,
           "params_percent": 8, "macs_percent": 8}
TABLE_WIDTH = 100


def count(n) -> str:
    """1234567 -> '1,234,567'; a symbolic value as its closed form, factored for reading."""
    if type(n) is int:
        return f"{n:,}"
    from ..symbolic import pretty

    return pretty(n)


def fixed(n, scale: int) -> str:
    """n/scale with two decimals, rounded half to even, in exact arithmetic: no float overflows, however
    large the count (a batch of 10**2200)."""
    hundredths = round(Fraction(n) * 100 / scale)
    whole, part = divmod(abs(hundredths), 100)
    return f"{'-' if hundredths < 0 else ''}{whole}.{part:02d}"


def units(n) -> str:
    """A count with a K/M/G/T suffix (powers of 1000), as torchinfo prints mult-adds."""
    if not known(n):
        return count(n)
    for scale, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= scale:
            return f"{fixed(n, scale)} {suffix}"
    return str(n)


def megabytes(n) -> str:
    return fixed(n, 10**6) if known(n) else f"({count(n)})/10^6"


def rf_text(rf: ReceptiveField | None) -> str:
    if rf is None:
        return "--"
    stride = _pair(rf.stride)
    return f"{_pair(rf.size)}/{f'({stride})' if '/' in stride else stride}"  # 5/(1/2) after upsampling


def _pair(values) -> str:
    """One value per axis, written once when every axis agrees: 7, or 3x7x7."""
    texts = [format_shape((v,)) for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def byte_size(n) -> str:
    """Bytes in powers of 1000 (as the totals' MB): '3.21 MB', '640 B'; a symbolic count as its closed form."""
    if not known(n):
        return f"{count(n)} B"
    for scale, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n} B"


def _percent(part, whole, column) -> str:
    if part == 0:
        return "--"
    if not (known(part) and known(whole)):
        raise ShapeError(f"--columns {column}: a percentage needs concrete numbers, and these are formulas of the "
                         "input's symbols; give a concrete --input or leave the column out")
    return f"{100 * part / whole:.2f}%"


def _cell(column, row, report, itemsize) -> str:
    batch = report.batch
    if column == "input_shape":
        return format_shape(batched(row.input_shape, batch))
    if column == "output_shape":
        return format_shape(batched(row.output_shape, batch))
    if column == "params":
        return count(row.params) if row.params else "--"
    if column == "macs":
        return count(row.macs) if row.macs else "--"
    if column == "numel":
        return count(product(batched(row.output_shape, batch)))
    if column == "memory":
        return byte_size(product((row.activations, batch, itemsize)))
    if column == "params_percent":
        return _percent(row.params, report.params, column)
    if column == "macs_percent":
        return _percent(row.macs, report.macs, column)
    return rf_text(row.receptive_field)


def _wrap(label, width):
    """A label in lines of at most ``width``, broken after spaces and dots with a hanging indent; never cut.

    A word that does not fit at its indent moves left; only a word longer than the whole column is split.
    """
    if len(label) <= width:
        return [label]
    text = label.lstrip(" ")
    indent = len(label) - len(text)
    hang = " " * (indent + 2)
    lines, current = [], " " * indent
    for piece in re.findall(r"[^ .]*[ .]|[^ .]+$", text):
        word = piece.rstrip()
        if len(current) + len(word) > width and current.strip():
            lines.append(current.rstrip())
            current = hang
        if len(current) + len(word) > width and not current.strip():
            current = " " * max(width - len(word), 0)
        while len(current) + len(piece.rstrip()) > width:  # longer than a whole line: split it
            room = width - len(current)
            lines.append(current + piece[:room])
            piece, current = piece[room:], ""
        current += piece
    lines.append(current.rstrip())
    return lines


def table(report, *, depth=None, columns=DEFAULT_COLUMNS, dtype="float32", style=None, width=TABLE_WIDTH,
          lang=None) -> str:
    """The torchinfo-like summary: a tree of layers with the chosen columns, then totals and memory, in ``lang``
    (``i18n``; None: the default language).

    ``width`` is the terminal's: the table is ``TABLE_WIDTH`` (100) columns wide, its layer column widening
    up to ``width`` for long names and wrapping names that still do not fit (names are never cut). Symbolic
    cells widen their column rather than break the alignment. Shapes carry the batch axis when the batch is
    not 1.
    """
    lang = i18n.check_lang(lang)
    style = style or (lambda text, **kw: text)
    headings = {c: i18n.text(_HEADINGS[c], lang) for c in columns}
    types = container_types(report.model)
    rows = report.rows(depth)
    itemsize = dtype_size(dtype)
    cells = [[_cell(c, row, report, itemsize) for c in columns] for row in rows]
    # the classic widths, or on a narrow terminal just what the headings and cells need
    least = {c: _WIDTHS[c] if width >= TABLE_WIDTH else i18n.width(headings[c]) for c in columns}
    widths = [max([least[c], i18n.width(headings[c])] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    used = sum(widths) + len(widths)
    labels = list(_labels(rows, types))
    longest = max((len(text) for headings, label in labels for text in (*headings, label)), default=0)
    floor = _NAME_MIN if width >= TABLE_WIDTH else _NAME_MIN_NARROW
    name_width = max(min(width, TABLE_WIDTH) - used, floor, min(longest, width - used))
    rule = "=" * (name_width + used)

    def line(label, cells):
        *parts, last = _wrap(label, name_width)
        last = i18n.ljust(last, name_width) + "".join(" " + i18n.rjust(cell, w) for cell, w in zip(cells, widths))
        return "\n".join([*(part.ljust(len(rule)) for part in parts), last])

    out = [rule, style(line(i18n.text("table.layer", lang), [headings[c] for c in columns]), bold=True), rule]
    out.append(line(f"{report.name} ({types.get('', type(report.model).__name__)})", [""] * len(columns)))
    for (headings, label), row_cells in zip(labels, cells):
        out += [line(heading, [""] * len(columns)) for heading in headings]
        out.append(line(label, row_cells))
    out.append(rule)
    lines = totals(report, dtype, lang)
    if known(report.macs) and known(report.params):  # long lines wrap too; formulas stay whole
        room = max(width, len(rule))
        lines = [part for text in lines for part in textwrap.wrap(text, room, subsequent_indent="  ") or [text]]
    out.extend(lines)
    out.append(rule)
    for note in report.warnings:
        out.append(style(f"{i18n.text('table.warning', lang)}{i18n.colon(lang)}{i18n.translate(note, lang)}", fg="yellow"))
    return "\n".join(out)


def _labels(rows, types):
    """Per row: the headings of the blocks it opens, and its own label (indented by depth)."""
    opened = set()
    for row in rows:
        parts = row.name.split(".") if row.name else []
        is_merge = not row.collapsed and not row.layer.is_leaf
        own = parts if is_merge else parts[:-1]
        headings = []
        for i in range(len(own)):
            path = ".".join(own[: i + 1])
            if path not in opened:
                opened.add(path)
                headings.append("  " * (i + 1) + f"{own[i]} ({types.get(path, 'Block')})")
        if row.collapsed:
            label = "  " * len(parts) + f"{parts[-1]} ({row.type})"
        elif is_merge:
            label = "  " * (len(parts) + 1) + f"+ {row.type}"
        else:
            label = "  " * len(parts) + f"{parts[-1] if parts else row.name} ({row.type})"
        opened.add(row.name)  # a leaf named like a block (Keras's conv2d + conv2d.activation) heads its rows
        yield headings, label


def totals(report, dtype="float32", lang="en"):
    """The lines under the table: parameter counts, operations, receptive field, memory, in ``lang``."""
    mem = report.memory(dtype)
    rf = report.receptive_field
    t, c = (lambda key, **values: i18n.text(key, lang, **values)), i18n.colon(lang)
    batch = t("table.batch_suffix", batch=report.batch) if report.batch != 1 else ""
    exact = f" ({count(report.macs)})" if lang == "en" else f"（{count(report.macs)}）"
    lines = [
        f"{t('table.total_params')}{c}{count(report.params)}",
        f"{t('table.trainable')}{c}{count(report.trainable_params)}",
        f"{t('table.non_trainable')}{c}{count(report.non_trainable_params)}",
        f"{t('table.buffers')}{c}{count(report.buffers)}",
        f"{t('table.total_macs')}{batch}{c}{units(report.macs)}" + (exact if known(report.macs) else ""),
        f"{t('table.total_flops')}{batch}{c}{units(report.flops)}",
        f"{t('table.output')}{c}{format_shape(batched(report.output_shape, report.batch))}",
    ]
    if rf is not None:
        lines.append(t("table.rf_line", size=_pair(rf.size), stride=_pair(rf.stride), start=_pair(rf.start)))
        lines += _gate_note(report, lang)
    local = report.local_receptive_field
    if local is not None and local != rf:
        lines.append(t("table.local_rf", size=_pair(local.size), stride=_pair(local.stride), start=_pair(local.start)))
    lines += [t("table.assumes", text=i18n.translate(text, lang)) for text in report.assumptions]  # what symbols need
    lines += [
        "-" * 40,
        t("table.dtype", dtype=dtype, batch=report.batch),
        f"{t('table.input_mb')}{c}{megabytes(mem.input_bytes)}",
        f"{t('table.backward_mb')}{c}{megabytes(mem.forward_backward_bytes)}",
        f"{t('table.params_mb')}{c}{megabytes(mem.params_bytes)}",
        f"{t('table.total_mb')}{c}{megabytes(mem.total_bytes)}{t('table.torchinfo')}",
    ]
    if mem.saved_for_backward is not None:  # docs/memory.md: what autograd keeps in a training step
        lines += [
            f"{t('table.saved_mb')}{c}{megabytes(mem.saved_for_backward)}",
            f"{t('table.training_mb')}{c}{megabytes(mem.training_step('sgd'))} / {megabytes(mem.training_step('adam'))}",
        ]
    return lines


def _gate_note(report, lang="en"):
    """A line saying why, when the receptive field ends inside a gate (a squeeze-and-excitation block)."""
    rows = report.layers
    end = next((i for i, r in enumerate(rows) if r.receptive_field is None), None)
    if end is None:
        return []
    inner = rows[end].name
    gate = next((r for r in rows[end:] if r.type == "Mul" and (not r.name or inner.startswith(r.name + "."))), None)
    if gate is None:
        return []
    return [i18n.text("table.gate", lang, gate=gate.name or "mul")]
