"""NumPy reference of ``torch.nn.functional``: each forward next to its backward.

Arrays are NCHW, float32 or float64. Functions take torch's argument names, order and defaults; each
``*_backward`` takes the forward's inputs plus ``grad_out`` and returns the gradients of the forward's
differentiable array inputs in order (one array when there is one, else a tuple; ``None`` for an
absent optional input). Every output size comes from ``cnncalc.formulas``.

Convolutions lower to one GEMM per call (groups batched by ``np.matmul``) over an im2col matrix built
from a strided view of the padded input; the adjoint, col2im, adds the columns back. The loops that
remain run over kernel taps (at most kh*kw numpy calls), never over pixels or channels. Every GEMM
goes through ``_gemm``, which adds rows*cols*inner to the active ``count_macs()`` counters.
"""

from __future__ import annotations

import math

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
    """np.matmul(a, b), counted: each of the batch's matrices costs rows*cols*inner MACs."""
    out = np.matmul(a, b)
    if _COUNTERS:
        macs = out.size * a.shape[-1]
        for counter in _COUNTERS:
            counter.macs += macs
    return out


def _pair(value):
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _pad(x, top, bottom, left, right, value=0.0):
    """Pad the last two axes by the given amounts (negative amounts crop), filled with ``value``."""
    h, w = x.shape[-2:]
    x = x[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
    top, bottom, left, right = (max(v, 0) for v in (top, bottom, left, right))
    if not (top or bottom or left or right):
        return x
    h, w = x.shape[-2:]
    out = np.full(x.shape[:-2] + (top + h + bottom, left + w + right), value, dtype=x.dtype)
    out[..., top : top + h, left : left + w] = x
    return out


def _unpad(xp, top, left, h, w):
    """The (h, w) window of a padded map that holds the original pixels: the adjoint of ``_pad``."""
    return xp[..., top : top + h, left : left + w]


def _windows(xp, kernel, stride, dilation, out_hw):
    """Sliding windows of a padded NCHW map as a read-only strided view (N, C, kh, kw, H_out, W_out)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    s_n, s_c, s_h, s_w = xp.strides
    shape = xp.shape[:2] + (kh, kw, ho, wo)
    return as_strided(xp, shape, (s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w), writeable=False)


def _im2col(xp, kernel, stride, dilation, out_hw):
    """The windows copied into a contiguous (N, C, kh, kw, H_out, W_out) array (reshape gives the GEMM operand).

    Copied one kernel row at a time: each copy moves whole contiguous rows, several times faster than
    one copy of the 6-D view.
    """
    view = _windows(xp, kernel, stride, dilation, out_hw)
    cols = np.empty(view.shape, xp.dtype)
    for i in range(kernel[0]):
        cols[:, :, i] = view[:, :, i]
    return cols


def _col2im(cols, padded_hw, stride, dilation):
    """Adjoint of ``_im2col``: add every window entry back onto the padded pixel it was read from."""
    n, c, kh, kw, ho, wo = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    out = np.zeros((n, c) + tuple(padded_hw), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw] += cols[:, :, i, j]
    return out


def _weight_grad(a, b):
    """sum over batch and positions of a @ b^T: (N, G, P, L), (N, G, Q, L) -> (G, P, Q), one GEMM per group."""
    n, g, p, length = a.shape
    q = b.shape[2]
    a2 = a.transpose(1, 2, 0, 3).reshape(g, p, n * length)
    b2 = b.transpose(1, 0, 3, 2).reshape(g, n * length, q)
    return _gemm(a2, b2)


# --- convolution --------------------------------------------------------------------------------


def _conv_pads(padding, kernel, dilation):
    """((top, bottom), (left, right)) for an int, a pair, 'valid' or 'same' (the extra pixel after, as torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    ph, pw = _pair(padding)
    return (ph, ph), (pw, pw)


def _conv_geometry(x, weight, stride, padding, dilation):
    """Kernel, stride, dilation, pads and output size (H_out, W_out) from ``formulas.conv_out``."""
    kernel = weight.shape[2:]
    stride, dilation = _pair(stride), _pair(dilation)
    pads = _conv_pads(padding, kernel, dilation)
    out_hw = tuple(
        F.conv_out(n + p1 - p0, k, s, p0, d)
        for n, k, s, (p0, p1), d in zip(x.shape[2:], kernel, stride, pads, dilation)
    )
    if min(out_hw) <= 0:
        raise ValueError(f"conv2d: output size {out_hw} is not positive for input {x.shape} and kernel {kernel}")
    return kernel, stride, dilation, pads, out_hw


def _pointwise(kernel, stride, pads):
    """True for an unpadded 1x1 stride-1 convolution: its im2col matrix is the input itself."""
    return kernel == (1, 1) and stride == (1, 1) and pads == ((0, 0), (0, 0))


def _conv_cols(x, kernel, stride, dilation, pads, out_hw, groups):
    """The im2col matrix of a conv2d input, (N, groups, C/groups*kh*kw, H_out*W_out)."""
    n, c = x.shape[:2]
    if _pointwise(kernel, stride, pads):
        return x.reshape(n, groups, c // groups, -1)
    (pt, pb), (pl, pr) = pads
    xp = _pad(x, pt, pb, pl, pr)
    cols = _im2col(xp, kernel, stride, dilation, out_hw)
    return cols.reshape(n, groups, -1, out_hw[0] * out_hw[1])


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o] = sum over c in o's group, i, j of w[o, c, i, j] * x_pad[n, c, s*h + d*i, s*w + d*j] + b[o]."""
    kernel, stride, dilation, pads, out_hw = _conv_geometry(x, weight, stride, padding, dilation)
    n, c_out = x.shape[0], weight.shape[0]
    cols = _conv_cols(x, kernel, stride, dilation, pads, out_hw, groups)
    y = _gemm(weight.reshape(groups, c_out // groups, -1), cols).reshape(n, c_out, *out_hw)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def conv2d_backward(x, weight, grad_out, stride=1, padding=0, dilation=1, groups=1, output_mask=(True, True, True)):
    """(grad_x, grad_weight, grad_bias) of ``conv2d``: grad_x by col2im of W^T @ grad_out, grad_w = grad_out @ cols^T.

    ``output_mask`` (as torch's ``convolution_backward``) skips the gradients marked False: they are None.
    """
    kernel, stride, dilation, pads, out_hw = _conv_geometry(x, weight, stride, padding, dilation)
    n, c, h, w = x.shape
    c_out = weight.shape[0]
    gy = grad_out.reshape(n, groups, c_out // groups, -1)
    grad_x = grad_weight = grad_bias = None
    if output_mask[1]:
        cols = _conv_cols(x, kernel, stride, dilation, pads, out_hw, groups)
        grad_weight = _weight_grad(gy, cols).reshape(weight.shape)
    if output_mask[0]:
        grad_cols = _gemm(weight.reshape(groups, c_out // groups, -1).transpose(0, 2, 1), gy)
        if _pointwise(kernel, stride, pads):
            grad_x = grad_cols.reshape(x.shape)
        else:
            (pt, pb), (pl, pr) = pads
            grad_cols = grad_cols.reshape(n, c, kernel[0], kernel[1], *out_hw)
            grad_x = _unpad(_col2im(grad_cols, (h + pt + pb, w + pl + pr), stride, dilation), pt, pl, h, w)
    if output_mask[2]:
        grad_bias = grad_out.sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias


def conv2d_loop(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The definition of ``conv2d`` as plain loops over batch, output channel and output pixel (slow; a test oracle)."""
    kernel, stride, dilation, pads, (ho, wo) = _conv_geometry(x, weight, stride, padding, dilation)
    (pt, pb), (pl, pr) = pads
    xp = _pad(x, pt, pb, pl, pr)
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
    stride, dilation = _pair(stride), _pair(dilation)
    pads = _conv_pads(padding, kernel, dilation)
    out_hw = tuple(
        F.conv_out(n + p1 - p0, k, s, p0, d) for n, k, s, (p0, p1), d in zip(x.shape[2:], kernel, stride, pads, dilation)
    )
    inputs = np.array([i for ins in table for i in ins], dtype=np.int64)
    outputs = np.array([j for j, ins in enumerate(table) for _ in ins], dtype=np.int64)
    (pt, pb), (pl, pr) = pads
    cols = _im2col(_pad(x, pt, pb, pl, pr), kernel, stride, dilation, out_hw)
    n, c = x.shape[:2]
    cols = cols.reshape(n, c, -1, out_hw[0] * out_hw[1])[:, inputs]  # (N, connections, kh*kw, L)
    return cols, inputs, outputs, kernel, stride, dilation, pads, out_hw


def connection_table_conv2d(x, weight, table, bias=None, stride=1, padding=0, dilation=1):
    """y[n, j] = sum over i in table[j] of the kh x kw correlation of x[n, i] with weight[connection (j, i)] (+ b[j]).

    ``weight`` is (connections, kh, kw), connections listed output by output in ``table`` order.
    One GEMM batched over connections: connections * kh*kw * H_out*W_out MACs per sample.
    """
    cols, _, outputs, _, _, _, _, out_hw = _table_parts(x, weight, table, stride, padding, dilation)
    m = weight.shape[0]
    per_connection = _gemm(weight.reshape(m, 1, -1), cols)[:, :, 0]  # (N, connections, L)
    y = np.zeros((x.shape[0], len(table), out_hw[0] * out_hw[1]), dtype=x.dtype)
    np.add.at(y, (slice(None), outputs), per_connection)
    y = y.reshape(x.shape[0], len(table), *out_hw)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def connection_table_conv2d_backward(x, weight, table, grad_out, stride=1, padding=0, dilation=1):
    """(grad_x, grad_weight, grad_bias) of ``connection_table_conv2d``."""
    cols, inputs, outputs, kernel, stride, dilation, pads, out_hw = _table_parts(x, weight, table, stride, padding, dilation)
    n, c, h, w = x.shape
    m = weight.shape[0]
    gy = grad_out.reshape(n, len(table), -1)[:, outputs]  # (N, connections, L)
    grad_weight = np.einsum("nml,nmkl->mk", gy, cols).reshape(weight.shape)
    grad_cols_m = weight.reshape(m, -1)[None, :, :, None] * gy[:, :, None, :]  # (N, connections, kh*kw, L)
    grad_cols = np.zeros((n, c) + grad_cols_m.shape[2:], dtype=x.dtype)
    np.add.at(grad_cols, (slice(None), inputs), grad_cols_m)
    (pt, pb), (pl, pr) = pads
    grad_cols = grad_cols.reshape(n, c, kernel[0], kernel[1], *out_hw)
    grad_x = _unpad(_col2im(grad_cols, (h + pt + pb, w + pl + pr), stride, dilation), pt, pl, h, w)
    return grad_x, grad_weight, grad_out.sum(axis=(0, 2, 3))


def _transpose_geometry(x, weight, stride, padding, output_padding, dilation):
    kernel = weight.shape[2:]
    stride, padding, output_padding, dilation = (_pair(v) for v in (stride, padding, output_padding, dilation))
    out_hw = tuple(
        F.conv_transpose_out(n, k, s, p, op, d)
        for n, k, s, p, op, d in zip(x.shape[2:], kernel, stride, padding, output_padding, dilation)
    )
    if min(out_hw) <= 0:
        raise ValueError(f"conv_transpose2d: output size {out_hw} is not positive for input {x.shape}")
    return kernel, stride, padding, dilation, out_hw


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The adjoint of conv2d: each input pixel scatters w[c, o] * x[n, c, h, w] to y[n, o, s*h + d*i - p, s*w + d*j - p]."""
    kernel, stride, padding, dilation, out_hw = _transpose_geometry(x, weight, stride, padding, output_padding, dilation)
    n, c_in, h, w = x.shape
    c_out = weight.shape[1] * groups
    w_t = weight.reshape(groups, c_in // groups, -1).transpose(0, 2, 1)
    cols = _gemm(w_t, x.reshape(n, groups, c_in // groups, h * w))
    cols = cols.reshape(n, c_out, kernel[0], kernel[1], h, w)
    (ph, pw), (ho, wo) = padding, out_hw
    yp = _col2im(cols, (ho + 2 * ph, wo + 2 * pw), stride, dilation)
    y = np.ascontiguousarray(_unpad(yp, ph, pw, ho, wo))
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d_backward(
    x, weight, grad_out, stride=1, padding=0, output_padding=0, groups=1, dilation=1, output_mask=(True, True, True)
):
    """(grad_x, grad_weight, grad_bias) of ``conv_transpose2d``: grad_x is conv2d(grad_out) with the same weight.

    ``output_mask`` skips the gradients marked False (None), as in ``conv2d_backward``.
    """
    kernel, stride, padding, dilation, out_hw = _transpose_geometry(x, weight, stride, padding, output_padding, dilation)
    n, c_in, h, w = x.shape
    (ph, pw) = padding
    gyp = _pad(grad_out, ph, ph, pw, pw)
    cols = _im2col(gyp, kernel, stride, dilation, (h, w)).reshape(n, groups, -1, h * w)
    grad_x = grad_weight = grad_bias = None
    if output_mask[0]:
        grad_x = _gemm(weight.reshape(groups, c_in // groups, -1), cols).reshape(x.shape)
    if output_mask[1]:
        grad_weight = _weight_grad(x.reshape(n, groups, c_in // groups, h * w), cols).reshape(weight.shape)
    if output_mask[2]:
        grad_bias = grad_out.sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias


# --- pooling ------------------------------------------------------------------------------------


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Kernel, stride, padding, dilation, output size (``formulas.pool_out``) and the padded extent the windows read."""
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or stride == () else _pair(stride)
    padding, dilation = _pair(padding), _pair(dilation)
    out_hw = tuple(
        F.pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)
    )
    if min(out_hw) <= 0:
        raise ValueError(f"pooling: output size {out_hw} is not positive for input {x.shape} and kernel {kernel}")
    # ceil_mode's last window may run past the right padding: extend the padded map to cover it
    padded = tuple(
        max(n + 2 * p, (o - 1) * s + F.effective_kernel(k, d))
        for n, k, s, p, d, o in zip(x.shape[2:], kernel, stride, padding, dilation, out_hw)
    )
    return kernel, stride, padding, dilation, out_hw, padded


def _pool_pad(x, padding, padded, value):
    (ph, pw), (hp, wp) = padding, padded
    h, w = x.shape[2:]
    return _pad(x, ph, hp - h - ph, pw, wp - w - pw, value)


def _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Per output pixel, the index of the largest window entry (first one on ties, NaN wins, as torch)."""
    kernel, stride, padding, dilation, out_hw, padded = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    xp = _pool_pad(x, padding, padded, -np.inf)
    cols = _im2col(xp, kernel, stride, dilation, out_hw)
    n, c = x.shape[:2]
    cols = cols.reshape(n, c, kernel[0] * kernel[1], *out_hw)
    idx = np.argmax(cols, axis=2)
    return cols, idx, (kernel, stride, padding, dilation, out_hw, padded)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """y = max over the window of x padded with -inf."""
    cols, idx, _ = _max_taps(x, kernel_size, stride, padding, dilation, ceil_mode)
    return np.take_along_axis(cols, idx[:, :, None], axis=2)[:, :, 0]


def max_pool2d_backward(x, grad_out, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """grad_x: each output's gradient goes to the window entry that was the maximum."""
    cols, idx, (kernel, stride, padding, dilation, out_hw, padded) = _max_taps(
        x, kernel_size, stride, padding, dilation, ceil_mode
    )
    taps = np.arange(kernel[0] * kernel[1]).reshape(1, 1, -1, 1, 1)
    grad_cols = np.where(taps == idx[:, :, None], grad_out[:, :, None], 0).astype(x.dtype)
    grad_cols = grad_cols.reshape(x.shape[:2] + kernel + out_hw)
    return _unpad(_col2im(grad_cols, padded, stride, dilation), padding[0], padding[1], *x.shape[2:])


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
    kernel, stride, padding, dilation, out_hw, padded = geometry
    cols = _im2col(_pool_pad(t, padding, padded, 0.0), kernel, stride, dilation, out_hw)
    return cols.reshape(t.shape[:2] + (kernel[0] * kernel[1],) + tuple(out_hw))


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
    kernel, stride, padding, dilation, out_hw, padded = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    grad_cols = np.broadcast_to(grad_out[:, :, None, None], x.shape[:2] + kernel + out_hw)
    return _unpad(_col2im(grad_cols, padded, stride, dilation), padding[0], padding[1], *x.shape[2:])


def _avg_divisors(n, k, s, p, out, count_include_pad):
    """Per output index along one axis, torch's divisor: window length clipped to the padded (or the real) input."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def _avg_setup(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    kernel, stride, padding, dilation, out_hw, padded = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override:
        divisor = np.full(out_hw, divisor_override)
    else:
        dh, dw = (
            _avg_divisors(n, k, s, p, o, count_include_pad)
            for n, k, s, p, o in zip(x.shape[2:], kernel, stride, padding, out_hw)
        )
        divisor = np.outer(dh, dw)
    return kernel, stride, padding, dilation, out_hw, padded, divisor.astype(x.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """y = sum over the zero-padded window / divisor (window size with or without padding, or the override)."""
    kernel, stride, padding, dilation, out_hw, padded, divisor = _avg_setup(
        x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
    xp = _pool_pad(x, padding, padded, 0.0)
    return _windows(xp, kernel, stride, dilation, out_hw).sum(axis=(2, 3)) / divisor


def avg_pool2d_backward(
    x, grad_out, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """grad_x: each output's gradient / divisor, added to every pixel of its window."""
    kernel, stride, padding, dilation, out_hw, padded, divisor = _avg_setup(
        x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
    share = (grad_out / divisor)[:, :, None, None]
    grad_cols = np.broadcast_to(share, x.shape[:2] + kernel + out_hw)
    return _unpad(_col2im(grad_cols, padded, stride, dilation), padding[0], padding[1], *x.shape[2:])


def _adaptive_bounds(n, out):
    """Start and end (exclusive) of every adaptive window along one axis, from ``formulas.adaptive_window``."""
    bounds = np.array([F.adaptive_window(i, n, out) for i in range(out)], dtype=np.int64).reshape(out, 2)
    return bounds[:, 0], bounds[:, 1]


def _adaptive_sizes(x, output_size):
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
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


def adaptive_avg_pool2d(x, output_size):
    """y[i, j] = mean of x over rows [floor(i*H/out), ceil((i+1)*H/out)) and the same columns."""
    a_h, a_w = _adaptive_matrices(x, output_size)
    return np.einsum("nchw,ih,jw->ncij", x, a_h, a_w, optimize=True)


def adaptive_avg_pool2d_backward(x, grad_out, output_size):
    """grad_x = A_h^T grad_out A_w: each window spreads its gradient evenly over its pixels."""
    a_h, a_w = _adaptive_matrices(x, output_size)
    return np.einsum("ncij,ih,jw->nchw", grad_out, a_h, a_w, optimize=True)


def _interpolation_matrix(n, n_out, mode, align_corners, scale, dtype):
    """(n_out, n) weights of one axis, as torch's CPU kernels compute them: nearest reads
    min(floor(o * r), n - 1) in float32; bilinear reads floor(src) and the next pixel with weights
    1 - f and f, src = max(r*(o + 0.5) - 0.5, 0) (align_corners: o*(n - 1)/(n_out - 1)), in the
    input's precision. r is 1/scale_factor when one is given, else n/n_out."""
    out = np.arange(n_out)
    weights = np.zeros((n_out, n), dtype)
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
        src = np.maximum(ratio * (out.astype(real) + real(0.5)) - real(0.5), real(0))
    first = np.minimum(np.floor(src).astype(np.int64), n - 1)
    frac = np.clip(src - first, 0, 1)
    np.add.at(weights, (out, first), 1 - frac)
    np.add.at(weights, (out, first + (first < n - 1)), frac)
    return weights


def _interpolation_matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor):
    n_h, n_w = x.shape[2:]
    if size is not None:
        outs, scales = _pair(size), (None, None)
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        outs = tuple(F.upsample_out(n, int(s) if float(s).is_integer() else s) for n, s in zip((n_h, n_w), scales))
        if recompute_scale_factor:
            scales = (None, None)
    return tuple(_interpolation_matrix(n, o, mode, align_corners, s, x.dtype)
                 for n, o, s in zip((n_h, n_w), outs, scales))


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    """torch.nn.functional.interpolate (nn.Upsample) for modes nearest and bilinear: y = A_h x A_w^T."""
    a_h, a_w = _interpolation_matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor)
    return np.einsum("nchw,ih,jw->ncij", x, a_h, a_w, optimize=True)


def interpolate_backward(x, grad_out, size=None, scale_factor=None, mode="nearest", align_corners=None,
                         recompute_scale_factor=None):
    """grad_x = A_h^T grad_out A_w: each output pixel's gradient goes back by its weights."""
    a_h, a_w = _interpolation_matrices(x, size, scale_factor, mode, align_corners, recompute_scale_factor)
    return np.einsum("ncij,ih,jw->nchw", grad_out, a_h, a_w, optimize=True)


def _adaptive_windows(x, output_size):
    """Every adaptive window's entries, (N, C, Ho, Wo, L) with -inf past a shorter window's end, and the
    flat input index (h*W + w) of each entry, (Ho, Wo, L)."""
    index, valid = [], []
    for n, out in zip(x.shape[2:], _adaptive_sizes(x, output_size)):
        start, end = _adaptive_bounds(n, out)
        pos = start[:, None] + np.arange(int((end - start).max()))
        valid.append(pos < end[:, None])
        index.append(np.minimum(pos, n - 1))
    (ih, iw), (vh, vw) = index, valid
    vals = x[:, :, ih[:, :, None, None], iw[None, None, :, :]]  # (N, C, Ho, Lh, Wo, Lw)
    vals = np.where(vh[:, :, None, None] & vw[None, None], vals, -np.inf)
    n, c, ho, lh, wo, lw = vals.shape
    vals = vals.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, lh * lw)
    flat = ih[:, None, :, None] * x.shape[3] + iw[None, :, None, :]  # (Ho, Wo, Lh, Lw)
    return vals, flat.reshape(ho, wo, lh * lw)


def _adaptive_max_taps(x, output_size):
    """Flat input index (h*W + w) of every adaptive window's maximum, and the maxima."""
    vals, flat = _adaptive_windows(x, output_size)
    best = np.argmax(vals, axis=-1)
    y = np.take_along_axis(vals, best[..., None], axis=-1)[..., 0]
    where = np.take_along_axis(np.broadcast_to(flat, vals.shape[:2] + flat.shape), best[..., None], axis=-1)[..., 0]
    return y.astype(x.dtype, copy=False), where


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


def adaptive_max_pool2d(x, output_size):
    """y[i, j] = max of x over the adaptive window (i, j) (first maximum on ties, as torch)."""
    return _adaptive_max_taps(x, output_size)[0]


def adaptive_max_pool2d_backward(x, grad_out, output_size):
    """grad_x: each window's gradient goes to its maximum; overlapping windows add up."""
    _, where = _adaptive_max_taps(x, output_size)
    n, c, h, w = x.shape
    offsets = (np.arange(n * c) * (h * w)).reshape(n, c, 1, 1)
    grad = np.bincount((where + offsets).ravel(), weights=grad_out.ravel(), minlength=n * c * h * w)
    return grad.reshape(x.shape).astype(x.dtype)


# --- normalisation ------------------------------------------------------------------------------


def _bn_stats(x, running_mean, running_var, training):
    axes = (0,) + tuple(range(2, x.ndim))
    if training:
        return x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True), axes
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return running_mean.reshape(shape).astype(x.dtype), running_var.reshape(shape).astype(x.dtype), axes


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """y = (x - mean)/sqrt(var + eps)*weight + bias; batch statistics (biased var) when training, else running ones.

    Stateless: the running statistics are read, never updated (torch updates them in place when training).
    """
    mean, var, _ = _bn_stats(x, running_mean, running_var, training)
    y = (x - mean) / np.sqrt(var + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def batch_norm_backward(x, running_mean, running_var, weight, bias, grad_out, training=False, momentum=0.1, eps=1e-5):
    """(grad_x, grad_weight, grad_bias); the running statistics are not differentiable inputs.

    Training: with x_hat the normalised input and g = grad_out*weight over M = N*H*W values per channel,
    grad_x = (g - mean(g) - x_hat*mean(g*x_hat)) / sqrt(var + eps).
    """
    mean, var, axes = _bn_stats(x, running_mean, running_var, training)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    shape = (1, -1) + (1,) * (x.ndim - 2)
    g = grad_out if weight is None else grad_out * weight.reshape(shape)
    if training:
        grad_x = (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)) * inv_std
    else:
        grad_x = g * inv_std
    grad_weight = None if weight is None else (grad_out * x_hat).sum(axis=axes)
    grad_bias = None if bias is None else grad_out.sum(axis=axes)
    return grad_x, grad_weight, grad_bias


def batch_norm_jvp(x, t, running_mean, running_var, weight=None, bias=None, weight_t=None, bias_t=None, training=False,
                   momentum=0.1, eps=1e-5):
    """The derivative of ``batch_norm`` along the tangents t (input), weight_t and bias_t (None: zero).

    Training: x_hat' = (t_c - x_hat*mean(x_hat*t_c)) / sqrt(var + eps), t_c = t - mean(t); else t / sqrt(var + eps).
    """
    mean, var, axes = _bn_stats(x, running_mean, running_var, training)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        t_c = t - t.mean(axis=axes, keepdims=True)
        out = (t_c - x_hat * (x_hat * t_c).mean(axis=axes, keepdims=True)) * inv_std
    else:
        out = t * inv_std
    if weight is not None:
        out = out * weight.reshape(shape)
    if weight_t is not None:
        out = out + x_hat * weight_t.reshape(shape)
    if bias_t is not None:
        out = out + bias_t.reshape(shape)
    return out


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


def log_softmax(x, dim=None):
    """x - max - log(sum exp(x - max)) along ``dim``."""
    return _log_softmax(x, _softmax_dim(x, dim))


def log_softmax_backward(x, grad_out, dim=None):
    """grad - softmax(x) * sum(grad)."""
    dim = _softmax_dim(x, dim)
    return grad_out - softmax(x, dim) * grad_out.sum(axis=dim, keepdims=True)


def _dropped(v, x, p, training, seed, channelwise):
    """v times the kept-and-rescaled mask of x: Bernoulli(1 - p) from ``default_rng(seed)``, divided by 1 - p."""
    if not training or p == 0:
        return v
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if channelwise else x.shape
    keep = np.random.default_rng(seed).random(shape) >= p
    return v * (keep * (0.0 if p == 1 else 1.0 / (1.0 - p))).astype(x.dtype)


def dropout(x, p=0.5, training=True, seed=0):
    """x * mask / (1 - p); the mask is drawn from ``numpy.random.default_rng(seed)``, so a seed repeats it."""
    return _dropped(x, x, p, training, seed, channelwise=False)


def dropout_backward(x, grad_out, p=0.5, training=True, seed=0):
    """grad * mask / (1 - p), the forward's mask."""
    return _dropped(grad_out, x, p, training, seed, channelwise=False)


def dropout2d(x, p=0.5, training=True, seed=0):
    """Whole channels zeroed with probability p, the rest scaled by 1/(1 - p)."""
    return _dropped(x, x, p, training, seed, channelwise=True)


def dropout2d_backward(x, grad_out, p=0.5, training=True, seed=0):
    """grad * channel mask / (1 - p)."""
    return _dropped(grad_out, x, p, training, seed, channelwise=True)


def _log_softmax(x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def cross_entropy(input, target, reduction="mean"):
    """-log softmax(input)[target] over the class axis 1, averaged ('mean'), summed ('sum') or kept ('none')."""
    log_p = _log_softmax(input, 1)
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


def pad(x, pad, value=0.0):
    """torch.nn.functional.pad of the last two axes: pad = (left, right, top, bottom); negative amounts crop."""
    left, right, top, bottom = pad
    return _pad(x, top, bottom, left, right, value)


def pad_backward(x, grad_out, pad, value=0.0):
    """The gradient of the kept pixels: grad cropped (or zero-padded where the forward cropped)."""
    left, right, top, bottom = pad
    return _pad(grad_out, -top, -bottom, -left, -right)


__all__ = [
    "count_macs",
    "conv2d", "conv2d_backward", "conv2d_loop", "conv_transpose2d", "conv_transpose2d_backward",
    "connection_table_conv2d", "connection_table_conv2d_backward",
    "max_pool2d", "max_pool2d_backward", "max_pool2d_spread_backward", "max_pool2d_jvp", "max_pool2d_margin", "avg_pool2d", "avg_pool2d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward", "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_jvp", "adaptive_max_pool2d_margin", "batch_norm_jvp", "local_response_norm_jvp",
    "batch_norm", "batch_norm_backward", "local_response_norm", "local_response_norm_backward",
    "linear", "linear_backward",
    "relu", "relu_backward", "relu6", "relu6_backward", "leaky_relu", "leaky_relu_backward",
    "elu", "elu_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward",
    "silu", "silu_backward", "hardswish", "hardswish_backward",
    "hardsigmoid", "hardsigmoid_backward", "gelu", "gelu_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward", "dropout", "dropout_backward", "dropout2d", "dropout2d_backward",
    "cross_entropy", "cross_entropy_backward", "flatten", "flatten_backward", "pad", "pad_backward",
    "interpolate", "interpolate_backward",
]
