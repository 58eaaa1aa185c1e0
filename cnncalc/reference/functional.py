"""NumPy reference of ``torch.nn.functional``: each forward next to its backward, for one to three spatial axes.

Arrays are batched and channels first, (N, C, *spatial), float32 or float64. Functions take torch's
argument names, order and defaults; a family named by its rank (``conv1d``, ``conv2d``, ``conv3d``) is
one function over the rank of its input. Each ``*_backward`` takes the forward's inputs plus
``grad_out`` and returns the gradients of the forward's differentiable array inputs in order (one
array when there is one, else a tuple; ``None`` for an absent optional input). Where the derivative
along a tangent t is neither the forward itself (a linear op) nor the backward applied to t (a
symmetric Jacobian: element-wise ops, softmax), ``*_jvp`` gives it; a non-smooth op has a
``*_margin``: how far its input may move along t before a kink. Every output size comes from
``cnncalc.formulas``.

Convolutions lower to one GEMM per call (groups batched by ``np.matmul``) over an im2col matrix built
from a strided view of the padded input; the adjoint, col2im, adds the columns back. The loops that
remain run over kernel taps, never over pixels or channels. Every GEMM of an op with MACs goes
through ``_gemm``, which adds rows*cols*inner to the active ``count_macs()`` counters.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import formulas as F

# --- helpers ------------------------------------------------------------------------------------

_COUNTERS: list = []


class count_macs:
    """Context manager counting the MACs (rows*cols*inner) of every GEMM the reference runs inside it."""

    def __init__(self):
        self.macs = 0

    def __enter__(self):
        _COUNTERS.append(self)
        return self

    def __exit__(self, *exc):
        _COUNTERS.remove(self)


def _gemm(a, b):
    """np.matmul(a, b), counted: each of the (broadcast) batch's matrices costs rows*cols*inner MACs."""
    out = np.matmul(a, b)
    if _COUNTERS:
        macs = out.size * a.shape[-1]
        for counter in _COUNTERS:
            counter.macs += macs
    return out


def _ntuple(value, rank):
    """An int or a sequence as ``rank`` ints (a one-element sequence repeats, as torch's _ntuple)."""
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return (int(value[0]),) * rank
        if len(value) != rank:
            raise ValueError(f"expected an int or {rank} values, got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value),) * rank


def _spatial_axes(x):
    return tuple(range(2, x.ndim))


def _channel_shape(x):
    """(1, C, 1, ...): a per-channel array broadcast against x."""
    return (1, -1) + (1,) * (x.ndim - 2)


def _pad(x, pads, value=0.0):
    """Pad the last len(pads) axes by ``pads`` = ((before, after), ...) in axis order, filled with ``value``;
    negative amounts crop."""
    lead = x.ndim - len(pads)
    crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pads, x.shape[lead:]))
    x = x[(Ellipsis,) + crop]
    pads = tuple((max(b, 0), max(a, 0)) for b, a in pads)
    if not any(b or a for b, a in pads):
        return x
    spatial = x.shape[lead:]
    out = np.full(x.shape[:lead] + tuple(b + n + a for (b, a), n in zip(pads, spatial)), value, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(b, b + n) for (b, _), n in zip(pads, spatial))] = x
    return out


def _unpad(xp, starts, sizes):
    """The window of a padded map that holds the original pixels: the adjoint of ``_pad``."""
    return xp[(Ellipsis,) + tuple(slice(s, s + n) for s, n in zip(starts, sizes))]


def _windows(xp, kernel, stride, dilation, out):
    """Sliding windows of a padded (N, C, *spatial) map as a read-only strided view (N, C, *kernel, *out)."""
    steps = xp.strides[2:]
    shape = xp.shape[:2] + tuple(kernel) + tuple(out)
    strides = xp.strides[:2] + tuple(d * s for d, s in zip(dilation, steps)) + tuple(t * s for t, s in zip(stride, steps))
    return as_strided(xp, shape, strides, writeable=False)


def _im2col(xp, kernel, stride, dilation, out):
    """The windows copied into a contiguous (N, C, *kernel, *out) array (reshape gives the GEMM operand).

    Copied one slice of the first kernel axis at a time: each copy moves whole contiguous rows, several
    times faster than one copy of the strided view.
    """
    view = _windows(xp, kernel, stride, dilation, out)
    cols = np.empty(view.shape, xp.dtype)
    for i in range(kernel[0]):
        cols[:, :, i] = view[:, :, i]
    return cols


def _col2im(cols, padded, stride, dilation):
    """Adjoint of ``_im2col``: add every window entry back onto the padded pixel it was read from."""
    rank = len(padded)
    kernel, out = cols.shape[2 : 2 + rank], cols.shape[2 + rank :]
    image = np.zeros(cols.shape[:2] + tuple(padded), cols.dtype)
    both = (slice(None), slice(None))
    for tap in np.ndindex(*kernel):
        where = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(tap, dilation, stride, out))
        image[both + where] += cols[both + tap]
    return image


def _weight_grad(a, b):
    """sum over batch and positions of a @ b^T: (N, G, P, L), (N, G, Q, L) -> (G, P, Q), one GEMM per group."""
    n, g, p, length = a.shape
    q = b.shape[2]
    a2 = a.transpose(1, 2, 0, 3).reshape(g, p, n * length)
    b2 = b.transpose(1, 0, 3, 2).reshape(g, n * length, q)
    return _gemm(a2, b2)


# --- convolution --------------------------------------------------------------------------------


def _conv_pads(padding, kernel, dilation):
    """Per axis (before, after) for an int, a tuple, 'valid' or 'same' (the extra pixel after, as torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * len(kernel)
        if padding != "same":
            raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in _ntuple(padding, len(kernel)))


def _conv_geometry(x, weight, stride, padding, dilation):
    """Kernel, stride, dilation, pads and output size from ``formulas.conv_out``."""
    kernel = weight.shape[2:]
    rank = len(kernel)
    if x.ndim != rank + 2:
        raise ValueError(f"conv{rank}d: expects an input of {rank + 2} dims (N, C, ...), got shape {x.shape}")
    stride, dilation = _ntuple(stride, rank), _ntuple(dilation, rank)
    pads = _conv_pads(padding, kernel, dilation)
    out = tuple(
        F.conv_out(n + p1 - p0, k, s, p0, d) for n, k, s, (p0, p1), d in zip(x.shape[2:], kernel, stride, pads, dilation)
    )
    if min(out) <= 0:
        raise ValueError(f"conv{rank}d: output size {out} is not positive for input {x.shape} and kernel {kernel}")
    return kernel, stride, dilation, pads, out


def _pointwise(kernel, stride, pads):
    """True for an unpadded 1x1 stride-1 convolution: its im2col matrix is the input itself."""
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride) and all(p == (0, 0) for p in pads)


def _conv_cols(x, kernel, stride, dilation, pads, out, groups):
    """The im2col matrix of a convolution's input, (N, groups, C/groups*prod(kernel), prod(out))."""
    n, c = x.shape[:2]
    if _pointwise(kernel, stride, pads):
        return x.reshape(n, groups, c // groups, -1)
    cols = _im2col(_pad(x, pads), kernel, stride, dilation, out)
    return cols.reshape(n, groups, -1, math.prod(out))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o] = sum over c in o's group and the taps t of w[o, c, t] * x_pad[n, c, s*pos + d*t] + b[o].

    ``conv1d``, ``conv2d`` and ``conv3d`` are this function: the rank is the weight's.
    """
    kernel, stride, dilation, pads, out = _conv_geometry(x, weight, stride, padding, dilation)
    n, c_out = x.shape[0], weight.shape[0]
    cols = _conv_cols(x, kernel, stride, dilation, pads, out, groups)
    y = _gemm(weight.reshape(groups, c_out // groups, -1), cols).reshape(n, c_out, *out)
    if bias is not None:
        y += bias.reshape(_channel_shape(y))
    return y


def conv2d_backward(x, weight, grad_out, stride=1, padding=0, dilation=1, groups=1, output_mask=(True, True, True)):
    """(grad_x, grad_weight, grad_bias) of ``conv2d``: grad_x by col2im of W^T @ grad_out, grad_w = grad_out @ cols^T.

    ``output_mask`` (as torch's ``convolution_backward``) skips the gradients marked False: they are None.
    """
    kernel, stride, dilation, pads, out = _conv_geometry(x, weight, stride, padding, dilation)
    n, c = x.shape[:2]
    c_out = weight.shape[0]
    gy = grad_out.reshape(n, groups, c_out // groups, -1)
    grad_x = grad_weight = grad_bias = None
    if output_mask[1]:
        cols = _conv_cols(x, kernel, stride, dilation, pads, out, groups)
        grad_weight = _weight_grad(gy, cols).reshape(weight.shape)
    if output_mask[0]:
        grad_cols = _gemm(weight.reshape(groups, c_out // groups, -1).transpose(0, 2, 1), gy)
        if _pointwise(kernel, stride, pads):
            grad_x = grad_cols.reshape(x.shape)
        else:
            grad_cols = grad_cols.reshape((n, c) + tuple(kernel) + out)
            padded = tuple(m + p0 + p1 for m, (p0, p1) in zip(x.shape[2:], pads))
            grad_x = _unpad(_col2im(grad_cols, padded, stride, dilation), [p0 for p0, _ in pads], x.shape[2:])
    if output_mask[2]:
        grad_bias = grad_out.sum(axis=(0,) + _spatial_axes(grad_out))
    return grad_x, grad_weight, grad_bias


conv1d = conv3d = conv2d
conv1d_backward = conv3d_backward = conv2d_backward


def conv2d_loop(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The definition of ``conv2d`` as plain loops over batch, output channel and output pixel (slow; a test oracle)."""
    kernel, stride, dilation, pads, (ho, wo) = _conv_geometry(x, weight, stride, padding, dilation)
    xp = _pad(x, pads)
    n = x.shape[0]
    c_out, c_group, kh, kw = weight.shape
    out_per_group = c_out // groups
    y = np.zeros((n, c_out, ho, wo), dtype=x.dtype)
    for b in range(n):
        for o in range(c_out):
            first = (o // out_per_group) * c_group
            for oh in range(ho):
                for ow in range(wo):
                    total = 0.0
                    for c in range(c_group):
                        for i in range(kh):
                            for j in range(kw):
                                pixel = xp[b, first + c, stride[0] * oh + dilation[0] * i, stride[1] * ow + dilation[1] * j]
                                total += weight[o, c, i, j] * pixel
                    y[b, o, oh, ow] = total + (0.0 if bias is None else bias[o])
    return y


def _table_parts(x, weight, table, stride, padding, dilation):
    """The im2col columns of every connection's input map, and each connection's output map."""
    kernel = weight.shape[1:]
    stride, dilation = _ntuple(stride, 2), _ntuple(dilation, 2)
    pads = _conv_pads(padding, kernel, dilation)
    out = tuple(
        F.conv_out(n + p1 - p0, k, s, p0, d) for n, k, s, (p0, p1), d in zip(x.shape[2:], kernel, stride, pads, dilation)
    )
    inputs = np.array([i for ins in table for i in ins], dtype=np.int64)
    outputs = np.array([j for j, ins in enumerate(table) for _ in ins], dtype=np.int64)
    cols = _im2col(_pad(x, pads), kernel, stride, dilation, out)
    n, c = x.shape[:2]
    cols = cols.reshape(n, c, -1, out[0] * out[1])[:, inputs]  # (N, connections, kh*kw, L)
    return cols, inputs, outputs, kernel, stride, dilation, pads, out


def connection_table_conv2d(x, weight, table, bias=None, stride=1, padding=0, dilation=1):
    """y[n, j] = sum over i in table[j] of the kh x kw correlation of x[n, i] with weight[connection (j, i)] (+ b[j]).

    ``weight`` is (connections, kh, kw), connections listed output by output in ``table`` order.
    One GEMM batched over connections: connections * kh*kw * H_out*W_out MACs per sample.
    """
    cols, _, outputs, _, _, _, _, out = _table_parts(x, weight, table, stride, padding, dilation)
    m = weight.shape[0]
    per_connection = _gemm(weight.reshape(m, 1, -1), cols)[:, :, 0]  # (N, connections, L)
    y = np.zeros((x.shape[0], len(table), out[0] * out[1]), dtype=x.dtype)
    np.add.at(y, (slice(None), outputs), per_connection)
    y = y.reshape(x.shape[0], len(table), *out)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def connection_table_conv2d_backward(x, weight, table, grad_out, stride=1, padding=0, dilation=1):
    """(grad_x, grad_weight, grad_bias) of ``connection_table_conv2d``."""
    cols, inputs, outputs, kernel, stride, dilation, pads, out = _table_parts(x, weight, table, stride, padding, dilation)
    n, c = x.shape[:2]
    m = weight.shape[0]
    gy = grad_out.reshape(n, len(table), -1)[:, outputs]  # (N, connections, L)
    grad_weight = np.einsum("nml,nmkl->mk", gy, cols).reshape(weight.shape)
    grad_cols_m = weight.reshape(m, -1)[None, :, :, None] * gy[:, :, None, :]  # (N, connections, kh*kw, L)
    grad_cols = np.zeros((n, c) + grad_cols_m.shape[2:], dtype=x.dtype)
    np.add.at(grad_cols, (slice(None), inputs), grad_cols_m)
    grad_cols = grad_cols.reshape((n, c) + tuple(kernel) + out)
    padded = tuple(m + p0 + p1 for m, (p0, p1) in zip(x.shape[2:], pads))
    grad_x = _unpad(_col2im(grad_cols, padded, stride, dilation), [p0 for p0, _ in pads], x.shape[2:])
    return grad_x, grad_weight, grad_out.sum(axis=(0, 2, 3))


def _transpose_geometry(x, weight, stride, padding, output_padding, dilation):
    kernel = weight.shape[2:]
    rank = len(kernel)
    if x.ndim != rank + 2:
        raise ValueError(f"conv_transpose{rank}d: expects an input of {rank + 2} dims (N, C, ...), got shape {x.shape}")
    stride, padding, output_padding, dilation = (_ntuple(v, rank) for v in (stride, padding, output_padding, dilation))
    out = tuple(
        F.conv_transpose_out(n, k, s, p, op, d)
        for n, k, s, p, op, d in zip(x.shape[2:], kernel, stride, padding, output_padding, dilation)
    )
    if min(out) <= 0:
        raise ValueError(f"conv_transpose{rank}d: output size {out} is not positive for input {x.shape}")
    return kernel, stride, padding, dilation, out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The adjoint of conv2d: each input pixel scatters w[c, o, t] * x[n, c, pos] to y[n, o, s*pos + d*t - p].

    ``conv_transpose1d``, ``conv_transpose2d`` and ``conv_transpose3d`` are this function.
    """
    kernel, stride, padding, dilation, out = _transpose_geometry(x, weight, stride, padding, output_padding, dilation)
    n, c_in = x.shape[:2]
    c_out = weight.shape[1] * groups
    w_t = weight.reshape(groups, c_in // groups, -1).transpose(0, 2, 1)
    cols = _gemm(w_t, x.reshape(n, groups, c_in // groups, -1))
    cols = cols.reshape((n, c_out) + tuple(kernel) + x.shape[2:])
    yp = _col2im(cols, tuple(o + 2 * p for o, p in zip(out, padding)), stride, dilation)
    y = np.ascontiguousarray(_unpad(yp, padding, out))
    if bias is not None:
        y += bias.reshape(_channel_shape(y))
    return y


def conv_transpose2d_backward(
    x, weight, grad_out, stride=1, padding=0, output_padding=0, groups=1, dilation=1, output_mask=(True, True, True)
):
    """(grad_x, grad_weight, grad_bias) of ``conv_transpose2d``: grad_x is conv2d(grad_out) with the same weight.

    ``output_mask`` skips the gradients marked False (None), as in ``conv2d_backward``.
    """
    kernel, stride, padding, dilation, out = _transpose_geometry(x, weight, stride, padding, output_padding, dilation)
    n, c_in = x.shape[:2]
    gyp = _pad(grad_out, tuple((p, p) for p in padding))
    cols = _im2col(gyp, kernel, stride, dilation, x.shape[2:]).reshape(n, groups, -1, math.prod(x.shape[2:]))
    grad_x = grad_weight = grad_bias = None
    if output_mask[0]:
        grad_x = _gemm(weight.reshape(groups, c_in // groups, -1), cols).reshape(x.shape)
    if output_mask[1]:
        grad_weight = _weight_grad(x.reshape(n, groups, c_in // groups, -1), cols).reshape(weight.shape)
    if output_mask[2]:
        grad_bias = grad_out.sum(axis=(0,) + _spatial_axes(grad_out))
    return grad_x, grad_weight, grad_bias


conv_transpose1d = conv_transpose3d = conv_transpose2d
conv_transpose1d_backward = conv_transpose3d_backward = conv_transpose2d_backward


# --- pooling ------------------------------------------------------------------------------------


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Kernel, stride, padding, dilation, output size (``formulas.pool_out``) and the padded extent the windows read."""
    rank = x.ndim - 2
    kernel = _ntuple(kernel_size, rank)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _ntuple(stride, rank)
    padding, dilation = _ntuple(padding, rank), _ntuple(dilation, rank)
    out = tuple(F.pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation))
    if min(out) <= 0:
        raise ValueError(f"pooling: output size {out} is not positive for input {x.shape} and kernel {kernel}")
    # ceil_mode's last window may run past the right padding: extend the padded map to cover it
    padded = tuple(
        max(n + 2 * p, (o - 1) * s + F.effective_kernel(k, d))
        for n, k, s, p, d, o in zip(x.shape[2:], kernel, stride, padding, dilation, out)
    )
    return kernel, stride, padding, dilation, out, padded


def _pool_pad(x, padding, padded, value):
    return _pad(x, tuple((p, m - n - p) for p, m, n in zip(padding, padded, x.shape[2:])), value)


def _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Per output pixel, the index of the largest window entry (first one on ties, NaN wins, as torch)."""
    geometry = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    kernel, stride, padding, dilation, out, padded = geometry
    cols = _im2col(_pool_pad(x, padding, padded, -np.inf), kernel, stride, dilation, out)
    cols = cols.reshape(x.shape[:2] + (math.prod(kernel),) + out)
    return cols, np.argmax(cols, axis=2), geometry


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """y = max over the window of x padded with -inf. ``max_pool1d`` and ``max_pool3d`` are this function."""
    cols, idx, _ = _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode)
    return np.take_along_axis(cols, idx[:, :, None], axis=2)[:, :, 0]


def _scatter_windows(grad_cols, x, geometry):
    """col2im of per-tap window gradients (N, C, *kernel, *out) back onto x's pixels."""
    kernel, stride, padding, dilation, out, padded = geometry
    return _unpad(_col2im(grad_cols, padded, stride, dilation), padding, x.shape[2:])


def max_pool2d_backward(x, grad_out, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """grad_x: each output's gradient goes to the window entry that was the maximum."""
    cols, idx, geometry = _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode)
    kernel, out = geometry[0], geometry[4]
    taps = np.arange(math.prod(kernel)).reshape((1, 1, -1) + (1,) * len(out))
    grad_cols = np.where(taps == idx[:, :, None], grad_out[:, :, None], 0).astype(x.dtype)
    return _scatter_windows(grad_cols.reshape(x.shape[:2] + kernel + out), x, geometry)


def _window_margin(vals, tangents, best, axis):
    """How far along the tangent, either way (central differences step both ways), a window's maximum
    stays the same entry: the smallest |s| at which another entry j with a different slope catches up,
    (x_best - x_j) / |t_j - t_best| (0 for a tie that the tangent breaks)."""
    top = np.take_along_axis(vals, np.expand_dims(best, axis), axis=axis)
    rise = tangents - np.take_along_axis(tangents, np.expand_dims(best, axis), axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.where(rise != 0, (top - vals) / np.where(rise != 0, np.abs(rise), 1), np.inf)
    return float(steps.min(initial=np.inf))


def _max_pool_tangent_cols(t, geometry):
    kernel, stride, padding, dilation, out, padded = geometry
    cols = _im2col(_pool_pad(t, padding, padded, 0.0), kernel, stride, dilation, out)
    return cols.reshape(t.shape[:2] + (math.prod(kernel),) + tuple(out))


def max_pool2d_jvp(x, t, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The derivative of ``max_pool2d`` along ``t``: each output moves with its window's maximum."""
    _, idx, geometry = _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode)
    return np.take_along_axis(_max_pool_tangent_cols(t, geometry), idx[:, :, None], axis=2)[:, :, 0]


def max_pool2d_margin(x, t, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """The largest step s for which max_pool2d(x + s*t) keeps every window's maximum (``_window_margin``)."""
    cols, idx, geometry = _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode)
    return _window_margin(cols, _max_pool_tangent_cols(t, geometry), idx, 2)


def max_pool2d_spread_backward(x, grad_out, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max pooling's backward with every window entry treated as the maximum: each entry receives its output's
    gradient (used to measure receptive fields, where only the pixels reached matter)."""
    geometry = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    kernel, out = geometry[0], geometry[4]
    spread = grad_out.reshape(x.shape[:2] + (1,) * len(kernel) + out)
    return _scatter_windows(np.broadcast_to(spread, x.shape[:2] + kernel + out), x, geometry)


max_pool1d = max_pool3d = max_pool2d
max_pool1d_backward = max_pool3d_backward = max_pool2d_backward
max_pool1d_jvp = max_pool3d_jvp = max_pool2d_jvp
max_pool1d_margin = max_pool3d_margin = max_pool2d_margin
max_pool1d_spread_backward = max_pool3d_spread_backward = max_pool2d_spread_backward


def _avg_divisors(n, k, s, p, out, count_include_pad):
    """Per output index along one axis, torch's divisor: window length clipped to the padded (or the real) input."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    geometry = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    kernel, stride, padding, _, out, _ = geometry
    if divisor_override:
        divisor = np.full(out, divisor_override)
    else:
        per_axis = (_avg_divisors(n, k, s, p, o, count_include_pad)
                    for n, k, s, p, o in zip(x.shape[2:], kernel, stride, padding, out))
        divisor = reduce(np.multiply.outer, per_axis)
    return geometry, divisor.astype(x.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """y = sum over the zero-padded window / divisor (window size with or without padding, or the override).

    ``avg_pool1d`` and ``avg_pool3d`` are this function (torch's avg_pool1d has no divisor_override).
    """
    geometry, divisor = _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    kernel, stride, padding, dilation, out, padded = geometry
    xp = _pool_pad(x, padding, padded, 0.0)
    return _windows(xp, kernel, stride, dilation, out).sum(axis=tuple(range(2, 2 + len(kernel)))) / divisor


def avg_pool2d_backward(
    x, grad_out, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """grad_x: each output's gradient / divisor, added to every pixel of its window."""
    geometry, divisor = _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    kernel, out = geometry[0], geometry[4]
    share = (grad_out / divisor).reshape(x.shape[:2] + (1,) * len(kernel) + out)
    return _scatter_windows(np.broadcast_to(share, x.shape[:2] + kernel + out), x, geometry)


avg_pool1d = avg_pool3d = avg_pool2d
avg_pool1d_backward = avg_pool3d_backward = avg_pool2d_backward


def _adaptive_bounds(n, out):
    """Start and end (exclusive) of every adaptive window along one axis, from ``formulas.adaptive_window``."""
    bounds = np.array([F.adaptive_window(i, n, out) for i in range(out)], dtype=np.int64).reshape(out, 2)
    return bounds[:, 0], bounds[:, 1]


def _adaptive_sizes(x, output_size):
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * (x.ndim - 2)
    if len(sizes) != x.ndim - 2:
        raise ValueError(f"adaptive pooling: output_size {output_size!r} does not match the input {x.shape}")
    return tuple(n if o is None else int(o) for n, o in zip(x.shape[2:], sizes))


def _adaptive_matrices(x, output_size):
    """Per axis an (out, n) averaging matrix: row i holds 1/len over window i."""
    mats = []
    for n, out in zip(x.shape[2:], _adaptive_sizes(x, output_size)):
        start, end = _adaptive_bounds(n, out)
        pos = np.arange(n)
        inside = (pos >= start[:, None]) & (pos < end[:, None])
        mats.append((inside / (end - start)[:, None]).astype(x.dtype))
    return mats


def _along_axes(x, mats, transpose=False):
    """x with spatial axis i multiplied by mats[i], an (out, n) matrix (or by its transpose: the adjoint)."""
    for axis, a in enumerate(mats):
        y = np.tensordot(x, a if transpose else a.T, axes=([2 + axis], [0]))
        x = np.moveaxis(y, -1, 2 + axis)
    return np.ascontiguousarray(x)


def adaptive_avg_pool2d(x, output_size):
    """y[i, j] = mean of x over rows [floor(i*H/out), ceil((i+1)*H/out)) and the same columns (any rank)."""
    return _along_axes(x, _adaptive_matrices(x, output_size))


def adaptive_avg_pool2d_backward(x, grad_out, output_size):
    """grad_x = A^T grad_out per axis: each window spreads its gradient evenly over its pixels."""
    return _along_axes(grad_out, _adaptive_matrices(x, output_size), transpose=True)


adaptive_avg_pool1d = adaptive_avg_pool3d = adaptive_avg_pool2d
adaptive_avg_pool1d_backward = adaptive_avg_pool3d_backward = adaptive_avg_pool2d_backward


def _adaptive_windows(x, output_size):
    """Every adaptive window's entries, (N, C, *out, L) with -inf past a shorter window's end, and the
    flat input index (over the spatial axes) of each entry, (*out, L)."""
    rank = x.ndim - 2
    index, valid = [], []
    for n, out in zip(x.shape[2:], _adaptive_sizes(x, output_size)):
        start, end = _adaptive_bounds(n, out)
        pos = start[:, None] + np.arange(int((end - start).max()))
        valid.append(pos < end[:, None])
        index.append(np.minimum(pos, n - 1))

    def place(a, k):  # axis k's (out_k, L_k) at positions k and rank + k of a (*out, *L) grid
        shape = [1] * (2 * rank)
        shape[k], shape[rank + k] = a.shape
        return a.reshape(shape)

    vals = x[(slice(None), slice(None)) + tuple(place(a, k) for k, a in enumerate(index))]  # (N, C, *out, *L)
    inside = reduce(np.logical_and, (place(v, k) for k, v in enumerate(valid)))
    vals = np.where(inside, vals, -np.inf)
    strides = [math.prod(x.shape[3 + k :]) for k in range(rank)]
    flat = sum(place(a, k) * s for k, (a, s) in enumerate(zip(index, strides)))
    outs = vals.shape[2 : 2 + rank]
    flat = np.broadcast_to(flat, vals.shape[2:]).reshape(outs + (-1,))
    return vals.reshape(vals.shape[: 2 + rank] + (-1,)), flat


def _adaptive_max_taps(x, output_size):
    """Flat input index (over the spatial axes) of every adaptive window's maximum, and the maxima."""
    vals, flat = _adaptive_windows(x, output_size)
    best = np.argmax(vals, axis=-1)
    y = np.take_along_axis(vals, best[..., None], axis=-1)[..., 0]
    where = np.take_along_axis(np.broadcast_to(flat, vals.shape[:2] + flat.shape), best[..., None], axis=-1)[..., 0]
    return y.astype(x.dtype, copy=False), where


def adaptive_max_pool2d(x, output_size):
    """y = max of x over each adaptive window (first maximum on ties, as torch); any rank."""
    return _adaptive_max_taps(x, output_size)[0]


def adaptive_max_pool2d_backward(x, grad_out, output_size):
    """grad_x: each window's gradient goes to its maximum; overlapping windows add up."""
    _, where = _adaptive_max_taps(x, output_size)
    n, c = x.shape[:2]
    size = math.prod(x.shape[2:])
    offsets = (np.arange(n * c) * size).reshape((n, c) + (1,) * (x.ndim - 2))
    grad = np.bincount((where + offsets).ravel(), weights=grad_out.ravel(), minlength=n * c * size)
    return grad.reshape(x.shape).astype(x.dtype)


def adaptive_max_pool2d_jvp(x, t, output_size):
    """The derivative of ``adaptive_max_pool2d`` along ``t``: the tangent at each window's maximum."""
    _, where = _adaptive_max_taps(x, output_size)
    n, c = x.shape[:2]
    return np.take_along_axis(t.reshape(n, c, -1), where.reshape(n, c, -1), axis=2).reshape(where.shape)


def adaptive_max_pool2d_margin(x, t, output_size):
    """The largest step s for which adaptive_max_pool2d(x + s*t) keeps every window's maximum."""
    vals, _ = _adaptive_windows(x, output_size)
    tangents, _ = _adaptive_windows(t, output_size)
    return _window_margin(vals, np.where(np.isfinite(vals), tangents, 0), np.argmax(vals, axis=-1), -1)


adaptive_max_pool1d = adaptive_max_pool3d = adaptive_max_pool2d
adaptive_max_pool1d_backward = adaptive_max_pool3d_backward = adaptive_max_pool2d_backward
adaptive_max_pool1d_jvp = adaptive_max_pool3d_jvp = adaptive_max_pool2d_jvp
adaptive_max_pool1d_margin = adaptive_max_pool3d_margin = adaptive_max_pool2d_margin


# --- interpolation ------------------------------------------------------------------------------

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}
_CUBIC_A = -0.75  # torch's cubic convolution constant


def _cubic_weights(t):
    """The four cubic-convolution weights of the pixels at offsets -1, 0, 1, 2 from floor(src), t = src - floor(src)."""
    a = _CUBIC_A

    def near(u):  # |u| <= 1
        return ((a + 2) * u - (a + 3)) * u * u + 1

    def far(u):  # 1 < |u| < 2
        return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a

    return far(t + 1), near(t), near(1 - t), far(2 - t)


def _interpolation_matrix(n, n_out, mode, align_corners, scale, dtype):
    """(n_out, n) weights of one axis, as torch's CPU kernels compute them: nearest reads
    min(floor(o * r), n - 1) in float32; linear reads floor(src) and the next pixel with weights
    1 - f and f, src = max(r*(o + 0.5) - 0.5, 0) (align_corners: o*(n - 1)/(n_out - 1)), in the
    input's precision; bicubic weighs the four pixels around src (not clamped below 0) by cubic
    convolution (a = -0.75), their indices clamped to the input; area averages
    adaptive windows. r is 1/scale_factor when one is given, else n/n_out."""
    out = np.arange(n_out)
    weights = np.zeros((n_out, n), dtype)
    if mode == "area":
        start, end = _adaptive_bounds(n, n_out)
        pos = np.arange(n)
        return (((pos >= start[:, None]) & (pos < end[:, None])) / (end - start)[:, None]).astype(dtype)
    if n_out == n:
        weights[out, out] = 1
        return weights
    if mode == "nearest":
        ratio = np.float32(1.0 / scale) if scale else np.float32(n) / np.float32(n_out)
        weights[out, np.minimum(np.floor(out.astype(np.float32) * ratio).astype(np.int64), n - 1)] = 1
        return weights
    real = np.float32 if dtype == np.float32 else np.float64
    if align_corners:
        src = out.astype(real) * (real(n - 1) / real(n_out - 1) if n_out > 1 else real(0))
    else:
        ratio = real(1.0 / scale) if scale else real(n) / real(n_out)
        src = ratio * (out.astype(real) + real(0.5)) - real(0.5)
        if mode != "bicubic":
            src = np.maximum(src, real(0))
    if mode == "bicubic":
        first = np.floor(src).astype(np.int64)
        for offset, w in zip((-1, 0, 1, 2), _cubic_weights(src - first)):
            np.add.at(weights, (out, np.clip(first + offset, 0, n - 1)), w)
        return weights
    first = np.minimum(np.floor(src).astype(np.int64), n - 1)
    frac = np.clip(src - first, 0, 1)
    np.add.at(weights, (out, first), 1 - frac)
    np.add.at(weights, (out, first + (first < n - 1)), frac)
    return weights


def _interpolation_matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor):
    rank = x.ndim - 2
    needed = _LINEAR_MODES.get(mode)
    if needed is not None and needed != rank:
        raise ValueError(f"interpolate: mode {mode!r} needs {needed} spatial axes, got an input of shape {x.shape}")
    if mode not in ("nearest", "area") and needed is None:
        raise ValueError(f"interpolate: mode {mode!r} is not implemented")
    if size is not None:
        outs, scales = _ntuple(size, rank), (None,) * rank
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * rank
        outs = tuple(F.upsample_out(n, int(s) if float(s).is_integer() else s) for n, s in zip(x.shape[2:], scales))
        if recompute_scale_factor:
            scales = (None,) * rank
    return tuple(_interpolation_matrix(n, o, mode, align_corners, s, x.dtype) for n, o, s in zip(x.shape[2:], outs, scales))


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    """torch.nn.functional.interpolate (nn.Upsample) for modes nearest, linear, bilinear, trilinear, bicubic and
    area: separable, y = x times one (out, n) matrix per spatial axis."""
    return _along_axes(x, _interpolation_matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor))


def interpolate_backward(x, grad_out, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None):
    """grad_x = A^T grad_out per axis: each output pixel's gradient goes back by its weights."""
    mats = _interpolation_matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor)
    return _along_axes(grad_out, mats, transpose=True)


# --- normalisation ------------------------------------------------------------------------------
#
# Every normaliser standardises x over some axes of a view of it (``_Plan``: the view's shape and the
# axes), then scales and shifts by parameters broadcast as ``param_shape``; their gradients sum over
# ``param_axes``. With given statistics (running mean and variance) the standardisation is affine.


class _Plan:
    """Where a normaliser takes its statistics and applies its parameters."""

    def __init__(self, view, axes, param_shape, param_axes, stats=None):
        self.view, self.axes, self.param_shape, self.param_axes, self.stats = view, axes, param_shape, param_axes, stats


def _normalised(x, plan, eps):
    """(x_hat of x's shape, 1/sqrt(var + eps) broadcast against the view)."""
    xs = x.reshape(plan.view)
    if plan.stats is None:
        mean, var = xs.mean(axis=plan.axes, keepdims=True), xs.var(axis=plan.axes, keepdims=True)
    else:
        mean, var = (s.astype(x.dtype, copy=False) for s in plan.stats)
    inv = 1.0 / np.sqrt(var + eps)
    return ((xs - mean) * inv).reshape(x.shape), inv


def _affine(y, weight, bias, shape):
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def _norm_forward(x, plan, weight, bias, eps):
    return _affine(_normalised(x, plan, eps)[0], weight, bias, plan.param_shape)


def _norm_backward(x, plan, weight, bias, grad_out, eps):
    """(grad_x, grad_weight, grad_bias). From the input's own statistics, with x_hat the normalised view and
    g = grad_out*weight: grad_x = (g - mean(g) - x_hat*mean(g*x_hat)) / sqrt(var + eps); else g / sqrt(var + eps)."""
    x_hat, inv = _normalised(x, plan, eps)
    g = grad_out if weight is None else grad_out * weight.reshape(plan.param_shape)
    gs = g.reshape(plan.view)
    if plan.stats is None:
        xs, axes = x_hat.reshape(plan.view), plan.axes
        gs = gs - gs.mean(axis=axes, keepdims=True) - xs * (gs * xs).mean(axis=axes, keepdims=True)
    grad_x = (gs * inv).reshape(x.shape)
    grad_weight = None if weight is None else (grad_out * x_hat).sum(axis=plan.param_axes).reshape(weight.shape)
    grad_bias = None if bias is None else grad_out.sum(axis=plan.param_axes).reshape(bias.shape)
    return grad_x, grad_weight, grad_bias


def _norm_jvp(x, t, plan, weight, weight_t, bias_t, eps):
    """The derivative along t, weight_t and bias_t: x_hat' = (t_c - x_hat*mean(x_hat*t_c)) / sqrt(var + eps),
    t_c = t - mean(t) (given statistics: t / sqrt(var + eps)); y' = x_hat'*weight + x_hat*weight_t + bias_t."""
    x_hat, inv = _normalised(x, plan, eps)
    ts = t.reshape(plan.view)
    if plan.stats is None:
        xs, axes = x_hat.reshape(plan.view), plan.axes
        ts = ts - ts.mean(axis=axes, keepdims=True)
        ts = ts - xs * (xs * ts).mean(axis=axes, keepdims=True)
    out = (ts * inv).reshape(x.shape)
    if weight is not None:
        out = out * weight.reshape(plan.param_shape)
    if weight_t is not None:
        out = out + x_hat * weight_t.reshape(plan.param_shape)
    if bias_t is not None:
        out = out + bias_t.reshape(plan.param_shape)
    return out


def _norm_margin(x, t, plan, eps):
    """Normalisers are smooth, but a group of small variance bends within a short step: a thousandth of
    min over groups sqrt(var + eps) / max |t - mean(t)| keeps a finite difference in its near-linear range."""
    if plan.stats is not None:
        return np.inf
    xs, ts = x.reshape(plan.view), t.reshape(plan.view)
    spread = np.abs(ts - ts.mean(axis=plan.axes, keepdims=True)).max(axis=plan.axes)
    radius = np.sqrt(xs.var(axis=plan.axes) + eps)
    moving = spread > 0
    return float((radius[moving] / spread[moving]).min(initial=np.inf)) / 1000


def _per_channel(x, running_mean=None, running_var=None, input_stats=True, stats_axes=None):
    """The plan of batch and instance normalisation: statistics over ``stats_axes``, parameters per channel."""
    shape, axes = _channel_shape(x), (0,) + _spatial_axes(x)
    if input_stats:
        return _Plan(x.shape, stats_axes, shape, axes)
    return _Plan(x.shape, axes, shape, axes, (running_mean.reshape(shape), running_var.reshape(shape)))


def _batch_plan(x, running_mean, running_var, training):
    return _per_channel(x, running_mean, running_var, training, (0,) + _spatial_axes(x))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """y = (x - mean)/sqrt(var + eps)*weight + bias per channel; batch statistics (biased var) when training, else
    the running ones. Any rank: (N, C), (N, C, L), (N, C, H, W), (N, C, D, H, W).

    Stateless: the running statistics are read, never updated (torch updates them in place when training).
    """
    return _norm_forward(x, _batch_plan(x, running_mean, running_var, training), weight, bias, eps)


def batch_norm_backward(x, running_mean, running_var, weight, bias, grad_out, training=False, momentum=0.1, eps=1e-5):
    """(grad_x, grad_weight, grad_bias); the running statistics are not differentiable inputs (``_norm_backward``)."""
    return _norm_backward(x, _batch_plan(x, running_mean, running_var, training), weight, bias, grad_out, eps)


def batch_norm_jvp(x, t, running_mean, running_var, weight=None, bias=None, weight_t=None, bias_t=None, training=False,
                   momentum=0.1, eps=1e-5):
    """The derivative of ``batch_norm`` along the tangents t (input), weight_t and bias_t (None: zero)."""
    return _norm_jvp(x, t, _batch_plan(x, running_mean, running_var, training), weight, weight_t, bias_t, eps)


def batch_norm_margin(x, t, running_mean=None, running_var=None, training=False, eps=1e-5):
    """How far x may move along t while ``batch_norm`` stays near-linear (``_norm_margin``)."""
    return _norm_margin(x, t, _batch_plan(x, running_mean, running_var, training), eps)


def _instance_plan(x, running_mean, running_var, use_input_stats):
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expects an input (N, C, *spatial), got shape {x.shape}")
    return _per_channel(x, running_mean, running_var, use_input_stats, _spatial_axes(x))


def instance_norm(x, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True, momentum=0.1,
                  eps=1e-5):
    """Each channel of each sample normalised by its own statistics over the spatial axes (or the running ones)."""
    return _norm_forward(x, _instance_plan(x, running_mean, running_var, use_input_stats), weight, bias, eps)


def instance_norm_backward(x, running_mean, running_var, weight, bias, grad_out, use_input_stats=True, momentum=0.1,
                           eps=1e-5):
    """(grad_x, grad_weight, grad_bias) of ``instance_norm``."""
    return _norm_backward(x, _instance_plan(x, running_mean, running_var, use_input_stats), weight, bias, grad_out, eps)


def instance_norm_jvp(x, t, running_mean=None, running_var=None, weight=None, bias=None, weight_t=None, bias_t=None,
                      use_input_stats=True, momentum=0.1, eps=1e-5):
    """The derivative of ``instance_norm`` along t, weight_t and bias_t."""
    return _norm_jvp(x, t, _instance_plan(x, running_mean, running_var, use_input_stats), weight, weight_t, bias_t, eps)


def instance_norm_margin(x, t, running_mean=None, running_var=None, use_input_stats=True, eps=1e-5):
    """How far x may move along t while ``instance_norm`` stays near-linear."""
    return _norm_margin(x, t, _instance_plan(x, running_mean, running_var, use_input_stats), eps)


def _group_plan(x, num_groups):
    if x.shape[1] % num_groups:
        raise ValueError(f"group_norm: {x.shape[1]} channels are not divisible by num_groups {num_groups}")
    return _Plan((x.shape[0], num_groups, -1), (2,), _channel_shape(x), (0,) + _spatial_axes(x))


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Each sample's channels normalised in ``num_groups`` groups (statistics over a group's channels and
    positions), then scaled and shifted per channel."""
    return _norm_forward(x, _group_plan(x, num_groups), weight, bias, eps)


def group_norm_backward(x, num_groups, weight, bias, grad_out, eps=1e-5):
    """(grad_x, grad_weight, grad_bias) of ``group_norm``."""
    return _norm_backward(x, _group_plan(x, num_groups), weight, bias, grad_out, eps)


def group_norm_jvp(x, t, num_groups, weight=None, bias=None, weight_t=None, bias_t=None, eps=1e-5):
    """The derivative of ``group_norm`` along t, weight_t and bias_t."""
    return _norm_jvp(x, t, _group_plan(x, num_groups), weight, weight_t, bias_t, eps)


def group_norm_margin(x, t, num_groups, eps=1e-5):
    """How far x may move along t while ``group_norm`` stays near-linear."""
    return _norm_margin(x, t, _group_plan(x, num_groups), eps)


def _last_axes(x, normalized_shape, what):
    shape = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) else (normalized_shape,)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"{what}: normalized_shape {list(shape)} does not end the input's shape {x.shape}")
    return shape, tuple(range(x.ndim - len(shape), x.ndim)), tuple(range(x.ndim - len(shape)))


def _layer_plan(x, normalized_shape):
    shape, axes, lead = _last_axes(x, normalized_shape, "layer_norm")
    return _Plan(x.shape, axes, shape, lead)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalisation over the last dims ``normalized_shape``, weight and bias of that shape."""
    return _norm_forward(x, _layer_plan(x, normalized_shape), weight, bias, eps)


def layer_norm_backward(x, normalized_shape, weight, bias, grad_out, eps=1e-5):
    """(grad_x, grad_weight, grad_bias) of ``layer_norm``."""
    return _norm_backward(x, _layer_plan(x, normalized_shape), weight, bias, grad_out, eps)


def layer_norm_jvp(x, t, normalized_shape, weight=None, bias=None, weight_t=None, bias_t=None, eps=1e-5):
    """The derivative of ``layer_norm`` along t, weight_t and bias_t."""
    return _norm_jvp(x, t, _layer_plan(x, normalized_shape), weight, weight_t, bias_t, eps)


def layer_norm_margin(x, t, normalized_shape, eps=1e-5):
    """How far x may move along t while ``layer_norm`` stays near-linear."""
    return _norm_margin(x, t, _layer_plan(x, normalized_shape), eps)


def _rms_terms(x, normalized_shape, eps):
    shape, axes, lead = _last_axes(x, normalized_shape, "rms_norm")
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    return shape, axes, lead, 1.0 / np.sqrt(np.square(x).mean(axis=axes, keepdims=True) + eps)


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """y = x / sqrt(mean(x^2) + eps) * weight over the last dims (eps None: the dtype's machine epsilon, as torch)."""
    shape, _, _, r = _rms_terms(x, normalized_shape, eps)
    return _affine(x * r, weight, None, shape)


def rms_norm_backward(x, normalized_shape, weight, grad_out, eps=None):
    """(grad_x, grad_weight): with r = 1/rms and g = grad_out*weight, grad_x = r*(g - x*r^2*mean(g*x))."""
    shape, axes, lead, r = _rms_terms(x, normalized_shape, eps)
    g = grad_out if weight is None else grad_out * weight.reshape(shape)
    grad_x = r * (g - x * r * r * (g * x).mean(axis=axes, keepdims=True))
    return grad_x, None if weight is None else (grad_out * x * r).sum(axis=lead)


def rms_norm_jvp(x, t, normalized_shape, weight=None, weight_t=None, eps=None):
    """The derivative of ``rms_norm`` along t and weight_t: r*(t - x*r^2*mean(x*t))*weight + x*r*weight_t."""
    shape, axes, _, r = _rms_terms(x, normalized_shape, eps)
    out = r * (t - x * r * r * (x * t).mean(axis=axes, keepdims=True))
    if weight is not None:
        out = out * weight.reshape(shape)
    if weight_t is not None:
        out = out + x * r * weight_t.reshape(shape)
    return out


def rms_norm_margin(x, t, normalized_shape, eps=None):
    """A thousandth of min sqrt(mean(x^2) + eps) / max |t| over the normalised groups (as ``_norm_margin``)."""
    _, axes, _, r = _rms_terms(x, normalized_shape, eps)
    spread = np.abs(t).max(axis=axes, keepdims=True)
    moving = spread > 0
    return float((1.0 / (r * np.where(moving, spread, 1)))[moving].min(initial=np.inf)) / 1000


def _channel_window(a, before, after):
    """Sums of ``a`` over the channel window [c - before, c + after] (zeros past the ends)."""
    c, size = a.shape[1], before + after + 1
    padded = np.concatenate(
        [np.zeros_like(a[:, :1]).repeat(before + 1, axis=1), a, np.zeros_like(a[:, :1]).repeat(after, axis=1)], axis=1
    )
    cum = np.cumsum(padded, axis=1)
    return cum[:, size : size + c] - cum[:, :c]


def _lrn_terms(x, size, alpha, k):
    """D = k + alpha/size * (sum of x^2 over the channel window [c - size//2, c + (size-1)//2]), torch's layout."""
    return k + alpha / size * _channel_window(np.square(x), size // 2, (size - 1) // 2)


def local_response_norm(x, size, alpha=1e-4, beta=0.75, k=1.0):
    """y = x / (k + alpha/size * sum of x^2 over `size` neighbouring channels)^beta."""
    return x * _lrn_terms(x, size, alpha, k) ** -beta


def local_response_norm_backward(x, grad_out, size, alpha=1e-4, beta=0.75, k=1.0):
    """grad_x[c'] = g[c'] D[c']^-beta - 2*alpha*beta/size * x[c'] * sum over windows c containing c' of g[c] x[c] D[c]^(-beta-1)."""
    d = _lrn_terms(x, size, alpha, k)
    t = grad_out * x * d ** (-beta - 1)
    # c' lies in the window of c for c in [c' - (size-1)//2, c' + size//2]: the transposed window
    spread = _channel_window(t, (size - 1) // 2, size // 2)
    return grad_out * d**-beta - 2 * alpha * beta / size * x * spread


def local_response_norm_jvp(x, t, size, alpha=1e-4, beta=0.75, k=1.0):
    """The derivative of ``local_response_norm`` along t: t*D^-beta - beta*x*D^(-beta-1)*D', D' = alpha/size*window(2*x*t)."""
    d = _lrn_terms(x, size, alpha, k)
    d_t = alpha / size * _channel_window(2 * x * t, size // 2, (size - 1) // 2)
    return t * d**-beta - beta * x * d ** (-beta - 1) * d_t


# --- linear -------------------------------------------------------------------------------------


def linear(x, weight, bias=None):
    """y = x @ weight^T + bias over the last axis: one GEMM of (rows, in) by (in, out)."""
    rows = x.reshape(-1, x.shape[-1])
    y = _gemm(rows, weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
    if bias is not None:
        y += bias
    return y


def linear_backward(x, weight, grad_out, output_mask=(True, True, True)):
    """(grad_x, grad_weight, grad_bias) of ``linear``; ``output_mask`` skips the gradients marked False (None)."""
    g = grad_out.reshape(-1, weight.shape[0])
    grad_x = _gemm(g, weight).reshape(x.shape) if output_mask[0] else None
    grad_weight = _gemm(g.T, x.reshape(-1, x.shape[-1])) if output_mask[1] else None
    return grad_x, grad_weight, g.sum(axis=0) if output_mask[2] else None


# --- element-wise -------------------------------------------------------------------------------


def relu(x):
    """max(0, x)."""
    return np.maximum(x, 0)


def relu_backward(x, grad_out):
    """grad where x > 0, else 0."""
    return np.where(x > 0, grad_out, 0).astype(x.dtype, copy=False)


def relu6(x):
    """min(max(0, x), 6)."""
    return np.clip(x, 0, 6)


def relu6_backward(x, grad_out):
    """grad where 0 < x < 6 (torch's hardtanh_backward)."""
    return np.where((x > 0) & (x < 6), grad_out, 0).astype(x.dtype, copy=False)


def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope * x."""
    return np.where(x > 0, x, x * negative_slope).astype(x.dtype, copy=False)


def leaky_relu_backward(x, grad_out, negative_slope=0.01):
    """grad if x > 0 else negative_slope * grad."""
    return np.where(x > 0, grad_out, grad_out * negative_slope).astype(x.dtype, copy=False)


def elu(x, alpha=1.0):
    """x if x > 0 else alpha*(exp(x) - 1)."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def elu_backward(x, grad_out, alpha=1.0):
    """grad if x > 0 else grad * alpha*exp(x)."""
    return np.where(x > 0, grad_out, grad_out * alpha * np.exp(np.minimum(x, 0))).astype(x.dtype, copy=False)


def sigmoid(x):
    """1/(1 + exp(-x)), computed without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(x, grad_out):
    """grad * y * (1 - y)."""
    y = sigmoid(x)
    return grad_out * y * (1 - y)


def tanh(x):
    """tanh(x)."""
    return np.tanh(x)


def tanh_backward(x, grad_out):
    """grad * (1 - tanh(x)^2)."""
    return grad_out * (1 - np.tanh(x) ** 2)


def silu(x):
    """x * sigmoid(x)."""
    return x * sigmoid(x)


def silu_backward(x, grad_out):
    """grad * s*(1 + x*(1 - s)), s = sigmoid(x)."""
    s = sigmoid(x)
    return grad_out * s * (1 + x * (1 - s))


def hardswish(x):
    """x * relu6(x + 3)/6."""
    return x * np.clip(x + 3, 0, 6) / 6


def hardswish_backward(x, grad_out):
    """0 below -3, grad*(x/3 + 1/2) up to 3, grad above (torch's hardswish_backward)."""
    return np.where(x < -3, 0, np.where(x <= 3, grad_out * (x / 3 + 0.5), grad_out)).astype(x.dtype, copy=False)


def hardsigmoid(x):
    """relu6(x + 3)/6."""
    return np.clip(x + 3, 0, 6) / 6


def hardsigmoid_backward(x, grad_out):
    """grad/6 strictly between -3 and 3, else 0 (torch's hardsigmoid_backward, whose 1/6 is a float32 constant)."""
    one_sixth = x.dtype.type(np.float32(1) / np.float32(6))
    return np.where((x > -3) & (x < 3), grad_out * one_sixth, 0).astype(x.dtype, copy=False)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x, approximate="none"):
    """x * Phi(x) (exact, via erf), or torch's tanh approximation."""
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1 + np.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype, copy=False)


def gelu_backward(x, grad_out, approximate="none"):
    """grad * (Phi(x) + x*phi(x)), or the derivative of the tanh approximation."""
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (x + 0.044715 * x**3))
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * 0.044715 * x**2)
    else:
        slope = 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    return (grad_out * slope).astype(x.dtype, copy=False)


def _softmax_dim(x, dim):
    """torch's implicit dim for dim=None: 0 for 0-, 1- and 3-D inputs, else 1."""
    if dim is None:
        return 0 if x.ndim in (0, 1, 3) else 1
    return dim


def softmax(x, dim=None):
    """exp(x - max) / sum exp(x - max) along ``dim``."""
    dim = _softmax_dim(x, dim)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(x, grad_out, dim=None):
    """y * (grad - sum(grad * y))."""
    dim = _softmax_dim(x, dim)
    y = softmax(x, dim)
    return y * (grad_out - (grad_out * y).sum(axis=dim, keepdims=True))




def softmin(x, dim=None):
    """softmax(-x) along ``dim``."""
    return softmax(-x, _softmax_dim(x, dim))


def softmin_backward(x, grad_out, dim=None):
    """-softmax_backward(-x, grad): the Jacobian of softmax, symmetric, at -x, negated."""
    return -softmax_backward(-x, grad_out, _softmax_dim(x, dim))


def log_softmax(x, dim=None):
    """x - max - log(sum exp(x - max)) along ``dim``."""
    dim = _softmax_dim(x, dim)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def log_softmax_backward(x, grad_out, dim=None):
    """grad - softmax(x) * sum(grad)."""
    dim = _softmax_dim(x, dim)
    return grad_out - softmax(x, dim) * grad_out.sum(axis=dim, keepdims=True)


def log_softmax_jvp(x, t, dim=None):
    """t - sum(softmax(x) * t): the Jacobian I - 1 softmax^T is not symmetric."""
    dim = _softmax_dim(x, dim)
    return t - (softmax(x, dim) * t).sum(axis=dim, keepdims=True)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """scale*x if x > 0 else scale*alpha*(exp(x) - 1), torch's constants."""
    return (_SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))).astype(x.dtype, copy=False)


def selu_backward(x, grad_out):
    """grad*scale if x > 0 else grad*scale*alpha*exp(x)."""
    slope = np.where(x > 0, _SELU_SCALE, _SELU_SCALE * _SELU_ALPHA * np.exp(np.minimum(x, 0)))
    return (grad_out * slope).astype(x.dtype, copy=False)


def celu(x, alpha=1.0):
    """x if x > 0 else alpha*(exp(x/alpha) - 1)."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha)).astype(x.dtype, copy=False)


def celu_backward(x, grad_out, alpha=1.0):
    """grad if x > 0 else grad*alpha*r*exp(x*r), r = 1/float32(alpha) as torch's derivative takes it (exp(x/alpha)
    up to that rounding)."""
    r = 1.0 / float(np.float32(alpha))
    return np.where(x > 0, grad_out, grad_out * (r * alpha) * np.exp(np.minimum(x, 0) * r)).astype(x.dtype, copy=False)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta*x))/beta, and x itself where beta*x > threshold."""
    return np.where(x * beta > threshold, x, np.logaddexp(0, x * beta) / beta).astype(x.dtype, copy=False)


def softplus_backward(x, grad_out, beta=1.0, threshold=20.0):
    """grad*sigmoid(beta*x), and grad where beta*x > threshold."""
    return np.where(x * beta > threshold, grad_out, grad_out * sigmoid(x * beta)).astype(x.dtype, copy=False)


def mish(x):
    """x*tanh(softplus(x))."""
    return (x * np.tanh(np.logaddexp(0, x))).astype(x.dtype, copy=False)


def mish_backward(x, grad_out):
    """grad*(tanh(sp) + x*sigmoid(x)*(1 - tanh(sp)^2)), sp = softplus(x) (torch's mish_backward)."""
    t = np.tanh(np.logaddexp(0, x))
    return (grad_out * (t + x * sigmoid(x) * (1 - t * t))).astype(x.dtype, copy=False)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """min(max(x, min_val), max_val)."""
    return np.clip(x, min_val, max_val)


def hardtanh_backward(x, grad_out, min_val=-1.0, max_val=1.0):
    """grad strictly between min_val and max_val, else 0."""
    return np.where((x > min_val) & (x < max_val), grad_out, 0).astype(x.dtype, copy=False)


def softsign(x):
    """x/(1 + |x|)."""
    return x / (1 + np.abs(x))


def softsign_backward(x, grad_out):
    """grad/(1 + |x|)^2."""
    return grad_out / np.square(1 + np.abs(x))


def logsigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|))."""
    return (np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def logsigmoid_backward(x, grad_out):
    """grad*sigmoid(-x)."""
    return grad_out * sigmoid(-x)


def _prelu_weight(x, weight):
    return weight.reshape(()) if weight.size == 1 else weight.reshape(_channel_shape(x))


def prelu(x, weight):
    """x if x > 0 else weight*x, with one slope or one per channel (axis 1)."""
    return np.where(x > 0, x, _prelu_weight(x, weight) * x).astype(x.dtype, copy=False)


def prelu_backward(x, weight, grad_out):
    """(grad_x, grad_weight): grad where x > 0, else weight*grad; the slope's gradient sums grad*x where x <= 0."""
    grad_x = np.where(x > 0, grad_out, _prelu_weight(x, weight) * grad_out).astype(x.dtype, copy=False)
    return grad_x, sum_to_size(np.where(x > 0, 0, grad_out * x), _prelu_weight(x, weight).shape).reshape(weight.shape)


def prelu_jvp(x, t, weight, weight_t=None):
    """The derivative along t and weight_t: t (x > 0) or weight*t + weight_t*x."""
    out = np.where(x > 0, t, _prelu_weight(x, weight) * t)
    return out if weight_t is None else out + np.where(x > 0, 0, _prelu_weight(x, weight_t) * x)


# --- dropout ------------------------------------------------------------------------------------


def _keep(x, p, seed, kept_axes):
    """The kept-and-rescaled mask: Bernoulli(1 - p) from ``default_rng(seed)`` over x's first ``kept_axes``
    axes (1 beyond them), divided by 1 - p."""
    shape = x.shape[:kept_axes] + (1,) * (x.ndim - kept_axes)
    keep = np.random.default_rng(seed).random(shape) >= p
    return (keep * (0.0 if p == 1 else 1.0 / (1.0 - p))).astype(x.dtype)


def _dropped(v, x, p, training, seed, kept_axes):
    return v if not training or p == 0 else v * _keep(x, p, seed, kept_axes)


def _feature_axes(x, rank):
    """The axes a channel-wise dropout draws its mask over: (N, C), or (N,) where torch reads the input as
    one unbatched sample (dropout1d of a 2-D input, dropout3d of a 4-D one)."""
    return 1 if x.ndim == rank + 1 and rank != 2 else 2


def dropout(x, p=0.5, training=True, seed=0):
    """x * mask / (1 - p); the mask is drawn from ``numpy.random.default_rng(seed)``, so a seed repeats it."""
    return _dropped(x, x, p, training, seed, x.ndim)


def dropout_backward(x, grad_out, p=0.5, training=True, seed=0):
    """grad * mask / (1 - p), the forward's mask."""
    return _dropped(grad_out, x, p, training, seed, x.ndim)


def dropout2d(x, p=0.5, training=True, seed=0):
    """Whole channels zeroed with probability p, the rest scaled by 1/(1 - p)."""
    return _dropped(x, x, p, training, seed, 2)


def dropout2d_backward(x, grad_out, p=0.5, training=True, seed=0):
    """grad * channel mask / (1 - p)."""
    return _dropped(grad_out, x, p, training, seed, 2)


def dropout1d(x, p=0.5, training=True, seed=0):
    """Whole channels of (N, C, L) zeroed with probability p (of a 2-D input, read as one (C, L) sample: rows)."""
    return _dropped(x, x, p, training, seed, _feature_axes(x, 1))


def dropout1d_backward(x, grad_out, p=0.5, training=True, seed=0):
    """grad * channel mask / (1 - p)."""
    return _dropped(grad_out, x, p, training, seed, _feature_axes(x, 1))


def dropout3d(x, p=0.5, training=True, seed=0):
    """Whole channels of (N, C, D, H, W) zeroed with probability p (of a 4-D input, read as one sample: its first axis)."""
    return _dropped(x, x, p, training, seed, _feature_axes(x, 3))


def dropout3d_backward(x, grad_out, p=0.5, training=True, seed=0):
    """grad * channel mask / (1 - p)."""
    return _dropped(grad_out, x, p, training, seed, _feature_axes(x, 3))


_ALPHA_DROPOUT = 1.7580993408473766  # torch's alpha: -SELU's scale*alpha


def _alpha_terms(x, p, seed):
    """(a * mask, b): y = x*a*mask + b keeps SELU's mean and variance, a = 1/sqrt((alpha^2 p + 1)(1 - p)),
    b = (mask - 1)*alpha*a + alpha*a*p (torch's _dropout_impl)."""
    mask = (np.random.default_rng(seed).random(x.shape) >= p).astype(x.dtype)
    a = 1.0 / math.sqrt((_ALPHA_DROPOUT**2 * p + 1) * (1 - p))
    return mask * a, (mask - 1) * (_ALPHA_DROPOUT * a) + _ALPHA_DROPOUT * a * p


def alpha_dropout(x, p=0.5, training=False, seed=0):
    """Dropout for SELU networks: dropped entries set to SELU's negative saturation, then an affine map
    restores mean and variance; the identity when not training or p = 0, zeros for p = 1."""
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    scale, shift = _alpha_terms(x, p, seed)
    return x * scale + shift


def alpha_dropout_backward(x, grad_out, p=0.5, training=False, seed=0):
    """grad * a * mask (the forward's mask)."""
    if not training or p == 0:
        return grad_out
    return np.zeros_like(grad_out) if p == 1 else grad_out * _alpha_terms(x, p, seed)[0]


def alpha_dropout_jvp(x, t, p=0.5, training=False, seed=0):
    """t * a * mask: the forward is affine, its derivative is not the forward itself."""
    return alpha_dropout_backward(x, t, p, training, seed)


# --- loss ---------------------------------------------------------------------------------------


def cross_entropy(input, target, reduction="mean"):
    """-log softmax(input)[target] over the class axis 1, averaged ('mean'), summed ('sum') or kept ('none')."""
    log_p = log_softmax(input, 1)
    picked = -np.take_along_axis(log_p, np.expand_dims(target, 1), axis=1)[:, 0]
    if reduction == "mean":
        return picked.mean()
    if reduction == "sum":
        return picked.sum()
    return picked


def cross_entropy_backward(input, target, grad_out=1.0, reduction="mean"):
    """grad_input = (softmax(input) - one_hot(target)) * grad_out (/ number of targets for 'mean')."""
    grad = softmax(input, 1)
    np.put_along_axis(grad, np.expand_dims(target, 1), np.take_along_axis(grad, np.expand_dims(target, 1), axis=1) - 1, axis=1)
    g = np.asarray(grad_out, dtype=input.dtype)
    if reduction == "mean":
        g = g / target.size
    if reduction == "none":
        g = np.expand_dims(g, 1)
    return (grad * g).astype(input.dtype, copy=False)


# --- reshaping and padding ----------------------------------------------------------------------


def flatten(x, start_dim=1, end_dim=-1):
    """Join dims start_dim..end_dim into one."""
    start = start_dim % x.ndim
    end = end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1 :])


def flatten_backward(x, grad_out, start_dim=1, end_dim=-1):
    """grad reshaped back to x's shape."""
    return grad_out.reshape(x.shape)


def _pad_pairs(x, pad):
    """F.pad's flat (before, after) pairs, last axis first, as (before, after) per padded axis in axis order."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {list(pad)} must hold (before, after) pairs for at most {x.ndim} dims")
    return tuple(reversed([(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]))


def _pad_index(n, before, after, mode):
    """The source index of every padded position along one axis."""
    j = np.arange(-before, n + after)
    if mode == "reflect":
        if before >= n or after >= n:
            raise ValueError(f"pad: reflection padding ({before}, {after}) must be smaller than the input size {n}")
        return (n - 1) - np.abs((n - 1) - np.abs(j))
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    if mode == "circular":
        if before > n or after > n:
            raise ValueError(f"pad: circular padding ({before}, {after}) may wrap around once at most (size {n})")
        return j % n
    raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")


def pad(x, pad, mode="constant", value=None):
    """torch.nn.functional.pad: ``pad`` = (before, after) of the last axis, then of the one before it, ...;
    'constant' fills with ``value`` (negative amounts crop), 'reflect' mirrors without repeating the
    edge, 'replicate' repeats it, 'circular' wraps around."""
    pairs = _pad_pairs(x, pad)
    if mode == "constant":
        return _pad(x, pairs, 0.0 if value is None else value)
    lead = x.ndim - len(pairs)
    for axis, ((before, after), n) in enumerate(zip(pairs, x.shape[lead:])):
        x = np.take(x, _pad_index(n, before, after, mode), axis=lead + axis)
    return x


def pad_backward(x, grad_out, pad, mode="constant", value=None):
    """The gradient of the input: grad cropped ('constant'; zero-padded where the forward cropped), or every
    padded position's gradient added onto the pixel it copies."""
    pairs = _pad_pairs(x, pad)
    if mode == "constant":
        return _pad(grad_out, tuple((-before, -after) for before, after in pairs))
    lead = x.ndim - len(pairs)
    g = grad_out
    for axis, ((before, after), n) in enumerate(zip(pairs, x.shape[lead:])):
        moved = np.moveaxis(g, lead + axis, 0)
        out = np.zeros((n,) + moved.shape[1:], g.dtype)
        np.add.at(out, _pad_index(n, before, after, mode), moved)
        g = np.moveaxis(out, 0, lead + axis)
    return np.ascontiguousarray(g)


def pixel_shuffle(x, upscale_factor):
    """(*, C*r^2, H, W) -> (*, C, H*r, W*r): y[c, h*r + i, w*r + j] = x[c*r^2 + i*r + j, h, w]."""
    r, k = upscale_factor, x.ndim - 3
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    return y.transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2).reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(x, downscale_factor):
    """(*, C, H, W) -> (*, C*r^2, H/r, W/r), the inverse of ``pixel_shuffle``."""
    r, k = downscale_factor, x.ndim - 3
    *lead, c, h, w = x.shape
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    return y.transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3).reshape(*lead, c * r * r, h // r, w // r)


def pixel_shuffle_backward(x, grad_out, upscale_factor):
    """A permutation's adjoint is its inverse: pixel_unshuffle(grad)."""
    return pixel_unshuffle(grad_out, upscale_factor)


def pixel_unshuffle_backward(x, grad_out, downscale_factor):
    """pixel_shuffle(grad)."""
    return pixel_shuffle(grad_out, downscale_factor)


def channel_shuffle(x, groups):
    """Channels (g, C/g) transposed to (C/g, g) (ShuffleNet): y[:, i*g + j] = x[:, j*C/g + i]."""
    n, c = x.shape[:2]
    return x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)


def channel_shuffle_backward(x, grad_out, groups):
    """The inverse shuffle: channel_shuffle(grad, C/groups)."""
    return channel_shuffle(grad_out, x.shape[1] // groups)


def sum_to_size(grad, shape):
    """The gradient of an operand of ``shape`` that was broadcast to grad's shape: summed over the broadcast axes
    (torch's Tensor.sum_to_size)."""
    shape = tuple(shape)
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return grad.sum(axis=axes).reshape(shape) if axes else grad


# --- tensor operations --------------------------------------------------------------------------


def index(x, key):
    """x[key], basic indexing (ints, slices, ``...`` and None), a copy."""
    return np.array(x[key])


def index_backward(x, grad_out, key):
    """zeros of x's shape with grad written where x[key] read (basic indexing reads each element once)."""
    grad = np.zeros_like(x, dtype=grad_out.dtype)
    grad[key] = grad_out
    return grad


_REDUCE = {"mean": np.mean, "sum": np.sum, "amax": np.max, "amin": np.min, "prod": np.prod}


def _reduced_axes(x, dim):
    if dim is None:
        return tuple(range(1, x.ndim))
    return tuple(sorted({d % x.ndim for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}))


def reduction(x, op, dim=None, keepdim=False):
    """torch.mean, sum, amax, amin or prod of x over ``dim`` (batched numbering; None: every axis but the batch)."""
    return np.asarray(_REDUCE[op](x, axis=_reduced_axes(x, dim), keepdims=keepdim), dtype=x.dtype)


def _others_product(x, axes):
    """Per element, the product of the other elements of its reduction group (exact with zeros): prefix times suffix."""
    moved = np.moveaxis(x, axes, list(range(x.ndim - len(axes), x.ndim)))
    flat = moved.reshape(moved.shape[: x.ndim - len(axes)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
    before = np.concatenate([ones, np.cumprod(flat[..., :-1], axis=-1)], axis=-1)
    after = np.concatenate([np.cumprod(flat[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    return np.moveaxis((before * after).reshape(moved.shape), list(range(x.ndim - len(axes), x.ndim)), axes)


def _reduction_weights(x, op, axes):
    """d reduction / d x, per element (amax, amin: the tied extremes share evenly, as torch)."""
    if op == "sum":
        return np.ones_like(x)
    if op == "mean":
        return np.full_like(x, 1.0 / math.prod(x.shape[a] for a in axes))
    if op == "prod":
        return _others_product(x, axes)
    hit = x == _REDUCE[op](x, axis=axes, keepdims=True)
    return hit / hit.sum(axis=axes, keepdims=True)


def reduction_backward(x, grad_out, op, dim=None, keepdim=False):
    """grad times d reduction / d x, broadcast back over the reduced axes."""
    axes = _reduced_axes(x, dim)
    g = grad_out if keepdim else np.expand_dims(grad_out, axes)
    return (g * _reduction_weights(x, op, axes)).astype(x.dtype, copy=False)


def reduction_jvp(x, t, op, dim=None, keepdim=False):
    """sum over the reduced axes of t times d reduction / d x."""
    axes = _reduced_axes(x, dim)
    return np.asarray((t * _reduction_weights(x, op, axes)).sum(axis=axes, keepdims=keepdim), dtype=x.dtype)


def reduction_margin(x, t, op, dim=None):
    """amax, amin: how far x may move along t before another element becomes the extreme; others: smooth (inf)."""
    if op not in ("amax", "amin"):
        return np.inf
    axes = _reduced_axes(x, dim)
    keep = x.ndim - len(axes)
    sign = 1.0 if op == "amax" else -1.0

    def grouped(a):  # (kept axes..., the reduced group)
        moved = np.moveaxis(sign * a, axes, list(range(keep, x.ndim)))
        return moved.reshape(moved.shape[:keep] + (-1,))

    vals = grouped(x)
    return _window_margin(vals, grouped(t), np.argmax(vals, axis=-1), -1)


_SCALAR_OPS = ("add", "sub", "rsub", "mul", "div", "rdiv", "pow", "neg")


def scalar(x, op, value=None):
    """x + c, x - c, c - x, x * c, x / c, c / x, x ** c or -x (``op``) for a constant c."""
    c = value
    forward = {"add": lambda: x + c, "sub": lambda: x - c, "rsub": lambda: c - x, "mul": lambda: x * c,
               "div": lambda: x / c, "rdiv": lambda: c / x, "pow": lambda: x**c, "neg": lambda: -x}
    if op not in forward:
        raise ValueError(f"scalar: op must be one of {', '.join(_SCALAR_OPS)}, got {op!r}")
    return np.asarray(forward[op](), dtype=x.dtype)


def scalar_backward(x, grad_out, op, value=None):
    """grad times the derivative: 1, -1, c, 1/c, -c/x^2, c*x^(c - 1) (0 for c = 0, as torch) or -1."""
    c = value
    if op in ("add", "sub"):
        return grad_out
    if op in ("rsub", "neg"):
        return -grad_out
    if op == "mul":
        return grad_out * c
    if op == "div":
        return grad_out / c
    if op == "rdiv":
        return -grad_out * c / np.square(x)
    return np.zeros_like(grad_out) if c == 0 else grad_out * (c * x ** (c - 1))


def scalar_margin(x, t, op, value=None):
    """c / x and x ** c (c not a whole number >= 0) bend without bound near 0: a quarter of the distance to 0 along t."""
    smooth = op != "rdiv" and not (op == "pow" and not (float(value).is_integer() and value >= 0))
    moving = t != 0
    if smooth or not moving.any():
        return np.inf
    return float((np.abs(x[moving]) / np.abs(t[moving])).min()) / 4


# --- tokens and attention -----------------------------------------------------------------------


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    """weight[input]: one row of the table per integer id (any shape of ids)."""
    if max_norm is not None:
        raise ValueError("embedding: max_norm renormalises the weight in place; the reference implements max_norm=None only")
    ids = np.asarray(input)
    if ids.size and (ids.min() < 0 or ids.max() >= weight.shape[0]):
        raise ValueError(f"embedding: ids must lie in [0, {weight.shape[0]}), got {ids.min()}..{ids.max()}")
    return weight[ids]


def embedding_backward(input, weight, grad_out, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                       sparse=False):
    """grad_weight: each id's row gathers the gradients of its uses (divided by its count with
    ``scale_grad_by_freq``); the padding row gets none. The integer ids have no gradient."""
    ids = np.asarray(input).ravel()
    rows = grad_out.reshape(-1, weight.shape[1])
    if scale_grad_by_freq:
        rows = rows / np.bincount(ids, minlength=weight.shape[0])[ids][:, None]
    grad = np.zeros_like(weight, dtype=grad_out.dtype)
    np.add.at(grad, ids, rows)
    if padding_idx is not None:
        grad[padding_idx] = 0
    return grad


def _transposed(a):
    return np.swapaxes(a, -1, -2)


def matmul(a, b):
    """a @ b, batched over the leading axes with broadcasting (counted: batch*n*k*m MACs)."""
    return _gemm(a, b)


def matmul_backward(a, b, grad_out):
    """(grad @ b^T, a^T @ grad), each summed over the axes its operand was broadcast along."""
    return sum_to_size(grad_out @ _transposed(b), a.shape), sum_to_size(_transposed(a) @ grad_out, b.shape)


def _attention_setup(query, key, attn_mask, dropout_p, is_causal, scale, enable_gqa, seed):
    """The scale, the additive mask (None: none) and the dropout's kept-and-rescaled mask (None: none)."""
    if enable_gqa:
        raise ValueError("scaled_dot_product_attention: the reference implements enable_gqa=False only")
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    length, keys = query.shape[-2], key.shape[-2]
    bias = None
    if is_causal:
        bias = np.where(np.tril(np.ones((length, keys), bool)), 0.0, -np.inf)
    if attn_mask is not None:
        mask = np.asarray(attn_mask)
        extra = np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask
        bias = extra if bias is None else bias + extra
    shape = np.broadcast_shapes(query.shape[:-1], key.shape[:-2] + (1,))[:-1] + (length, keys)
    keep = None
    if dropout_p > 0:
        keep = _keep(np.empty(shape, query.dtype), dropout_p, seed, len(shape))
    return scale, None if bias is None else bias.astype(query.dtype), keep


def _attention(q, k, v, scale, bias, keep):
    """(softmax weights, weights after dropout, output) of softmax(q k^T * scale + bias) (dropped) @ v."""
    scores = _gemm(q, _transposed(k)) * scale
    if bias is not None:
        scores = scores + bias
    weights = softmax(scores, -1)
    dropped = weights if keep is None else weights * keep
    return weights, dropped, _gemm(dropped, v)


def _attention_backward(q, k, v, scale, bias, keep, grad_out):
    weights, dropped, _ = _attention(q, k, v, scale, bias, keep)
    grad_v = sum_to_size(_transposed(dropped) @ grad_out, v.shape)
    grad_w = grad_out @ _transposed(v)
    if keep is not None:
        grad_w = grad_w * keep
    grad_s = weights * (grad_w - (grad_w * weights).sum(axis=-1, keepdims=True)) * scale
    return sum_to_size(grad_s @ k, q.shape), sum_to_size(_transposed(grad_s) @ q, k.shape), grad_v


def _attention_jvp(q, k, v, tq, tk, tv, scale, bias, keep):
    weights, dropped, _ = _attention(q, k, v, scale, bias, keep)
    d_scores = (tq @ _transposed(k) + q @ _transposed(tk)) * scale
    d_weights = weights * (d_scores - (weights * d_scores).sum(axis=-1, keepdims=True))
    if keep is not None:
        d_weights = d_weights * keep
    return d_weights @ v + dropped @ tv


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, seed=0):
    """softmax(q k^T * scale + mask) @ v, scale = 1/sqrt(E) by default, batched with broadcasting over the
    leading axes; a boolean mask keeps True, a float mask is added; dropout (seeded) on the weights."""
    scale, bias, keep = _attention_setup(query, key, attn_mask, dropout_p, is_causal, scale, enable_gqa, seed)
    return _attention(query, key, value, scale, bias, keep)[2]


def scaled_dot_product_attention_backward(query, key, value, grad_out, attn_mask=None, dropout_p=0.0, is_causal=False,
                                          scale=None, enable_gqa=False, *, seed=0):
    """(grad_query, grad_key, grad_value): with P the weights and G = grad_out @ v^T (times the dropout mask),
    grad_scores = P*(G - sum(G*P))*scale, grad_q = grad_scores @ k, grad_k = grad_scores^T @ q, grad_v = P^T @ grad_out."""
    scale, bias, keep = _attention_setup(query, key, attn_mask, dropout_p, is_causal, scale, enable_gqa, seed)
    return _attention_backward(query, key, value, scale, bias, keep, grad_out)


def scaled_dot_product_attention_jvp(query, key, value, query_t, key_t, value_t, attn_mask=None, dropout_p=0.0,
                                     is_causal=False, scale=None, enable_gqa=False, *, seed=0):
    """The derivative along the three tangents: P' @ v + P @ v', P' = P*(S' - sum(P*S')), S' = (q' k^T + q k'^T)*scale."""
    scale, bias, keep = _attention_setup(query, key, attn_mask, dropout_p, is_causal, scale, enable_gqa, seed)
    return _attention_jvp(query, key, value, query_t, key_t, value_t, scale, bias, keep)


def _heads(t, num_heads):
    """(N, L, E) -> (N, heads, L, E/heads)."""
    n, length, e = t.shape
    return t.reshape(n, length, num_heads, e // num_heads).transpose(0, 2, 1, 3)


def _joined_heads(t):
    """(N, heads, L, D) -> (N, L, heads*D)."""
    n, h, length, d = t.shape
    return t.transpose(0, 2, 1, 3).reshape(n, length, h * d)


def _mha_project(x, weight, bias, bias_k, bias_v, num_heads, add_bias_kv, add_zero_attn):
    """Per-head q, k, v (N, heads, L or S, D): the in-projection, then the learned key and value row appended
    (``add_bias_kv``; zeros where bias_k is None), then a row of zeros (``add_zero_attn``). Linear in
    (x, bias, bias_k, bias_v) for a fixed weight, and in the weight for a fixed x."""
    q, k, v = np.split(linear(x, weight, bias), 3, axis=-1)
    if add_bias_kv:
        n, e = x.shape[0], weight.shape[1]
        k, v = (np.concatenate([a, np.zeros((n, 1, e), x.dtype) if row is None else np.broadcast_to(row.reshape(1, 1, e), (n, 1, e))],
                               axis=1) for a, row in ((k, bias_k), (v, bias_v)))
    q, k, v = (_heads(a, num_heads) for a in (q, k, v))
    if add_zero_attn:
        k, v = (np.concatenate([a, np.zeros(a.shape[:2] + (1,) + a.shape[3:], a.dtype)], axis=2) for a in (k, v))
    return q, k, v


def _mha_keep(x, num_heads, keys, dropout_p, training, seed):
    if not training or dropout_p == 0:
        return None
    shape = (x.shape[0], num_heads, x.shape[1], keys)
    return _keep(np.empty(shape, x.dtype), dropout_p, seed, 4)


def multi_head_attention(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, bias_k=None, bias_v=None,
                         add_zero_attn=False, dropout_p=0.0, training=True, seed=0):
    """Self-attention of a batch-first (N, L, E) input as torch's nn.MultiheadAttention computes it
    (``F.multi_head_attention_forward(x, x, x, ...)[0]``): q, k, v = x W_in^T + b_in; the learned rows
    bias_k, bias_v appended to k and v, then a zero row (``add_zero_attn``); ``num_heads`` attentions
    softmax(q k^T/sqrt(E/heads)) @ v, their weights dropped out (seeded) when training; heads joined and
    projected by W_out, b_out."""
    q, k, v = _mha_project(x, in_proj_weight, in_proj_bias, bias_k, bias_v, num_heads, bias_k is not None, add_zero_attn)
    keep = _mha_keep(x, num_heads, k.shape[2], dropout_p, training, seed)
    out = _attention(q, k, v, 1.0 / math.sqrt(q.shape[-1]), None, keep)[2]
    return linear(_joined_heads(out), out_proj_weight, out_proj_bias)


def multi_head_attention_backward(x, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, grad_out,
                                  bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, training=True, seed=0):
    """(grad_x, grad_in_proj_weight, grad_in_proj_bias, grad_out_proj_weight, grad_out_proj_bias, grad_bias_k,
    grad_bias_v), None for an absent bias: the attention's backward between the two projections' backwards."""
    has_kv = bias_k is not None
    q, k, v = _mha_project(x, in_proj_weight, in_proj_bias, bias_k, bias_v, num_heads, has_kv, add_zero_attn)
    keep = _mha_keep(x, num_heads, k.shape[2], dropout_p, training, seed)
    scale = 1.0 / math.sqrt(q.shape[-1])
    joined = _joined_heads(_attention(q, k, v, scale, None, keep)[2])
    grad_joined, grad_out_w, grad_out_b = linear_backward(joined, out_proj_weight, grad_out)
    gq, gk, gv = _attention_backward(q, k, v, scale, None, keep, _heads(grad_joined, num_heads))
    if add_zero_attn:
        gk, gv = gk[:, :, :-1], gv[:, :, :-1]
    gq, gk, gv = (_joined_heads(a) for a in (gq, gk, gv))
    grad_bias_k = grad_bias_v = None
    if has_kv:
        grad_bias_k, grad_bias_v = (a[:, -1].sum(axis=0).reshape(bias_k.shape) for a in (gk, gv))
        gk, gv = gk[:, :-1], gv[:, :-1]
    grad_x, grad_in_w, grad_in_b = linear_backward(x, in_proj_weight, np.concatenate([gq, gk, gv], axis=-1))
    return (grad_x, grad_in_w, None if in_proj_bias is None else grad_in_b, grad_out_w,
            None if out_proj_bias is None else grad_out_b, grad_bias_k, grad_bias_v)


def multi_head_attention_jvp(x, t, num_heads, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, bias_k=None,
                             bias_v=None, add_zero_attn=False, dropout_p=0.0, training=True, seed=0, *, in_proj_weight_t=None,
                             in_proj_bias_t=None, out_proj_weight_t=None, out_proj_bias_t=None, bias_k_t=None,
                             bias_v_t=None):
    """The derivative along the input tangent t and the parameters' tangents (keyword ``*_t``; None: held fixed)."""
    has_kv = bias_k is not None
    q, k, v = _mha_project(x, in_proj_weight, in_proj_bias, bias_k, bias_v, num_heads, has_kv, add_zero_attn)
    tq, tk, tv = _mha_project(t, in_proj_weight, in_proj_bias_t, bias_k_t, bias_v_t, num_heads, has_kv, add_zero_attn)
    if in_proj_weight_t is not None:
        moved = _mha_project(x, in_proj_weight_t, None, None, None, num_heads, has_kv, add_zero_attn)
        tq, tk, tv = tq + moved[0], tk + moved[1], tv + moved[2]
    keep = _mha_keep(x, num_heads, k.shape[2], dropout_p, training, seed)
    scale = 1.0 / math.sqrt(q.shape[-1])
    joined = _joined_heads(_attention(q, k, v, scale, None, keep)[2])
    joined_t = _joined_heads(_attention_jvp(q, k, v, tq, tk, tv, scale, None, keep))
    out = linear(joined_t, out_proj_weight)
    if out_proj_weight_t is not None:
        out = out + linear(joined, out_proj_weight_t)
    return out if out_proj_bias_t is None else out + out_proj_bias_t



# --- windows (Swin, MaxViT) ---------------------------------------------------------------------


def window_partition(x, p):
    """torchvision's WindowPartition (MaxViT): (N, C, H, W) -> (N, H/p * W/p, p*p, C), the map cut into
    p x p windows of channels-last tokens, windows row by row."""
    n, c, h, w = x.shape
    y = x.reshape(n, c, h // p, p, w // p, p).transpose(0, 2, 4, 3, 5, 1)
    return np.ascontiguousarray(y).reshape(n, (h // p) * (w // p), p * p, c)


def window_partition_backward(x, grad_out, p):
    """The gradient put back where each token came from: ``window_departition``."""
    return window_departition(grad_out, p, x.shape[2] // p, x.shape[3] // p)


def window_departition(x, p, h_partitions, w_partitions):
    """torchvision's WindowDepartition: (N, h_partitions*w_partitions, p*p, C) -> (N, C, h_partitions*p,
    w_partitions*p), the inverse of ``window_partition``."""
    n, _, _, c = x.shape
    y = x.reshape(n, h_partitions, w_partitions, p, p, c).transpose(0, 5, 1, 3, 2, 4)
    return np.ascontiguousarray(y).reshape(n, c, h_partitions * p, w_partitions * p)


def window_departition_backward(x, grad_out, p, h_partitions, w_partitions):
    """The gradient cut into windows again: ``window_partition``."""
    return window_partition(grad_out, p)


_QUADRANTS = ((0, 0), (1, 0), (0, 1), (1, 1))  # torchvision's order: x0, x1, x2, x3 (H offset, W offset)


def patch_merging_pad(x):
    """torchvision's _patch_merging_pad (Swin): a channels-last (..., H, W, C) map padded with zeros at the
    end to even H and W, each 2x2 block's four pixels joined along the channels: (..., ceil(H/2), ceil(W/2), 4C)."""
    h, w = x.shape[-3:-1]
    xp = _pad(x, ((0, h % 2), (0, w % 2), (0, 0)))
    return np.concatenate([xp[..., i::2, j::2, :] for i, j in _QUADRANTS], axis=-1)


def patch_merging_pad_backward(x, grad_out):
    """Each quarter of the channels back onto the pixels it was taken from (the padding's share dropped)."""
    h, w, c = x.shape[-3:]
    grad = np.zeros(x.shape[:-3] + (h + h % 2, w + w % 2, c), grad_out.dtype)
    for k, (i, j) in enumerate(_QUADRANTS):
        grad[..., i::2, j::2, :] = grad_out[..., k * c : (k + 1) * c]
    return np.ascontiguousarray(grad[..., :h, :w, :])


def relative_position_index(window_size):
    """The (N, N) table row of each query-key pair in a wh x ww window of N = wh*ww tokens, as torchvision
    builds it (Swin's ``relative_position_index`` flattens it, MaxViT's ``_get_relative_position_index``):
    (dh + wh - 1) * (2*ww - 1) + dw + ww - 1 for the offsets dh, dw of the query from the key."""
    wh, ww = window_size
    coords = np.stack(np.meshgrid(np.arange(wh), np.arange(ww), indexing="ij")).reshape(2, -1)
    rel = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0).copy()
    rel[:, :, 0] += wh - 1
    rel[:, :, 1] += ww - 1
    rel[:, :, 0] *= 2 * ww - 1
    return rel.sum(-1)


def relative_coords_table(window_size):
    """Swin V2's ``relative_coords_table`` (1, 2*wh - 1, 2*ww - 1, 2), in float32 as torchvision: the offsets
    (dh, dw) scaled to [-8, 8] by the window's extent, then sign(v) * log2(|v| + 1) / 3."""
    wh, ww = window_size
    h = np.arange(-(wh - 1), wh, dtype=np.float32)
    w = np.arange(-(ww - 1), ww, dtype=np.float32)
    table = np.stack(np.meshgrid(h, w, indexing="ij")).transpose(1, 2, 0)[None].copy()
    table[..., 0] /= wh - 1
    table[..., 1] /= ww - 1
    table *= 8
    return (np.sign(table) * np.log2(np.abs(table) + np.float32(1.0)) / np.float32(3.0)).astype(np.float32)


def relative_position_bias(table, index, tokens):
    """torchvision's _get_relative_position_bias: the table's rows gathered by ``index``, (1, heads, N, N)."""
    return np.ascontiguousarray(table[np.asarray(index).reshape(-1)].reshape(tokens, tokens, -1).transpose(2, 0, 1))[None]


def relative_position_bias_backward(table, index, tokens, grad_out):
    """grad_table: each row gathers the gradients of the query-key pairs that read it."""
    grad = np.zeros(table.shape, grad_out.dtype)
    np.add.at(grad, np.asarray(index).reshape(-1), grad_out.reshape(-1, tokens * tokens).T)
    return grad


def _softmax_attention_backward(weights, v, grad_out):
    """(grad_scores, grad_v) of softmax(scores) @ v, from the weights."""
    grad_w = grad_out @ _transposed(v)
    return weights * (grad_w - (grad_w * weights).sum(axis=-1, keepdims=True)), _transposed(weights) @ grad_out


def _softmax_attention_jvp(weights, v, d_scores, d_v):
    d_weights = weights * (d_scores - (weights * d_scores).sum(axis=-1, keepdims=True))
    return d_weights @ v + (0 if d_v is None else weights @ d_v)


def _split_heads(qkv, heads):
    """(..., P, 3C) -> q, k, v, each (..., heads, P, C/heads)."""
    *lead, p, c3 = qkv.shape
    parts = qkv.reshape(*lead, p, 3, heads, c3 // (3 * heads))
    return [np.moveaxis(parts[..., j, :, :], -2, -3) for j in range(3)]


def _join_heads(a):
    """(..., heads, P, d) -> (..., P, heads*d)."""
    moved = np.moveaxis(a, -3, -2)
    return moved.reshape(moved.shape[:-2] + (-1,))


# Swin's window attention: the map padded, rolled and cut into windows; per window and head
# softmax(scores + bias (+ the shifted-window mask)) @ v; the windows joined, rolled back and cropped.


def _swin_geometry(shape, window_size, shift_size):
    """The padded (H, W) and the shift torchvision applies (none along an axis one window covers)."""
    _, h, w, _ = shape
    (wh, ww), (sh, sw) = window_size, shift_size
    ph, pw = h + (wh - h % wh) % wh, w + (ww - w % ww) % ww
    return (ph, pw), (0 if wh >= ph else sh, 0 if ww >= pw else sw)


def _swin_windows(x, window_size, padded, shift):
    """(B, H, W, C) -> (B*windows, wh*ww, C): padded at the end to whole windows, rolled by -shift, cut
    into windows row by row (the adjoint of ``_swin_unwindows``)."""
    b, h, w, c = x.shape
    (ph, pw), (wh, ww) = padded, window_size
    x = _pad(x, ((0, ph - h), (0, pw - w), (0, 0)))
    if sum(shift) > 0:
        x = np.roll(x, (-shift[0], -shift[1]), axis=(1, 2))
    return x.reshape(b, ph // wh, wh, pw // ww, ww, c).transpose(0, 1, 3, 2, 4, 5).reshape(-1, wh * ww, c)


def _swin_unwindows(y, shape, window_size, padded, shift):
    """(B*windows, wh*ww, C) -> (B, H, W, C): the windows joined, rolled back by +shift, the padding cropped."""
    b, h, w, c = shape
    (ph, pw), (wh, ww) = padded, window_size
    y = y.reshape(b, ph // wh, pw // ww, wh, ww, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
    if sum(shift) > 0:
        y = np.roll(y, shift, axis=(1, 2))
    return np.ascontiguousarray(y[:, :h, :w])


def shifted_window_mask(padded, window_size, shift_size):
    """(windows, N, N): 0 between two tokens of one window that came from the same region of the rolled
    map (torchvision's nine slices), -100 between regions."""
    (ph, pw), (wh, ww), (sh, sw) = padded, window_size, shift_size
    regions = np.zeros((ph, pw))
    count = 0
    for h0, h1 in ((0, -wh), (-wh, -sh), (-sh, None)):
        for w0, w1 in ((0, -ww), (-ww, -sw), (-sw, None)):
            regions[h0:h1, w0:w1] = count
            count += 1
    windows = regions.reshape(ph // wh, wh, pw // ww, ww).transpose(0, 2, 1, 3).reshape(-1, wh * ww)
    return np.where(windows[:, None, :] - windows[:, :, None] != 0, -100.0, 0.0)


_LOG_100 = math.log(100.0)


def _key_bias_zeroed(bias):
    """Swin V2's qkv bias with its key third zeroed (torchvision zeroes a copy in every forward)."""
    if bias is None:
        return None
    out = bias.copy()
    n = bias.shape[0] // 3
    out[n : 2 * n] = 0
    return out


def _normalized(a, eps=1e-12):
    """F.normalize(a, dim=-1): (a / max(|a|, eps), max(|a|, eps), |a| > eps)."""
    norm = np.sqrt((a * a).sum(axis=-1, keepdims=True))
    den = np.maximum(norm, eps)
    return a / den, den, norm > eps


def _normalized_derivative(unit, den, above, g):
    """The (symmetric) Jacobian of F.normalize applied to g: (g - y*sum(g*y)) / |a| (g / eps below eps)."""
    return (g - np.where(above, unit * (g * unit).sum(axis=-1, keepdims=True), 0)) / den


def _swin_parts(x, qkv_weight, proj_weight, bias, window_size, num_heads, shift_size, qkv_bias, proj_bias, logit_scale):
    """Every intermediate of ``shifted_window_attention`` (the backward and the derivative read them)."""
    padded, shift = _swin_geometry(x.shape, window_size, shift_size)
    s = dict(padded=padded, shift=shift, cosine=logit_scale is not None)
    if s["cosine"]:
        qkv_bias = _key_bias_zeroed(qkv_bias)
    s["xw"] = xw = _swin_windows(x, window_size, padded, shift)
    q, k, v = s["q"], s["k"], s["v"] = _split_heads(linear(xw, qkv_weight, qkv_bias), num_heads)
    if s["cosine"]:
        (s["qn"], s["qden"], s["qabove"]), (s["kn"], s["kden"], s["kabove"]) = _normalized(q), _normalized(k)
        s["cos"] = _gemm(s["qn"], _transposed(s["kn"]))
        s["ls"] = np.exp(np.minimum(logit_scale, _LOG_100))
        scores = s["cos"] * s["ls"]
    else:
        s["scale"] = (x.shape[-1] // num_heads) ** -0.5
        scores = _gemm(q * s["scale"], _transposed(k))
    scores = scores + bias
    if sum(shift) > 0:
        mask = shifted_window_mask(padded, window_size, shift).astype(x.dtype)
        scores = (scores.reshape((x.shape[0], -1) + scores.shape[1:]) + mask[None, :, None]).reshape(scores.shape)
    s["weights"] = weights = softmax(scores, -1)
    s["joined"] = _join_heads(_gemm(weights, v))
    return s


def _swin_check(attention_dropout, dropout, training):
    if training and (attention_dropout or dropout):
        raise ValueError("shifted_window_attention: the reference implements attention_dropout=0 and dropout=0 (or "
                         f"evaluation) only, got {attention_dropout} and {dropout}")


def shifted_window_attention(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size,
                             attention_dropout=0.0, dropout=0.0, qkv_bias=None, proj_bias=None, logit_scale=None,
                             training=True):
    """torchvision's shifted_window_attention on a channels-last (B, H, W, C) map: padded at the end to
    whole windows, rolled by -shift_size (not along an axis one window covers), cut into windows of
    N = wh*ww tokens; per window and head softmax(q k^T / sqrt(C/heads) + bias + mask) @ v, the mask -100
    between tokens of different regions of the rolled map; the heads joined and projected; the windows
    joined, rolled back and cropped. With ``logit_scale`` (Swin V2): cosine attention, the scores
    normalize(q) normalize(k)^T * exp(min(logit_scale, log 100)), the key third of qkv_bias zeroed.
    ``relative_position_bias`` is (1, heads, N, N) (``relative_position_bias``). Dropout: 0 only."""
    _swin_check(attention_dropout, dropout, training)
    s = _swin_parts(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size, qkv_bias,
                    proj_bias, logit_scale)
    return _swin_unwindows(linear(s["joined"], proj_weight, proj_bias), input.shape, window_size, s["padded"], s["shift"])


def shifted_window_attention_backward(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads,
                                      shift_size, grad_out, attention_dropout=0.0, dropout=0.0, qkv_bias=None,
                                      proj_bias=None, logit_scale=None, training=True):
    """(grad_input, grad_qkv_weight, grad_proj_weight, grad_relative_position_bias, grad_qkv_bias,
    grad_proj_bias, grad_logit_scale), None for an absent input (grad_logit_scale 0 where the clamp holds)."""
    _swin_check(attention_dropout, dropout, training)
    s = _swin_parts(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size, qkv_bias,
                    proj_bias, logit_scale)
    gy = _swin_windows(grad_out, window_size, s["padded"], s["shift"])
    g_joined, g_proj_w, g_proj_b = linear_backward(s["joined"], proj_weight, gy)
    g_o = np.moveaxis(g_joined.reshape(g_joined.shape[:-1] + (num_heads, -1)), -2, -3)
    g_scores, g_v = _softmax_attention_backward(s["weights"], s["v"], g_o)
    g_bias = sum_to_size(g_scores, relative_position_bias.shape)
    g_scale = None
    if s["cosine"]:
        g_cos = g_scores * s["ls"]
        g_scale = (g_scores * s["cos"]).sum(axis=(0, 2, 3)).reshape(logit_scale.shape) * s["ls"] * (logit_scale <= _LOG_100)
        g_q = _normalized_derivative(s["qn"], s["qden"], s["qabove"], g_cos @ s["kn"])
        g_k = _normalized_derivative(s["kn"], s["kden"], s["kabove"], _transposed(g_cos) @ s["qn"])
    else:
        g_q = (g_scores @ s["k"]) * s["scale"]
        g_k = _transposed(g_scores) @ (s["q"] * s["scale"])
    g_qkv = np.concatenate([_join_heads(g) for g in (g_q, g_k, g_v)], axis=-1)
    g_xw, g_qkv_w, g_qkv_b = linear_backward(s["xw"], qkv_weight, g_qkv)
    if s["cosine"]:
        g_qkv_b = _key_bias_zeroed(g_qkv_b)
    g_x = _swin_unwindows(g_xw, input.shape, window_size, s["padded"], s["shift"])
    return (g_x, g_qkv_w, g_proj_w, g_bias, None if qkv_bias is None else g_qkv_b, None if proj_bias is None else g_proj_b,
            g_scale)


def shifted_window_attention_jvp(input, t, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads,
                                 shift_size, attention_dropout=0.0, dropout=0.0, qkv_bias=None, proj_bias=None,
                                 logit_scale=None, training=True, *, qkv_weight_t=None, proj_weight_t=None,
                                 relative_position_bias_t=None, qkv_bias_t=None, proj_bias_t=None, logit_scale_t=None):
    """The derivative along the input tangent t and the tangents (keyword ``*_t``; None: held fixed) of the others."""
    _swin_check(attention_dropout, dropout, training)
    s = _swin_parts(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size, qkv_bias,
                    proj_bias, logit_scale)
    tw = _swin_windows(t, window_size, s["padded"], s["shift"])
    t_qkv = linear(tw, qkv_weight, _key_bias_zeroed(qkv_bias_t) if s["cosine"] else qkv_bias_t)
    if qkv_weight_t is not None:
        t_qkv = t_qkv + linear(s["xw"], qkv_weight_t)
    tq, tk, tv = _split_heads(t_qkv, num_heads)
    if s["cosine"]:
        dq = _normalized_derivative(s["qn"], s["qden"], s["qabove"], tq)
        dk = _normalized_derivative(s["kn"], s["kden"], s["kabove"], tk)
        d_scores = (dq @ _transposed(s["kn"]) + s["qn"] @ _transposed(dk)) * s["ls"]
        if logit_scale_t is not None:
            d_scores = d_scores + s["cos"] * (s["ls"] * logit_scale_t * (logit_scale <= _LOG_100))
    else:
        d_scores = (tq @ _transposed(s["k"]) + s["q"] @ _transposed(tk)) * s["scale"]
    if relative_position_bias_t is not None:
        d_scores = d_scores + relative_position_bias_t
    d_joined = _join_heads(_softmax_attention_jvp(s["weights"], s["v"], d_scores, tv))
    dy = linear(d_joined, proj_weight, proj_bias_t)
    if proj_weight_t is not None:
        dy = dy + linear(s["joined"], proj_weight_t)
    return _swin_unwindows(dy, input.shape, window_size, s["padded"], s["shift"])


# MaxViT's RelativePositionalMultiHeadAttention between its to_qkv and merge Linears


def _relative_parts(x, relative_position_bias_table, relative_position_index, head_dim):
    c = x.shape[-1] // 3
    q, k, v = _split_heads(x, c // head_dim)  # torch.chunk into q, k, v, then heads
    scale = c**-0.5  # torchvision scales by feat_dim**-0.5, the keys
    bias = relative_position_bias(relative_position_bias_table, relative_position_index, x.shape[-2])[0]
    weights = softmax(_gemm(q, _transposed(k * scale)) + bias, -1)
    return q, k, v, scale, weights


def relative_positional_attention(x, relative_position_bias_table, relative_position_index, head_dim):
    """The attention of torchvision's RelativePositionalMultiHeadAttention (MaxViT) on (..., P, 3C) (the output of
    its to_qkv): q, k, v the thirds of the features, in C/head_dim heads; softmax(q (k * C^-0.5)^T + bias) @ v with
    bias = table[index] (heads, P, P); the heads joined: (..., P, C)."""
    q, k, v, scale, weights = _relative_parts(x, relative_position_bias_table, relative_position_index, head_dim)
    return _join_heads(_gemm(weights, v))


def relative_positional_attention_backward(x, relative_position_bias_table, relative_position_index, head_dim, grad_out):
    """(grad_x, grad_relative_position_bias_table)."""
    q, k, v, scale, weights = _relative_parts(x, relative_position_bias_table, relative_position_index, head_dim)
    heads = q.shape[-3]
    g_o = np.moveaxis(grad_out.reshape(grad_out.shape[:-1] + (heads, -1)), -2, -3)
    g_scores, g_v = _softmax_attention_backward(weights, v, g_o)
    g_q, g_k = g_scores @ (k * scale), (_transposed(g_scores) @ q) * scale
    g_bias = g_scores.reshape((-1,) + g_scores.shape[-3:]).sum(axis=0)
    g_x = np.concatenate([_join_heads(g) for g in (g_q, g_k, g_v)], axis=-1)
    return g_x, relative_position_bias_backward(relative_position_bias_table, relative_position_index, x.shape[-2], g_bias)


def relative_positional_attention_jvp(x, t, relative_position_bias_table, relative_position_index, head_dim,
                                      relative_position_bias_table_t=None):
    """The derivative along the input tangent t and the table's tangent (None: held fixed)."""
    q, k, v, scale, weights = _relative_parts(x, relative_position_bias_table, relative_position_index, head_dim)
    tq, tk, tv = _split_heads(t, q.shape[-3])
    d_scores = (tq @ _transposed(k) + q @ _transposed(tk)) * scale
    if relative_position_bias_table_t is not None:
        d_scores = d_scores + relative_position_bias(relative_position_bias_table_t, relative_position_index, x.shape[-2])[0]
    return _join_heads(_softmax_attention_jvp(weights, v, d_scores, tv))


__all__ = [name for name, value in list(globals().items())  # every public function, in the order defined
           if not name.startswith("_") and getattr(value, "__module__", None) == __name__]
