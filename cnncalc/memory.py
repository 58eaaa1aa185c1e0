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
- Flatten, Reshape, Identity, Permute, Transpose, Unflatten, Squeeze, Unsqueeze and Index are views; a
  residual addition, a difference, a concatenation and a stack save nothing; an element-wise product or
  quotient of n branches, folded left to right, saves at each step the operands the partner's gradient
  needs (an intermediate after the first step); a matrix product each operand whose partner requires a
  gradient; a resize nothing ('area': adaptive average pooling);
- the normalisers, activations, dropouts, reductions, constants, shuffles, embedding and attention of
  the rank-free layer set: one rule each below (docs/memory.md lists them). MultiheadAttention is taken
  as torchvision's encoder calls it (need_weights=False); a batch_first attention returns a transposed
  view of its result, a layout element-wise operations keep: readers of it are modelled where measured
  (element-wise operations, another batch_first attention, Linear, LayerNorm) and give None elsewhere;
- torchvision's blocks: Swin's window attention (V1 and V2), patch merging and V2's buffer-fed bias MLP
  (computed once for the batch: a buffer's branch has no batch axis), MaxViT's relative positional
  attention, window partitions and axis swaps: one rule each below, from the operations torchvision's
  functions run (docs/memory.md).
"""

from __future__ import annotations

from typing import NamedTuple

from .dims import product
from .graph import INPUT
from .layers import Elementwise

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
    sources: tuple = ()  # per input: the layer (or merge block) that produced it, None for the model input
    dtype: str = "float32"

    @property
    def half(self):
        """A 16-bit run: torch's composites compute in float32 (``stat`` items)."""
        return self.dtype in ACCUMULATE

    def numel(self, i=0):
        return product(self.inputs[i])


class Saves(NamedTuple):
    """What a rule returns: the tensors saved and whether the output shares the input's storage.

    Each saved item is ("input", i), ("output",), ("new", numel, kind) with kind "act" (the
    dtype), "stat" (the accumulation type), "index" (int64), or ("buffer", name) (in the dtype; ("buffer",
    name, "index") for an int64 buffer). ``constant``: the output is the layer's own buffer (``Buffer``),
    which needs no gradient and counts with the buffers where an operation saves it.
    """

    items: tuple = ()
    alias: bool = False
    constant: bool = False


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
    """None where each channel has one value: PyTorch refuses to train then ("Expected more than 1 value
    per channel when training": DeepLabV3's image pooling at batch 1)."""
    channels = op.inputs[0][1]
    if product(op.inputs[0]) == channels:
        return None
    items = [("input", 0), ("new", channels, "stat"), ("new", channels, "stat")]
    items += [("buffer", name) for name in op.layer.buffer_shapes()]
    return Saves(tuple(items))


def _max_pool(op):
    return Saves((("input", 0), ("new", product(op.output), "index")))


def _adaptive_avg(op):
    return Saves(() if all(d == 1 for d in op.output[2:]) else (("input", 0),))


_CHANNELWISE = {"Dropout1d": 1, "Dropout2d": 2, "Dropout3d": 3}


def _dropout(op):
    """The kept-and-scaled noise: one element per input element, per channel (Dropout1d/2d/3d; per sample
    where torch reads the input as one unbatched sample: Dropout1d of (N, C), Dropout3d of (N, C, H, W)),
    one for p = 1, none for p = 0."""
    layer = op.layer
    if layer.p == 0:
        return Saves(alias=True)
    shape = op.inputs[0]
    if layer.p == 1:
        numel = 1
    elif layer.type in _CHANNELWISE:
        unbatched = len(shape) == _CHANNELWISE[layer.type] + 1 and layer.type != "Dropout2d"
        numel = shape[0] if unbatched else shape[0] * shape[1]
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


def _input_and_new(op):
    """Composites keeping their input and one intermediate of its size (Softsign's 1 + |x|, LogSigmoid's buffer)."""
    return Saves((("input", 0), ("new", op.numel(), "act")))


def _input_and_output(op):
    return Saves((("input", 0), ("output",)))


def _lead(op, axes):
    """Elements of the input outside its last ``axes`` axes: one statistic each."""
    return product(op.inputs[0][: len(op.inputs[0]) - axes])


def _layer_norm(op):
    """The input and the mean and reciprocal standard deviation of every normalised group (the input's dtype).
    LayerNorm2d permutes its input to channels last (a view) and back."""
    axes = 1 if op.layer.type == "LayerNorm2d" else len(op.layer.normalized_shape)
    groups = op.numel() // op.inputs[0][1] if op.layer.type == "LayerNorm2d" else _lead(op, axes)
    return Saves((("input", 0), ("new", groups, "act"), ("new", groups, "act")))


def _rms_norm(op):
    """torch's composite rms_norm: the input (a float32 copy of a 16-bit one), 1/rms per group and, with a
    weight, x/rms before the weight (in the accumulation type)."""
    groups = _lead(op, len(op.layer.normalized_shape))
    items = [("new", groups, "stat")]
    items.append(("new", op.numel(), "stat") if op.half else ("input", 0))
    if op.layer.elementwise_affine:
        items.append(("new", op.numel(), "stat"))
    return Saves(tuple(items))


def _group_norm(op):
    groups = op.inputs[0][0] * op.layer.num_groups
    return Saves((("input", 0), ("new", groups, "act"), ("new", groups, "act")))


def _instance_norm(op):
    """torch's instance_norm is batch_norm over (1, N*C, ...): the input, the batch mean and inverse standard
    deviation, and the weight and running statistics repeated N times (new tensors), those the layer has."""
    n_c = op.inputs[0][0] * op.inputs[0][1]
    copies = 2 + int(op.layer.affine) + 2 * int(op.layer.track_running_stats)
    return Saves((("input", 0),) + (("new", n_c, "act"),) * copies)


def _scalar(op):
    """x + c, x - c, c - x, x*c, x/c and -x save nothing; x**c its input; c/x = c*reciprocal(x) the reciprocal."""
    kind = op.layer.op
    if kind == "pow":
        return Saves((("input", 0),))
    return Saves((("new", op.numel(), "act"),)) if kind == "rdiv" else Saves()


def _reduce(op):
    return _input_and_output(op) if op.layer.op in ("amax", "amin", "prod") else Saves()


def _parameter(op):
    """x*p saves x (p is a parameter); x + p and cat([p, x]) save nothing."""
    return Saves((("input", 0),) if op.layer.op == "mul" and op.trains else ())


def _embedding(op):
    """The integer ids (int64), when the table trains."""
    return Saves((("input", 0),) if op.trains else ())


def _attention_sizes(op):
    n, length, e = op.inputs[0]
    keys = length + int(op.layer.add_bias_kv) + int(op.layer.add_zero_attn)
    return n, length, e, keys, op.layer.num_heads


def _multihead_attention(op):
    """nn.MultiheadAttention(x, x, x, need_weights=False) in train mode, as torchvision's encoder calls it: the input
    (a copy for batch_first, whose (N, L, E) the projection reads transposed), the packed q, k, v projection and,
    with add_bias_kv or add_zero_attn, the extended keys and values; without dropout the fused kernel's output and
    log-sum-exp per query (float32), with dropout the composite's scaled queries, transposed keys, weights, dropout
    mask, dropped weights (float32 for 16-bit inputs) and output."""
    n, length, e, keys, heads = _attention_sizes(op)
    extended = keys != length
    items = [("new", n * length * e, "act") if op.layer.batch_first else ("input", 0)]
    if op.layer.dropout == 0:
        items.append(("new", 3 * n * length * e, "act"))  # q, k and v are views of one projection
        if extended:
            items += [("new", n * keys * e, "act")] * 2
        return Saves(tuple(items + [("new", n * length * e, "act"), ("new", n * heads * length, "stat")]))
    if op.half:
        items.append(("new", n * keys * e, "stat"))  # the values, upcast
    elif extended:
        items.append(("new", n * keys * e, "act"))  # the values with their extra rows
    else:
        items.append(("new", 3 * n * length * e, "act"))  # the projection, which the values view
    items += [("new", n * keys * e, "stat"), ("new", n * length * e, "stat")]  # transposed keys, scaled queries
    items += [("new", n * heads * length * keys, "stat")] * 3  # weights, dropout mask, dropped weights
    return Saves(tuple(items + [("new", n * length * e, "act")]))


def _nothing(op):
    return Saves()


def _view(op):
    return Saves(alias=True)


def _folded(op, kind):
    """a*b*c... and a/b/c... as torch folds them left to right: each step saves its left operand (the previous
    step's result after the first) when the right one requires a gradient, and its right operand when either does
    (a product: when the left one does)."""
    items, left_grad, left = [], op.grads[0], ("input", 0)
    shape = op.inputs[0]
    for j in range(1, len(op.inputs)):
        right_grad = op.grads[j]
        if right_grad:
            items.append(left)
        if left_grad if kind == "Mul" else (left_grad or right_grad):
            items.append(("input", j))
        shape = tuple(max(a, b) for a, b in zip(shape, op.inputs[j]))
        left, left_grad = ("new", product(shape), "act"), left_grad or right_grad
    return Saves(tuple(items))


_VIEWS = ("Permute", "Transpose", "Index", "Squeeze")  # views whose last axis may not be contiguous


def _scaled_dot_product(op):
    """F.scaled_dot_product_attention on CPU: the fused kernel where q, k and v are 4-D with the same batch and
    heads and the same last size (q, k, v, the output and a float32 log-sum-exp per query), else the composite
    (scaled queries, transposed keys and the weights, broadcast to the batch, and the values; float32 for 16-bit
    inputs). None where a branch ends in a view that may leave the last axis strided (the kernel's choice then
    depends on strides)."""
    if any(getattr(source, "type", None) in _VIEWS for source in op.sources):
        return None
    q, k, v = op.inputs
    batch = tuple(max(a, b, c) for a, b, c in zip(q[:-2], k[:-2], v[:-2]))
    b, length, keys, e, e_v = product(batch), q[-2], k[-2], q[-1], v[-1]
    if len(q) == 4 and q[:-2] == k[:-2] == v[:-2] and e == e_v:
        return Saves((("input", 0), ("input", 1), ("input", 2), ("output",), ("new", b * length, "stat")))
    items = [("new", b * length * e, "stat"), ("new", b * keys * e, "stat"), ("new", b * length * keys, "stat")]
    if op.half:
        items.append(("new", b * keys * e_v, "stat"))
    else:
        items.append(("input", 2) if tuple(v[:-2]) == batch else ("new", b * keys * e_v, "act"))
    return Saves(tuple(items))


def _strides(sizes):
    """A contiguous tensor's strides."""
    strides, step = [], 1
    for n in reversed(sizes):
        strides.insert(0, step)
        step *= n
    return tuple(strides)


def _viewable(sizes, strides, shape):
    """Whether torch's reshape of a tensor (``sizes``, ``strides``) to ``shape`` is a view (ATen's computeStride:
    each run of input axes that is contiguous in memory must map to whole output axes), else it copies."""
    view_d, base = len(shape) - 1, strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(sizes) - 1, -1, -1):
        tensor_numel *= sizes[d]
        if d == 0 or (sizes[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or shape[view_d] == 1):
                view_numel *= shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return False
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return view_d == -1


def _permuted_view(sizes, order, shape):
    """Whether ``x.permute(order).reshape(shape)`` of a contiguous ``x`` of ``sizes`` is a view."""
    strides = _strides(sizes)
    return _viewable(tuple(sizes[i] for i in order), tuple(strides[i] for i in order), shape)


def _concrete(op):
    return all(isinstance(n, int) for shape in op.inputs for n in shape)


def _heads_view(batch, tokens, heads, width, packed):
    """Whether a head's slice of a packed (batch, tokens, packed) projection, split into heads (batch, heads, tokens,
    width), reshapes to the (batch*heads, tokens, width) operand of a batched matrix product as a view."""
    return _viewable((batch, heads, tokens, width), (tokens * packed, width, packed, 1), (batch * heads, tokens, width))


def _shifted_window_attention(op):
    """torchvision's shifted_window_attention (Swin V1 and V2) in train mode: the padded (a copy even unpadded),
    rolled and windowed input, which the qkv projection saves; the relative position index (an int64 buffer) that
    indexes the bias table. V1: the scaled queries, the transposed keys and the values (copies for the batched
    product, or the qkv projection itself when there is one window in the batch: views of it). V2 (cosine
    attention): the projection (which normalising q and k reads), each norm and its clamped copy (one value per
    token and head), the normalised queries and transposed keys, the sigmoid of the bias (heads x N x N, no batch),
    exp(logit_scale) and the scores it scales; the values as V1's. Then the softmax and the heads joined for the
    output projection. Attention dropout adds its noise and the dropped weights (which the product with the values
    saves), both of the scores' size; dropout after the projection its noise. The input needing no gradient changes
    nothing (the trained qkv projection makes every later tensor need one); a frozen layer or dropout p = 1: None
    (not modelled)."""
    layer = op.layer
    if not _concrete(op) or not op.trains or layer.attention_dropout >= 1 or layer.dropout >= 1:
        return None
    b, h, w, c = op.inputs[0]
    (wh, ww), heads = layer.window_size, layer.num_heads
    windows = b * -(-h // wh) * -(-w // ww)
    n, x = wh * ww, windows * wh * ww * c
    new, scores = ("new", x, "act"), ("new", windows * heads * n * n, "act")
    views = _heads_view(windows, n, heads, c // heads, 3 * c)  # the transposed keys reshape as the values do
    qkv = ("new", 3 * x, "act")  # one storage, however many views of it are saved
    items = [("buffer", "relative_position_index", "index"), new]  # the windowed input
    if layer.type == "ShiftedWindowAttentionV2":
        per_token = ("new", windows * heads * n, "act")
        items += [("new", heads * n * n, "act"), qkv] + [per_token] * 4 + [new, new, ("new", heads, "act"), scores]
        items += [] if views else [new]  # the values
    else:
        items += [new] + ([qkv] if views else [new, new])  # the scaled queries, the keys and values
    items += [scores, new]  # the softmax, the joined heads
    items += [scores, scores] if layer.attention_dropout else []
    return Saves(tuple(items + ([new] if layer.dropout else [])))


def _relative_positional_attention(op):
    """The attention of torchvision's RelativePositionalMultiHeadAttention (MaxViT) between its Linears: the queries
    and values as the batched products read them (views of the packed projection where batch x windows is 1 or
    there is one head, else copies), the scaled keys, the relative position index (an int64 buffer) and the softmax.
    Frozen, or with an input that needs no gradient: None (not modelled)."""
    if not _concrete(op) or not op.trains or not op.grads[0]:
        return None
    b, g, p, packed = op.inputs[0]
    c, heads = packed // 3, op.layer.num_heads
    x = b * g * p * c
    views = _heads_view(b * g, p, heads, c // heads, packed)
    queries = ("input", 0) if views else ("new", x, "act")
    values = ("input", 0) if views else ("new", x, "act")
    return Saves((queries, ("new", x, "act"), ("buffer", "relative_position_index", "index"),
                  ("new", b * g * heads * p * p, "act"), values))


def _window_partition(op):
    """(N, C, H, W) reshaped to (N, H/p, p, W/p, p... ) windows, permuted and reshaped: a view where torch's reshape
    can make one (its input read as contiguous), else a copy; nothing saved."""
    if not _concrete(op):
        return None
    n, c, h, w = op.inputs[0]
    p = op.layer.p
    return Saves(alias=_permuted_view((n, c, h // p, p, w // p, p), (0, 2, 4, 3, 5, 1), op.output))


def _window_departition(op):
    """The inverse of WindowPartition: a view where torch's reshape can make one (its input read as contiguous)."""
    if not _concrete(op):
        return None
    layer, (n, _, _, c) = op.layer, op.inputs[0]
    sizes = (n, layer.h_partitions, layer.w_partitions, layer.p, layer.p, c)
    return Saves(alias=_permuted_view(sizes, (0, 5, 1, 3, 2, 4), op.output))


def _buffer(op):
    """The row is the module's buffer: no new activation, no gradient; whoever saves it saves a buffer."""
    return Saves(constant=True)


def _merge(op):
    kind = op.layer.merge_kind()
    if kind in ("Add", "Sub", "Concat", "Stack"):
        return Saves()
    if kind == "Resize":  # interpolation saves nothing; 'area' is adaptive average pooling
        return _adaptive_avg(op) if op.layer.mode == "area" else Saves()
    if kind == "MatMul":
        # d(a@b)/da = b: an operand is saved when the other requires a gradient
        return Saves(tuple(("input", i) for i in range(2) if op.grads[1 - i]))
    if kind in ("Mul", "Div"):
        return _folded(op, kind)
    if kind == "Attention":
        return _scaled_dot_product(op)
    if kind == "Side":  # the first branch passes on; the others are read by the next layer
        return Saves(alias=True)
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
    **_family(("ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "SamePad2d",
               "Pad"), _nothing),
    **_family(("ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
               "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d"), _input),
    **_family(("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout"), _dropout),
    "StochasticDepth": _stochastic_depth,
    "LocalResponseNorm": _local_response_norm,
    **_family(("Flatten", "Reshape", "Identity", "ExpectSize", "Permute", "Transpose", "Unflatten", "Squeeze", "Unsqueeze", "Index"),
              _view),
    **_family(("LayerNorm", "LayerNorm2d"), _layer_norm),
    "RMSNorm": _rms_norm,
    "GroupNorm": _group_norm,
    **_family(("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"), _instance_norm),
    **_family(("SELU", "CELU"), _input_or_output),
    **_family(("Mish", "Hardtanh"), _input_or_copy),
    **_family(("Softplus", "PReLU"), _input),
    **_family(("Softsign", "LogSigmoid"), _input_and_new),
    **_family(("LogSoftmax", "Softmin"), _output),
    "ScalarOp": _scalar,
    "Reduce": _reduce,
    **_family(("PixelShuffle", "PixelUnshuffle", "ChannelShuffle"), _nothing),
    "Embedding": _embedding,
    "MultiheadAttention": _multihead_attention,
    "ParameterOp": _parameter,
    **_family(("ShiftedWindowAttention", "ShiftedWindowAttentionV2"), _shifted_window_attention),
    "PatchMergingPad": _nothing,
    "Buffer": _buffer,
    "RelativePositionalAttention": _relative_positional_attention,
    "WindowPartition": _window_partition,
    "WindowDepartition": _window_departition,
    "SwapAxes": _view,
}


_KEEPS_LAYOUT = ("Identity", "ExpectSize", "StochasticDepth")
_ELEMENTWISE_MERGES = ("Add", "Sub", "Mul", "Div")


def _keeps_layout(layer):
    """Element-wise operations write their output with their (first) input's strides."""
    if not layer.is_leaf:
        return layer.merge_kind() in _ELEMENTWISE_MERGES
    return isinstance(layer, Elementwise) or layer.type in _KEEPS_LAYOUT


def _reading_transposed(layer, rule, numel):
    """The rule for an input laid out tokens-major: a batch_first MultiheadAttention returns a transposed view of
    its (L, N, E) result, which element-wise operations keep. They save it as it is; a batch_first attention reads
    it without a copy; Linear and LayerNorm save a contiguous copy instead; for other operations: unknown (None)."""
    if _keeps_layout(layer):
        return rule
    if layer.type == "MultiheadAttention" and layer.batch_first:
        return rule._replace(items=(("input", 0),) + rule.items[1:])
    if layer.type in ("Linear", "LayerNorm"):
        return rule._replace(items=tuple(("new", numel, "act") if item == ("input", 0) else item for item in rule.items))
    return None


class Saved(NamedTuple):
    """Bytes autograd keeps for one training step (one count per storage), split by what they are."""

    activations: object  # storages the forward pass created
    input: object  # the model input, when an operation saves it
    buffers: object  # BatchNorm running statistics saved by BatchNorm

    @property
    def total(self):
        return self.activations + self.input + self.buffers


def _rule(layer):
    return _merge if not layer.is_leaf else RULES.get(layer.torch_type, lambda op: None)


def saved(report, dtype="float32", batch=1) -> Saved | None:
    """The bytes ``report``'s network keeps for backward in train mode at ``batch``, in ``dtype``; None when a
    layer has no rule here (``RULES``)."""
    size = ITEMSIZE[dtype]
    kinds = {"act": size, "stat": ITEMSIZE[ACCUMULATE.get(dtype, dtype)], "index": INDEX_BYTES}
    input_key = ("input",)
    ids = any(INPUT in row.inputs and not row.is_merge and row.layer.type == "Embedding" for row in report.layers)
    storages: dict = {input_key: product(report.input_shape) * batch * (INDEX_BYTES if ids else size)}  # key -> bytes
    values: list = []  # per row: (storage key, requires grad)
    transposed: list = []  # per row: its output is laid out tokens-major (see ``_reading_transposed``)
    kept: dict = {}  # saved storage key -> bytes
    constant: list = []  # per row: a buffer or computed from buffers only, once for the batch (as torch runs it)
    for i, row in enumerate(report.layers):
        sources = [(input_key, False) if q == INPUT else values[q] for q in row.inputs]
        grads = tuple(g for _, g in sources)
        trains = bool(not row.is_merge and row.trainable and row.layer.parameter_shapes())
        constant.append(getattr(row.layer, "source", False) or all(q != INPUT and constant[q] for q in row.inputs))
        n = 1 if constant[-1] else batch
        op = Op(row.layer, tuple((n,) + tuple(s) for s in row.input_shapes), (n,) + tuple(row.output_shape),
                grads, trains, tuple(None if q == INPUT else report.layers[q].layer for q in row.inputs), dtype)
        rule = _rule(row.layer)(op)
        layouts = [q != INPUT and transposed[q] for q in row.inputs]
        if rule is not None and any(layouts):
            rule = _reading_transposed(row.layer, rule, op.numel())
        if rule is None:
            return None
        if rule.constant:
            own = ("buffer", id(row.layer), "")
            storages[own] = product(op.output) * size
            values.append((own, False))
            transposed.append(False)
            continue
        transposed.append((row.layer.type == "MultiheadAttention" and row.layer.batch_first)
                          or (_keeps_layout(row.layer) and layouts[0]))
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
                    storages[key] = product(row.layer.buffer_shapes()[item[1]]) * (kinds[item[2]] if len(item) > 2 else size)
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
