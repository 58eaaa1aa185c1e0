"""Walk a network once and produce the report: per-layer rows and totals.

Data flows one way: the model's step list (``graph.program``) is run over a value
``(shape, receptive_field)``; every leaf and every merge becomes a ``Row``. Concrete inputs stay
plain ints end to end (sympy is never imported); symbolic inputs give sympy expressions.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

from .dims import as_dim, as_shape, format_shape, generic_max, generic_min, known, product, to_json_value
from .errors import ShapeError, ShapeWarning
from .graph import LEAF, NEXT, SAVE, program
from .layers import AXES

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}

_START_RF = (1, 1, 1, 1, 0, 0)


class ReceptiveField(NamedTuple):
    """Per-axis (h, w) receptive field: region size, effective stride (jump) and start, in input pixels."""

    size: tuple
    stride: tuple
    start: tuple

    @classmethod
    def from_state(cls, rf):
        return None if rf is None else cls((rf[0], rf[1]), (rf[2], rf[3]), (rf[4], rf[5]))

    def to_dict(self):
        return {key: [to_json_value(v) for v in getattr(self, key)] for key in ("size", "stride", "start")}

    def _repr_latex_(self):
        from .notebook import rf_latex

        return rf_latex(self)


class Row:
    """One line of the report: a leaf layer, or the merge (Add/Concat) that closes a branching block."""

    __slots__ = ("name", "layer", "input_shape", "output_shape", "params", "macs", "_rf", "kind", "shared", "traced")

    def __init__(self, name, layer, input_shape, output_shape, params, macs, rf, kind, shared=False):
        self.name = name
        self.layer = layer
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.params = params
        self.macs = macs
        self._rf = rf
        self.kind = kind
        self.shared = shared
        self.traced = False  # the receptive field was traced pixel by pixel (after upsampling), not recurred

    @property
    def type(self):
        return self.kind

    @property
    def depth(self):
        return self.name.count(".") + 1 if self.name else 0

    @property
    def is_merge(self):
        return not self.layer.is_leaf

    @property
    def receptive_field(self):
        return ReceptiveField.from_state(self._rf)

    @property
    def flops(self):
        return 2 * self.macs

    @property
    def trainable(self):
        return getattr(self.layer, "trainable", True)

    @property
    def weight_params(self):
        return 0 if self.is_merge or self.shared else self.layer.weight_params

    @property
    def bias_params(self):
        return self.params - self.weight_params

    @property
    def trainable_params(self):
        return self.params if self.trainable else 0

    @property
    def buffers(self):
        return 0 if self.is_merge or self.shared else self.layer.buffers

    @property
    def extra_ops(self):
        if self.is_merge:
            if self.kind in ("Add", "Mul"):
                return {self.kind.lower(): product(self.output_shape)}
            return {}
        return self.layer.extra_ops(self.input_shape, self.output_shape)

    @property
    def output_numel(self):
        return product(self.output_shape)

    def to_dict(self):
        rf = self.receptive_field
        return {
            "name": self.name,
            "type": self.type,
            "input_shape": [to_json_value(d) for d in self.input_shape],
            "output_shape": [to_json_value(d) for d in self.output_shape],
            "params": to_json_value(self.params),
            "macs": to_json_value(self.macs),
            "receptive_field": None if rf is None else rf.to_dict(),
        }

    def __repr__(self):
        return f"Row({self.name!r}, {self.type}, {format_shape(self.output_shape)}, params={self.params}, macs={self.macs})"


class Memory(NamedTuple):
    """Bytes for one dtype and batch, torchinfo's conventions: forward+backward keeps each output twice."""

    dtype: str
    batch: object
    input_bytes: object
    forward_bytes: object
    forward_backward_bytes: object
    params_bytes: object
    buffers_bytes: object
    total_bytes: object


class Report:
    """The analysis of one network on one input shape (see CONTRACT.md)."""

    def __init__(self, model, input_shape, rows, output_shape, receptive_field, warnings, batch=1, name=None,
                 assumptions=()):
        self.model = model
        self.name = name or getattr(model, "zoo_name", None) or type(model).__name__
        self.input_shape = input_shape
        self.layers = rows
        self.output_shape = output_shape
        self.receptive_field = ReceptiveField.from_state(receptive_field)
        self.warnings = warnings
        self.assumptions = list(assumptions)  # "layer (Type): expr = value" the symbols must satisfy
        self.batch = batch

    @property
    def params(self):
        return sum((r.params for r in self.layers), 0)

    @property
    def trainable_params(self):
        return sum((r.params for r in self.layers if r.trainable), 0)

    @property
    def non_trainable_params(self):
        return self.params - self.trainable_params

    @property
    def weight_params(self):
        return sum((r.weight_params for r in self.layers), 0)

    @property
    def bias_params(self):
        return self.params - self.weight_params

    @property
    def buffers(self):
        return sum((r.buffers for r in self.layers), 0)

    @property
    def macs(self):
        return sum((r.macs for r in self.layers), 0)

    @property
    def flops(self):
        return 2 * self.macs

    @property
    def extra_ops(self):
        """Operations beyond MACs, by kind (bias, norm, activation, pool, add, dropout), for the whole batch."""
        totals = {}
        for row in self.layers:
            for kind, count in row.extra_ops.items():
                totals[kind] = totals.get(kind, 0) + count * self.batch
        return totals

    def memory(self, dtype="float32", batch=None):
        """Input, activation and parameter memory in bytes, as torchinfo estimates it."""
        if dtype not in DTYPE_BYTES:
            raise ShapeError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPE_BYTES)}")
        size = DTYPE_BYTES[dtype]
        batch = self.batch if batch is None else as_dim(batch, "batch")
        inputs = product(self.input_shape) * batch * size
        forward = sum((r.output_numel for r in self.layers), 0) * batch * size
        params = self.params * size
        buffers = self.buffers * size
        return Memory(dtype, batch, inputs, forward, 2 * forward, params, buffers, inputs + 2 * forward + params + buffers)

    def to_dict(self):
        """Exactly the CLI's ``--format json`` object (CONTRACT.md), plus "assumptions" when symbols need any."""
        out = {
            "model": self.name,
            "input_shape": [to_json_value(d) for d in self.input_shape],
            "layers": [r.to_dict() for r in self.layers],
            "totals": {
                "params": to_json_value(self.params),
                "trainable_params": to_json_value(self.trainable_params),
                "buffers": to_json_value(self.buffers),
                "macs": to_json_value(self.macs),
                "flops": to_json_value(self.flops),
                "output_shape": [to_json_value(d) for d in self.output_shape],
            },
            "receptive_field": None if self.receptive_field is None else self.receptive_field.to_dict(),
        }
        if self.assumptions:
            out["assumptions"] = self.assumptions
        return out

    def to_pandas(self):
        """The layer rows as a pandas DataFrame (needs the optional ``pandas`` extra)."""
        from .notebook import to_pandas

        return to_pandas(self)

    def _repr_html_(self):
        from .notebook import report_html

        return report_html(self)

    def _repr_latex_(self):
        from .notebook import report_latex

        return report_latex(self)

    def __repr__(self):
        return (
            f"Report({self.name}, input={format_shape(self.input_shape)}, output={format_shape(self.output_shape)}, "
            f"params={self.params}, macs={self.macs})"
        )


def _merge(block, name, values):
    """Join branch values (shape, rf): element-wise add (broadcasting, as torch) or channel concat."""
    shapes = [v[0] for v in values]
    label = f"{name or 'model'} ({block.merge_kind()})"
    first = shapes[0]
    if block.merge_kind() in ("Add", "Mul"):
        what = "residual add" if block.merge_kind() == "Add" else "element-wise product"
        out = list(first)
        for other in shapes[1:]:
            if len(other) != len(first) or any(
                known(a) and known(b) and a != b and a != 1 and b != 1 for a, b in zip(out, other)
            ):
                raise ShapeError(f"{label}: {what} of mismatched shapes {_text(shapes[0])} and {_text(other)}{_projection_hint(other, shapes[0])}")
            out = [b if a == 1 else a for a, b in zip(out, other)]
        out = tuple(out)
    else:
        for other in shapes[1:]:
            if len(other) != len(first) or len(first) < 1 or any(
                known(a) and known(b) and a != b for a, b in zip(first[1:], other[1:])
            ):
                raise ShapeError(
                    f"{label}: cannot concatenate {_text(first)} and {_text(other)} along channels: sizes after the channel must match"
                )
        out = (sum((s[0] for s in shapes), 0),) + tuple(first[1:])
    rfs = [v[1] for v in values]
    if any(rf is None for rf in rfs):
        return out, None
    starts_h = [rf[4] for rf in rfs]
    starts_w = [rf[5] for rf in rfs]
    start_h, start_w = generic_min(starts_h), generic_min(starts_w)
    end_h = generic_max(rf[4] + rf[0] for rf in rfs)
    end_w = generic_max(rf[5] + rf[1] for rf in rfs)
    rf = (end_h - start_h, end_w - start_w, generic_max(rf[2] for rf in rfs), generic_max(rf[3] for rf in rfs), start_h, start_w)
    return out, rf


def _text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _projection_hint(shortcut, main):
    """Suggest the 1x1 projection that makes a shortcut of shape ``shortcut`` match ``main``."""
    if len(shortcut) != 3 or len(main) != 3 or not all(known(d) for d in shortcut + main):
        return ""
    stride = shortcut[1] // main[1] if main[1] else 1
    if stride < 1 or -(-shortcut[1] // stride) != main[1]:
        return ""
    return f": use a 1x1 projection shortcut Conv2d({shortcut[0]}, {main[0]}, kernel_size=1, stride={stride})"


def unique_leaves(model):
    """Leaf layers, each object once (a layer used twice shares its parameters, as in PyTorch)."""
    seen = set()
    out = []
    for step in program(model):
        if step[0] == LEAF and id(step[1]) not in seen:
            seen.add(id(step[1]))
            out.append(step[1])
    return out


def analyze(model, input_shape, *, batch=1, name=None, warn=True):
    """Analyse ``model`` (a layer or container) on an unbatched ``input_shape`` such as (3, 224, 224) or "3xHxW"."""
    shape = input_dims = as_shape(input_shape)
    batch = as_dim(batch, "batch")
    steps = program(model)
    rows = []
    seen = set()
    notes = []
    assumptions = []
    rf = _START_RF if len(shape) == 3 else None  # only a (C, H, W) map has a spatial mapping
    model_rf = None if rf is None else -1  # the row whose field is the model's (-1: the input's own)
    rf_open = True
    saved = []
    stashed = []
    upsampled = False
    for step in steps:
        op = step[0]
        if op == LEAF:
            layer, row_name = step[1], step[2]
            upsampled = upsampled or layer.upsamples
            try:
                out = layer.infer(shape)
                macs = layer.macs(shape, out)
            except ShapeError as exc:
                raise ShapeError(f"{row_name} ({layer.type}): {exc}" if row_name else f"{layer.type}: {exc}") from None
            for got, expected in layer.requires(shape):
                if type(got) is not int or type(expected) is not int:
                    _assume(assumptions, row_name, layer.type, got, expected)
            if layer.windowed:
                dropped = layer.dropped(shape)
                if dropped[0] or dropped[1]:
                    notes.append(_truncation_note(row_name, layer, shape, dropped))
            rf = layer.rf_at(rf, shape)
            shared = id(layer) in seen
            seen.add(id(layer))
            if batch != 1:
                macs = macs * batch
            rows.append(Row(row_name, layer, shape, out, 0 if shared else layer.params, macs, rf, layer.type, shared))
            shape = out
        elif op == SAVE:
            saved.append((shape, rf))
            continue
        elif op == NEXT:
            stashed.append((shape, rf))
            shape, rf = saved[-1]
            continue
        else:
            block, row_name, n = step[1], step[2], step[3]
            values = stashed[len(stashed) - (n - 1):] + [(shape, rf)]
            del stashed[len(stashed) - (n - 1):]
            start_shape = saved.pop()[0]
            shape, rf = _merge(block, row_name, values)
            kind = block.merge_kind()
            first = values[0][0]
            for other, _ in values[1:]:  # sizes that must match (after the channels for a concat)
                for got, expected in zip(other[kind == "Concat":], first[kind == "Concat":]):
                    broadcast = kind != "Concat" and (got == 1 or expected == 1)
                    if (type(got) is not int or type(expected) is not int) and not broadcast:
                        _assume(assumptions, row_name, kind, got, expected)
            rows.append(Row(row_name or kind.lower(), block, start_shape, shape, 0, 0, rf, kind))
        if rf_open:
            if rf is None:
                rf_open = False
            else:
                model_rf = len(rows) - 1
    if upsampled:
        _trace_upsampled(model, rows)
    if warn:
        for note in notes:
            warnings.warn(note, ShapeWarning, stacklevel=2)
    model_rf = None if model_rf is None else _START_RF if model_rf == -1 else rows[model_rf]._rf
    return Report(model, input_dims, rows, shape, model_rf, notes, batch, name, assumptions)


def _assume(assumptions, name, kind, got, expected):
    """Record ``got = expected`` when the symbols leave it open (provably unequal was refused in infer)."""
    difference = got - expected
    if not known(difference) and not difference.is_number:
        from .symbolic import pretty

        text = f"{name or kind} ({kind}): {pretty(got)} = {pretty(expected)}"
        if text not in assumptions:  # 3xHxH: both axes need the same
            assumptions.append(text)


def _trace_upsampled(model, rows):
    """Exact fields for the rows after a transposed convolution or an upsampling with stride > 1
    (``trace``), where the windows are numbers; else the recurrence's hull stays."""
    from .trace import Tracer

    tracer = Tracer(model, rows)
    if not tracer.concrete:
        return
    for i, row in enumerate(rows):
        if row._rf is not None and tracer.periods[i] != (1, 1):
            row._rf = tracer.receptive_field(i, row._rf)
            row.traced = True


def _truncation_note(name, layer, shape, dropped):
    parts = []
    for axis, n, lost in zip(AXES, shape[1:], dropped):
        if lost:
            parts.append(f"the last {lost} {'row' if axis == 'height' else 'column'}{'s' if lost > 1 else ''} of {axis} {n}")
    label = f"{name} ({layer.type})" if name else layer.type
    return f"{label}: floor truncation drops {' and '.join(parts)} (no window reaches them)"
