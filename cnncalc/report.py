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
    """Bytes for one dtype and batch (see docs/memory.md).

    ``input_bytes``, ``forward_bytes``, ``forward_backward_bytes``, ``params_bytes`` and ``total_bytes``
    follow torchinfo's rules exactly: the forward pass size is the output of every leaf layer that has
    parameters (no other layer), doubled for the backward pass, and the total is input + forward/backward
    + parameters. ``saved_for_backward`` is what PyTorch's autograd really keeps for a training step in
    train mode (``cnncalc.memory``: one count per storage, parameters excluded, the input and the
    BatchNorm running statistics included when an operation saves them); ``training_step(optimizer)``
    adds parameters, buffers, gradients and optimizer state. Both are None for int8 (no training).
    """

    dtype: str
    batch: Dim
    input_bytes: Dim
    forward_bytes: Dim
    forward_backward_bytes: Dim
    params_bytes: Dim
    buffers_bytes: Dim
    total_bytes: Dim
    saved_for_backward: object = None
    saved: object = None  # memory.Saved: the activations, input and buffers in saved_for_backward
    gradient_bytes: object = 0  # one gradient per trainable parameter
    parameter_tensors: int = 0  # trainable parameter tensors (Adam's step counters)
    batchnorm_counters: int = 0  # BatchNorm num_batches_tracked buffers (int64 each)

    @property
    def inputs(self):
        return self.input_bytes

    @property
    def params(self):
        return self.params_bytes

    @property
    def buffers(self):
        return self.buffers_bytes

    def optimizer_state(self, optimizer="sgd"):
        """Bytes of torch.optim state after a step: none for plain SGD, the momentum buffer (one per
        parameter) for SGD with momentum, and for Adam exp_avg and exp_avg_sq plus a float32 step
        counter per parameter tensor."""
        from .memory import ADAM_STEP_BYTES, OPTIMIZER_STATES

        if optimizer not in OPTIMIZER_STATES:
            raise ShapeError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZER_STATES)}")
        steps = self.parameter_tensors * ADAM_STEP_BYTES if optimizer == "adam" else 0
        return OPTIMIZER_STATES[optimizer] * self.gradient_bytes + steps

    def training_step(self, optimizer="sgd"):
        """Bytes held at the end of a training step's forward pass: parameters, buffers (with BatchNorm's
        int64 counters), the input, gradients, optimizer state and the saved activations, every storage once."""
        state = self.optimizer_state(optimizer)
        if self.saved is None:
            return None
        from .memory import NUM_BATCHES_TRACKED_BYTES

        return (self.params_bytes + self.buffers_bytes + self.batchnorm_counters * NUM_BATCHES_TRACKED_BYTES
                + self.input_bytes + self.gradient_bytes + state + self.saved.activations)

    def to_dict(self) -> dict:
        """The JSON "memory" object: bytes, with the training step for each optimizer."""
        out = {"dtype": self.dtype, "batch": to_json_value(self.batch), "inputs": self.input_bytes, "params": self.params_bytes,
               "buffers": self.buffers_bytes, "saved_for_backward": self.saved_for_backward,
               "training_step": {o: self.training_step(o) for o in ("sgd", "momentum", "adam")},
               "torchinfo": {"forward_backward_pass": self.forward_backward_bytes, "total": self.total_bytes}}
        return {k: _json_tree(v) for k, v in out.items()}


def _json_tree(value):
    if isinstance(value, dict):
        return {k: _json_tree(v) for k, v in value.items()}
    return value if value is None or isinstance(value, str) else to_json_value(value)


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
        """Input, parameter and activation memory in bytes: torchinfo's estimate and what autograd saves
        for a training step (``Memory``, docs/memory.md)."""
        from . import memory

        if dtype not in DTYPE_BYTES:
            raise ShapeError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPE_BYTES)}")
        size = DTYPE_BYTES[dtype]
        batch = self.batch if batch is None else as_dim(batch, "batch")
        inputs = product(self.input_shape) * batch * size
        # torchinfo: the outputs of leaf layers with parameters, twice (forward and backward)
        forward = sum((r.output_numel for r in self.layers if not r.is_merge and r.layer.params), 0) * batch * size
        params = self.params * size
        buffers = self.buffers * size
        training = {}
        kept = memory.saved(self, dtype, batch) if dtype != "int8" else None  # None: int8, or a layer without a rule
        if kept is not None:
            training = dict(saved_for_backward=kept.total, saved=kept, gradient_bytes=self.trainable_params * size,
                            parameter_tensors=memory.parameter_tensors(self),
                            batchnorm_counters=memory.num_batches_tracked(self))
        return Memory(dtype, batch, inputs, forward, 2 * forward, params, buffers, inputs + 2 * forward + params, **training)

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
        out["memory"] = self.memory().to_dict()
        if self.assumptions:
            out["assumptions"] = self.assumptions
        return out

    def __repr__(self):
        return (
            f"Report({self.name}, input={format_shape(self.input_shape)}, output={format_shape(self.output_shape)}, "
            f"params={self.params}, macs={self.macs})"
        )
