"""The terminal table of a Report (torchinfo-like): a tree of layers, then totals and memory. No maths here
beyond sums of rows."""

from __future__ import annotations

from fractions import Fraction

from .. import i18n
from ..dims import format_shape, known
from ..graph import container_types
from ..receptive_field import ReceptiveField
from ..report import Row

COLUMNS = ("input_shape", "output_shape", "params", "macs", "rf")
DEFAULT_COLUMNS = ("output_shape", "params", "macs", "rf")
_HEADINGS = {  # i18n keys
    "input_shape": "table.input_shape",
    "output_shape": "table.output_shape",
    "params": "table.params",
    "macs": "table.macs",
    "rf": "table.rf",
}
_NAME_MIN = 36  # the layer column never narrower than this
_WIDTHS = {"input_shape": 16, "output_shape": 16, "params": 13, "macs": 15, "rf": 15}
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


def collapse(rows, depth):
    """Rows deeper than ``depth`` summed into one row per block at that depth (in order).

    A block's merge row (Add/Concat, named by the block) and its post layer join the block's group.
    """
    if depth is None:
        return list(rows)
    out = []
    for row in rows:
        parts = row.name.split(".") if row.name else []
        if len(parts) < depth or (len(parts) == depth and row.layer.is_leaf):
            out.append(row)
            continue
        key = ".".join(parts[:depth])
        last = out[-1] if out else None
        if isinstance(last, _Group) and last.name == key:
            last.params += row.params
            last.macs += row.macs
            last.output_shape = row.output_shape
            last.receptive_field = row.receptive_field
        else:
            out.append(_Group(key, None, row.input_shape, row.output_shape, row.params, row.macs, row.receptive_field, ""))
    return out


class _Group(Row):
    """A collapsed block: the sum of its rows."""

    __slots__ = ()
    collapsed = True


def _cell(column, row) -> str:
    if column == "input_shape":
        return format_shape(row.input_shape)
    if column == "output_shape":
        return format_shape(row.output_shape)
    if column == "params":
        return count(row.params) if row.params else "--"
    if column == "macs":
        return count(row.macs) if row.macs else "--"
    return rf_text(row.receptive_field)


def table(report, *, depth=None, columns=DEFAULT_COLUMNS, dtype="float32", style=None, lang=None) -> str:
    """The torchinfo-like summary: a tree of layers with the chosen columns, then totals and memory, in ``lang``
    (``i18n``; None: the default language)."""
    lang = i18n.check_lang(lang)
    style = style or (lambda text, **kw: text)
    types = container_types(report.model)
    rows = collapse(report.layers, depth)
    cells = [[_cell(c, row) for c in columns] for row in rows]
    # 100 columns; symbolic cells widen their column (and the table) rather than break the alignment
    widths = [max([_WIDTHS[c]] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    name_width = max(TABLE_WIDTH - sum(widths) - len(widths), _NAME_MIN)
    rule = "=" * (name_width + sum(widths) + len(widths))

    def line(label, cells):
        text = label if len(label) <= name_width else label[: name_width - 1] + "…"
        return i18n.ljust(text, name_width) + "".join(" " + i18n.rjust(cell, w) for cell, w in zip(cells, widths))

    out = [rule, style(line(i18n.text("table.layer", lang), [i18n.text(_HEADINGS[c], lang) for c in columns]), bold=True), rule]
    out.append(line(f"{report.name} ({types.get('', type(report.model).__name__)})", [""] * len(columns)))
    opened = set()
    for row, row_cells in zip(rows, cells):
        parts = row.name.split(".") if row.name else []
        grouped = isinstance(row, _Group)
        is_merge = not grouped and not row.layer.is_leaf
        own = parts if is_merge else parts[:-1]
        for i in range(len(own)):
            path = ".".join(own[: i + 1])
            if path not in opened:
                opened.add(path)
                out.append(line("  " * (i + 1) + f"{own[i]} ({types.get(path, 'Block')})", [""] * len(columns)))
        if grouped:
            label = "  " * len(parts) + f"{parts[-1]} ({types.get(row.name, 'Block')})"
            opened.add(row.name)
        elif is_merge:
            label = "  " * (len(parts) + 1) + f"+ {row.type}"
        else:
            label = "  " * len(parts) + f"{parts[-1] if parts else row.name} ({row.type})"
        out.append(line(label, row_cells))
        opened.add(row.name)  # a leaf named like a block (Keras's conv2d + conv2d.activation) heads its rows
    out.append(rule)
    out.extend(totals(report, dtype, lang))
    out.append(rule)
    for note in report.warnings:
        out.append(style(f"{i18n.text('table.warning', lang)}{i18n.colon(lang)}{i18n.translate(note, lang)}", fg="yellow"))
    return "\n".join(out)


def totals(report, dtype="float32", lang="en"):
    """The lines under the table: parameter counts, operations, receptive field, memory."""
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
        f"{t('table.output')}{c}{format_shape(report.output_shape)}",
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
