"""The numbers of one analysis: ``Report`` (totals, memory, JSON), its ``Row``s and ``Memory``.

Numbers only: nothing here draws or prints. Renderers (``cnncalc.render``) import this module, never
the other way round; the package wires the notebook display onto these classes (``cnncalc/__init__``).
"""

from __future__ import annotations

from typing import NamedTuple

from .dims import Dim, as_dim, format_shape, product, to_json_value
from .errors import ShapeError
from .graph import INPUT
from .receptive_field import ReceptiveField

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}

__all__ = ["Report", "Row", "Memory", "DTYPE_BYTES", "ReceptiveField"]


class Row:
    """One line of the report: a leaf layer, or the merge (Add/Mul/Concat) that closes a branching block.

    ``inputs`` are the indices of the rows whose outputs this row reads (``graph.INPUT`` for the model
    input), ``input_shapes`` their shapes and ``rf_in`` the receptive field entering through the first.
    A merge's ``input_shape`` is its block's input; ``spans`` give the rows of each branch.
    """

    __slots__ = ("name", "layer", "input_shape", "output_shape", "params", "macs", "receptive_field",
                 "local_receptive_field", "kind", "shared", "traced", "inputs", "input_shapes", "rf_in", "spans")

    def __init__(self, name, layer, input_shape, output_shape, params, macs, rf, kind, shared=False, *,
                 inputs=(INPUT,), input_shapes=None, rf_in=None, local_rf=None, spans=()):
        self.name = name
        self.layer = layer
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.params = params
        self.macs = macs
        self.receptive_field = rf
        self.local_receptive_field = rf if local_rf is None else local_rf
        self.kind = kind
        self.shared = shared
        self.traced = False  # the receptive field was traced pixel by pixel (after upsampling), not recurred
        self.inputs = inputs
        self.input_shapes = (input_shape,) if input_shapes is None else input_shapes
        self.rf_in = rf_in
        self.spans = spans

    @property
    def type(self) -> str:
        return self.kind

    @property
    def depth(self) -> int:
        return self.name.count(".") + 1 if self.name else 0

    @property
    def is_merge(self) -> bool:
        return self.layer is not None and not self.layer.is_leaf

    @property
    def flops(self):
        return 2 * self.macs

    @property
    def trainable(self) -> bool:
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
    def extra_ops(self) -> dict:
        if self.is_merge:
            if self.kind in ("Add", "Sub", "Mul", "Div"):
                return {self.kind.lower(): product(self.output_shape)}
            return {}
        return self.layer.extra_ops(self.input_shape, self.output_shape)

    @property
    def output_numel(self):
        return product(self.output_shape)

    def to_dict(self) -> dict:
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
    batch: Dim
    input_bytes: Dim
    forward_bytes: Dim
    forward_backward_bytes: Dim
    params_bytes: Dim
    buffers_bytes: Dim
    total_bytes: Dim


class Report:
    """The analysis of one network on one input shape (see docs/contract.md)."""

    def __init__(self, model, input_shape, rows, output_shape, receptive_field, warnings, batch=1, name=None,
                 assumptions=(), local_receptive_field=None):
        self.model = model
        self.name = name or getattr(model, "zoo_name", None) or type(model).__name__
        self.input_shape = input_shape
        self.layers = rows
        self.output_shape = output_shape
        self.receptive_field = receptive_field
        self.local_receptive_field = receptive_field if local_receptive_field is None else local_receptive_field
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
    def extra_ops(self) -> dict:
        """Operations beyond MACs, by kind (bias, norm, activation, pool, add, dropout), for the whole batch."""
        totals: dict = {}
        for row in self.layers:
            for kind, count in row.extra_ops.items():
                totals[kind] = totals.get(kind, 0) + count * self.batch
        return totals

    def memory(self, dtype: str = "float32", batch: Dim | None = None) -> Memory:
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

    def to_dict(self) -> dict:
        """Exactly the CLI's ``--format json`` object (docs/contract.md), plus "assumptions" when symbols need any."""
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

    def __repr__(self):
        return (
            f"Report({self.name}, input={format_shape(self.input_shape)}, output={format_shape(self.output_shape)}, "
            f"params={self.params}, macs={self.macs})"
        )
