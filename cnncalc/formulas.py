"""Every size formula, written once, over ``int | sympy.Expr``.

Names follow the equations: ``n`` input size along one axis, ``k`` kernel, ``s`` stride, ``p``
padding, ``d`` dilation, ``op`` output padding. Ints in, ints out; a symbol anywhere gives a sympy
expression. Nothing here raises: the layers decide what is legal (see ``layers.py``).
"""

from __future__ import annotations

import math

from .dims import ceil_div, divide, floor_div, generic_min, product, settle


def effective_kernel(k, d=1):
    """k_eff = d*(k - 1) + 1: the span of a dilated kernel."""
    return d * (k - 1) + 1


def conv_out(n, k, s=1, p=0, d=1):
    """n_out = floor((n + 2p - d*(k - 1) - 1) / s) + 1 (PyTorch Conv2d, per axis)."""
    return settle(floor_div(n + 2 * p - d * (k - 1) - 1, s) + 1)


def pool_out(n, k, s, p=0, d=1, ceil_mode=False):
    """n_out = floor-or-ceil((n + 2p - d*(k - 1) - 1) / s) + 1, PyTorch's pooling rule.

    With ceil_mode the last window must start inside the input or the left padding:
    if (n_out - 1)*s >= n + p, n_out is reduced by one.
    """
    if not ceil_mode:
        return conv_out(n, k, s, p, d)
    out = pool_ceil_count(n, k, s, p, d)
    if type(out) is int:
        return out - 1 if (out - 1) * s >= n + p else out
    # The same count without a case split (exact because pooling requires p < k_eff): window starts
    # i*s with i*s <= n + 2p - k_eff + s - 1 (ceil) and i*s <= n + p - 1 (start inside input or left pad).
    return settle(floor_div(n - 1 + generic_min((2 * p - effective_kernel(k, d) + s, p)), s) + 1)


def pool_ceil_count(n, k, s, p=0, d=1):
    """ceil((n + 2p - d*(k - 1) - 1) / s) + 1: ceil_mode's count before the last-window rule of ``pool_out``."""
    return ceil_div(n + 2 * p - d * (k - 1) - 1, s) + 1


def conv_transpose_out(n, k, s=1, p=0, op=0, d=1):
    """n_out = (n - 1)*s - 2p + d*(k - 1) + op + 1 (PyTorch ConvTranspose2d, per axis)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def upsample_out(n, scale):
    """n_out = n*scale for a whole factor, else floor(n*scale) as torch computes it (in floating point)."""
    if type(scale) is int:
        return n * scale
    return math.floor(n * scale)


def torch_same_padding(k, d=1):
    """PyTorch padding='same' (stride 1) per axis, (before, after): total d*(k - 1), the extra pixel after."""
    total = d * (k - 1)
    return total // 2, total - total // 2


def tf_same_out(n, s=1):
    """n_out = ceil(n/s): TensorFlow/Keras padding='same' whatever the kernel (the padding makes up the rest)."""
    return ceil_div(n, s)


def tf_same_padding(n, k, s=1, d=1):
    """TensorFlow 'same' padding (before, after): total = max((ceil(n/s) - 1)*s + k_eff - n, 0), the extra pixel after.

    The following unpadded window then gives ceil(n/s). (ceil(n/s) - 1)*s >= n - s, so the total is
    never negative when k_eff >= s: no Max then, which lets a symbolic output size simplify to ceil(n/s).
    """
    k_eff = effective_kernel(k, d)
    total = (ceil_div(n, s) - 1) * s + k_eff - n
    if type(total) is int:
        total = max(total, 0)
    elif not (type(k_eff) is int and type(s) is int and k_eff >= s):
        import sympy

        total = sympy.Max(total, 0)
    before = floor_div(total, 2)
    return before, total - before


def dropped_pixels(n, k, s, p=0, d=1):
    """Input pixels (not padding) that no window covers: the floor's remainder beyond the trailing padding.

    r = (n + 2p - k_eff) mod s positions are skipped at the end of the padded axis; p of them are padding.
    """
    r = (n + 2 * p - effective_kernel(k, d)) % s
    return min(max(r - p, 0), n)  # with s > k_eff the skipped tail can reach into the left padding


def adaptive_window(i, n, out):
    """Window i of adaptive pooling: [floor(i*n/out), ceil((i + 1)*n/out)) (PyTorch's start/end index)."""
    return floor_div(i * n, out), ceil_div((i + 1) * n, out)


def conv_macs(c_in, c_out, kernel, out_sizes, groups=1):
    """MACs = c_out*prod(n_out) * (c_in/groups)*prod(k): one multiply-accumulate per weight per output pixel."""
    return c_out * product(out_sizes) * divide(c_in, groups) * product(kernel)


def connection_table_macs(connections, kernel, out_sizes):
    """MACs = prod(n_out)*prod(k)*connections: a kernel per (input map, output map) pair of the table."""
    return product(out_sizes) * product(kernel) * connections


def conv_transpose_macs(c_in, c_out, kernel, in_sizes, groups=1):
    """MACs = c_in*prod(n_in) * (c_out/groups)*prod(k): every input pixel is scattered through its kernel."""
    return c_in * product(in_sizes) * divide(c_out, groups) * product(kernel)


def linear_macs(rows, in_features, out_features):
    """MACs = rows*in*out: each of the ``rows`` input vectors (all axes but the last) times the weight."""
    return rows * in_features * out_features


def matmul_macs(batch, n, k, m):
    """MACs = batch*n*k*m: an (n x k) @ (k x m) product for each of the ``batch`` matrices."""
    return batch * n * k * m


def attention_macs(batch, queries, keys, e_qk, e_v):
    """MACs = batch*L*S*(E_qk + E_v): the scores q k^T (L x S dot products of E_qk) and the scores times
    the values (L x S multiply-adds of E_v), for each of the ``batch`` heads and samples."""
    return batch * queries * keys * (e_qk + e_v)


def window_padded(n, window):
    """n_pad = ceil(n/w)*w: an axis padded at its end to whole windows (Swin's window attention)."""
    return ceil_div(n, window) * window


def window_attention_macs(tokens, window_tokens, dim):
    """MACs = 3*T*C^2 (q, k, v) + 2*T*N*C (scores and weighted values within each window of N tokens)
    + T*C^2 (output projection), for T tokens of C channels in windows of N (heads fold out: each
    head's C/h channels times h heads)."""
    windows = divide(tokens, window_tokens)
    return linear_macs(tokens, dim, 3 * dim) + attention_macs(windows, window_tokens, window_tokens, dim, dim) + \
        linear_macs(tokens, dim, dim)


def rf_conv(size, stride, start, k, s, p, d=1):
    """Receptive field through a sliding window, per axis (size r, jump j, start x0):

    r_out = r + (k_eff - 1)*j,  j_out = j*s,  x0_out = x0 - p*j.
    """
    return size + (effective_kernel(k, d) - 1) * stride, stride * s, start - p * stride


def rf_conv_transpose(size, stride, start, k, s, p, d=1):
    """Receptive field through a transposed convolution, per axis: the real-valued hull.

    Output pixel o reads input i with i*s = o + p - t*d for t in 0..k-1, so the grid is s times
    finer: j_out = j/s, r_out = r + (k_eff - 1)*j_out, x0_out = x0 + (p - (k_eff - 1))*j_out.
    For s > 1 the output pixels read regions of different extents, inside this hull; the analysis
    replaces r and x0 by the exact values (``cnncalc.trace``) where the hyperparameters are numbers.
    """
    j = divide(stride, s)
    k_eff = effective_kernel(k, d)
    return size + (k_eff - 1) * j, j, start + (p - (k_eff - 1)) * j
