"""Pictures of a Report as SVG text: the architecture drawing (``svg``) and the receptive-field plot (``rf_plot``).

No maths beyond layout. The drawing follows the classic style: every feature map is a 3D box whose
front-face height grows with H, its oblique depth with W and its thickness with C (all log-scaled so
LeNet and ResNet-152 fit the same page); a convolution or pooling window is drawn in the gap before
the map it produces; residual and concatenation blocks are drawn as branches that leave a split
point and meet again at a merge node. Shape-preserving layers without a window (BatchNorm, ReLU,
Dropout, ...) join the box before them; every layer's name is kept in the box's ``<title>`` tooltip.
Runs of consecutive blocks with the same structure are folded into one drawing marked ``xN`` when the
network has more boxes than ``max_boxes``, and the legend says so.
"""

from __future__ import annotations

import math
from html import escape

from ..dims import format_shape, known
from ..errors import ShapeError
from ..layers import Identity

FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"
COLORS = {"conv": "#9ecae1", "pool": "#fdae6b", "linear": "#a1d99b", "other": "#d9d9d9", "merge": "#fff3b0"}
GAP = 18          # between two items without a window
WINDOW_GAP = 44   # before a box produced by a kernel or pooling window (room for the window glyph)
ROW_GAP = 46
LABEL_DY = 14     # the label's line height
CHAR = 6.1        # average glyph width of the 10px label font


def _px(n, base, scale):
    """Log-scaled pixel length of a dimension n >= 1: strictly increasing in n."""
    return base + scale * math.log2(n)


def box_size(shape):
    """(height, depth, thickness) in pixels of the box drawn for a feature map or vector ``shape``.

    Map (C, H, W): height = 10 + 13 log2 H, depth = 4 + 6 log2 W, thickness = 4 + 5 log2 C; a (C, L)
    signal or (L, D) tokens are drawn as (C, 1, L), a (C, D, H, W) volume by its last two axes (the
    label keeps every axis). Vector (F,): a thin slab of height 10 + 11 log2 F. Each is strictly
    increasing in its dimension.
    """
    if len(shape) >= 2:
        c, h, w = _chw(shape)
        return _px(h, 10, 13), _px(w, 4, 6), _px(c, 4, 5)
    return _px(shape[0] if shape else 1, 10, 11), 6.0, 6.0


def _chw(shape):
    """(C, H, W) to draw for a map with 1 to 3 spatial axes."""
    return (shape[0], 1, shape[1]) if len(shape) == 2 else (shape[0], shape[-2], shape[-1])


def _hw(values):
    """The last two of a per-axis tuple (kernel, stride), a 1-D one as (1, v)."""
    return (1, values[0]) if len(values) == 1 else tuple(values[-2:])


def _kind(layer):
    name = layer.type
    if "Pool" in name:
        return "pool"
    if "Conv" in name:
        return "conv"
    if name == "Linear":
        return "linear"
    return "other"


def _starts_box(row):
    """A row gets its own box when it has a window or weights of its own or changes the shape."""
    layer = row.layer
    return layer.windowed or _kind(layer) != "other" or tuple(row.output_shape) != tuple(row.input_shape)


class _Box:
    """One feature map: the row that made it plus the shape-preserving rows merged into it."""

    def __init__(self, row):
        self.row = row
        self.rows = [row]

    @property
    def shape(self):
        return self.row.output_shape

    def signature(self):
        return ("box", tuple(r.type for r in self.rows), _window(self.row.layer))


class _Block:
    """A branching block: branches (lists of items) that meet at a merge row (Add or Concat)."""

    def __init__(self, branches, merge_row):
        self.branches = branches
        self.row = merge_row
        self.rows = [merge_row]  # the merge and the rows merged after it (the block's post activation)
        self.fold = 1
        self.folded_rows = []
        self.last_shape = None

    @property
    def shape(self):
        return self.last_shape or self.rows[-1].output_shape

    def signature(self):
        return ("block", self.row.type, tuple(tuple(i.signature() for i in b) for b in self.branches))

    def all_rows(self):
        out = []
        for branch in self.branches:
            for item in branch:
                out.extend(_rows_of(item))
        return out + self.rows


def _rows_of(item):
    if isinstance(item, _Block):
        return item.all_rows() + item.folded_rows
    if isinstance(item, _Wire):
        return list(item.rows)
    return list(item.rows) + getattr(item, "folded_rows", [])


class _Wire:
    """A branch without a box of its own (identity shortcut, or only shape-preserving layers)."""

    def __init__(self, rows):
        self.rows = rows

    def signature(self):
        return ("wire", tuple(r.type for r in self.rows))


def _window(layer):
    k = getattr(layer, "kernel_size", None)
    s = getattr(layer, "stride", None)
    return None if k is None else (tuple(k), tuple(s) if s is not None else tuple(k))


class _Frame:
    """An open branching block while ``structure`` scans the rows: its spans and the branches so far."""

    def __init__(self, spans):
        self.spans = spans
        self.branches = [[]]

    def advance(self, i):
        """Start the branches up to the one holding row i (rows of a block's branches are contiguous)."""
        while self.spans and len(self.branches) < len(self.spans) and i >= self.spans[len(self.branches) - 1][1]:
            self.branches.append([])


def structure(report):
    """The report's rows as a tree of items (boxes and branching blocks), from the rows' branch spans
    (no recursion: a merge row closes the innermost open block)."""
    rows = report.layers
    starts = {}  # row index -> merge rows of the blocks starting there
    for m, row in enumerate(rows):
        if row.is_merge:
            starts.setdefault(row.spans[0][0], []).append(m)
    frames = [_Frame(())]
    for i, row in enumerate(rows):
        frames[-1].advance(i)
        for m in sorted(starts.get(i, ()), reverse=True):  # outermost first
            frames.append(_Frame(rows[m].spans))
            frames[-1].advance(i)
        if row.is_merge:
            frame = frames.pop()
            frame.branches += [[] for _ in range(len(frame.spans) - len(frame.branches))]
            frames[-1].branches[-1].append(_Block([_close(b) for b in frame.branches], row))
        else:
            _append(frames[-1].branches[-1], row)
    return [_Box(_InputRow(report.input_shape))] + _close(frames[0].branches[0])


class _InputRow:
    """The network's input, drawn as the first box."""

    name = "input"
    type = "Input"
    layer = Identity()

    def __init__(self, shape):
        self.input_shape = self.output_shape = shape


def _append(items, row):
    if _starts_box(row):
        items.append(_Box(row))
    elif items:
        items[-1].rows.append(row)
    else:
        items.append(_Wire([row]))


def _close(items):
    """Shape-preserving rows that open a branch join its first box; alone they stay a wire."""
    if len(items) > 1 and isinstance(items[0], _Wire) and isinstance(items[1], _Box):
        wire = items.pop(0)
        items[0].rows[:0] = wire.rows
    return items


def count_boxes(items):
    n = 0
    for item in items:
        if isinstance(item, _Box):
            n += 1
        elif isinstance(item, _Block):
            n += 1 + sum(count_boxes(b) for b in item.branches)
    return n


def fold(items):
    """Fold runs of consecutive blocks with the same structure into their first block, marked xN."""
    out = []
    for item in items:
        if isinstance(item, _Block):
            item.branches = [fold(b) for b in item.branches]
        last = out[-1] if out else None
        if isinstance(item, _Block) and isinstance(last, _Block) and last.signature() == item.signature():
            last.fold += 1
            last.folded_rows.extend(item.all_rows() + item.folded_rows)
            last.last_shape = item.shape
            continue
        out.append(item)
    return out


# ---- drawing -------------------------------------------------------------------------------------


class _Canvas:
    def __init__(self):
        self.parts = []

    def add(self, text):
        self.parts.append(text)

    def text(self, x, y, s, size=10, anchor="middle", weight="normal", fill="#222"):
        self.add(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' font-weight='{weight}' "
                 f"fill='{fill}'>{escape(str(s))}</text>")

    def line(self, points, color="#555", width=1.2, dash=None, arrow=False):
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        extra = f" stroke-dasharray='{dash}'" if dash else ""
        extra += " marker-end='url(#arrow)'" if arrow else ""
        self.add(f"<path d='{d}' fill='none' stroke='{color}' stroke-width='{width}'{extra}/>")


def _title(rows):
    lines = []
    for r in rows:
        lines.append(f"{r.name or r.type} ({r.type}): {format_shape(r.input_shape)} -> {format_shape(r.output_shape)}")
    return "<title>" + escape("\n".join(lines)) + "</title>"


def _short(name):
    """The last part of a dotted name, with its parents while the part is an index or a generic name."""
    parts = name.split(".") if name else []
    n = 1
    while n < len(parts) and (parts[-n].isdigit() or parts[-n] in _GENERIC):
        n += 1
    return ".".join(parts[-n:])


_GENERIC = ("conv", "bn", "relu", "pool", "norm")


def _shape_label(shape):
    if len(shape) == 3:
        c, h, w = shape
        return f"{c}@{h}x{w}"
    return format_shape(shape)


class _Drawer:
    """Measures and draws items; every measure returns (width, up, down) around the item's centre line."""

    def __init__(self, canvas):
        self.c = canvas

    # --- boxes
    def box_measure(self, box):
        h, d, t = box_size(box.shape)
        dx, dy = d * 0.7, d * 0.5
        label = max(len(_short(box.row.name)), len(_shape_label(box.shape))) * CHAR
        body = t + dx
        width = max(body, label)
        lead = WINDOW_GAP if _window(box.row.layer) else GAP
        return lead + width, h / 2 + dy, h / 2 + 2 * LABEL_DY + 4

    def box_draw(self, box, x, cy):
        h, d, t = box_size(box.shape)
        dx, dy = d * 0.7, d * 0.5
        width, _, _ = self.box_measure(box)
        win = _window(box.row.layer)
        lead = WINDOW_GAP if win else GAP
        body = t + dx
        left = x + lead + (width - lead - body) / 2
        top = cy - h / 2
        color = COLORS[_kind(box.row.layer)]
        c = self.c
        c.line([(x, cy), (left, cy)], arrow=not win)
        c.add(f"<g class='box' data-name='{escape(box.row.name)}' data-shape='{escape(format_shape(box.shape))}' "
              f"data-height='{h:.3f}' data-depth='{d:.3f}' data-thickness='{t:.3f}'>{_title(_rows_of(box))}")
        # front face, top face, side face of the cuboid
        c.add(f"<rect x='{left:.1f}' y='{top:.1f}' width='{t:.1f}' height='{h:.1f}' fill='{color}' stroke='#333' stroke-width='0.8'/>")
        c.add(f"<polygon points='{left:.1f},{top:.1f} {left + dx:.1f},{top - dy:.1f} {left + t + dx:.1f},{top - dy:.1f} "
              f"{left + t:.1f},{top:.1f}' fill='{color}' fill-opacity='0.6' stroke='#333' stroke-width='0.8'/>")
        c.add(f"<polygon points='{left + t:.1f},{top:.1f} {left + t + dx:.1f},{top - dy:.1f} {left + t + dx:.1f},{top + h - dy:.1f} "
              f"{left + t:.1f},{top + h:.1f}' fill='{color}' fill-opacity='0.85' stroke='#333' stroke-width='0.8'/>")
        c.add("</g>")
        if win:
            self.window_draw(box.row.layer, win, x, left, cy, h)
        label_x = left + body / 2
        c.text(label_x, cy + h / 2 + LABEL_DY, _short(box.row.name) or box.row.type, size=9, fill="#444")
        c.text(label_x, cy + h / 2 + 2 * LABEL_DY, _shape_label(box.shape), size=10, weight="bold")
        return x + width

    def window_draw(self, layer, win, x, left, cy, h):
        """The kernel or pooling window as a small square in the gap, with lines to the map it produces."""
        (kh, kw), (sh, sw) = (_hw(v) for v in win)
        side = min(6 + 3 * max(kh, kw), 26)
        gx = x + 4
        gy = cy - side / 2
        color = "#c0392b" if _kind(layer) == "pool" else "#1f5f99"
        c = self.c
        c.add(f"<g class='window' data-kernel='{kh}x{kw}' data-stride='{sh}x{sw}'>")
        c.add(f"<rect x='{gx:.1f}' y='{gy:.1f}' width='{side:.1f}' height='{side:.1f}' fill='{color}' fill-opacity='0.25' "
              f"stroke='{color}' stroke-width='1'/>")
        c.line([(gx + side, gy), (left, cy - min(h / 4, 8))], color=color, width=0.8)
        c.line([(gx + side, gy + side), (left, cy + min(h / 4, 8))], color=color, width=0.8)
        k = f"{kh}" if kh == kw else f"{kh}x{kw}"
        s = f"{sh}" if sh == sw else f"{sh}x{sw}"
        c.text(gx + side / 2, gy - 3, f"{k}/{s}", size=8, fill=color)
        c.add("</g>")

    # --- wires and blocks
    def measure(self, item):
        if isinstance(item, _Box):
            return self.box_measure(item)
        if isinstance(item, _Wire):
            return 24, 4, 4
        return self.block_measure(item)

    def draw(self, item, x, cy):
        if isinstance(item, _Box):
            return self.box_draw(item, x, cy)
        if isinstance(item, _Wire):
            self.c.line([(x, cy), (x + 24, cy)])
            return x + 24
        return self.block_draw(item, x, cy)

    def seq_measure(self, items):
        if not items:
            return 24, 4, 4
        sizes = [self.measure(i) for i in items]
        return sum(s[0] for s in sizes), max(s[1] for s in sizes), max(s[2] for s in sizes)

    def seq_draw(self, items, x, cy):
        if not items:
            self.c.line([(x, cy), (x + 24, cy)])
            return x + 24
        for item in items:
            x = self.draw(item, x, cy)
        return x

    def _branch_layout(self, block):
        """Each branch's (offset of its centre line from the block's centre line, its measure)."""
        sizes = [self.seq_measure(b) for b in block.branches]
        offsets, y = [], 0.0
        for i, (_, up, down) in enumerate(sizes):
            if i:
                y += up + 10
            offsets.append(y)
            y += down
        shift = (offsets[-1] / 2) if len(sizes) > 2 else 0.0
        return [o - shift for o in offsets], sizes

    def block_measure(self, block):
        offsets, sizes = self._branch_layout(block)
        inner = max(s[0] for s in sizes)
        up = max(s[1] - o for o, s in zip(offsets, sizes))
        down = max(s[2] + o for o, s in zip(offsets, sizes))
        label = max(len(_shape_label(block.shape)), len(_short(block.row.name))) * CHAR
        return 16 + inner + 30 + label, max(up, 16) + (18 if block.fold > 1 else 0), max(down, 12 + 2 * LABEL_DY)

    def block_draw(self, block, x, cy):
        offsets, sizes = self._branch_layout(block)
        width, up, down = self.block_measure(block)
        inner = max(s[0] for s in sizes)
        split, node = x + 8, x + 16 + inner + 14
        c = self.c
        c.line([(x, cy), (split, cy)])
        kind = block.row.type
        c.add(f"<g class='block' data-kind='{kind}' data-name='{escape(block.row.name)}' data-branches='{len(block.branches)}' "
              f"data-fold='{block.fold}'>{_title(block.rows)}")
        for off, branch in zip(offsets, block.branches):
            by = cy + off
            c.line([(split, cy), (split, by), (x + 16, by)])
            end = self.seq_draw(branch, x + 16, by)
            identity = not branch or all(isinstance(i, _Wire) for i in branch)
            c.line([(end, by), (node, by), (node, cy)], dash="4,3" if identity else None)
        symbol = {"Add": "+", "Mul": "×"}.get(kind, "C")
        c.add(f"<circle cx='{node:.1f}' cy='{cy:.1f}' r='9' fill='{COLORS['merge']}' stroke='#333'/>")
        c.text(node, cy + 4, symbol, size=11, weight="bold")
        c.add("</g>")
        c.line([(node + 9, cy), (x + width, cy)])
        c.text(node + 8, cy + 6 + LABEL_DY, _short(block.row.name) or kind, size=9, anchor="start", fill="#444")
        c.text(node + 8, cy + 6 + 2 * LABEL_DY, _shape_label(block.shape), size=10, anchor="start", weight="bold")
        if block.fold > 1:
            top = cy - up + 14
            c.text(x + 8, top - 2, f"x{block.fold} identical blocks, first drawn", size=11,
                   anchor="start", weight="bold", fill="#b30000")
            c.add(f"<rect x='{x + 2:.1f}' y='{top - 16:.1f}' width='{width - 4:.1f}' height='{cy + down - top + 18:.1f}' "
                  f"fill='none' stroke='#b30000' stroke-dasharray='6,3' rx='6'>{_title(block.folded_rows)}</rect>")
        return x + width


def _concrete(report, what):
    dims = list(report.input_shape)
    for row in report.layers:
        dims.extend(row.output_shape)
    if not all(known(d) for d in dims):
        raise ShapeError(f"{what}: drawing needs a concrete input shape, got {format_shape(report.input_shape)}")


def _header(width, height):
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
            f"viewBox='0 0 {width:.0f} {height:.0f}' {FONT}>"
            "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='6' markerHeight='6' "
            "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>"
            f"<rect width='100%' height='100%' fill='white'/>")


def svg(report, *, max_width=1500, max_boxes=90, fold_repeats=None) -> str:
    """The architecture drawing of ``report`` as an SVG document (text).

    Rows wrap at ``max_width`` pixels. ``fold_repeats``: fold runs of identical blocks (True), never
    (False), or only when the network has more than ``max_boxes`` boxes (None, the default).
    """
    _concrete(report, "svg")
    items = structure(report)
    boxes = count_boxes(items)
    folded = fold_repeats if fold_repeats is not None else boxes > max_boxes
    if folded:
        items = fold(items)
    canvas = _Canvas()
    drawer = _Drawer(canvas)
    margin, top = 24, 64
    # the input map as the first box
    lines: list = []
    line: list = []
    used = 0.0
    for item in items:
        w = drawer.measure(item)[0]
        if line and used + w > max_width - 2 * margin:
            lines.append(line)
            line, used = [], 0.0
        line.append(item)
        used += w
    if line:
        if lines and used < 120:  # a lone narrow tail (the classifier) rides on the previous row
            lines[-1].extend(line)
        else:
            lines.append(line)
    y = top
    widest = 0.0
    ends: list = []
    for i, line in enumerate(lines):
        _, up, down = drawer.seq_measure(line)
        cy = y + up
        if i:
            px, py, pdown = ends[-1]
            mid = py + pdown + ROW_GAP / 2
            canvas.line([(px, py), (px + 10, py), (px + 10, mid), (margin - 10, mid), (margin - 10, cy), (margin, cy)])
        end = drawer.seq_draw(line, margin, cy)
        canvas.line([(end, cy), (end + 10, cy)], arrow=i == len(lines) - 1)
        ends.append((end, cy, down))
        widest = max(widest, end + 20)
        y = cy + down + ROW_GAP
    legend_y = y
    width = max(widest + margin, 900)
    height = _legend(canvas, margin, legend_y, folded, boxes)
    title = (f"{report.name}: input {format_shape(report.input_shape)}, output {format_shape(report.output_shape)}, "
             f"{report.params:,} params, {report.macs:,} MACs")
    head = _header(width, height)
    body = [f"<text x='{margin}' y='30' font-size='16' font-weight='bold' fill='#111'>{escape(title)}</text>"]
    rf = report.receptive_field
    if rf is not None:
        size, stride = ("x".join(str(v) for v in values) for values in (rf.size, rf.stride))
        body.append(f"<text x='{margin}' y='48' font-size='11' fill='#444'>receptive field {size}, "
                    f"stride {stride}; hover a box for its layers</text>")
    return head + "".join(body) + "".join(canvas.parts) + "</svg>\n"


def _legend(c, x, y, folded, boxes):
    c.add("<g class='legend'>")
    c.text(x, y, "Legend", size=12, anchor="start", weight="bold")
    y += 18
    entries = [("conv", "convolution output"), ("pool", "pooling output"), ("linear", "fully connected output"),
               ("other", "reshape / adaptive pool / other")]
    cx = x
    for kind, text in entries:
        c.add(f"<rect x='{cx}' y='{y - 10}' width='14' height='14' fill='{COLORS[kind]}' stroke='#333' stroke-width='0.8'/>")
        c.text(cx + 20, y + 1, text, anchor="start")
        cx += 40 + len(text) * CHAR
    y += 22
    c.add(f"<rect x='{x}' y='{y - 10}' width='12' height='12' fill='#1f5f99' fill-opacity='0.25' stroke='#1f5f99'/>")
    c.text(x + 18, y, "kernel k/s (size/stride)", anchor="start", fill="#1f5f99")
    c.add(f"<rect x='{x + 190}' y='{y - 10}' width='12' height='12' fill='#c0392b' fill-opacity='0.25' stroke='#c0392b'/>")
    c.text(x + 208, y, "pooling window k/s", anchor="start", fill="#c0392b")
    c.add(f"<circle cx='{x + 356}' cy='{y - 4}' r='8' fill='{COLORS['merge']}' stroke='#333'/>")
    c.text(x + 356, y, "+", size=11, weight="bold")
    c.text(x + 370, y, "add (×: product)", anchor="start")
    c.add(f"<circle cx='{x + 476}' cy='{y - 4}' r='8' fill='{COLORS['merge']}' stroke='#333'/>")
    c.text(x + 476, y, "C", size=11, weight="bold")
    c.text(x + 490, y, "channel concat (dashed: identity branch)", anchor="start")
    y += 20
    c.text(x, y, "Box: height ~ log2 H, oblique depth ~ log2 W, thickness ~ log2 C; label C@HxW. "
                 "BatchNorm, activations and dropout join the box before them (hover for every layer).", anchor="start")
    if folded:
        y += 18
        c.text(x, y, f"Folded: {boxes} maps are too many to draw; a run of N consecutive blocks with the same structure "
                     "is drawn once, marked xN, with the run's last output shape.", anchor="start", fill="#b30000")
    c.add("</g>")
    return y + 20


# ---- receptive-field plot --------------------------------------------------------------------------


def _spatial_rows(report):
    """Rows up to the last one that still has a receptive field (before global pooling or flatten)."""
    rows = []
    for row in report.layers:
        if row.receptive_field is None or len(row.output_shape) != 3:
            break
        rows.append(row)
    return rows


def _traced_region(report, row, i, j):
    """((top, bottom), (left, right)), ends excluded, of the input pixels output pixel (i, j) of ``row`` reads."""
    from ..trace import Tracer

    tracer, index = Tracer(report.layers), report.layers.index(row)
    hulls = tracer.hull(index, 0, i), tracer.hull(index, 1, j)
    return None if None in hulls else tuple((lo, hi + 1) for lo, hi in hulls)


def _log_axis(c, x0, y0, w, h, lo, hi, title, series, n, legend_right=False):
    """A panel: x = layer index 1..n, y = log2 scale from lo to hi, each series a list of values."""
    lo_e, hi_e = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    hi_e = max(hi_e, lo_e + 1)

    def ty(v):
        return y0 + h - (math.log2(v) - lo_e) / (hi_e - lo_e) * h

    def tx(i):
        return x0 + (i + 0.5) * w / n

    c.add(f"<rect x='{x0}' y='{y0}' width='{w}' height='{h}' fill='#fafafa' stroke='#888'/>")
    c.text(x0 + w / 2, y0 - 10, title, size=13, weight="bold")
    step = 1 if hi_e - lo_e <= 10 else 2
    for e in range(lo_e, hi_e + 1, step):
        yy = ty(2 ** e)
        c.line([(x0, yy), (x0 + w, yy)], color="#e0e0e0", width=0.8)
        c.text(x0 - 6, yy + 3, f"{2 ** e:,}", size=9, anchor="end", fill="#555")
    c.text(x0 + w / 2, y0 + h + 78, "layer (in order)", size=10, fill="#555")
    for color, label, values in series:
        pts = [(tx(i), ty(v)) for i, v in enumerate(values)]
        c.add(f"<g class='series' data-label='{escape(label)}'>")
        c.line(pts, color=color, width=1.6)
        for px, py in pts:
            c.add(f"<circle cx='{px:.1f}' cy='{py:.1f}' r='{2.2 if n < 80 else 1.2}' fill='{color}'/>")
        c.add("</g>")
    lx = x0 + w - 200 if legend_right else x0 + 8  # the legend sits where the curves are not
    for i, (color, label, _) in enumerate(series):
        c.add(f"<rect x='{lx}' y='{y0 + 8 + 16 * i}' width='10' height='10' fill='{color}'/>")
        c.text(lx + 16, y0 + 17 + 16 * i, label, size=10, anchor="start")
    return tx


def rf_plot(report) -> str:
    """Receptive field and feature-map size per layer (two log-scale panels), and one output pixel's
    receptive field over the input grid, as an SVG document (text)."""
    _concrete(report, "rf_plot")
    if len(report.input_shape) in (2, 4):
        raise ShapeError(f"rf_plot draws (C, H, W) maps: the input {format_shape(report.input_shape)} has "
                         f"{len(report.input_shape) - 1} axes after the channels")
    rows = _spatial_rows(report)
    if not rows or len(report.input_shape) != 3:
        raise ShapeError(f"rf_plot: {report.name} has no layer with a spatial receptive field (input {format_shape(report.input_shape)})")
    c = _Canvas()
    n = len(rows)
    rfs = [r.receptive_field for r in rows]
    sizes = [max(rf.size) for rf in rfs]
    strides = [max(rf.stride) for rf in rfs]
    maps = [max(r.output_shape[1], r.output_shape[2]) for r in rows]
    in_h, in_w = report.input_shape[1], report.input_shape[2]
    pw, ph, x0, y0 = 560, 300, 70, 70
    series = [("#1f77b4", "receptive field size (pixels)", sizes), ("#ff7f0e", "effective stride (jump)", strides)]
    tx_left = _log_axis(c, x0, y0, pw, ph, 1, max(sizes + strides + [2]), "Receptive field per layer", series, n)
    x1 = x0 + pw + 90
    tx = _log_axis(c, x1, y0, pw, ph, 1, max(maps + [in_h, in_w, 2]), "Feature-map size per layer (max of H, W)",
                   [("#2ca02c", "feature-map size (pixels)", maps)], n, legend_right=True)
    # name the layers that change the map size (at most 24), under both panels
    sizing = [i for i, r in enumerate(rows) if r.output_shape[1:] != r.input_shape[1:]][:24]
    for axis in (tx_left, tx):
        last_x = -1e9
        for i in sizing:
            xx, label = axis(i), _short(rows[i].name) or rows[i].type
            if xx - last_x < 11:  # neighbours (a block's conv, its shortcut, its add) would overprint
                continue
            last_x = xx
            c.add(f"<text x='{xx:.1f}' y='{y0 + ph + 10}' font-size='8' fill='#777' text-anchor='end' "
                  f"transform='rotate(-60 {xx:.1f} {y0 + ph + 10})'>{escape(label)}</text>")
    last = rows[-1]
    rf = last.receptive_field
    oh, ow = last.output_shape[1], last.output_shape[2]
    i, j = (oh - 1) // 2, (ow - 1) // 2
    top, left = rf.start[0] + i * rf.stride[0], rf.start[1] + j * rf.stride[1]
    bottom, right = top + rf.size[0], left + rf.size[1]
    traced = last.traced and _traced_region(report, last, i, j)
    if traced:  # after upsampling each output pixel's region is its own: traced, not start + i*stride
        (top, bottom), (left, right) = traced
    # overlay panel: the input image, its padding reach and the region
    oy = y0 + ph + 130
    lo_r, lo_c = min(0, top), min(0, left)
    hi_r, hi_c = max(in_h, bottom), max(in_w, right)
    span = max(hi_r - lo_r, hi_c - lo_c)
    scale = 420 / span
    ox = x0 + 40

    def px(col):
        return ox + (col - lo_c) * scale

    def py(row):
        return oy + (row - lo_r) * scale

    c.text(x0, oy - 16, f"Receptive field of output pixel ({i}, {j}) of {last.name or last.type} "
                        f"({oh}x{ow} map) on the {in_h}x{in_w} input", size=13, anchor="start", weight="bold")
    c.add(f"<g class='overlay' data-pixel='{i},{j}' data-rows='{top},{bottom}' data-cols='{left},{right}'>")
    c.add(f"<rect x='{px(0):.1f}' y='{py(0):.1f}' width='{in_w * scale:.1f}' height='{in_h * scale:.1f}' fill='#eef3f8' stroke='#333'/>")
    grid = max(1, rf.stride[0])
    if in_h / grid <= 64:
        for r_ in range(grid, in_h, grid):
            c.line([(px(0), py(r_)), (px(in_w), py(r_))], color="#c9d6e3", width=0.5)
    grid_w = max(1, rf.stride[1])
    if in_w / grid_w <= 64:
        for c_ in range(grid_w, in_w, grid_w):
            c.line([(px(c_), py(0)), (px(c_), py(in_h))], color="#c9d6e3", width=0.5)
    c.add(f"<rect x='{px(left):.1f}' y='{py(top):.1f}' width='{(right - left) * scale:.1f}' height='{(bottom - top) * scale:.1f}' "
          f"fill='#d62728' fill-opacity='0.18' stroke='#d62728' stroke-width='2' stroke-dasharray='6,3'/>")
    cy_, cx_ = py((top + bottom) / 2), px((left + right) / 2)
    c.add(f"<circle cx='{cx_:.1f}' cy='{cy_:.1f}' r='3' fill='#d62728'/>")
    c.add("</g>")
    notes = [
        f"input image: rows 0..{in_h - 1}, columns 0..{in_w - 1} (grid lines every stride = {rf.stride[0]}x{rf.stride[1]} pixels)",
        f"region (dashed red): rows {top}..{bottom - 1}, columns {left}..{right - 1}: {bottom - top}x{right - left} pixels",
        "traced pixel by pixel: after a transposed convolution regions differ in size; the part outside the image is zero padding"
        if traced else f"start = {rf.start[0]},{rf.start[1]} + ({i},{j}) x stride {rf.stride[0]},{rf.stride[1]}; "
        "the part outside the image is zero padding",
        f"{n} layers with a spatial map; the model's receptive field is {rf.size[0]}x{rf.size[1]}",
    ]
    for k, note in enumerate(notes):
        c.text(ox + 440, oy + 20 + 18 * k, note, size=11, anchor="start", fill="#333")
    width = x1 + pw + 40
    height = oy + max(span * scale, 80) + 40
    title = f"{report.name}: receptive field, input {format_shape(report.input_shape)}"
    return (_header(width, height) + f"<text x='{x0}' y='28' font-size='16' font-weight='bold' fill='#111'>{escape(title)}</text>"
            + "".join(c.parts) + "</svg>\n")


__all__ = ["svg", "rf_plot", "box_size", "structure"]
