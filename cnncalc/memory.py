"""What autograd keeps for backward in a training step, without running the model.

``saved(report, dtype, batch)`` walks the analysis rows (one per ``graph.flow`` node) as PyTorch's
autograd would run them in train mode and applies one rule per layer type (``RULES``): which tensors
the operation saves for its backward pass. Each tensor is a *storage*; a storage counts once however
many operations save it (a block input read by three convolutions), and an operation that works in
place (``ReLU(inplace=True)``) or returns a view (``Flatten``) hands its input's storage on instead
of making a new one. Parameters are never counted (they are memory of their own); the model input and
BatchNorm's running statistics are, when an operation saves them, and are reported apart.

The rules are PyTorch's (CPU, train mode), as ``torch.autograd.graph.saved_tensors_hooks`` shows them:

- an operation saves nothing unless one of its inputs or its own parameters requires a gradient (the
  input does not: a frozen stem saves nothing);
- convolution (any rank, transposed too) saves its input; Linear saves its input when its weight
  is trained (a frozen Linear needs only the weight);
- BatchNorm saves its input, the batch mean and inverse standard deviation (C values each, in the
  accumulation type: float32 for 16-bit inputs) and the running mean and variance (the buffers);
- ReLU saves its output; LeakyReLU and ELU their input, or in place their output; ReLU6, SiLU,
  Hardswish and Hardsigmoid their input, and in place a copy of it (their in-place backward needs
  the original values); GELU its input; Sigmoid, Tanh and Softmax their output;
- max pooling (and adaptive max pooling) saves its input and int64 indices of the output's size;
  average pooling its input; adaptive average pooling its input, or nothing when the output is 1x1
  (PyTorch computes a mean then); upsampling nothing; reflection and replication padding their
  input; zero and constant padding nothing;
- Dropout saves its noise: the kept-and-scaled mask, one element of the dtype per input element on
  CPU (CUDA saves a bool mask instead), one element per channel for Dropout2d, a single element for
  p = 1 and nothing for p = 0; torchvision's StochasticDepth one element per sample ("row") or one
  ("batch");
- LocalResponseNorm (a composite of PyTorch operations) saves its input, the zero-padded squares
  (C + size - 1 channels) and two tensors of its output's size;
- Flatten, Reshape and Identity are views; a residual addition and a concatenation save nothing;
  an element-wise product saves each operand whose partner requires a gradient.
"""

from __future__ import annotations

from typing import NamedTuple

from .dims import product
from .graph import INPUT

ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
ACCUMULATE = {"float16": "float32", "bfloat16": "float32"}  # BatchNorm's statistics on 16-bit inputs
INDEX_BYTES = 8  # int64 pooling indices
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2}  # state tensors per parameter
ADAM_STEP_BYTES = 4  # Adam's step counter: one float32 scalar tensor per parameter tensor
NUM_BATCHES_TRACKED_BYTES = 8  # BatchNorm's int64 counter (a buffer outside report.buffers)


class Op(NamedTuple):
    """One operation as a rule sees it: the layer, batched input and output shapes, and which inputs
    require a gradient."""

    layer: object
    inputs: tuple  # batched shapes
    output: tuple
    grads: tuple  # per input: does it require a gradient
    trains: bool  # the layer has trainable parameters

    def numel(self, i=0):
        return product(self.inputs[i])


class Saves(NamedTuple):
    """What a rule returns: the tensors saved and whether the output shares the input's storage.

    Each saved item is ("input", i), ("output",), ("new", numel, kind) with kind "act" (the
    dtype), "stat" (the accumulation type), "index" (int64), or ("buffer", name).
    """

    items: tuple = ()
    alias: bool = False


def _input(op):
    return Saves((("input", 0),))


def _output(op):
    return Saves((("output",),), alias=getattr(op.layer, "inplace", False))


def _input_or_output(op):
    """In place the saved input is the modified storage, which the backward reads as the output."""
    if getattr(op.layer, "inplace", False):
        return Saves((("output",),), alias=True)
    return Saves((("input", 0),))


def _input_or_copy(op):
    """In place the backward still needs the original input: autograd saves a copy of it."""
    if getattr(op.layer, "inplace", False):
        return Saves((("new", op.numel(), "act"),), alias=True)
    return Saves((("input", 0),))


def _linear(op):
    return Saves((("input", 0),) if op.trains and "weight" in op.layer.parameter_shapes() else ())


def _batch_norm(op):
    channels = op.inputs[0][1]
    items = [("input", 0), ("new", channels, "stat"), ("new", channels, "stat")]
    items += [("buffer", name) for name in op.layer.buffer_shapes()]
    return Saves(tuple(items))


def _max_pool(op):
    return Saves((("input", 0), ("new", product(op.output), "index")))


def _adaptive_avg(op):
    return Saves(() if all(d == 1 for d in op.output[2:]) else (("input", 0),))


def _dropout(op):
    layer = op.layer
    if layer.p == 0:
        return Saves(alias=True)
    if layer.p == 1:
        numel = 1
    elif layer.type == "Dropout2d":
        numel = op.inputs[0][0] * op.inputs[0][1]
    else:
        numel = op.numel()
    return Saves((("new", numel, "act"),), alias=layer.inplace)


def _stochastic_depth(op):
    if op.layer.p == 0:
        return Saves(alias=True)
    return Saves((("new", op.inputs[0][0] if op.layer.mode == "row" else 1, "act"),))


def _local_response_norm(op):
    n, c = op.inputs[0][:2]
    padded = n * (c + op.layer.size - 1) * product(op.inputs[0][2:])
    return Saves((("input", 0), ("new", padded, "act"), ("new", op.numel(), "act"), ("new", op.numel(), "act")))


def _nothing(op):
    return Saves()


def _view(op):
    return Saves(alias=True)


def _merge(op):
    kind = op.layer.merge_kind()
    if kind in ("Add", "Sub", "Concat", "Stack", "Resize"):
        return Saves()
    if kind in ("Mul", "MatMul"):
        # d(a*b)/da = b: an operand is saved when another operand requires a gradient
        return Saves(tuple(("input", i) for i in range(len(op.inputs)) if any(g for j, g in enumerate(op.grads) if j != i)))
    if kind == "Div" and len(op.inputs) == 2:  # a/b: d/da needs b; d/db needs a and b
        return Saves(((("input", 1),) if any(op.grads) else ()) + ((("input", 0),) if op.grads[1] else ()))
    return None


def _family(names, rule):
    return dict.fromkeys(names, rule)


RULES = {
    **_family(("Conv1d", "Conv2d", "Conv3d", "ConnectionTableConv2d",
               "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"), _input),
    "Linear": _linear,
    **_family(("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"), _batch_norm),
    "ReLU": _output,
    **_family(("Sigmoid", "Tanh", "Softmax"), _output),
    **_family(("LeakyReLU", "ELU"), _input_or_output),
    **_family(("ReLU6", "SiLU", "Hardswish", "Hardsigmoid"), _input_or_copy),
    "GELU": _input,
    **_family(("MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"),
              _max_pool),
    **_family(("AvgPool1d", "AvgPool2d", "AvgPool3d"), _input),
    **_family(("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"), _adaptive_avg),
    **_family(("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"), _nothing),
    **_family(("ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "SamePad2d"),
              _nothing),
    **_family(("ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
               "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d"), _input),
    **_family(("Dropout", "Dropout2d"), _dropout),
    "StochasticDepth": _stochastic_depth,
    "LocalResponseNorm": _local_response_norm,
    **_family(("Flatten", "Reshape", "Identity"), _view),
}


class Saved(NamedTuple):
    """Bytes autograd keeps for one training step (one count per storage), split by what they are."""

    activations: object  # storages the forward pass created
    input: object  # the model input, when an operation saves it
    buffers: object  # BatchNorm running statistics saved by BatchNorm

    @property
    def total(self):
        return self.activations + self.input + self.buffers


def _rule(layer):
    return _merge if not layer.is_leaf else RULES.get(layer.type, lambda op: None)


def saved(report, dtype="float32", batch=1) -> Saved | None:
    """The bytes ``report``'s network keeps for backward in train mode at ``batch``, in ``dtype``; None when a
    layer has no rule here (``RULES``)."""
    size = ITEMSIZE[dtype]
    kinds = {"act": size, "stat": ITEMSIZE[ACCUMULATE.get(dtype, dtype)], "index": INDEX_BYTES}
    input_key = ("input",)
    storages: dict = {input_key: product(report.input_shape) * batch * size}  # key -> bytes
    values: list = []  # per row: (storage key, requires grad)
    kept: dict = {}  # saved storage key -> bytes
    for i, row in enumerate(report.layers):
        sources = [(input_key, False) if q == INPUT else values[q] for q in row.inputs]
        grads = tuple(g for _, g in sources)
        trains = bool(not row.is_merge and row.trainable and row.layer.parameter_shapes())
        op = Op(row.layer, tuple((batch,) + tuple(s) for s in row.input_shapes), (batch,) + tuple(row.output_shape),
                grads, trains)
        rule = _rule(row.layer)(op)
        if rule is None:
            return None
        out_key = sources[0][0] if rule.alias else ("node", i)
        storages.setdefault(out_key, product(op.output) * size)
        requires = any(grads) or trains
        if requires:
            for item in rule.items:
                if item[0] == "input":
                    key = sources[item[1]][0]
                elif item[0] == "output":
                    key = out_key
                elif item[0] == "buffer":
                    key = ("buffer", id(row.layer), item[1])
                    storages[key] = product(row.layer.buffer_shapes()[item[1]]) * size
                else:
                    key = ("new", i, len(kept))
                    storages[key] = item[1] * kinds[item[2]]
                kept[key] = storages[key]
        values.append((out_key, requires))
    parts = {"input": 0, "buffer": 0, "act": 0}
    for key, nbytes in kept.items():
        parts[key[0] if key[0] in ("input", "buffer") else "act"] += nbytes
    return Saved(parts["act"], parts["input"], parts["buffer"])


def num_batches_tracked(report):
    """BatchNorm layers with running statistics (each has an int64 num_batches_tracked buffer)."""
    seen = set()
    for row in report.layers:
        if not row.is_merge and row.layer.type.startswith("BatchNorm") and row.layer.track_running_stats:
            seen.add(id(row.layer))
    return len(seen)


def parameter_tensors(report):
    """How many trainable parameter tensors the network has (Adam keeps a step counter for each)."""
    seen, count = set(), 0
    for row in report.layers:
        if not row.is_merge and id(row.layer) not in seen and row.trainable:
            seen.add(id(row.layer))
            count += len(row.layer.parameter_shapes())
    return count


__all__ = ["RULES", "Op", "Saves", "Saved", "saved", "OPTIMIZER_STATES"]
