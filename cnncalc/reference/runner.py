"""Run a whole cnncalc network forward and backward with the NumPy reference.

The model's data flow (``graph.flow``) runs node by node, as ``analysis`` walks it: a leaf applies its
layer to the output of the node it reads, a merge adds or multiplies (Residual) or concatenates
(Concat) the outputs of its branches. The backward pass visits the same nodes in reverse, each
adding the gradients of its inputs into the nodes it read.

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


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


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
        owned[i] = {_join(node.name, local): local for local in node.layer.parameter_shapes()}
    return owned


def _concrete(shape, name):
    if not all(type(d) is int for d in shape):
        raise ShapeError(f"{name}: the reference needs concrete sizes, got {shape}")
    return tuple(shape)


def init_parameters(model, seed=0, dtype=np.float32):
    """Deterministic parameters by name, PyTorch's default ranges: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (fan_in = shape[1]*kh*kw, as torch's kaiming_uniform(a=sqrt(5))), BatchNorm weight 1 and bias 0."""
    rng = np.random.default_rng(seed)
    nodes = flow(model)
    params = {}
    for i, names in parameter_names(model).items():
        layer = nodes[i].layer
        shapes = layer.parameter_shapes()
        fan_in = int(np.prod(_concrete(shapes["weight"], layer.type)[1:])) if "weight" in shapes else 1
        for name, local in names.items():
            shape = _concrete(shapes[local], name)
            if layer.type == "BatchNorm2d":
                params[name] = np.full(shape, 1.0 if local == "weight" else 0.0, dtype=dtype)
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
                buffers[_join(node.name, local)] = np.full(_concrete(shape, node.name), fill, dtype=dtype)
    return buffers


# --- one leaf layer: forward(layer, x, p, b, mode, i) -> y; backward(...) -> (grad_x, {local: grad}) --------


def _conv_kwargs(layer):
    if layer.padding_mode != "zeros":
        raise ShapeError(f"{layer.type}: the reference implements padding_mode='zeros' only, got {layer.padding_mode!r}")
    kwargs = dict(stride=layer.stride, padding=layer.padding, dilation=layer.dilation)
    if layer.type != "ConnectionTableConv2d":  # its table replaces groups
        kwargs["groups"] = layer.groups
    return kwargs


def _with_bias(grads, layer_bias=True):
    grad_x, grad_w, grad_b = grads
    if grad_w is None:  # parameter gradients not wanted
        return grad_x, {}
    out = {"weight": grad_w}
    if layer_bias:
        out["bias"] = grad_b
    return grad_x, out


def _conv_forward(layer, x, p, b, mode, i):
    if layer.type == "ConnectionTableConv2d":
        return R.connection_table_conv2d(x, p["weight"], layer.table, p.get("bias"), **_conv_kwargs(layer))
    return R.conv2d(x, p["weight"], p.get("bias"), **_conv_kwargs(layer))


def _conv_backward(layer, x, p, b, g, mode, i):
    if layer.type == "ConnectionTableConv2d":
        grads = R.connection_table_conv2d_backward(x, p["weight"], layer.table, g, **_conv_kwargs(layer))
        return _with_bias(grads, layer.bias)
    return _with_bias(R.conv2d_backward(x, p["weight"], g, **_conv_kwargs(layer), output_mask=mode.mask), layer.bias)


def _transpose_kwargs(layer):
    return dict(stride=layer.stride, padding=layer.padding, output_padding=layer.output_padding, groups=layer.groups,
                dilation=layer.dilation)


def _pool_kwargs(layer):
    if layer.type == "MaxPool2d":
        return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                    ceil_mode=layer.ceil_mode)
    return dict(kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding, ceil_mode=layer.ceil_mode,
                count_include_pad=layer.count_include_pad, divisor_override=layer.divisor_override)


def _max_pool_backward(layer, x, p, b, g, mode, i):
    backward = R.max_pool2d_spread_backward if mode.spread_max else R.max_pool2d_backward
    return backward(x, g, **_pool_kwargs(layer)), {}


def _adaptive_max_backward(layer, x, p, b, g, mode, i):
    if mode.spread_max:  # positive shares on every window pixel: all a receptive-field measurement needs
        return R.adaptive_avg_pool2d_backward(x, g, layer.output_size), {}
    return R.adaptive_max_pool2d_backward(x, g, layer.output_size), {}


def _bn_training(layer, mode):
    return mode.training or not layer.track_running_stats


def _bn_forward(layer, x, p, b, mode, i):
    return R.batch_norm(x, b.get("running_mean"), b.get("running_var"), p.get("weight"), p.get("bias"),
                        training=_bn_training(layer, mode), eps=layer.eps)


def _bn_backward(layer, x, p, b, g, mode, i):
    grad_x, grad_w, grad_b = R.batch_norm_backward(x, b.get("running_mean"), b.get("running_var"), p.get("weight"),
                                                   p.get("bias"), g, training=_bn_training(layer, mode), eps=layer.eps)
    return grad_x, ({"weight": grad_w, "bias": grad_b} if layer.affine else {})


def _dropout_kwargs(layer, mode, i):
    return dict(p=layer.p, training=mode.training, seed=(mode.seed, i))


def _same_pad(layer, x):
    (top, bottom), (left, right) = layer.pads(x.shape[1:])
    return (left, right, top, bottom)


def _stateless(forward, backward, kwargs=lambda layer: {}):
    """A parameter-free layer: forward(x, **kw) and backward(x, g, **kw) from the functional module."""
    return (
        lambda layer, x, p, b, mode, i: forward(x, **kwargs(layer)),
        lambda layer, x, p, b, g, mode, i: (backward(x, g, **kwargs(layer)), {}),
    )


_LAYERS = {
    "Conv2d": (_conv_forward, _conv_backward),
    "ConnectionTableConv2d": (_conv_forward, _conv_backward),
    "ConvTranspose2d": (
        lambda layer, x, p, b, mode, i: R.conv_transpose2d(x, p["weight"], p.get("bias"), **_transpose_kwargs(layer)),
        lambda layer, x, p, b, g, mode, i: _with_bias(
            R.conv_transpose2d_backward(x, p["weight"], g, **_transpose_kwargs(layer), output_mask=mode.mask), layer.bias
        ),
    ),
    "Linear": (
        lambda layer, x, p, b, mode, i: R.linear(x, p["weight"], p.get("bias")),
        lambda layer, x, p, b, g, mode, i: _with_bias(R.linear_backward(x, p["weight"], g, mode.mask), layer.bias),
    ),
    "MaxPool2d": (lambda layer, x, p, b, mode, i: R.max_pool2d(x, **_pool_kwargs(layer)), _max_pool_backward),
    "AvgPool2d": _stateless(R.avg_pool2d, R.avg_pool2d_backward, _pool_kwargs),
    "AdaptiveAvgPool2d": _stateless(
        R.adaptive_avg_pool2d, R.adaptive_avg_pool2d_backward, lambda layer: dict(output_size=layer.output_size)
    ),
    "AdaptiveMaxPool2d": (
        lambda layer, x, p, b, mode, i: R.adaptive_max_pool2d(x, layer.output_size),
        _adaptive_max_backward,
    ),
    "BatchNorm2d": (_bn_forward, _bn_backward),
    "LocalResponseNorm": _stateless(
        R.local_response_norm,
        R.local_response_norm_backward,
        lambda layer: dict(size=layer.size, alpha=layer.alpha, beta=layer.beta, k=layer.k),
    ),
    "ReLU": _stateless(R.relu, R.relu_backward),
    "ReLU6": _stateless(R.relu6, R.relu6_backward),
    "LeakyReLU": _stateless(R.leaky_relu, R.leaky_relu_backward, lambda layer: dict(negative_slope=layer.negative_slope)),
    "ELU": _stateless(R.elu, R.elu_backward, lambda layer: dict(alpha=layer.alpha)),
    "GELU": _stateless(R.gelu, R.gelu_backward, lambda layer: dict(approximate=layer.approximate)),
    "SiLU": _stateless(R.silu, R.silu_backward),
    "Hardswish": _stateless(R.hardswish, R.hardswish_backward),
    "Hardsigmoid": _stateless(R.hardsigmoid, R.hardsigmoid_backward),
    "Sigmoid": _stateless(R.sigmoid, R.sigmoid_backward),
    "Tanh": _stateless(R.tanh, R.tanh_backward),
    "Softmax": _stateless(R.softmax, R.softmax_backward, lambda layer: dict(dim=layer.dim)),
    "LogSoftmax": _stateless(R.log_softmax, R.log_softmax_backward, lambda layer: dict(dim=layer.dim)),
    "Dropout": (
        lambda layer, x, p, b, mode, i: R.dropout(x, **_dropout_kwargs(layer, mode, i)),
        lambda layer, x, p, b, g, mode, i: (R.dropout_backward(x, g, **_dropout_kwargs(layer, mode, i)), {}),
    ),
    "Dropout2d": (
        lambda layer, x, p, b, mode, i: R.dropout2d(x, **_dropout_kwargs(layer, mode, i)),
        lambda layer, x, p, b, g, mode, i: (R.dropout2d_backward(x, g, **_dropout_kwargs(layer, mode, i)), {}),
    ),
    "Flatten": _stateless(R.flatten, R.flatten_backward, lambda layer: dict(start_dim=layer.start_dim, end_dim=layer.end_dim)),
    "Identity": _stateless(lambda x: x, lambda x, g: g),
    "StochasticDepth": _stateless(lambda x: x, lambda x, g: g),  # inference: the identity
    "ZeroPad2d": _stateless(R.pad, R.pad_backward, lambda layer: dict(pad=layer.padding)),
    **dict.fromkeys(("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"), _stateless(
        R.interpolate, R.interpolate_backward,
        lambda layer: dict(size=layer.size, scale_factor=layer.scale_factor, mode=layer.mode,
                           align_corners=layer.align_corners, recompute_scale_factor=layer.recompute_scale_factor),
    )),
    "SamePad2d": (
        lambda layer, x, p, b, mode, i: R.pad(x, _same_pad(layer, x)),
        lambda layer, x, p, b, g, mode, i: (R.pad_backward(x, g, _same_pad(layer, x)), {}),
    ),
    "Reshape": (
        lambda layer, x, p, b, mode, i: x.reshape((x.shape[0],) + layer.infer(x.shape[1:])),
        lambda layer, x, p, b, g, mode, i: (g.reshape(x.shape), {}),
    ),
}


def _ops(layer, name):
    ops = _LAYERS.get(layer.type)
    if ops is None:
        raise ShapeError(f"{name or layer.type} ({layer.type}): the NumPy reference has no implementation of this layer")
    return ops


# --- merges -------------------------------------------------------------------------------------


def _merge(block, values):
    kind = block.merge_kind()
    if kind == "Concat":
        return np.concatenate(values, axis=1)
    out = values[0]
    for v in values[1:]:
        out = out + v if kind == "Add" else out * v
    return out


def _merge_backward(block, values, g):
    """The gradient of each branch: g (Add) or g times the other branches (Mul), summed over the axes
    the branch was broadcast along; or the branch's channel slice of g (Concat)."""
    kind = block.merge_kind()
    if kind == "Concat":
        return np.split(g, np.cumsum([v.shape[1] for v in values])[:-1], axis=1)
    out = []
    for i, value in enumerate(values):
        grad = g
        if kind == "Mul":
            for j, other in enumerate(values):
                if j != i:
                    grad = grad * other
        axes = tuple(k for k, (a, b) in enumerate(zip(value.shape, grad.shape)) if a == 1 and b != 1)
        out.append(grad.sum(axis=axes, keepdims=True) if axes else grad)
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
):
    """Run ``model`` on the batched NCHW array ``x`` forward and backward; returns a ``Trace``.

    ``y, grad_x, grads = forward_backward(model, x)``: the output, dL/dx and dL/dparameter by name for
    L = sum(y * grad_out) (grad_out defaults to ones, i.e. ``y.sum().backward()``; it may be a function of
    the output returning the array, when its shape is known only after the forward pass). Parameters come from
    ``init_parameters(model, seed)`` unless ``params`` (name -> array) is given; ``buffers`` likewise
    (BatchNorm running statistics, used when ``training`` is False). Dropout masks are seeded from
    ``(seed, step index)``. ``extra_grads`` ({step index: array}) adds a gradient at a step's output;
    ``spread_max`` sends max pooling's gradient to every window entry; ``param_grads=False`` computes
    the input gradient only (grads is then empty, except BatchNorm's); ``backward=False`` stops after
    the forward pass (grad_input and grads are then None).
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    dtype = x.dtype
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
            {loc: buffers[_join(name, loc)] for loc in layer.buffer_shapes()},
            name,
        )

    values = []  # the output of every node (the tape of the backward pass)
    records = []
    for i, node in enumerate(nodes):
        inputs = [x if q == INPUT else values[q] for q in node.inputs]
        if node.is_merge:
            y = _merge(node.layer, inputs)
            records.append(Step(i, node.name or node.layer.merge_kind().lower(), node.layer.merge_kind(), y.shape[1:], 0, ()))
        else:
            forward, _ = _ops(node.layer, node.name)
            p, b, _ = local[id(node.layer)]
            with R.count_macs() as counter:
                y = forward(node.layer, inputs[0], p, b, mode, i)
            records.append(Step(i, node.name, node.layer.type, y.shape[1:], counter.macs, tuple(owned.get(i, {}))))
        values.append(y)
    output = values[-1] if values else x
    if not backward:
        return Trace(output, None, None, params, buffers, records)

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
            parts = _merge_backward(node.layer, inputs, g)
        else:
            _, backward_fn = _ops(node.layer, node.name)
            p, b, owner = local[id(node.layer)]
            part, local_grads = backward_fn(node.layer, inputs[0], p, b, g, mode, i)
            parts = [part]
            for loc, grad in local_grads.items():
                full = _join(owner, loc)
                grads[full] = grad if full not in grads else grads[full] + grad  # a shared layer adds up
        for q, part in zip(node.inputs, parts):
            add(q, part)
    return Trace(output, pending.get(INPUT, np.zeros_like(x)), grads, params, buffers, records)


def forward(model, x, seed=0, **options):
    """The output only: ``forward_backward(..., backward=False).output``."""
    return forward_backward(model, x, seed=seed, backward=False, **options).output


__all__ = [
    "forward_backward", "forward", "init_parameters", "init_buffers", "parameter_names", "parameter_shapes", "Trace", "Step",
]
