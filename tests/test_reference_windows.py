"""The NumPy reference of Swin's and MaxViT's window layers against torch autograd in float64.

torchvision is not a test dependency: its functions are copied here as the torch twins, each naming its
origin (torchvision/models/swin_transformer.py and maxvit.py, torchvision 0.29). Each op's output,
gradients and forward-mode derivative are compared (``torch.func.jvp``), then the layers through the
runner with their torch parameter names and buffers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnncalc import ShapeError
from cnncalc import layers as L
from cnncalc.graph import Sequential
from cnncalc.reference import functional as R
from cnncalc.reference import runner
from cnncalc.zoo.maxvit import relative_attention
from cnncalc.zoo.swin import attention_v2

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

pytestmark = pytest.mark.torch

TOLERANCE = 1e-10


def assert_close(actual, expected, what=""):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-30)
    assert float(np.abs(actual - expected).max(initial=0.0)) / scale <= TOLERANCE, what


# --- torchvision's code, the torch twins --------------------------------------------------------


def tv_patch_merging_pad(x):  # torchvision.models.swin_transformer._patch_merging_pad
    H, W, _ = x.shape[-3:]
    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
    x0 = x[..., 0::2, 0::2, :]
    x1 = x[..., 1::2, 0::2, :]
    x2 = x[..., 0::2, 1::2, :]
    x3 = x[..., 1::2, 1::2, :]
    return torch.cat([x0, x1, x2, x3], -1)


def tv_window_partition(x, p):  # torchvision.models.maxvit.WindowPartition.forward
    B, C, H, W = x.shape
    P = p
    x = x.reshape(B, C, H // P, P, W // P, P)
    x = x.permute(0, 2, 4, 3, 5, 1)
    return x.reshape(B, (H // P) * (W // P), P * P, C)


def tv_window_departition(x, p, h_partitions, w_partitions):  # torchvision.models.maxvit.WindowDepartition.forward
    B, G, PP, C = x.shape
    P = p
    HP, WP = h_partitions, w_partitions
    x = x.reshape(B, HP, WP, P, P, C)
    x = x.permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, C, HP * P, WP * P)


def tv_relative_position_index(window_size):  # ShiftedWindowAttention.define_relative_position_index
    coords_h = torch.arange(window_size[0])
    coords_w = torch.arange(window_size[1])
    coords = torch.stack(torch.meshgrid(coords_h, coords_w, indexing="ij"))
    coords_flatten = torch.flatten(coords, 1)
    relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()
    relative_coords[:, :, 0] += window_size[0] - 1
    relative_coords[:, :, 1] += window_size[1] - 1
    relative_coords[:, :, 0] *= 2 * window_size[1] - 1
    return relative_coords.sum(-1).flatten()


def tv_relative_coords_table(window_size):  # ShiftedWindowAttentionV2.define_relative_position_bias_table
    relative_coords_h = torch.arange(-(window_size[0] - 1), window_size[0], dtype=torch.float32)
    relative_coords_w = torch.arange(-(window_size[1] - 1), window_size[1], dtype=torch.float32)
    relative_coords_table = torch.stack(torch.meshgrid([relative_coords_h, relative_coords_w], indexing="ij"))
    relative_coords_table = relative_coords_table.permute(1, 2, 0).contiguous().unsqueeze(0)
    relative_coords_table[:, :, :, 0] /= window_size[0] - 1
    relative_coords_table[:, :, :, 1] /= window_size[1] - 1
    relative_coords_table *= 8
    return torch.sign(relative_coords_table) * torch.log2(torch.abs(relative_coords_table) + 1.0) / 3.0


def tv_maxvit_index(height, width):  # torchvision.models.maxvit._get_relative_position_index
    coords = torch.stack(torch.meshgrid([torch.arange(height), torch.arange(width)], indexing="ij"))
    coords_flat = torch.flatten(coords, 1)
    relative_coords = coords_flat[:, :, None] - coords_flat[:, None, :]
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()
    relative_coords[:, :, 0] += height - 1
    relative_coords[:, :, 1] += width - 1
    relative_coords[:, :, 0] *= 2 * width - 1
    return relative_coords.sum(-1)


def tv_relative_position_bias(table, index, window_size):  # swin_transformer._get_relative_position_bias
    N = window_size[0] * window_size[1]
    relative_position_bias = table[index]
    relative_position_bias = relative_position_bias.view(N, N, -1)
    return relative_position_bias.permute(2, 0, 1).contiguous().unsqueeze(0)


def tv_shifted_window_attention(input, qkv_weight, proj_weight, relative_position_bias, window_size, num_heads, shift_size,
                                qkv_bias=None, proj_bias=None, logit_scale=None):
    """torchvision.models.swin_transformer.shifted_window_attention without its dropouts (p = 0)."""
    B, H, W, C = input.shape
    pad_r = (window_size[1] - W % window_size[1]) % window_size[1]
    pad_b = (window_size[0] - H % window_size[0]) % window_size[0]
    x = F.pad(input, (0, 0, 0, pad_r, 0, pad_b))
    _, pad_H, pad_W, _ = x.shape
    shift_size = shift_size.copy()
    if window_size[0] >= pad_H:
        shift_size[0] = 0
    if window_size[1] >= pad_W:
        shift_size[1] = 0
    if sum(shift_size) > 0:
        x = torch.roll(x, shifts=(-shift_size[0], -shift_size[1]), dims=(1, 2))
    num_windows = (pad_H // window_size[0]) * (pad_W // window_size[1])
    x = x.view(B, pad_H // window_size[0], window_size[0], pad_W // window_size[1], window_size[1], C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B * num_windows, window_size[0] * window_size[1], C)
    if logit_scale is not None and qkv_bias is not None:
        qkv_bias = qkv_bias.clone()
        length = qkv_bias.numel() // 3
        qkv_bias[length : 2 * length].zero_()
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = qkv.reshape(x.size(0), x.size(1), 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    if logit_scale is not None:
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        logit_scale = torch.clamp(logit_scale, max=math.log(100.0)).exp()
        attn = attn * logit_scale
    else:
        q = q * (C // num_heads) ** -0.5
        attn = q.matmul(k.transpose(-2, -1))
    attn = attn + relative_position_bias
    if sum(shift_size) > 0:
        attn_mask = x.new_zeros((pad_H, pad_W))
        h_slices = ((0, -window_size[0]), (-window_size[0], -shift_size[0]), (-shift_size[0], None))
        w_slices = ((0, -window_size[1]), (-window_size[1], -shift_size[1]), (-shift_size[1], None))
        count = 0
        for h in h_slices:
            for w in w_slices:
                attn_mask[h[0] : h[1], w[0] : w[1]] = count
                count += 1
        attn_mask = attn_mask.view(pad_H // window_size[0], window_size[0], pad_W // window_size[1], window_size[1])
        attn_mask = attn_mask.permute(0, 2, 1, 3).reshape(num_windows, window_size[0] * window_size[1])
        attn_mask = attn_mask.unsqueeze(1) - attn_mask.unsqueeze(2)
        attn_mask = attn_mask.masked_fill(attn_mask != 0, float(-100.0)).masked_fill(attn_mask == 0, float(0.0))
        attn = attn.view(x.size(0) // num_windows, num_windows, num_heads, x.size(1), x.size(1))
        attn = attn + attn_mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, num_heads, x.size(1), x.size(1))
    attn = F.softmax(attn, dim=-1)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), C)
    x = F.linear(x, proj_weight, proj_bias)
    x = x.view(B, pad_H // window_size[0], pad_W // window_size[1], window_size[0], window_size[1], C)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, pad_H, pad_W, C)
    if sum(shift_size) > 0:
        x = torch.roll(x, shifts=(shift_size[0], shift_size[1]), dims=(1, 2))
    return x[:, :H, :W, :].contiguous()


def tv_relative_attention(x, table, index, n_heads, head_dim):
    """torchvision.models.maxvit.RelativePositionalMultiHeadAttention.forward between to_qkv and merge."""
    B, G, P, D3 = x.shape
    H, DH = n_heads, head_dim
    q, k, v = torch.chunk(x, 3, dim=-1)
    q = q.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
    k = k.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
    v = v.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
    k = k * (D3 // 3) ** -0.5  # scale_factor = feat_dim**-0.5
    dot_prod = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
    pos_bias = table[index.view(-1)].view(P, P, -1).permute(2, 0, 1).contiguous().unsqueeze(0)
    dot_prod = F.softmax(dot_prod + pos_bias, dim=-1)
    out = torch.einsum("B G H I J, B G H J D -> B G H I D", dot_prod, v)
    return out.permute(0, 1, 3, 2, 4).reshape(B, G, P, H * DH)


# --- the functional ops -------------------------------------------------------------------------


def against_torch(ours, backward, jvp, theirs, arrays, seed, *, tangent_names=None):
    """Output, every array's gradient and the derivative along random tangents of all arrays, against torch.

    ``jvp(arrays, tangents)`` gives ours; None arrays are absent inputs (no gradient, no tangent)."""
    rng = np.random.default_rng(seed)
    tensors = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    expected = theirs(*tensors)
    got = ours(*arrays)
    assert_close(got, expected, "forward")
    g = rng.standard_normal(got.shape)
    expected.backward(torch.tensor(g))
    for k, (grad, tensor) in enumerate(zip(backward(*arrays, g), tensors)):
        if tensor is None:
            assert grad is None
        else:
            assert_close(grad, tensor.grad, f"gradient {k}")
    present = [k for k, a in enumerate(arrays) if a is not None]
    tangents = [None if a is None else rng.standard_normal(a.shape) for a in arrays]

    def of_present(*xs):
        full = list(tensors)
        for k, value in zip(present, xs):
            full[k] = value
        return theirs(*full)

    _, expected_t = torch.func.jvp(of_present, tuple(torch.tensor(arrays[k]) for k in present),
                                   tuple(torch.tensor(tangents[k]) for k in present))
    assert_close(jvp(arrays, tangents), expected_t, "derivative")


SWIN = [  # (B, H, W, C, heads), window, shift: padding on both axes, shift on one axis, a window wider than the map
    ((2, 9, 7, 12, 3), (4, 3), [2, 1]),
    ((1, 8, 8, 8, 2), (4, 4), [2, 2]),
    ((2, 5, 6, 6, 2), (7, 7), [3, 3]),
    ((1, 6, 10, 8, 4), (3, 4), [0, 2]),
    ((2, 4, 5, 6, 1), (2, 5), [1, 2]),
]


@pytest.mark.parametrize("cosine", [False, True], ids=["v1", "v2"])
@pytest.mark.parametrize("shape, window, shift", SWIN, ids=[f"{s}-{w}-{sh}" for s, w, sh in SWIN])
def test_shifted_window_attention_matches_torchvision(shape, window, shift, cosine):
    b, h, w, c, heads = shape
    rng = np.random.default_rng(sum(shape))
    n = window[0] * window[1]
    logit_scale = rng.standard_normal((heads, 1, 1)) if cosine else None
    if cosine:
        logit_scale[0] = 5.0  # past the clamp at log(100): no gradient there
    arrays = [rng.standard_normal((b, h, w, c)), rng.standard_normal((3 * c, c)) / 2, rng.standard_normal((c, c)) / 2,
              rng.standard_normal((1, heads, n, n)), rng.standard_normal(3 * c), rng.standard_normal(c), logit_scale]
    fixed = dict(window_size=window, num_heads=heads, shift_size=shift)

    def ours(x, qkv_w, proj_w, bias, qkv_b, proj_b, scale):
        return R.shifted_window_attention(x, qkv_w, proj_w, bias, **fixed, qkv_bias=qkv_b, proj_bias=proj_b, logit_scale=scale)

    def backward(x, qkv_w, proj_w, bias, qkv_b, proj_b, scale, g):
        return R.shifted_window_attention_backward(x, qkv_w, proj_w, bias, **fixed, grad_out=g, qkv_bias=qkv_b,
                                                   proj_bias=proj_b, logit_scale=scale)

    def jvp(a, t):
        return R.shifted_window_attention_jvp(a[0], t[0], *a[1:4], **fixed, qkv_bias=a[4], proj_bias=a[5], logit_scale=a[6],
                                              qkv_weight_t=t[1], proj_weight_t=t[2], relative_position_bias_t=t[3],
                                              qkv_bias_t=t[4], proj_bias_t=t[5], logit_scale_t=t[6])

    def theirs(x, qkv_w, proj_w, bias, qkv_b, proj_b, scale):
        return tv_shifted_window_attention(x, qkv_w, proj_w, bias, list(window), heads, list(shift), qkv_b, proj_b, scale)

    against_torch(ours, backward, jvp, theirs, arrays, sum(shape))


def test_shifted_window_attention_refuses_dropout_when_training():
    x, w = np.zeros((1, 4, 4, 4)), np.zeros((12, 4))
    with pytest.raises(ValueError, match="attention_dropout=0 and dropout=0"):
        R.shifted_window_attention(x, w, np.zeros((4, 4)), np.zeros((1, 1, 4, 4)), (2, 2), 1, [0, 0], dropout=0.1)


@pytest.mark.parametrize("lead, tokens, feat, head_dim", [((2, 3), 9, 12, 4), ((1, 4), 4, 8, 8), ((2,), 16, 6, 2)])
def test_relative_positional_attention_matches_torchvision(lead, tokens, feat, head_dim):
    rng = np.random.default_rng(tokens)
    size = math.isqrt(tokens)
    index = R.relative_position_index((size, size))
    arrays = [rng.standard_normal(lead + (tokens, 3 * feat)), rng.standard_normal(((2 * size - 1) ** 2, feat // head_dim))]
    torch_index = torch.tensor(index)

    def theirs(x, table):
        if x.ndim == 3:  # torchvision's (B, G, P, D): one window per sample
            return tv_relative_attention(x[:, None], table, torch_index, feat // head_dim, head_dim)[:, 0]
        return tv_relative_attention(x, table, torch_index, feat // head_dim, head_dim)

    against_torch(lambda x, table: R.relative_positional_attention(x, table, index, head_dim),
                  lambda x, table, g: R.relative_positional_attention_backward(x, table, index, head_dim, g),
                  lambda a, t: R.relative_positional_attention_jvp(a[0], t[0], a[1], index, head_dim, t[1]),
                  theirs, arrays, tokens)


REARRANGEMENTS = [
    ("partition", lambda x: R.window_partition(x, 3), lambda x, g: R.window_partition_backward(x, g, 3),
     lambda x: tv_window_partition(x, 3), (2, 5, 6, 9)),
    ("departition", lambda x: R.window_departition(x, 2, 3, 2), lambda x, g: R.window_departition_backward(x, g, 2, 3, 2),
     lambda x: tv_window_departition(x, 2, 3, 2), (2, 6, 4, 5)),
    ("patch-merging-odd", R.patch_merging_pad, R.patch_merging_pad_backward, tv_patch_merging_pad, (2, 5, 7, 3)),
    ("patch-merging-even", R.patch_merging_pad, R.patch_merging_pad_backward, tv_patch_merging_pad, (4, 6, 2)),
    ("patch-merging-batched", R.patch_merging_pad, R.patch_merging_pad_backward, tv_patch_merging_pad, (2, 3, 3, 4, 2)),
]


@pytest.mark.parametrize("ours, backward, theirs, shape", [r[1:] for r in REARRANGEMENTS], ids=[r[0] for r in REARRANGEMENTS])
def test_window_rearrangements_match_torchvision(ours, backward, theirs, shape):
    against_torch(ours, lambda x, g: (backward(x, g),), lambda a, t: ours(t[0]), theirs,
                  [np.random.default_rng(len(shape)).standard_normal(shape)], 0)


@pytest.mark.parametrize("window", [(7, 7), (8, 8), (3, 5), (2, 2)])
def test_position_buffers_are_torchvisions(window):
    assert np.array_equal(R.relative_position_index(window).ravel(), tv_relative_position_index(window).numpy())
    assert np.array_equal(R.relative_position_index(window), tv_maxvit_index(*window).numpy())
    table = R.relative_coords_table(window)
    assert table.dtype == np.float32 and np.array_equal(table, tv_relative_coords_table(window).numpy())


# --- through the runner -------------------------------------------------------------------------


def run(model, x, seed=0):
    """The runner in float64 with random parameters (none zero): (trace, torch tensors of its parameters)."""
    rng = np.random.default_rng(seed)
    params = {name: rng.standard_normal(shape) / 2 for name, shape in runner.parameter_shapes(model).items()}
    g = rng.standard_normal(x.shape)
    trace = runner.forward_backward(model, x, g, params=params, dtype=np.float64)
    return trace, {name: torch.tensor(v, requires_grad=True) for name, v in params.items()}, torch.tensor(g)


def check_run(trace, tensors, x, expected, g):
    """The runner's output and every gradient (input, parameters by name) against torch's."""
    assert_close(trace.output, expected, "output")
    expected.backward(g)
    assert_close(trace.grad_input, x.grad, "input gradient")
    assert set(trace.grads) == set(tensors)
    for name, tensor in tensors.items():
        assert_close(trace.grads[name], tensor.grad, name)


@pytest.mark.parametrize("shape, window, shift", SWIN[:4], ids=[f"{s}-{w}-{sh}" for s, w, sh in SWIN[:4]])
def test_swin_attention_layers_run_as_torchvision_modules(shape, window, shift):
    """ShiftedWindowAttention (its table gathered by its index) and Swin V2's attention with its cpb_mlp on the
    coordinates buffer (a side merge), by torchvision's parameter names."""
    b, h, w, c, heads = shape
    x = np.random.default_rng(1).standard_normal((b, h, w, c))
    v1 = Sequential(dict(attn=L.ShiftedWindowAttention(c, window, shift, heads)))
    trace, p, g = run(v1, x)
    assert np.array_equal(trace.buffers["attn.relative_position_index"], tv_relative_position_index(window).numpy())
    xt = torch.tensor(x, requires_grad=True)
    bias = tv_relative_position_bias(p["attn.relative_position_bias_table"], tv_relative_position_index(window), window)
    expected = tv_shifted_window_attention(xt, p["attn.qkv.weight"], p["attn.proj.weight"], bias, list(window), heads,
                                           list(shift), p["attn.qkv.bias"], p["attn.proj.bias"])
    check_run(trace, p, xt, expected, g)

    v2 = Sequential(dict(attn=attention_v2(c, window, shift, heads)))
    trace, p, g = run(v2, x)
    coords = tv_relative_coords_table(window).double()
    assert np.array_equal(trace.buffers["attn.relative_coords_table"], coords.numpy())
    xt = torch.tensor(x, requires_grad=True)
    hidden = F.relu(F.linear(coords, p["attn.cpb_mlp.0.weight"], p["attn.cpb_mlp.0.bias"]))
    table = F.linear(hidden, p["attn.cpb_mlp.2.weight"]).view(-1, heads)
    bias = 16 * torch.sigmoid(tv_relative_position_bias(table, tv_relative_position_index(window), window))
    expected = tv_shifted_window_attention(xt, p["attn.qkv.weight"], p["attn.proj.weight"], bias, list(window), heads,
                                           list(shift), p["attn.qkv.bias"], p["attn.proj.bias"], p["attn.logit_scale"])
    check_run(trace, p, xt, expected, g)
    n = p["attn.qkv.bias"].shape[0] // 3
    assert not trace.grads["attn.qkv.bias"][n : 2 * n].any()  # the key bias is zeroed in every forward


def test_maxvit_attention_runs_as_torchvisions_module():
    """RelativePositionalMultiHeadAttention: to_qkv, the attention (its table gathered by its index), merge."""
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 12))
    model = relative_attention(12, 4, 9)
    trace, p, g = run(model, x)
    index = tv_maxvit_index(3, 3)
    assert np.array_equal(trace.buffers["relative_position_index"], index.numpy())
    xt = torch.tensor(x, requires_grad=True)
    qkv = F.linear(xt, p["to_qkv.weight"], p["to_qkv.bias"])
    out = tv_relative_attention(qkv, p["relative_position_bias_table"], index, 3, 4)
    check_run(trace, p, xt, F.linear(out, p["merge.weight"], p["merge.bias"]), g)


def test_swap_axes_and_window_layers_run_through_the_runner():
    x = np.random.default_rng(3).standard_normal((2, 5, 6, 9))
    model = Sequential(L.WindowPartition(3), L.SwapAxes(-2, -3), L.SwapAxes(-2, -3), L.WindowDepartition(3, 2, 3))
    trace, _, g = run(model, x)
    assert np.array_equal(trace.steps[1].output_shape, (9, 6, 5))
    assert np.array_equal(trace.output, x) and np.array_equal(trace.grad_input, g.numpy())


def test_swin_v2_attention_needs_its_bias_from_a_side_merge():
    model = Sequential(dict(attn=L.ShiftedWindowAttentionV2(4, (2, 2), (0, 0), 1)))
    with pytest.raises(ShapeError, match=r"attn \(ShiftedWindowAttentionV2\): reads its position bias from the side branch"):
        runner.forward(model, np.zeros((1, 4, 4, 4)))
