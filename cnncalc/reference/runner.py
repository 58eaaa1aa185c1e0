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


# --- one leaf layer ---------------------------------------------------------------------------
#
# Each layer type is one ``Op`` entry of ``_LAYERS``:
#   forward(layer, x, p, b, mode, i) -> y                      p, b: parameters and buffers by local name
#   backward(layer, x, p, b, g, mode, i) -> (grad_x, {local: grad})
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


def _bilinear_jvp(forward):
    """y = f(x, w) + b, linear in x and in (w, b): y' = f(t, w) + f(x, w') + b'."""

    def jvp(layer, x, t, p, u, b, mode, i):
        y = forward(layer, t, {"weight": p["weight"]}, b, mode, i)
        return y + forward(layer, x, u, b, mode, i) if u else y

    return jvp


def _bilinear(forward, backward):
    return Op(forward, backward, _bilinear_jvp(forward), from_forward=True)


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


def _transpose_forward(layer, x, p, b, mode, i):
    return R.conv_transpose2d(x, p["weight"], p.get("bias"), **_transpose_kwargs(layer))


def _linear_forward(layer, x, p, b, mode, i):
    return R.linear(x, p["weight"], p.get("bias"))


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


def _bn_jvp(layer, x, t, p, u, b, mode, i):
    return R.batch_norm_jvp(x, t, b.get("running_mean"), b.get("running_var"), p.get("weight"), p.get("bias"),
                            u.get("weight"), u.get("bias"), training=_bn_training(layer, mode), eps=layer.eps)


def _bn_margin(layer, x, t):
    """BatchNorm is smooth, but in training a channel of small variance bends within a short step: a thousandth
    of min over channels sqrt(var + eps) / max |t - mean(t)| keeps a finite difference in its near-linear range."""
    axes = (0,) + tuple(range(2, x.ndim))
    spread = np.abs(t - t.mean(axis=axes, keepdims=True)).max(axis=axes)
    radius = np.sqrt(x.var(axis=axes) + layer.eps)
    moving = spread > 0
    return float((radius[moving] / spread[moving]).min(initial=np.inf)) / 1000


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


def _stateless(forward, backward, kwargs=lambda layer: {}, *, linear=False, margin=None):
    """A parameter-free layer from the functional module: forward(x, **kw), backward(x, g, **kw).

    Its derivative along t is forward(t) when the layer is ``linear``; otherwise its Jacobian is
    symmetric (element-wise layers: diagonal; softmax: diag(y) - y y^T), so it is backward(x, t): for
    these ``validate`` checks the derivative against the forward pass by finite differences.
    """
    return Op(
        lambda layer, x, p, b, mode, i: forward(x, **kwargs(layer)),
        lambda layer, x, p, b, g, mode, i: (backward(x, g, **kwargs(layer)), {}),
        (lambda layer, x, t, p, u, b, mode, i: forward(t, **kwargs(layer))) if linear
        else (lambda layer, x, t, p, u, b, mode, i: backward(x, t, **kwargs(layer))),
        margin,
        linear,
    )


def _masked(forward, backward):
    """Dropout: y = x * mask, the mask drawn from (seed, step): linear in x."""
    return Op(
        lambda layer, x, p, b, mode, i: forward(x, **_dropout_kwargs(layer, mode, i)),
        lambda layer, x, p, b, g, mode, i: (backward(x, g, **_dropout_kwargs(layer, mode, i)), {}),
        lambda layer, x, t, p, u, b, mode, i: forward(t, **_dropout_kwargs(layer, mode, i)),
        from_forward=True,
    )


def _padded(pads):
    return Op(
        lambda layer, x, p, b, mode, i: R.pad(x, pads(layer, x)),
        lambda layer, x, p, b, g, mode, i: (R.pad_backward(x, g, pads(layer, x)), {}),
        lambda layer, x, t, p, u, b, mode, i: R.pad(t, pads(layer, x)),
        from_forward=True,
    )


_IDENTITY = _stateless(lambda x: x, lambda x, g: g, linear=True)

_LAYERS = {
    **dict.fromkeys(("Conv2d", "ConnectionTableConv2d"), _bilinear(_conv_forward, _conv_backward)),
    "ConvTranspose2d": _bilinear(
        _transpose_forward,
        lambda layer, x, p, b, g, mode, i: _with_bias(
            R.conv_transpose2d_backward(x, p["weight"], g, **_transpose_kwargs(layer), output_mask=mode.mask), layer.bias
        ),
    ),
    "Linear": _bilinear(
        _linear_forward,
        lambda layer, x, p, b, g, mode, i: _with_bias(R.linear_backward(x, p["weight"], g, mode.mask), layer.bias),
    ),
    "MaxPool2d": Op(
        lambda layer, x, p, b, mode, i: R.max_pool2d(x, **_pool_kwargs(layer)),
        _max_pool_backward,
        lambda layer, x, t, p, u, b, mode, i: R.max_pool2d_jvp(x, t, **_pool_kwargs(layer)),
        lambda layer, x, t: R.max_pool2d_margin(x, t, **_pool_kwargs(layer)),
    ),
    "AvgPool2d": _stateless(R.avg_pool2d, R.avg_pool2d_backward, _pool_kwargs, linear=True),
    "AdaptiveAvgPool2d": _stateless(
        R.adaptive_avg_pool2d, R.adaptive_avg_pool2d_backward, lambda layer: dict(output_size=layer.output_size), linear=True
    ),
    "AdaptiveMaxPool2d": Op(
        lambda layer, x, p, b, mode, i: R.adaptive_max_pool2d(x, layer.output_size),
        _adaptive_max_backward,
        lambda layer, x, t, p, u, b, mode, i: R.adaptive_max_pool2d_jvp(x, t, layer.output_size),
        lambda layer, x, t: R.adaptive_max_pool2d_margin(x, t, layer.output_size),
    ),
    "BatchNorm2d": Op(_bn_forward, _bn_backward, _bn_jvp, _bn_margin),
    "LocalResponseNorm": Op(  # type: ignore[call-arg]  # mypy cannot count the starred pair
        *_stateless(R.local_response_norm, R.local_response_norm_backward,
                    lambda layer: dict(size=layer.size, alpha=layer.alpha, beta=layer.beta, k=layer.k))[:2],
        lambda layer, x, t, p, u, b, mode, i: R.local_response_norm_jvp(x, t, layer.size, layer.alpha, layer.beta, layer.k),
    ),
    "ReLU": _stateless(R.relu, R.relu_backward, margin=_kinks(0)),
    "ReLU6": _stateless(R.relu6, R.relu6_backward, margin=_kinks(0, 6)),
    "LeakyReLU": _stateless(R.leaky_relu, R.leaky_relu_backward, lambda layer: dict(negative_slope=layer.negative_slope),
                            margin=_kinks(0)),
    "ELU": _stateless(R.elu, R.elu_backward, lambda layer: dict(alpha=layer.alpha), margin=_kinks(0)),
    "GELU": _stateless(R.gelu, R.gelu_backward, lambda layer: dict(approximate=layer.approximate)),
    "SiLU": _stateless(R.silu, R.silu_backward),
    "Hardswish": _stateless(R.hardswish, R.hardswish_backward, margin=_kinks(-3, 3)),
    "Hardsigmoid": _stateless(R.hardsigmoid, R.hardsigmoid_backward, margin=_kinks(-3, 3)),
    "Sigmoid": _stateless(R.sigmoid, R.sigmoid_backward),
    "Tanh": _stateless(R.tanh, R.tanh_backward),
    "Softmax": _stateless(R.softmax, R.softmax_backward, lambda layer: dict(dim=layer.dim)),
    "LogSoftmax": _stateless(R.log_softmax, R.log_softmax_backward, lambda layer: dict(dim=layer.dim)),
    "Dropout": _masked(R.dropout, R.dropout_backward),
    "Dropout2d": _masked(R.dropout2d, R.dropout2d_backward),
    "Flatten": _stateless(R.flatten, R.flatten_backward, lambda layer: dict(start_dim=layer.start_dim, end_dim=layer.end_dim),
                          linear=True),
    "Identity": _IDENTITY,
    "StochasticDepth": _IDENTITY,  # inference: the identity
    "ZeroPad2d": _padded(lambda layer, x: layer.padding),
    **dict.fromkeys(("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"), _stateless(
        R.interpolate, R.interpolate_backward,
        lambda layer: dict(size=layer.size, scale_factor=layer.scale_factor, mode=layer.mode,
                           align_corners=layer.align_corners, recompute_scale_factor=layer.recompute_scale_factor),
        linear=True,
    )),
    "SamePad2d": _padded(_same_pad),
    "Reshape": Op(
        lambda layer, x, p, b, mode, i: x.reshape((x.shape[0],) + layer.infer(x.shape[1:])),
        lambda layer, x, p, b, g, mode, i: (g.reshape(x.shape), {}),
        lambda layer, x, t, p, u, b, mode, i: t.reshape((t.shape[0],) + layer.infer(t.shape[1:])),
        from_forward=True,
    ),
}


def _ops(layer, name):
    ops = _LAYERS.get(layer.type)
    if ops is None:
        raise ShapeError(f"{name or layer.type} ({layer.type}): the NumPy reference has no implementation of this layer")
    return ops


# --- merges -------------------------------------------------------------------------------------


def _merge(block, values, name=""):
    kind = block.merge_kind()
    if kind not in ("Add", "Mul", "Concat"):  # Merge's other ops (resize, matmul, attention, ...)
        raise ShapeError(f"{name or kind.lower()} ({kind}): the NumPy reference has no implementation of this merge")
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


def _merge_jvp(block, values, tangents):
    """The derivative of a merge: the tangents added (Add), the product rule (Mul) or concatenated (Concat)."""
    kind = block.merge_kind()
    if kind == "Concat":
        return np.concatenate(tangents, axis=1)
    if kind == "Add":
        out = tangents[0]
        for t in tangents[1:]:
            out = out + t
        return out
    out = 0
    for i, t in enumerate(tangents):
        term = t
        for j, value in enumerate(values):
            if j != i:
                term = term * value
        out = out + term
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
    the forward pass (grad_input and grads are then None). ``keep`` keeps the tape on the trace for
    ``linearize`` and per-node checks: ``input``, ``values`` (every node's output), and per node the
    gradient arriving at its output (``upstream``), the gradients it sends to its inputs (``parts``)
    and its own parameters' gradients (``local_grads``).
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
            y = _merge(node.layer, inputs, node.name)
            records.append(Step(i, node.name or node.layer.merge_kind().lower(), node.layer.merge_kind(), y.shape[1:], 0, ()))
        else:
            p, b, _ = local[id(node.layer)]
            with R.count_macs() as counter:
                y = _ops(node.layer, node.name).forward(node.layer, inputs[0], p, b, mode, i)
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
            parts = _merge_backward(node.layer, inputs, g)
        else:
            p, b, owner = local[id(node.layer)]
            part, local_grads = _ops(node.layer, node.name).backward(node.layer, inputs[0], p, b, g, mode, i)
            parts = [part]
            if keep:
                trace.local_grads[i] = local_grads
            for loc, grad in local_grads.items():
                full = _join(owner, loc)
                grads[full] = grad if full not in grads else grads[full] + grad  # a shared layer adds up
        if keep:
            trace.upstream[i], trace.parts[i] = g, parts
        for q, part in zip(node.inputs, parts):
            add(q, part)
    trace.grad_input = pending.get(INPUT, np.zeros_like(x))
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
                               {loc: trace.buffers[_join(name, loc)] for loc in layer.buffer_shapes()}, name)
    for i, node in enumerate(nodes):
        if not node.is_merge:
            out[i] = by_layer[id(node.layer)]
    return out


def node_forward(model, trace, i, inputs, params=None, local=None):
    """Node i of ``model`` applied to ``inputs``, with its parameters from ``trace`` or ``params`` (by local name)."""
    node = flow(model)[i]
    if node.is_merge:
        return _merge(node.layer, inputs)
    p, b, _ = (local or local_arrays(model, trace))[i]
    return _ops(node.layer, node.name).forward(node.layer, inputs[0], p if params is None else params, b, trace.mode, i)


def node_jvp(model, trace, i, tangents, param_tangents, local=None):
    """The derivative of node i at the run ``trace`` along its inputs' ``tangents`` and its parameters' (by local name)."""
    node = flow(model)[i]
    inputs = node_inputs(trace, node)
    if node.is_merge:
        return _merge_jvp(node.layer, inputs, tangents)
    p, b, _ = (local or local_arrays(model, trace))[i]
    return _ops(node.layer, node.name).jvp(node.layer, inputs[0], tangents[0], p, param_tangents, b, trace.mode, i)


def node_margin(model, trace, i, tangents):
    """How far node i's input may move along its tangent before a kink (inf for smooth layers and merges)."""
    node = flow(model)[i]
    if node.is_merge:
        return np.inf
    margin = _ops(node.layer, node.name).margin
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
    "forward_backward", "forward", "linearize", "node_jvp", "node_forward", "node_margin", "node_inputs", "local_arrays", "init_parameters", "init_buffers", "parameter_names", "parameter_shapes", "Trace", "Step",
]
