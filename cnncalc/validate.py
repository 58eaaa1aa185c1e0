"""Prove the analytic numbers by running the network: ``verify(model, input_shape)``.

For each analysis row the NumPy reference (``cnncalc.reference``) runs the same network on a batch of
one (integer ids in [0, num_embeddings) when an Embedding reads the input) and these are compared,
each check reporting the expected (analytic) and the actual number:

- ``shape``: the executed output shape (batch axis dropped) equals the row's ``output_shape``;
- ``params``: the elements of the parameter arrays the layer owns equal the row's ``params``;
- ``macs``: rows*cols*inner summed over the GEMMs the layer's (or merge's: a matrix product, attention)
  forward executed equals the row's ``macs``;
- ``receptive_field``: per spatial axis (one to three), the first and last input pixels that can reach
  the row's centre output pixel o = n_out // 2, measured by a backward pass through the network's
  *skeleton* on that axis: every layer that reads its input through a window replaced by the same
  reference operation on a one-channel signal along that axis, a kernel of ones of the layer's size,
  its stride, padding (and padding mode) and dilation there (pooling spreads its gradient over the
  whole window, merges pass it to every branch). Every other layer reads each position at itself: the
  skeleton passes the gradient through, so the statistics of normalisers (BatchNorm, GroupNorm,
  InstanceNorm, LayerNorm over the spatial axes, softmax's sum) are held fixed, the constants the
  receptive field counts them as; and a field whose axes moved (a channels-last stretch: Permute,
  LayerNorm and Linear on the channels) is measured along its axes wherever they are. Every row is a
  sample of one batched backward pass per axis, so all rows cost a few passes; a sum of positive
  numbers never cancels, and the pixels reached along one axis do not depend on the others (each
  window is a product of per-axis intervals). The result must equal the analytic region
  [start + o*stride, start + o*stride + size - 1] clipped to the image [0, n - 1] and to the row's
  reach, the last input pixel that floor truncation lets the row see at all (``_reaches``). After a
  transposed convolution or upsampling with stride > 1 output pixels read regions of varying extent:
  there the expected region is traced exactly, layer by layer within the real feature maps
  (``trace.Tracer`` with ``clip``). Rows after the spatial mapping ends (no receptive field) are not
  checked;
- ``gradient``: an exact adjoint (dot-product) test, in float64, with L = sum(y * G) for a random G
  and random tangents u of the input and of every parameter: ``J u``, the forward-mode derivative of
  the reference at the run's own activation pattern (ReLU masks, max-pool choices, dropout masks,
  batch statistics: ``runner.linearize``), must satisfy <J u, v> = <u, J^T v> with J^T v from the
  backward pass. Each layer is tested on its own (v the gradient that reached its output, u the
  tangents of its inputs and parameters), and the input row tests the whole network; kinks do not
  matter, so the test cannot cry wolf, and it agrees to rounding (``ADJOINT_RTOL``) or fails;
- ``finite_difference``: where a layer's derivative is not built from its own forward pass (every
  non-linear layer and merge), the forward-mode derivative is compared with central differences of
  the forward pass, (f(x + h t) - f(x - h t)) / 2h, as whole arrays. The step h is kept below a
  quarter of the distance to the nearest kink along t (a ReLU input crossing 0, a max-pool window
  changing its maximum: ``runner.node_margin``), so the difference never crosses one; when that
  distance is so small that rounding would swamp the difference, the check is reported as skipped,
  with the reason. (A difference of the whole network is not taken: a step inside every layer's
  linearised kink distance can still cross a kink through second-order terms deep in a network,
  while each layer's own difference moves its input exactly along a line.)
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from .analysis import analyze
from . import i18n
from .dims import as_shape, product
from .errors import LimitError, ShapeError
from .formulas import tf_same_padding
from .graph import INPUT, flow
from .limits import MAX_MEMORY
from .reference import functional as R
from .reference import runner
from .trace import Tracer


class Check(NamedTuple):
    """One comparison: what was checked on which row, the analytic and the measured value.

    ``error`` is the relative error of a numerical check; ``note`` says why a check was skipped
    (a skipped check is ``ok`` and ``skipped``: it neither agrees nor disagrees).
    """

    layer: str
    type: str
    what: str  # shape | params | macs | receptive_field | gradient | finite_difference
    expected: object
    actual: object
    ok: bool
    error: float | None = None
    note: str = ""

    @property
    def skipped(self):
        return bool(self.note)


class Verification:
    """All checks of one model on one input; ``ok`` when every check agrees (skipped ones aside)."""

    def __init__(self, name, input_shape, checks):
        self.name = name
        self.input_shape = input_shape
        self.checks = checks

    @property
    def ok(self):
        return all(c.ok for c in self.checks)

    @property
    def failures(self):
        return [c for c in self.checks if not c.ok]

    @property
    def skipped(self):
        return [c for c in self.checks if c.skipped]

    def by_layer(self):
        """{(layer, type): {what: Check}} in row order."""
        out = {}
        for c in self.checks:
            out.setdefault((c.layer, c.type), {})[c.what] = c
        return out

    def __repr__(self):
        return f"Verification({self.name}, {len(self.checks)} checks, {len(self.failures)} failed)"


WHATS = ("shape", "params", "macs", "receptive_field", "gradient", "finite_difference")
ADJOINT_RTOL = 1e-9  # |<Ju, v> - <u, J^T v>| over the sizes of the products (Cauchy-Schwarz), in float64
FD_RTOL = 1e-6  # |FD - Ju| / |Ju| for central differences in float64
STEP = 1e-6  # the finite-difference step along tangents of the values' own size, unless a kink is closer
ROUNDING = 1e-13  # the relative rounding of a forward pass in float64: FD's rounding error is this * |f| / h
FD_RESOLUTION = 1e-3  # skip a finite difference whose rounding error could exceed this fraction of |Ju|


def verify(
    model,
    input_shape,
    *,
    seed=0,
    name=None,
    receptive_field=True,
    gradients=True,
    gradient_layers=None,
    rf_rows=None,
    rf_batch=512,
    rtol=FD_RTOL,
    progress=None,
    max_memory=None,
):
    """Run every check of the module docstring on ``model`` at the concrete ``input_shape`` (C, H, W).

    ``gradient_layers`` and ``rf_rows`` report the per-layer gradient and receptive-field checks of
    that many evenly spaced rows only (None: all); ``rf_batch`` rows share one skeleton pass;
    ``rtol`` is the finite differences' tolerance; ``progress(done, total)`` is called after each job.
    Before any array exists the memory the run needs is estimated (``memory_estimate``) and a run over
    ``max_memory`` bytes (default: ``default_max_memory()``) is refused with a ``LimitError``.
    """
    shape = as_shape(input_shape)
    if not all(type(d) is int for d in shape):
        raise ShapeError(f"verify needs a concrete input shape, got {shape}")
    report = analyze(model, shape, warn=False)
    need = memory_estimate(report)
    limit = default_max_memory() if max_memory is None else max_memory
    try:
        MAX_MEMORY.check(need, f"verify {name or report.name} {'x'.join(map(str, shape))}", "needs about", limit)
    except LimitError as exc:  # the activations grow with the input: a smaller one checks the same formulas
        raise LimitError(f"{exc}; a smaller input needs less") from None
    rng = np.random.default_rng(seed)
    ids = _id_range(model)
    x = rng.standard_normal((1,) + shape) if ids is None else rng.integers(0, ids, (1,) + shape)
    drawn = []

    def draw(y):  # G takes the executed output shape, not the analytic one (which may be wrong)
        drawn.append(rng.standard_normal(y.shape))
        return drawn[0]

    trace = runner.forward_backward(model, x, draw, seed, params=_he_parameters(model, seed), keep=gradients, dtype=np.float64)
    if len(trace.steps) != len(report.layers):
        raise ShapeError(f"verify: {len(report.layers)} analysis rows but {len(trace.steps)} executed steps")

    checks = []
    for row, step in zip(report.layers, trace.steps):
        checks.append(Check(row.name, row.type, "shape", tuple(row.output_shape), step.output_shape,
                            tuple(row.output_shape) == step.output_shape))
        if not row.is_merge:
            actual_params = sum(trace.params[p].size for p in step.params)
            checks.append(Check(row.name, row.type, "params", row.params, actual_params, row.params == actual_params))
        checks.append(Check(row.name, row.type, "macs", row.macs, step.macs, row.macs == step.macs))

    work = rf_jobs = _rf_work(model, shape, report, rf_batch, rf_rows) if receptive_field else []
    if gradients:
        work = work + _gradient_work(model, trace, drawn[0], gradient_layers, rtol, rng)
    for done, job in enumerate(work, 1):
        try:
            checks += job()
        except (ValueError, IndexError, TypeError) as exc:  # the reference itself broke: that is a disagreement
            what = "receptive_field" if job in rf_jobs else "gradient"
            checks.append(Check("input", "Input", what, "a run", f"{type(exc).__name__}: {exc}", False))
        if progress is not None:
            progress(done, len(work))
    order = {(r.name, r.type): i for i, r in enumerate(report.layers)}
    checks.sort(key=lambda c: (order.get((c.layer, c.type), -1), WHATS.index(c.what)))
    return Verification(name or report.name, shape, checks)


def _id_range(model):
    """The number of ids when the input is read by an Embedding (integer ids are drawn then), else None."""
    readers = [node for node in flow(model) if INPUT in node.inputs]
    sizes = [node.layer.num_embeddings for node in readers if not node.is_merge and node.layer.type == "Embedding"]
    if not sizes:
        return None
    if len(sizes) != len(readers):
        raise ShapeError("verify: the input is read by an Embedding (integer ids) and by layers that take numbers")
    return min(sizes)


def memory_estimate(report):
    """The bytes ``verify`` allocates at most, from the report alone (nothing is allocated).

    With A the elements of the input and of every row's output, P the parameters and buffers, L those
    of the largest layer and W the largest im2col matrix (kernel taps times C_in*H_out*W_out, or
    C_out*H_in*W_in for a transposed convolution), all per sample and in float64:
    6A (activations, their gradients, the tangents of the forward-mode derivative and its finite
    differences) + 3P (parameters, gradients, tangents) + 1.5L (one layer's perturbed copies) + 2W (an
    im2col matrix and its adjoint), and 32 MiB for the interpreter's own objects; the receptive-field
    skeleton has one channel and adds nothing that counts. Against the peak (allocations traced, or
    resident memory where larger) of AlexNet, VGG11, ResNet18, SqueezeNet at 224x224, DenseNet121 at 64,
    MobileNetV2 at 128, a 7x7 convolution at 256x256, a stride-4 transposed convolution and a 49M-parameter
    Linear it is 1.1 to 1.7 times as much.
    """
    acts = product(report.input_shape) + sum(r.output_numel for r in report.layers)
    params = report.params + report.buffers
    window, largest = 0, max((r.params for r in report.layers), default=0)
    for row in report.layers:
        kernel = getattr(row.layer, "kernel_size", None)
        if row.is_merge or kernel is None or len(row.input_shape) < 2:
            continue
        taps = product(kernel if isinstance(kernel, tuple) else (kernel,) * (len(row.input_shape) - 1))
        if row.layer.upsamples:
            spread = row.output_shape[0] * product(row.input_shape[1:])
        else:
            spread = row.input_shape[0] * product(row.output_shape[1:])
        window = max(window, taps * spread)
    return 8 * (6 * acts + 3 * params + 2 * window) + 12 * largest + 2**25


def default_max_memory():
    """``MAX_MEMORY`` when set, else three quarters of the machine's memory (physical, not what other
    processes leave free at the moment: the same run must not pass or fail with the load), never more
    than half the address-space limit (``ulimit -v``, which also counts the interpreter and its libraries)."""
    if MAX_MEMORY.value:
        return MAX_MEMORY.value
    candidates = []
    try:
        candidates.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 3 // 4)
    except (AttributeError, OSError, ValueError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            candidates.append(soft // 2)
    except (ImportError, OSError, ValueError):
        pass
    return max(1, min(candidates)) if candidates else 4 * 10**9


def _he_parameters(model, seed):
    """PyTorch's default parameters with the weights scaled by sqrt(6) (bound sqrt(6/fan_in), He's uniform
    init), so activations keep their size through deep ReLU networks without BatchNorm (SqueezeNet)."""
    params = runner.init_parameters(model, seed, np.float64)
    for a in params.values():
        if a.ndim > 1:
            a *= np.sqrt(6)
    return params


def _sample(items, count):
    """``count`` items evenly spaced from first to last (all of them when count is None or larger)."""
    if count is None or len(items) <= count:
        return items
    picks = sorted(set(np.linspace(0, len(items) - 1, count).round().astype(int)))
    return [items[i] for i in picks]


# --- receptive field ----------------------------------------------------------------------------


def _analytic_interval(start, stride, size, o, reach, n):
    """Output pixel o's region [start + o*stride, start + o*stride + size - 1], clipped to the image
    [0, n - 1] and to ``reach``."""
    lo = start + o * stride
    return max(lo, 0), min(lo + size - 1, reach, n - 1)


def _centre(rf, axis, n_out, reach):
    """The output pixel measured along ``axis``: the middle one, moved in among those whose region meets the
    image [0, reach] (padding or cropping can leave the middle pixel reading only padding)."""
    start, stride, size = rf.start[axis], rf.stride[axis], rf.size[axis]
    first, last = max(0, -((start + size - 1) // stride)), min(n_out - 1, (reach - start) // stride)
    return min(max(n_out // 2, first), last) if first <= last else n_out // 2


def _axis_sizes(report, shape, axis):
    """Per row with a receptive field, its size along spatial ``axis`` (wherever that axis now is), and the input's."""
    sizes = {INPUT: shape[1 + axis]}
    for i, row in enumerate(report.layers):
        if row.receptive_field is not None:
            sizes[i] = row.output_shape[row.receptive_field.tensor_dims[axis]]
    return sizes


def _reaches(report, shape):
    """Per row, per axis, the last input pixel the row can depend on at all.

    A layer's last output reads up to start + (n_out - 1)*stride + size - 1, but only through the
    pixels the previous layer has: floor truncation leaves input pixels unread, and a later layer's
    padding does not bring them back. So the reach is the minimum of that end over the layers on the
    way (the maximum over the branches of a merge).
    """
    axes = len(shape) - 1
    sizes = [_axis_sizes(report, shape, a) for a in range(axes)]
    out = []
    for i, row in enumerate(report.layers):
        reach = tuple(max(shape[1 + a] - 1 if q == INPUT else out[q][a] for q in row.inputs) for a in range(axes))
        rf = row.receptive_field
        if rf is not None:
            reach = tuple(min(r, rf.start[a] + (sizes[a][i] - 1) * rf.stride[a] + rf.size[a] - 1) for a, r in enumerate(reach))
        out.append(reach)
    return out


# The skeleton: along one spatial axis, a batch of one-channel signals (rows, 1, n); each layer type's
# backward pass there, (layer, axis, x, g, n_out, the row's input shape) -> the gradient of x (x: zeros of the
# input's size).
# Layers not listed read every position at itself (normalisers' statistics held fixed, as the receptive
# field counts them: constants).


def _ones(kernel, axis):
    return np.ones((1, 1, kernel[axis]))


def _mode_padding(layer, axis, x, backward):
    """A convolution's backward along ``axis``, through its padding_mode's padding when it is not zeros."""
    if layer.padding_mode == "zeros":
        return backward(x, layer.padding if isinstance(layer.padding, str) else layer.padding[axis])
    pads = layer.pads[axis]
    grad = backward(R.pad(x, pads, layer.padding_mode), 0)
    return R.pad_backward(x, grad, pads, layer.padding_mode)


def _conv_skeleton(layer, axis, x, g, n_out, in_shape):
    def backward(x, padding):
        return R.conv1d_backward(x, _ones(layer.kernel_size, axis), g, stride=layer.stride[axis], padding=padding,
                                 dilation=layer.dilation[axis], output_mask=(True, False, False))[0]

    return _mode_padding(layer, axis, x, backward)


def _transpose_skeleton(layer, axis, x, g, n_out, in_shape):
    return R.conv_transpose1d_backward(
        x, _ones(layer.kernel_size, axis), g, stride=layer.stride[axis], padding=layer.padding[axis],
        output_padding=layer.output_padding[axis], dilation=layer.dilation[axis], output_mask=(True, False, False))[0]


def _pool_skeleton(layer, axis, x, g, n_out, in_shape):
    kw = dict(kernel_size=layer.kernel_size[axis], stride=layer.stride[axis], padding=layer.padding[axis],
              ceil_mode=layer.ceil_mode)
    if layer.type.startswith("MaxPool"):
        return R.max_pool1d_spread_backward(x, g, dilation=layer.dilation[axis], **kw)
    return R.avg_pool1d_backward(x, g, count_include_pad=layer.count_include_pad,
                                 divisor_override=getattr(layer, "divisor_override", None), **kw)


def _adaptive_skeleton(layer, axis, x, g, n_out, in_shape):
    return R.adaptive_avg_pool1d_backward(x, g, n_out)


def _upsample_skeleton(layer, axis, x, g, n_out, in_shape):
    mode = "nearest" if layer.mode == "nearest" else "linear"
    kw = dict(mode=mode, align_corners=layer.align_corners, recompute_scale_factor=layer.recompute_scale_factor)
    if layer.size is not None or layer.recompute_scale_factor:
        return R.interpolate_backward(x, g, size=n_out, **kw)
    scale = layer.scale_factor
    return R.interpolate_backward(x, g, scale_factor=scale[axis] if isinstance(scale, (tuple, list)) else scale, **kw)


def _pad_skeleton(layer, axis, x, g, n_out, in_shape):
    if layer.type == "SamePad2d":  # its padding depends on the input's size
        pads = tf_same_padding(x.shape[2], layer.kernel_size[axis], layer.stride[axis], layer.dilation[axis])
    elif layer.type == "Pad":  # any axis: its pads per axis of the (channels-first) input
        pads = layer.pads(len(in_shape))[1 + axis]
    else:
        pads = layer.pads()[axis]
    return R.pad_backward(x, g, pads, getattr(layer, "mode", "constant"))


def _index_skeleton(layer, axis, x, g, n_out, in_shape):
    """Basic indexing's backward along a sliced spatial axis: output o came from start + o*step (its window)."""
    window = layer.windows(in_shape)[axis]
    start, step = -window.p, window.s
    return R.index_backward(x, g, (slice(None), slice(None), slice(start, start + (n_out - 1) * step + 1, step)))


def _block_skeleton(size, up):
    """PixelShuffle (up: each output pixel copies one of the r x r block it came from) and PixelUnshuffle."""

    def skeleton(layer, axis, x, g, n_out, in_shape):
        r = getattr(layer, size)
        backward = R.conv_transpose1d_backward if up else R.conv1d_backward
        return backward(x, np.ones((1, 1, r)), g, stride=r, output_mask=(True, False, False))[0]

    return skeleton


def _merging_skeleton(layer, axis, x, g, n_out, in_shape):
    """Swin's patch merging: output pixel o reads input pixels 2o and 2o + 1 (the second padding past the end)."""
    return np.repeat(g, 2, axis=2)[:, :, : x.shape[2]]


_SKELETONS = {
    **dict.fromkeys(("Conv1d", "Conv2d", "Conv3d", "ConnectionTableConv2d"), _conv_skeleton),
    **dict.fromkeys(("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"), _transpose_skeleton),
    **dict.fromkeys(("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"), _pool_skeleton),
    **dict.fromkeys(("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
                     "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"), _adaptive_skeleton),
    **dict.fromkeys(("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"), _upsample_skeleton),
    **dict.fromkeys(("ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
                     "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
                     "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "SamePad2d"), _pad_skeleton),
    "Pad": _pad_skeleton,
    "Index": _index_skeleton,
    "PixelShuffle": _block_skeleton("upscale_factor", True),
    "PixelUnshuffle": _block_skeleton("downscale_factor", False),
    "PatchMergingPad": _merging_skeleton,
}


def _skeleton(layer, axis, x, g, n_out, in_shape):
    """The skeleton's backward through one leaf; a window only where the layer reads through one (a field
    whose axes moved passes layers that act on other axes unchanged)."""
    skeleton = _SKELETONS.get(layer.torch_type)
    return g if skeleton is None else skeleton(layer, axis, x, g, n_out, in_shape)


def _fitted(part, n):
    """A gradient of a branch or input broadcast along the axis (size 1 there) summed back to it."""
    return part.sum(axis=2, keepdims=True) if n == 1 and part.shape[2] != 1 else part


def _skeleton_reached(model, report, shape, seeds, axis):
    """Run the skeleton backward along ``axis`` with one sample per seeded row: {sample: (first, last)
    input pixel reached, or None}. ``seeds`` are (node index, output position) in sample order."""
    nodes = flow(model)
    batch = len(seeds)
    sizes = _axis_sizes(report, shape, axis)
    by_node = {}
    for b, (i, o) in enumerate(seeds):
        by_node.setdefault(i, []).append((b, o))
    pending = {}
    for i in range(max(by_node), -1, -1):
        node = nodes[i]
        g = pending.pop(i, None)
        if i in by_node:  # a new array: g may be shared with another branch's pending gradient
            g = np.zeros((batch, 1, sizes[i])) if g is None else g.copy()
            for b, o in by_node[i]:
                g[b, 0, o] += 1.0
        if g is None:
            continue
        g = g / np.maximum(g.max(axis=(1, 2), keepdims=True), 1e-300)  # positive scaling keeps the support
        if node.is_merge:
            parts = [g] * len(node.inputs)
        else:
            x = np.broadcast_to(np.zeros(()), (batch, 1, sizes[node.inputs[0]]))
            parts = [_skeleton(node.layer, axis, x, g, sizes[i], report.layers[i].input_shape)]
        for q, part in zip(node.inputs, parts):
            part = _fitted(part, sizes[q])
            pending[q] = part if q not in pending else pending[q] + part
    reached = pending.get(INPUT)
    out = {}
    for b in range(batch):
        hit = np.flatnonzero(reached[b, 0] > 0) if reached is not None else np.array([])
        out[b] = (int(hit[0]), int(hit[-1])) if hit.size else None
    return out


def _rf_work(model, shape, report, batch, count):
    """Jobs measuring the receptive field of every row that has one (``count`` of them, evenly spaced, or
    all), ``batch`` rows per skeleton pass, one pass per spatial axis."""
    axes = len(shape) - 1
    tracer = Tracer(report.layers, clip=True)
    sizes = [_axis_sizes(report, shape, a) for a in range(axes)]
    rows = [(index, row, reach) for index, (row, reach) in enumerate(zip(report.layers, _reaches(report, shape)))
            if row.receptive_field is not None]
    rows = _sample(rows, count)

    def job(chunk):
        def run():
            centres = [[_centre(row.receptive_field, axis, sizes[axis][index], reach[axis]) for index, row, reach in chunk]
                       for axis in range(axes)]
            measured = [_skeleton_reached(model, report, shape, [(index, o) for (index, _, _), o in zip(chunk, centres[axis])],
                                          axis) for axis in range(axes)]
            out = []
            for b, (index, row, reach) in enumerate(chunk):
                rf = row.receptive_field
                expected = []
                for axis in range(axes):
                    o = centres[axis][b]
                    if tracer.concrete and tracer.periods[index] != (1,) * axes:  # after upsampling: traced regions
                        expected.append(tracer.hull(index, axis, o))
                    else:
                        expected.append(_analytic_interval(
                            rf.start[axis], rf.stride[axis], rf.size[axis], o, reach[axis], shape[1 + axis]
                        ))
                expected, actual = tuple(expected), tuple(measured[axis][b] for axis in range(axes))
                out.append(Check(row.name, row.type, "receptive_field", expected, actual, expected == actual))
            return out

        return run

    return [job(rows[i : i + batch]) for i in range(0, len(rows), batch)]


# --- gradients ----------------------------------------------------------------------------------


def _dot(a, b):  # element-wise, not BLAS: a threaded BLAS call costs milliseconds on the many small arrays here
    return float(np.sum(np.multiply(a, b)))


def _norm(a):
    return float(np.sqrt(_dot(a, a)))


def _tangents(params, rng):
    """Random directions of each parameter's own size (BatchNorm's zero biases: unit size)."""
    out = {}
    for name, value in params.items():
        scale = float(np.sqrt(np.mean(np.square(value)))) or 1.0
        out[name] = rng.standard_normal(value.shape) * scale
    return out


def _adjoint(label, kind, forward_products, backward_products):
    """<J u, v> (forward mode) against <u, J^T v> (backward): pairs of arrays whose dot products add up."""
    actual = sum(_dot(a, b) for a, b in forward_products)
    expected = sum(_dot(a, b) for a, b in backward_products)
    scale = sum(_norm(a) * _norm(b) for a, b in forward_products + backward_products)
    error = abs(actual - expected) / max(scale, 1e-300)
    return Check(label, kind, "gradient", expected, actual, error <= ADJOINT_RTOL, error)


def _finite_difference(label, kind, evaluate, jvp, margin, rtol, weight):
    """Central differences of ``evaluate(s)`` (the forward at x + s*t) against the derivative ``jvp``,
    with the step h kept below a quarter of the kink distance ``margin``.

    Differences at h and h/2 are combined by Richardson extrapolation (truncation error O(h^4)); their
    disagreement, a bound on the truncation error that is left, is allowed on top of ``rtol`` and of
    the rounding error (``ROUNDING`` * |f| / h).
    """
    h = min(STEP, margin / 4)
    size = _norm(jvp)
    if h > 0:
        values = [evaluate(s) for s in (h, -h, h / 2, -h / 2)]
        rounding = 2 * ROUNDING * sum(_norm(v) for v in values) / h
    if h <= 0 or rounding > FD_RESOLUTION * size and rounding > 0:
        note = ("skipped: an input lies exactly on a kink, where the layer has no derivative" if margin == 0 else
                f"skipped: a kink lies {margin:.1e} tangent steps away, too close for a finite difference to resolve")
        return Check(label, kind, "finite_difference", None, None, True, None, note)
    coarse = (values[0] - values[1]) / (2 * h)
    fine = (values[2] - values[3]) / h
    fd = (4 * fine - coarse) / 3
    miss = _norm(fd - jvp)
    error = miss / max(size, 1e-300)
    ok = miss <= rtol * size + rounding + _norm(fine - coarse) / 3
    return Check(label, kind, "finite_difference", _dot(jvp, weight), _dot(fd, weight), ok, error)


def _gradient_work(model, trace, grad_out, layers, rtol, rng):
    """Jobs: the whole network's adjoint test (the input row), then per node."""
    nodes = flow(model)
    local = runner.local_arrays(model, trace)
    ids = trace.grad_input is None  # integer ids: no direction to move them in
    input_tangent = np.zeros(trace.input.shape) if ids else rng.standard_normal(trace.input.shape)
    param_tangents = _tangents(trace.params, rng)
    state = {}

    def tangents_of(i):
        return [input_tangent if q == INPUT else state["tangents"][q] for q in runner.reads(nodes, i)]

    def own_tangents(i):
        if nodes[i].is_merge:
            return {}
        p, _, owner = local[i]
        return {loc: param_tangents[runner.full_name(owner, loc)] for loc in p}

    def whole():
        state["tangents"] = tangents = runner.linearize(model, trace, input_tangent, param_tangents)
        moved = [] if ids else [(input_tangent, trace.grad_input)]
        checks = [_adjoint("input", "Input", [(tangents[-1], grad_out)],
                           moved + [(param_tangents[n], trace.grads[n]) for n in trace.grads])]
        # a finite difference of the whole network is not taken: a step inside every node's linearised kink
        # distance can still cross a kink through second-order terms deep in the network; each node's own
        # difference moves its input exactly along a line, so its kink distance is exact
        state["margins"] = [runner.node_margin(model, trace, i, tangents_of(i)) for i in range(len(nodes))]
        return checks

    def per_node(indices):
        def run():
            checks = []
            for i in indices:
                node, step = nodes[i], trace.steps[i]
                ins, u = tangents_of(i), own_tangents(i)
                parts = trace.parts[i]
                backward = [(t, part) for t, part in zip(ins, parts) if part is not None]  # ids have no gradient
                backward += [(u[loc], grad) for loc, grad in trace.local_grads.get(i, {}).items()]
                out_t, g = state["tangents"][i], trace.upstream[i]
                checks.append(_adjoint(step.name, step.type, [(out_t, g)], backward))
                if not node.is_merge and runner.ops(node.layer, node.name).from_forward:
                    continue
                inputs = runner.node_inputs(model, trace, i)
                p = {} if node.is_merge else local[i][0]

                def evaluate(h, inputs=inputs, ins=ins, p=p, u=u, i=i):
                    moved = {loc: v + h * u[loc] for loc, v in p.items()} if u else None
                    return runner.node_forward(model, trace, i, [a + h * t for a, t in zip(inputs, ins)], moved, local)

                checks.append(_finite_difference(step.name, step.type, evaluate, out_t, state["margins"][i], rtol, g))
            return checks

        return run

    reached = _sample([i for i in range(len(nodes)) if i in trace.upstream], layers)
    chunk = max(1, -(-len(reached) // 8))
    return [whole] + [per_node(reached[k : k + chunk]) for k in range(0, len(reached), chunk)]


# --- text ---------------------------------------------------------------------------------------


def _cell(check, lang="en"):
    if check is None:
        return "-"
    if check.skipped:
        return i18n.text("verify.skipped", lang)
    if check.ok:
        ok = i18n.text("verify.cell_ok", lang)
        return ok if check.error is None else f"{ok} {check.error:.0e}"
    error = "" if check.error is None else i18n.text("verify.error", lang, error=f"{check.error:.0e}")
    return i18n.text("verify.cell_fail", lang, expected=check.expected, actual=check.actual) + error


def format_table(result, lang="en"):
    """A per-layer text table: one column per check, 'ok' or 'FAIL expected ..., got ...' (``lang``: en or zh)."""
    header = tuple(i18n.text("verify.header", lang).split("|"))
    lines = [header]
    for (layer, kind), checks in result.by_layer().items():
        if (layer, kind) == ("input", "Input") and lang != "en":  # the gradient reaching the input, not a layer
            layer = kind = i18n.text("verify.input", lang)
        lines.append((layer or "-", kind) + tuple(_cell(checks.get(w), lang) for w in WHATS))
    widths = [max(i18n.width(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["  ".join(i18n.ljust(str(v), wd) for v, wd in zip(line, widths)).rstrip() for line in lines]
    verdict = (i18n.text("verify.all_agree", lang) if result.ok else
               i18n.text("verify.some_disagree", lang, failed=len(result.failures), total=len(result.checks)))
    skipped = len(result.skipped)
    if skipped == 1:  # the note is the checker's own English reason
        note = i18n.translate(result.skipped[0].note.removeprefix("skipped: "), lang)
        verdict += i18n.text("verify.one_skipped", lang, note=note)
    elif skipped:
        verdict += i18n.text("verify.some_skipped", lang, skipped=skipped)
    text.append(f"{result.name} {'x'.join(map(str, result.input_shape))}{i18n.colon(lang)}{verdict}")
    return "\n".join(text)


__all__ = ["verify", "Verification", "Check", "format_table", "memory_estimate", "default_max_memory"]
