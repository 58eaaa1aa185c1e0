"""Run a whole cnncalc network forward and backward with the NumPy reference.

The model's data flow (``graph.flow``) runs node by node, as ``analysis`` walks it: a leaf applies its
layer to the output of the node it reads, a merge combines the outputs of its branches (``merge_forward``:
element-wise with broadcasting, concatenated or stacked along a dim, a matrix product, attention, or
a resize). The backward pass visits the same nodes in reverse, each adding the gradients of its inputs
into the nodes it read.

Parameters are named as in PyTorch's ``state_dict`` (``features.0.weight``, ``layer1.0.bn1.bias``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ShapeError
from ..graph import INPUT, flow
from . import functional as R


class Step(NamedTuple):
    """What one leaf or merge step actually did: the analysis row it should agree with."""

    index: int  # type: ignore[assignment]  # position in graph.flow(model) (the analysis row's index)
    name: str
    type: str
    output_shape: tuple  # per sample, without the batch axis
    macs: int  # MACs of the GEMMs executed in the forward pass, whole batch
    params: tuple  # names of the parameter arrays this step owns (none for a shared layer's second use)


class Trace:
    """The result of ``forward_backward``: unpacks as ``(output, grad_input, grads)``; ``steps`` lists every step."""

    def __init__(self, output, grad_input, grads, params, buffers, steps):
        self.output = output
        self.grad_input = grad_input
        self.grads = grads
        self.params = params
        self.buffers = buffers
        self.steps = steps

    def __iter__(self):
        return iter((self.output, self.grad_input, self.grads))


class _Mode(NamedTuple):
    training: bool
    seed: int
    spread_max: bool  # max pooling's gradient to every window entry (receptive-field measurement)
    param_grads: bool  # False: only the input gradient is wanted, skip the weight-gradient GEMMs

    @property
    def mask(self):
        """torch's output_mask for (grad_x, grad_weight, grad_bias)."""
        return (True, self.param_grads, self.param_grads)


def full_name(prefix, local):
    """A parameter's state_dict name: the layer's path and its local name (ParameterOp's local name is "")."""
    if not local:
        return prefix
    return f"{prefix}.{local}" if prefix else local


def parameter_names(model):
    """Per flow node index, {torch-style parameter name: local name} of the parameters that node owns.

    A layer object used twice owns its parameters at its first use only (PyTorch shares them).
    """
    owned = {}
    seen = set()
    for i, node in enumerate(flow(model)):
        if node.is_merge or id(node.layer) in seen:
            continue
        seen.add(id(node.layer))
        owned[i] = {full_name(node.name, local): local for local in node.layer.parameter_shapes()}
    return owned


def _concrete(shape, name):
    if not all(type(d) is int for d in shape):
        raise ShapeError(f"{name}: the reference needs concrete sizes, got {shape}")
    return tuple(shape)


_NORMALISERS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
                "GroupNorm", "LayerNorm", "LayerNorm2d", "RMSNorm")


def init_parameters(model, seed=0, dtype=np.float32):
    """Deterministic parameters by name, PyTorch's default ranges: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (fan_in = shape[1]*kh*kw of the layer's first matrix, as torch's kaiming_uniform(a=sqrt(5))), normalisers'
    weight 1 and bias 0, PReLU's slopes ``init``."""
    rng = np.random.default_rng(seed)
    nodes = flow(model)
    params = {}
    for i, names in parameter_names(model).items():
        layer = nodes[i].layer
        shapes = {local: _concrete(shape, full_name(nodes[i].name, local)) for local, shape in layer.parameter_shapes().items()}
        fan_in = next((int(np.prod(shape[1:])) for shape in shapes.values() if len(shape) > 1), 1)
        for name, local in names.items():
            shape = shapes[local]
            if layer.type in _NORMALISERS:
                params[name] = np.full(shape, 1.0 if local == "weight" else 0.0, dtype=dtype)
            elif layer.type == "PReLU":
                params[name] = np.full(shape, layer.init, dtype=dtype)
            else:
                bound = 1.0 / np.sqrt(fan_in)
                arr = rng.random(shape, dtype=dtype)  # drawn in the run's dtype: VGG's 100M weights in a second
                arr *= 2 * bound
                arr -= bound
                params[name] = arr
    return params


def init_buffers(model, dtype=np.float32):
    """BatchNorm running statistics as PyTorch initialises them: mean 0, var 1."""
    buffers = {}
    for node in flow(model):
        if not node.is_merge:
            for local, shape in node.layer.buffer_shapes().items():
                fill = 1.0 if local == "running_var" else 0.0
                buffers[full_name(node.name, local)] = np.full(_concrete(shape, node.name), fill, dtype=dtype)
    return buffers


# --- one leaf layer ---------------------------------------------------------------------------
#
# Each layer type is one ``Op`` entry of ``_LAYERS``:
#   forward(layer, x, p, b, mode, i) -> y                      p, b: parameters and buffers by local name
#   backward(layer, x, p, b, g, mode, i) -> (grad_x, {local: grad})   grad_x None for integer ids
#   jvp(layer, x, t, p, u, b, mode, i) -> the derivative of y along the input tangent t and the parameter
#       tangents u (by local name; empty: parameters held fixed), at x's activation pattern
#   margin(layer, x, t) -> the largest step s for which x + s*t stays on one smooth piece of the layer
#       (None: the layer is smooth everywhere); ``validate`` keeps its finite differences inside it
#   from_forward: the jvp is the forward itself applied to tangents (linear and bilinear layers), so a
#       finite difference of the forward could only restate it


class Op(NamedTuple):
    forward: object
    backward: object
    jvp: object
    margin: object = None
    from_forward: bool = False


_PADDING_MODES = ("zeros", "reflect", "replicate")


def _flat_pads(pairs):
    """F.pad's flat list (last axis first) from (before, after) per axis in axis order."""
    return tuple(v for before, after in reversed(pairs) for v in (before, after))


def _conv_kwargs(layer):
    if layer.padding_mode not in _PADDING_MODES:
        raise ShapeError(f"{layer.type}: the reference implements padding_mode 'zeros', 'reflect' and 'replicate', "
                         f"got {layer.padding_mode!r}")
    kwargs = dict(stride=layer.stride, padding=layer.padding if layer.padding_mode == "zeros" else 0,
                  dilation=layer.dilation)
    if layer.type != "ConnectionTableConv2d":  # its table replaces groups
        kwargs["groups"] = layer.groups
    return kwargs


def _mode_padded(layer, x):
    """A convolution's input padded by a non-zero ``padding_mode`` (torch pads, then convolves unpadded)."""
    return x if layer.padding_mode == "zeros" else R.pad(x, _flat_pads(layer.pads), layer.padding_mode)


def _with_bias(grads, layer_bias=True):
    grad_x, grad_w, grad_b = grads
    if grad_w is None:  # parameter gradients not wanted
        return grad_x, {}
    out = {"weight": grad_w}
    if layer_bias:
        out["bias"] = grad_b
    return grad_x, out


def _bilinear_jvp(forward):
    """y = f(x, w) + b, linear in x and in (w, b): y' = f(t, w) + f(x, w') + b'."""

    def jvp(layer, x, t, p, u, b, mode, i):
        y = forward(layer, t, {"weight": p["weight"]}, b, mode, i)
        return y + forward(layer, x, u, b, mode, i) if u else y

    return jvp


def _bilinear(forward, backward):
    return Op(forward, backward, _bilinear_jvp(forward), from_forward=True)


def _conv_forward(layer, x, p, b, mode, i):
    kwargs = _conv_kwargs(layer)
    if layer.type == "ConnectionTableConv2d":
        return R.connection_table_conv2d(x, p["weight"], layer.table, p.get("bias"), **kwargs)
    return R.conv2d(_mode_padded(layer, x), p["weight"], p.get("bias"), **kwargs)


def _conv_backward(layer, x, p, b, g, mode, i):
    kwargs = _conv_kwargs(layer)
    if layer.type == "ConnectionTableConv2d":
        return _with_bias(R.connection_table_conv2d_backward(x, p["weight"], layer.table, g, **kwargs), layer.bias)
    grads = list(R.conv2d_backward(_mode_padded(layer, x), p["weight"], g, **kwargs, output_mask=mode.mask))
    if layer.padding_mode != "zeros":
        grads[0] = R.pad_backward(x, grads[0], _flat_pads(layer.pads), layer.padding_mode)
    return _with_bias(grads, layer.bias)


def _transpose_kwargs(layer):
    return dict(stride=layer.stride, padding=layer.padding, output_padding=layer.output_padding, groups=layer.groups,
                dilation=layer.dilation)


def _transpose_forward(layer, x, p, b, mode, i):
    return R.conv_transpose2d(x, p["weight"], p.get("bias"), **_transpose_kwargs(layer))


def _linear_forward(layer, x, p, b, mode, i):
    return R.linear(x, p["weight"], p.get("bias"))


def _max_kwargs(layer):
    return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                ceil_mode=layer.ceil_mode)


def _avg_kwargs(layer):
    return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding, ceil_mode=layer.ceil_mode,
                count_include_pad=layer.count_include_pad, divisor_override=getattr(layer, "divisor_override", None))


def _max_pool_backward(layer, x, p, b, g, mode, i):
    backward = R.max_pool2d_spread_backward if mode.spread_max else R.max_pool2d_backward
    return backward(x, g, **_max_kwargs(layer)), {}


def _adaptive_max_backward(layer, x, p, b, g, mode, i):
    if mode.spread_max:  # positive shares on every window pixel: all a receptive-field measurement needs
        return R.adaptive_avg_pool2d_backward(x, g, layer.output_size), {}
    return R.adaptive_max_pool2d_backward(x, g, layer.output_size), {}


def _affine_grads(layer, grads, mode):
    """A normaliser's {weight, bias} gradients, those it has."""
    if not mode.param_grads:
        return {}
    return {name: grad for name, grad in zip(("weight", "bias"), grads) if grad is not None}


def _normaliser(name, lead, tail, channels_last=False):
    """A normaliser from the functional ``name``, ``name_backward``, ``name_jvp`` and ``name_margin`` (looked up
    at each call), called as forward(x, *lead(layer, b), weight, bias, **tail(layer, mode)); ``channels_last``:
    applied to x with its channel axis moved last (torchvision's LayerNorm2d)."""

    def function(suffix=""):
        return getattr(R, name + suffix)

    def moved(a):
        return np.moveaxis(a, 1, -1) if channels_last else a

    def back(a):
        return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if channels_last else a

    def forward(layer, x, p, b, mode, i):
        return back(function()(moved(x), *lead(layer, b), p.get("weight"), p.get("bias"), **tail(layer, mode)))

    def backward(layer, x, p, b, g, mode, i):
        grads = function("_backward")(moved(x), *lead(layer, b), p.get("weight"), p.get("bias"), moved(g), **tail(layer, mode))
        return back(grads[0]), _affine_grads(layer, grads[1:], mode)

    def jvp(layer, x, t, p, u, b, mode, i):
        return back(function("_jvp")(moved(x), moved(t), *lead(layer, b), p.get("weight"), p.get("bias"), u.get("weight"),
                                     u.get("bias"), **tail(layer, mode)))

    def margin(layer, x, t):
        # statistics from the input: in evaluation the layer is affine, and a finite margin is harmless
        return function("_margin")(moved(x), moved(t), *lead(layer, None), **tail(layer, _Mode(True, 0, False, True)))

    return Op(forward, backward, jvp, margin)


def _running(layer, b):
    return (None, None) if b is None else (b.get("running_mean"), b.get("running_var"))


def _input_stats(layer, mode):
    return mode.training or not layer.track_running_stats


def _rms_forward(layer, x, p, b, mode, i):
    return R.rms_norm(x, layer.normalized_shape, p.get("weight"), layer.eps)


def _rms_backward(layer, x, p, b, g, mode, i):
    grad_x, grad_w = R.rms_norm_backward(x, layer.normalized_shape, p.get("weight"), g, layer.eps)
    return grad_x, ({"weight": grad_w} if grad_w is not None and mode.param_grads else {})


def _dropout_kwargs(layer, mode, i):
    return dict(p=layer.p, training=mode.training, seed=(mode.seed, i))


def _same_pad(layer, x):
    (top, bottom), (left, right) = layer.pads(x.shape[1:])
    return (left, right, top, bottom)


def _kinks(*points):
    """margin() of an element-wise layer whose pieces meet at ``points``: min |x - point| / |t|."""

    def margin(layer, x, t):
        moving = t != 0
        if not moving.any():
            return np.inf
        xs, ts = x[moving], np.abs(t[moving])
        return float(min((np.abs(xs - point) / ts).min() for point in points))

    return margin


def _stateless(name, kwargs=lambda layer: {}, *, linear=False, margin=None, jvp=False):
    """A parameter-free layer from the functional ``name`` and ``name_backward`` (looked up at each call):
    forward(x, **kw), backward(x, g, **kw).

    Its derivative along t is forward(t) when the layer is ``linear``; else ``name_jvp(x, t, **kw)`` with
    ``jvp``; otherwise its Jacobian is symmetric (element-wise layers: diagonal; softmax: diag(y) - y y^T),
    so it is backward(x, t): for these ``validate`` checks the derivative against the forward pass by finite
    differences. ``margin(layer, x, t)``: see ``Op``.
    """

    def function(suffix=""):
        return getattr(R, name + suffix)

    if linear:
        derivative = lambda layer, x, t, p, u, b, mode, i: function()(t, **kwargs(layer))  # noqa: E731
    elif jvp:
        derivative = lambda layer, x, t, p, u, b, mode, i: function("_jvp")(x, t, **kwargs(layer))  # noqa: E731
    else:
        derivative = lambda layer, x, t, p, u, b, mode, i: function("_backward")(x, t, **kwargs(layer))  # noqa: E731
    return Op(
        lambda layer, x, p, b, mode, i: function()(x, **kwargs(layer)),
        lambda layer, x, p, b, g, mode, i: (function("_backward")(x, g, **kwargs(layer)), {}),
        derivative,
        margin,
        linear,
    )


def _masked(name, jvp=False):
    """Dropout ``name``: y = x * mask, the mask drawn from (seed, step): linear in x, its own derivative
    (AlphaDropout is affine: its derivative is ``name_jvp``)."""

    def call(suffix, arrays, layer, mode, i):
        return getattr(R, name + suffix)(*arrays, **_dropout_kwargs(layer, mode, i))

    if jvp:
        derivative = lambda layer, x, t, p, u, b, mode, i: call("_jvp", (x, t), layer, mode, i)  # noqa: E731
    else:
        derivative = lambda layer, x, t, p, u, b, mode, i: call("", (t,), layer, mode, i)  # noqa: E731
    return Op(
        lambda layer, x, p, b, mode, i: call("", (x,), layer, mode, i),
        lambda layer, x, p, b, g, mode, i: (call("_backward", (x, g), layer, mode, i), {}),
        derivative,
        from_forward=not jvp,
    )


def _padded(pads, how=lambda layer: ("constant", 0.0)):
    """A padding layer: R.pad with the flat pads ``pads(layer, x)`` and (mode, value) ``how(layer)``."""

    def kwargs(layer, x):
        mode, value = how(layer)
        return dict(pad=pads(layer, x), mode=mode, value=value)

    return Op(
        lambda layer, x, p, b, mode, i: R.pad(x, **kwargs(layer, x)),
        lambda layer, x, p, b, g, mode, i: (R.pad_backward(x, g, **kwargs(layer, x)), {}),
        lambda layer, x, t, p, u, b, mode, i: R.pad(t, **{**kwargs(layer, x), "value": 0.0}),  # the fill is a constant
        from_forward=True,
    )


def _rearranged(forward, backward):
    """A layer that only moves elements (reshapes, permutations, basic indexing): linear, its own derivative."""
    return Op(
        lambda layer, x, p, b, mode, i: forward(layer, x),
        lambda layer, x, p, b, g, mode, i: (backward(layer, x, g), {}),
        lambda layer, x, t, p, u, b, mode, i: forward(layer, t),
        from_forward=True,
    )


def _reshaped(layer, x):
    """x reshaped to the layer's output shape (``infer``): Flatten, Unflatten, Squeeze, Unsqueeze, view."""
    return x.reshape((x.shape[0],) + tuple(layer.infer(x.shape[1:])))


def _permutation(layer, x):
    return [d % x.ndim for d in layer.dims]


def _index_key(layer):
    """The layer's key as a numpy index (its slices stored as (start, stop, step))."""
    return tuple(slice(*e) if isinstance(e, tuple) else e for e in layer.key)


_IDENTITY = Op(lambda layer, x, p, b, mode, i: x, lambda layer, x, p, b, g, mode, i: (g, {}),
               lambda layer, x, t, p, u, b, mode, i: t, from_forward=True)


def _reduce_kwargs(layer):
    return dict(op=layer.op, dim=layer.dim, keepdim=layer.keepdim)


def _scalar_kwargs(layer):
    return dict(op=layer.op, value=layer.value)


def _shuffle_kwargs(name):
    return lambda layer: {name: getattr(layer, name)}


# Embedding: integer ids in, the gradient only for the table
def _embedding_kwargs(layer):
    if layer.scale_grad_by_freq:
        raise ShapeError(f"{layer.type}: scale_grad_by_freq scales the gradient so that it is no longer the derivative; "
                         "the reference implements scale_grad_by_freq=False only")
    return dict(padding_idx=layer.padding_idx, max_norm=layer.max_norm)


def _ids(x):
    if not np.issubdtype(x.dtype, np.integer):
        raise ShapeError(f"Embedding: expects integer ids, got an array of {x.dtype}")
    return x


def _embedding_jvp(layer, x, t, p, u, b, mode, i):
    if "weight" in u:
        moved = u["weight"]
        if layer.padding_idx is not None:  # the padding row is held fixed (torch gives it no gradient)
            moved = moved.copy()
            moved[layer.padding_idx] = 0
        return R.embedding(_ids(x), moved, **_embedding_kwargs(layer))
    return np.zeros(x.shape + (p["weight"].shape[1],), p["weight"].dtype)


_EMBEDDING = Op(
    lambda layer, x, p, b, mode, i: R.embedding(_ids(x), p["weight"], **_embedding_kwargs(layer)),
    lambda layer, x, p, b, g, mode, i: (None, {"weight": R.embedding_backward(_ids(x), p["weight"], g, **_embedding_kwargs(
        layer))} if mode.param_grads else {}),
    _embedding_jvp,
    from_forward=True,
)


# MultiheadAttention: self-attention with torch's parameter names
_MHA_PARAMS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias", "bias_k", "bias_v")


def _mha_args(layer, p):
    return (layer.num_heads, p["in_proj_weight"], p.get("in_proj_bias"), p["out_proj.weight"], p.get("out_proj.bias"))


def _mha_kwargs(layer, p, mode, i):
    return dict(bias_k=p.get("bias_k"), bias_v=p.get("bias_v"), add_zero_attn=layer.add_zero_attn,
                dropout_p=layer.dropout, training=mode.training, seed=(mode.seed, i))


def _mha_backward(layer, x, p, b, g, mode, i):
    grad_x, *grads = R.multi_head_attention_backward(x, *_mha_args(layer, p), g, **_mha_kwargs(layer, p, mode, i))
    named = dict(zip(("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias", "bias_k", "bias_v"), grads))
    return grad_x, ({k: v for k, v in named.items() if v is not None} if mode.param_grads else {})


def _mha_jvp(layer, x, t, p, u, b, mode, i):
    tangents = {f"{name.replace('.', '_')}_t": u[name] for name in _MHA_PARAMS if name in u}
    return R.multi_head_attention_jvp(x, t, *_mha_args(layer, p), **_mha_kwargs(layer, p, mode, i), **tangents)


_MHA = Op(
    lambda layer, x, p, b, mode, i: R.multi_head_attention(x, *_mha_args(layer, p), **_mha_kwargs(layer, p, mode, i)),
    _mha_backward,
    _mha_jvp,
)


# ParameterOp: a learned tensor added, multiplied or concatenated (first) along dim
def _parameter_forward(layer, x, p, b, mode, i):
    param = p[""]
    if layer.op == "add":
        return x + param
    if layer.op == "mul":
        return x * param
    return np.concatenate([np.broadcast_to(param, (x.shape[0],) + param.shape[1:]), x], axis=layer.dim % x.ndim)


def _parameter_backward(layer, x, p, b, g, mode, i):
    param = p[""]
    if layer.op == "cat":
        axis = layer.dim % x.ndim
        first, rest = np.split(g, [param.shape[axis]], axis=axis)
        return rest, ({"": first.sum(axis=0, keepdims=True)} if mode.param_grads else {})
    grad_x, grad_p = (g, g) if layer.op == "add" else (g * param, g * x)
    return R.sum_to_size(grad_x, x.shape), ({"": R.sum_to_size(grad_p, param.shape)} if mode.param_grads else {})


def _parameter_jvp(layer, x, t, p, u, b, mode, i):
    param, moved = p[""], u.get("")
    if layer.op == "cat":
        first = np.zeros_like(param) if moved is None else moved
        return np.concatenate([np.broadcast_to(first, (x.shape[0],) + param.shape[1:]), t], axis=layer.dim % x.ndim)
    shape = np.broadcast_shapes(x.shape, param.shape)
    out = np.broadcast_to(t if layer.op == "add" else t * param, shape)
    if moved is not None:
        out = out + (moved if layer.op == "add" else x * moved)
    return out


_PARAMETER = Op(_parameter_forward, _parameter_backward, _parameter_jvp)


def _prelu_backward(layer, x, p, b, g, mode, i):
    grad_x, grad_w = R.prelu_backward(x, p["weight"], g)
    return grad_x, ({"weight": grad_w} if mode.param_grads else {})


def _norm_kinds():
    """The normalisers' table entries."""
    by_eps = lambda layer, mode: dict(eps=layer.eps)  # noqa: E731
    shape = lambda layer, b: (layer.normalized_shape,)  # noqa: E731
    return {
        **dict.fromkeys(("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"), _normaliser(
            "batch_norm", _running, lambda layer, mode: dict(training=_input_stats(layer, mode), eps=layer.eps))),
        **dict.fromkeys(("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"), _normaliser(
            "instance_norm", _running, lambda layer, mode: dict(use_input_stats=_input_stats(layer, mode), eps=layer.eps))),
        "GroupNorm": _normaliser("group_norm", lambda layer, b: (layer.num_groups,), by_eps),
        "LayerNorm": _normaliser("layer_norm", shape, by_eps),
        "LayerNorm2d": _normaliser("layer_norm", shape, by_eps, channels_last=True),
    }


_LAYERS = {
    **dict.fromkeys(("Conv1d", "Conv2d", "Conv3d", "ConnectionTableConv2d"), _bilinear(_conv_forward, _conv_backward)),
    **dict.fromkeys(("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"), _bilinear(
        _transpose_forward,
        lambda layer, x, p, b, g, mode, i: _with_bias(
            R.conv_transpose2d_backward(x, p["weight"], g, **_transpose_kwargs(layer), output_mask=mode.mask), layer.bias
        ),
    )),
    "Linear": _bilinear(
        _linear_forward,
        lambda layer, x, p, b, g, mode, i: _with_bias(R.linear_backward(x, p["weight"], g, mode.mask), layer.bias),
    ),
    **dict.fromkeys(("MaxPool1d", "MaxPool2d", "MaxPool3d"), Op(
        lambda layer, x, p, b, mode, i: R.max_pool2d(x, **_max_kwargs(layer)),
        _max_pool_backward,
        lambda layer, x, t, p, u, b, mode, i: R.max_pool2d_jvp(x, t, **_max_kwargs(layer)),
        lambda layer, x, t: R.max_pool2d_margin(x, t, **_max_kwargs(layer)),
    )),
    **dict.fromkeys(("AvgPool1d", "AvgPool2d", "AvgPool3d"), _stateless("avg_pool2d", _avg_kwargs,
                                                                         linear=True)),
    **dict.fromkeys(("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"), _stateless(
        "adaptive_avg_pool2d", lambda layer: dict(output_size=layer.output_size), linear=True)),
    **dict.fromkeys(("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"), Op(
        lambda layer, x, p, b, mode, i: R.adaptive_max_pool2d(x, layer.output_size),
        _adaptive_max_backward,
        lambda layer, x, t, p, u, b, mode, i: R.adaptive_max_pool2d_jvp(x, t, layer.output_size),
        lambda layer, x, t: R.adaptive_max_pool2d_margin(x, t, layer.output_size),
    )),
    **_norm_kinds(),
    "RMSNorm": Op(
        _rms_forward, _rms_backward,
        lambda layer, x, t, p, u, b, mode, i: R.rms_norm_jvp(x, t, layer.normalized_shape, p.get("weight"), u.get("weight"),
                                                             layer.eps),
        lambda layer, x, t: R.rms_norm_margin(x, t, layer.normalized_shape, layer.eps),
    ),
    "LocalResponseNorm": _stateless(
        "local_response_norm", lambda layer: dict(size=layer.size, alpha=layer.alpha, beta=layer.beta, k=layer.k), jvp=True),
    "ReLU": _stateless("relu", margin=_kinks(0)),
    "ReLU6": _stateless("relu6", margin=_kinks(0, 6)),
    "LeakyReLU": _stateless("leaky_relu", lambda layer: dict(negative_slope=layer.negative_slope),
                            margin=_kinks(0)),
    "ELU": _stateless("elu", lambda layer: dict(alpha=layer.alpha), margin=_kinks(0)),
    "SELU": _stateless("selu", margin=_kinks(0)),
    "CELU": _stateless("celu", lambda layer: dict(alpha=layer.alpha), margin=_kinks(0)),
    "GELU": _stateless("gelu", lambda layer: dict(approximate=layer.approximate)),
    "SiLU": _stateless("silu"),
    "Mish": _stateless("mish"),
    "Softplus": _stateless("softplus", lambda layer: dict(beta=layer.beta, threshold=layer.threshold),
                           margin=lambda layer, x, t: _kinks(layer.threshold / layer.beta)(layer, x, t)),
    "Hardtanh": _stateless("hardtanh", lambda layer: dict(min_val=layer.min_val, max_val=layer.max_val),
                           margin=lambda layer, x, t: _kinks(layer.min_val, layer.max_val)(layer, x, t)),
    "Softsign": _stateless("softsign", margin=_kinks(0)),  # its second derivative jumps at 0
    "LogSigmoid": _stateless("logsigmoid"),
    "PReLU": Op(
        lambda layer, x, p, b, mode, i: R.prelu(x, p["weight"]),
        _prelu_backward,
        lambda layer, x, t, p, u, b, mode, i: R.prelu_jvp(x, t, p["weight"], u.get("weight")),
        _kinks(0),
    ),
    "Hardswish": _stateless("hardswish", margin=_kinks(-3, 3)),
    "Hardsigmoid": _stateless("hardsigmoid", margin=_kinks(-3, 3)),
    "Sigmoid": _stateless("sigmoid"),
    "Tanh": _stateless("tanh"),
    "Softmax": _stateless("softmax", lambda layer: dict(dim=layer.dim)),
    "Softmin": _stateless("softmin", lambda layer: dict(dim=layer.dim)),
    "LogSoftmax": _stateless("log_softmax", lambda layer: dict(dim=layer.dim), jvp=True),
    "Dropout": _masked("dropout"),
    "Dropout1d": _masked("dropout1d"),
    "Dropout2d": _masked("dropout2d"),
    "Dropout3d": _masked("dropout3d"),
    "AlphaDropout": _masked("alpha_dropout", jvp=True),
    "Identity": _IDENTITY,
    "ExpectSize": _IDENTITY,  # torchvision's image-size assertion: analysis refuses what it refuses
    "StochasticDepth": _IDENTITY,  # inference: the identity
    **dict.fromkeys(("Flatten", "Reshape", "Unflatten", "Squeeze", "Unsqueeze"), _rearranged(
        _reshaped, lambda layer, x, g: g.reshape(x.shape))),
    "Permute": _rearranged(lambda layer, x: np.ascontiguousarray(x.transpose(_permutation(layer, x))),
                           lambda layer, x, g: np.ascontiguousarray(g.transpose(np.argsort(_permutation(layer, x))))),
    "Transpose": _rearranged(lambda layer, x: np.ascontiguousarray(np.swapaxes(x, layer.dim0, layer.dim1)),
                             lambda layer, x, g: np.ascontiguousarray(np.swapaxes(g, layer.dim0, layer.dim1))),
    "Index": _rearranged(lambda layer, x: R.index(x, _index_key(layer)),
                         lambda layer, x, g: R.index_backward(x, g, _index_key(layer))),
    "PixelShuffle": _rearranged(lambda layer, x: R.pixel_shuffle(x, layer.upscale_factor),
                                lambda layer, x, g: R.pixel_shuffle_backward(x, g, layer.upscale_factor)),
    "PixelUnshuffle": _rearranged(lambda layer, x: R.pixel_unshuffle(x, layer.downscale_factor),
                                  lambda layer, x, g: R.pixel_unshuffle_backward(x, g, layer.downscale_factor)),
    "ChannelShuffle": _rearranged(lambda layer, x: R.channel_shuffle(x, layer.groups),
                                  lambda layer, x, g: R.channel_shuffle_backward(x, g, layer.groups)),
    "Reduce": _stateless("reduction", _reduce_kwargs, jvp=True,
                         margin=lambda layer, x, t: R.reduction_margin(x, t, layer.op, layer.dim)),
    "ScalarOp": _stateless("scalar", _scalar_kwargs, margin=lambda layer, x, t: R.scalar_margin(x, t, layer.op, layer.value)),
    **dict.fromkeys(("ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
                     "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
                     "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d"),
                    _padded(lambda layer, x: layer.padding, lambda layer: (layer.mode, getattr(layer, "value", 0.0)))),
    "SamePad2d": _padded(_same_pad),
    "Pad": _padded(lambda layer, x: layer.pad, lambda layer: (layer.mode, 0.0 if layer.value is None else layer.value)),
    **dict.fromkeys(("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"), _stateless(
        "interpolate",
        lambda layer: dict(size=layer.size, scale_factor=layer.scale_factor, mode=layer.mode,
                           align_corners=layer.align_corners, recompute_scale_factor=layer.recompute_scale_factor),
        linear=True,
    )),
    "Embedding": _EMBEDDING,
    "MultiheadAttention": _MHA,
    "ParameterOp": _PARAMETER,
}


def ops(layer, name=""):
    """The ``Op`` of a leaf layer (ShapeError naming the layer when the reference has none)."""
    found = _LAYERS.get(layer.torch_type)
    if found is None:
        raise ShapeError(f"{name or layer.type} ({layer.type}): the NumPy reference has no implementation of this layer")
    return found


# --- merges -------------------------------------------------------------------------------------
#
# A merge combines its branches' outputs: element-wise (Add, Sub, Mul, Div, with broadcasting), joined
# (Concat, Stack along the block's dim), a matrix product, scaled dot-product attention (query, key,
# value) or the first branch resized to the second's spatial size (Resize).


def _resize_kwargs(block, values):
    x, like = values
    return dict(size=like.shape[like.ndim - (x.ndim - 2):], mode=block.mode)


def _product(values, skip=None):
    out = 1
    for j, value in enumerate(values):
        if j != skip:
            out = out * value
    return out


def merge_forward(block, values):
    """The merge of ``values`` (the branches' outputs, batched)."""
    kind = block.merge_kind()
    if kind == "Concat":
        return np.concatenate(values, axis=block.dim % values[0].ndim)
    if kind == "Stack":
        return np.stack(values, axis=block.dim % (values[0].ndim + 1))
    if kind == "MatMul":
        return R.matmul(*values)
    if kind == "Attention":
        return R.scaled_dot_product_attention(*values)
    if kind == "Resize":
        return R.interpolate(values[0], **_resize_kwargs(block, values))
    if kind == "Mul":
        return _product(values)
    out = values[0]
    for v in values[1:]:
        out = out + v if kind == "Add" else out - v if kind == "Sub" else out / v
    return out


def merge_backward(block, values, g):
    """The gradient of each branch, summed over the axes the branch was broadcast along."""
    kind = block.merge_kind()
    if kind == "Concat":
        axis = block.dim % values[0].ndim
        return np.split(g, np.cumsum([v.shape[axis] for v in values])[:-1], axis=axis)
    if kind == "Stack":
        axis = block.dim % g.ndim
        return [np.take(g, k, axis=axis) for k in range(len(values))]
    if kind == "MatMul":
        return list(R.matmul_backward(*values, g))
    if kind == "Attention":
        return list(R.scaled_dot_product_attention_backward(*values, g))
    if kind == "Resize":
        return [R.interpolate_backward(values[0], g, **_resize_kwargs(block, values)), np.zeros_like(values[1])]
    if kind == "Div":  # y = v0 / (v1 * v2 ...): dy/dv0 = 1/D, dy/dvj = -y/vj
        y = merge_forward(block, values)
        divisor = _product(values[1:])
        parts = [g / divisor] + [-g * y / v for v in values[1:]]
    elif kind == "Mul":
        parts = [g * _product(values, skip=j) for j in range(len(values))]
    else:
        parts = [g] + [(-g if kind == "Sub" else g) for _ in values[1:]]
    return [R.sum_to_size(part, v.shape) for part, v in zip(parts, values)]


def merge_jvp(block, values, tangents):
    """The derivative of a merge along its branches' tangents."""
    kind = block.merge_kind()
    if kind in ("Concat", "Stack", "Resize"):
        return merge_forward(block, tangents if kind != "Resize" else [tangents[0], values[1]])
    if kind == "MatMul":
        return tangents[0] @ values[1] + values[0] @ tangents[1]
    if kind == "Attention":
        return R.scaled_dot_product_attention_jvp(*values, *tangents)
    if kind == "Mul":
        return sum(t * _product(values, skip=j) for j, t in enumerate(tangents))
    if kind == "Div":
        y = merge_forward(block, values)
        return tangents[0] / _product(values[1:]) - y * sum(t / v for t, v in zip(tangents[1:], values[1:]))
    out = tangents[0]
    for t in tangents[1:]:
        out = out + t if kind == "Add" else out - t
    return out


# --- the runner ---------------------------------------------------------------------------------


def _given(given, expected, what, dtype):
    """Check user-supplied arrays against the expected {name: shape}, cast to the run's dtype."""
    missing = sorted(set(expected) - set(given))
    if missing:
        raise ShapeError(f"{what}: missing {', '.join(missing)}")
    out = {}
    for name, shape in expected.items():
        arr = np.asarray(given[name], dtype=dtype)
        if arr.shape != shape:
            raise ShapeError(f"{what} {name}: expected shape {shape}, got {arr.shape}")
        out[name] = arr
    return out


def parameter_shapes(model):
    """{name: shape} of every parameter, as ``init_parameters`` creates them."""
    nodes = flow(model)
    return {
        full: _concrete(nodes[i].layer.parameter_shapes()[local], full)
        for i, names in parameter_names(model).items()
        for full, local in names.items()
    }


def forward_backward(
    model,
    x,
    grad_out=None,
    seed=0,
    *,
    params=None,
    buffers=None,
    training=True,
    backward=True,
    extra_grads=None,
    spread_max=False,
    param_grads=True,
    keep=False,
    dtype=None,
):
    """Run ``model`` on the batched array ``x`` (N, C, *spatial) forward and backward; returns a ``Trace``.

    ``y, grad_x, grads = forward_backward(model, x)``: the output, dL/dx and dL/dparameter by name for
    L = sum(y * grad_out) (grad_out defaults to ones, i.e. ``y.sum().backward()``; it may be a function of
    the output returning the array, when its shape is known only after the forward pass). Parameters come from
    ``init_parameters(model, seed)`` unless ``params`` (name -> array) is given; ``buffers`` likewise
    (BatchNorm running statistics, used when ``training`` is False). Dropout masks are seeded from
    ``(seed, step index)``. ``extra_grads`` ({step index: array}) adds a gradient at a step's output;
    ``spread_max`` sends max pooling's gradient to every window entry; ``param_grads=False`` computes
    the input gradient only (grads is then empty); ``backward=False`` stops after
    the forward pass (grad_input and grads are then None). ``keep`` keeps the tape on the trace for
    ``linearize`` and per-node checks: ``input``, ``values`` (every node's output), and per node the
    gradient arriving at its output (``upstream``), the gradients it sends to its inputs (``parts``)
    and its own parameters' gradients (``local_grads``). The run's precision is ``dtype``, else x's
    (float32 for other inputs); integer ids (an Embedding's input) stay integers and have no gradient
    (grad_input is None).
    """
    x = np.asarray(x)
    if dtype is None:
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    if not np.issubdtype(x.dtype, np.integer):
        x = x.astype(dtype, copy=False)
    nodes = flow(model)
    owned = parameter_names(model)
    params = init_parameters(model, seed, dtype) if params is None else _given(params, parameter_shapes(model), "parameter", dtype)
    default_buffers = init_buffers(model, dtype)
    buffers = default_buffers if buffers is None else _given(
        buffers, {k: v.shape for k, v in default_buffers.items()}, "buffer", dtype
    )
    mode = _Mode(training, seed, spread_max, param_grads)

    local = {}  # id(layer) -> (params by local name, buffers by local name, name of its first use)
    for i, names in owned.items():
        layer, name = nodes[i].layer, nodes[i].name
        local[id(layer)] = (
            {loc: params[full] for full, loc in names.items()},
            {loc: buffers[full_name(name, loc)] for loc in layer.buffer_shapes()},
            name,
        )

    values = []  # the output of every node (the tape of the backward pass)
    records = []
    for i, node in enumerate(nodes):
        inputs = [x if q == INPUT else values[q] for q in node.inputs]
        with R.count_macs() as counter:
            if node.is_merge:
                y = merge_forward(node.layer, inputs)
            else:
                p, b, _ = local[id(node.layer)]
                y = ops(node.layer, node.name).forward(node.layer, inputs[0], p, b, mode, i)
        if node.is_merge:
            kind = node.layer.merge_kind()
            records.append(Step(i, node.name or kind.lower(), kind, y.shape[1:], counter.macs, ()))
        else:
            records.append(Step(i, node.name, node.layer.type, y.shape[1:], counter.macs, tuple(owned.get(i, {}))))
        values.append(y)
    output = values[-1] if values else x
    trace = Trace(output, None, None, params, buffers, records)
    if keep:
        trace.input, trace.values, trace.mode = x, values, mode
        trace.upstream, trace.parts, trace.local_grads = {}, {}, {}
    if not backward:
        return trace

    grads = {}
    extra = extra_grads or {}
    if callable(grad_out):
        grad_out = grad_out(output)
    g = np.ones_like(output) if grad_out is None else np.asarray(grad_out, dtype=dtype)
    if g.shape != output.shape:
        raise ShapeError(f"grad_out: expected shape {output.shape}, got {g.shape}")
    pending = {len(nodes) - 1 if nodes else INPUT: g}  # node index -> gradient of its output so far

    def add(q, grad):
        pending[q] = grad if q not in pending else pending[q] + grad

    for i in range(len(nodes) - 1, -1, -1):
        node = nodes[i]
        if i in extra:
            add(i, extra[i])
        if i not in pending:
            continue  # nothing downstream of this node reaches the output
        g = pending.pop(i)
        inputs = [x if q == INPUT else values[q] for q in node.inputs]
        if node.is_merge:
            parts = merge_backward(node.layer, inputs, g)
        else:
            p, b, owner = local[id(node.layer)]
            part, local_grads = ops(node.layer, node.name).backward(node.layer, inputs[0], p, b, g, mode, i)
            parts = [part]
            if keep:
                trace.local_grads[i] = local_grads
            for loc, grad in local_grads.items():
                full = full_name(owner, loc)
                grads[full] = grad if full not in grads else grads[full] + grad  # a shared layer adds up
        if keep:
            trace.upstream[i], trace.parts[i] = g, parts
        for q, part in zip(node.inputs, parts):
            if part is not None:  # integer ids have no gradient
                add(q, part)
    integer = np.issubdtype(x.dtype, np.integer)
    trace.grad_input = None if integer else pending.get(INPUT, np.zeros_like(x))
    trace.grads = grads
    return trace


def node_inputs(trace, node):
    """The arrays a node read in the run ``trace`` (kept with ``keep=True``)."""
    return [trace.input if q == INPUT else trace.values[q] for q in node.inputs]


def local_arrays(model, trace):
    """Per flow node, (its parameters, its buffers, the name owning them), by local name, from ``trace``."""
    nodes = flow(model)
    owned = parameter_names(model)
    out, by_layer = {}, {}
    for i, names in owned.items():
        layer, name = nodes[i].layer, nodes[i].name
        by_layer[id(layer)] = ({loc: trace.params[full] for full, loc in names.items()},
                               {loc: trace.buffers[full_name(name, loc)] for loc in layer.buffer_shapes()}, name)
    for i, node in enumerate(nodes):
        if not node.is_merge:
            out[i] = by_layer[id(node.layer)]
    return out


def node_forward(model, trace, i, inputs, params=None, local=None):
    """Node i of ``model`` applied to ``inputs``, with its parameters from ``trace`` or ``params`` (by local name)."""
    node = flow(model)[i]
    if node.is_merge:
        return merge_forward(node.layer, inputs)
    p, b, _ = (local or local_arrays(model, trace))[i]
    return ops(node.layer, node.name).forward(node.layer, inputs[0], p if params is None else params, b, trace.mode, i)


def node_jvp(model, trace, i, tangents, param_tangents, local=None):
    """The derivative of node i at the run ``trace`` along its inputs' ``tangents`` and its parameters' (by local name)."""
    node = flow(model)[i]
    inputs = node_inputs(trace, node)
    if node.is_merge:
        return merge_jvp(node.layer, inputs, tangents)
    p, b, _ = (local or local_arrays(model, trace))[i]
    return ops(node.layer, node.name).jvp(node.layer, inputs[0], tangents[0], p, param_tangents, b, trace.mode, i)


def node_margin(model, trace, i, tangents):
    """How far node i's input may move along its tangent before a kink (inf for smooth layers and merges)."""
    node = flow(model)[i]
    if node.is_merge:
        return np.inf
    margin = ops(node.layer, node.name).margin
    return np.inf if margin is None else margin(node.layer, node_inputs(trace, node)[0], tangents[0])


def linearize(model, trace, input_tangent, param_tangents):
    """Forward-mode derivative of the run ``trace`` (``keep=True``): every node's output tangent for the
    input tangent and the parameter tangents (by full name; missing names held fixed), at the run's
    activation pattern (ReLU masks, max-pool choices, dropout masks and batch statistics of the run)."""
    nodes = flow(model)
    owned = parameter_names(model)
    local = local_arrays(model, trace)
    owners = {}
    for i, names in owned.items():
        owners[id(nodes[i].layer)] = {loc: param_tangents[full] for full, loc in names.items() if full in param_tangents}
    tangents = []
    for i, node in enumerate(nodes):
        ins = [input_tangent if q == INPUT else tangents[q] for q in node.inputs]
        u = {} if node.is_merge else owners.get(id(node.layer), {})
        tangents.append(node_jvp(model, trace, i, ins, u, local))
    return tangents


def forward(model, x, seed=0, **options):
    """The output only: ``forward_backward(..., backward=False).output``."""
    return forward_backward(model, x, seed=seed, backward=False, **options).output


__all__ = [
    "forward_backward", "forward", "linearize", "ops", "full_name", "merge_forward", "merge_backward", "merge_jvp", "node_jvp", "node_forward", "node_margin", "node_inputs", "local_arrays", "init_parameters", "init_buffers", "parameter_names", "parameter_shapes", "Trace", "Step",
]
