"""The NumPy reference against PyTorch: every functional op forward and backward, and whole networks.

Each op runs on a hypothesis-generated configuration in both libraries; the outputs and the gradients
of every array input (for a random upstream gradient) must agree to a relative error of 1e-5 in
float32 and 1e-10 in float64 (max |a - b| / max |b|). Networks with residual and concat branches are
built in cnncalc and written out by hand with torch.nn.functional, with the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc import ShapeError
from cnncalc import reference as R
from cnncalc.formulas import effective_kernel, pool_out

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}
dtypes = st.sampled_from([np.float32, np.float64])


def rel_error(actual, expected, magnitude=0.0):
    """max |actual - expected| over max |expected|, or over ``magnitude`` when larger: the size of the
    terms a sum cancelled (a bias gradient near 0 is the sum of grad_out values near 1)."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    finite = np.isfinite(expected)
    if not finite.all():  # e.g. -inf from a max-pool window entirely in the padding: must match exactly
        assert np.array_equal(actual[~finite], expected[~finite])
        actual, expected = actual[finite], expected[finite]
    scale = max(float(np.abs(expected).max(initial=0.0)), magnitude, 1e-30)
    return float(np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max(initial=0.0)) / scale


def assert_close(actual, expected, dtype, magnitude=0.0):
    assert rel_error(actual, expected, magnitude) <= TOLERANCE[dtype]


def check_op(ours, ours_backward, theirs, arrays, dtype, seed, n_backward=None, **kwargs):
    """Forward and the gradient of every array in ``arrays`` (None entries are passed through).

    The backward takes the first ``n_backward`` arrays (conv and linear: not the bias) and grad_out.
    Those ops are multilinear, so float rounding is bounded by the same backward run on absolute
    values: that is each gradient's scale for the relative error (a bias gradient may cancel to ~0).
    """
    tensors = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    expected = theirs(*tensors, **kwargs)
    got = ours(*arrays, **kwargs)
    assert got.dtype == dtype
    assert_close(got, expected, dtype)
    grad_out = np.random.default_rng(seed).standard_normal(got.shape).astype(dtype)
    expected.backward(torch.tensor(grad_out))
    grads = ours_backward(*arrays[:n_backward], grad_out, **kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    present = [t for t in tensors if t is not None]
    assert len(grads) >= len(present)
    magnitudes = [0.0] * len(grads)
    if n_backward is not None:
        bounds = ours_backward(*[None if a is None else np.abs(a) for a in arrays[:n_backward]], np.abs(grad_out), **kwargs)
        magnitudes = [0.0 if b is None else float(np.abs(b).max(initial=0.0)) for b in bounds]
    for grad, tensor, magnitude in zip(grads, present, magnitudes):
        assert grad is not None and grad.dtype == dtype
        assert_close(grad, tensor.grad, dtype, magnitude)


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def conv_configs(draw, transpose=False):
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(2))
    if transpose:
        size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        padding = tuple(min(p, (n - 1) * s + d * (k - 1) + op) // 2 for p, n, s, d, k, op in zip(padding, size, stride, dilation, kernel, output_padding))
        extra = dict(output_padding=output_padding)
    else:
        size = tuple(max(1, effective_kernel(k, d) - 2 * p + draw(st.integers(0, 7))) for k, d, p in zip(kernel, dilation, padding))
        extra = {}
    return dict(groups=groups, c_in=c_in, c_out=c_out, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, size=size, batch=draw(st.integers(1, 2)), bias=draw(st.booleans()), **extra)


@SETTINGS
@given(conv_configs(), dtypes, st.integers(0, 2**16))
def test_conv2d_matches_torch(cfg, dtype, seed):
    rng = np.random.default_rng(seed)
    x = randn(rng, (cfg["batch"], cfg["c_in"]) + cfg["size"], dtype)
    w = randn(rng, (cfg["c_out"], cfg["c_in"] // cfg["groups"]) + cfg["kernel"], dtype)
    b = randn(rng, (cfg["c_out"],), dtype) if cfg["bias"] else None
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    check_op(R.conv2d, R.conv2d_backward, TF.conv2d, [x, w, b], dtype, seed, 2, **kw)


@SETTINGS
@given(conv_configs(), st.integers(0, 2**16))
def test_conv2d_fast_path_equals_the_loop_definition(cfg, seed):
    rng = np.random.default_rng(seed)
    x = randn(rng, (cfg["batch"], cfg["c_in"]) + cfg["size"], np.float64)
    w = randn(rng, (cfg["c_out"], cfg["c_in"] // cfg["groups"]) + cfg["kernel"], np.float64)
    b = randn(rng, (cfg["c_out"],), np.float64) if cfg["bias"] else None
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    assert rel_error(R.conv2d(x, w, b, **kw), R.conv2d_loop(x, w, b, **kw)) <= 1e-12


@pytest.mark.parametrize("padding", ["same", "valid"], ids=["same", "valid"])
def test_conv2d_string_padding_matches_torch(padding):
    rng = np.random.default_rng(0)
    x, w = randn(rng, (1, 2, 7, 6), np.float64), randn(rng, (3, 2, 4, 3), np.float64)
    check_op(R.conv2d, R.conv2d_backward, TF.conv2d, [x, w, None], np.float64, 0, 2, padding=padding, dilation=(2, 1))


@SETTINGS
@given(conv_configs(transpose=True), dtypes, st.integers(0, 2**16))
def test_conv_transpose2d_matches_torch(cfg, dtype, seed):
    rng = np.random.default_rng(seed)
    x = randn(rng, (cfg["batch"], cfg["c_in"]) + cfg["size"], dtype)
    w = randn(rng, (cfg["c_in"], cfg["c_out"] // cfg["groups"]) + cfg["kernel"], dtype)
    b = randn(rng, (cfg["c_out"],), dtype) if cfg["bias"] else None
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"],
              groups=cfg["groups"], dilation=cfg["dilation"])
    check_op(R.conv_transpose2d, R.conv_transpose2d_backward, TF.conv_transpose2d, [x, w, b], dtype, seed, 2, **kw)


@st.composite
def pool_configs(draw, dilated=True):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
    size = tuple(max(1, effective_kernel(k, d) - 2 * p + draw(st.integers(0, 7))) for k, d, p in zip(kernel, dilation, padding))
    return dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, size=size,
                ceil_mode=draw(st.booleans()), channels=draw(st.integers(1, 3)))


def windows_read_pixels(cfg):
    """Every window covers at least one real pixel (a dilated window can fall entirely into padding)."""
    for n, k, s, p, d in zip(cfg["size"], cfg["kernel_size"], cfg["stride"], cfg["padding"], cfg["dilation"]):
        out = pool_out(n, k, s, p, d, cfg["ceil_mode"])
        if not all(any(0 <= o * s - p + t * d < n for t in range(k)) for o in range(out)):
            return False
    return True


@SETTINGS
@given(pool_configs(), dtypes, st.integers(0, 2**16))
def test_max_pool2d_matches_torch(cfg, dtype, seed):
    # Where a window holds padding only, both give -inf, but torch sends its gradient to a pixel outside
    # the window (even into the next plane); the reference sends it nowhere. Such windows are left out.
    assume(windows_read_pixels(cfg))
    x = randn(np.random.default_rng(seed), (2, cfg["channels"]) + cfg["size"], dtype)
    kw = {k: cfg[k] for k in ("kernel_size", "stride", "padding", "dilation", "ceil_mode")}
    check_op(R.max_pool2d, R.max_pool2d_backward, TF.max_pool2d, [x], dtype, seed, **kw)


@SETTINGS
@given(pool_configs(dilated=False), st.booleans(), st.sampled_from([None, 1, 5]), dtypes, st.integers(0, 2**16))
def test_avg_pool2d_matches_torch(cfg, count_include_pad, divisor_override, dtype, seed):
    x = randn(np.random.default_rng(seed), (2, cfg["channels"]) + cfg["size"], dtype)
    kw = {k: cfg[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    check_op(R.avg_pool2d, R.avg_pool2d_backward, TF.avg_pool2d, [x], dtype, seed,
             count_include_pad=count_include_pad, divisor_override=divisor_override, **kw)


@SETTINGS
@given(pool_configs(dilated=False), st.integers(0, 2**16))
def test_max_pool2d_spread_backward_adds_every_window_entry(cfg, seed):
    """The spread backward is the backward of the window sum: torch's avg_pool2d with divisor 1."""
    x = randn(np.random.default_rng(seed), (1, cfg["channels"]) + cfg["size"], np.float64)
    kw = {k: cfg[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    t = torch.tensor(x, requires_grad=True)
    y = TF.avg_pool2d(t, divisor_override=1, **kw)
    g = np.random.default_rng(seed + 1).standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    assert_close(R.max_pool2d_spread_backward(x, g, **kw), t.grad, np.float64)


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 12), st.integers(1, 12), dtypes, st.integers(0, 2**16))
def test_adaptive_pools_match_torch(h, w, oh, ow, dtype, seed):
    x = randn(np.random.default_rng(seed), (2, 3, h, w), dtype)
    check_op(R.adaptive_avg_pool2d, R.adaptive_avg_pool2d_backward, TF.adaptive_avg_pool2d, [x], dtype, seed,
             output_size=(oh, ow))
    check_op(R.adaptive_max_pool2d, R.adaptive_max_pool2d_backward, TF.adaptive_max_pool2d, [x], dtype, seed,
             output_size=(oh, ow))


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9),
       st.one_of(st.fixed_dictionaries({"scale_factor": st.sampled_from([1, 2, 3, 4, 1.5, 2.5, (2, 3), (0.5, 1.75)])}),
                 st.fixed_dictionaries({"size": st.tuples(st.integers(1, 20), st.integers(1, 20))}),
                 st.fixed_dictionaries({"scale_factor": st.sampled_from([1.5, 2.7, (3, 1.25)]),
                                        "recompute_scale_factor": st.just(True)})),
       st.sampled_from([("nearest", None), ("bilinear", False), ("bilinear", True)]), dtypes, st.integers(0, 2**16))
def test_interpolate_matches_torch(h, w, how, mode_corners, dtype, seed):
    mode, align_corners = mode_corners
    x = randn(np.random.default_rng(seed), (2, 3, h, w), dtype)
    if "scale_factor" in how:  # torch refuses an empty output
        scales = how["scale_factor"] if isinstance(how["scale_factor"], tuple) else (how["scale_factor"],) * 2
        assume(all(int(n * s) > 0 for n, s in zip((h, w), scales)))
    check_op(R.interpolate, R.interpolate_backward, TF.interpolate, [x], dtype, seed, mode=mode,
             align_corners=align_corners, **how)


def test_adaptive_pool_keeps_an_axis_given_none():
    x = randn(np.random.default_rng(0), (1, 2, 5, 7), np.float64)
    assert R.adaptive_avg_pool2d(x, (None, 3)).shape == (1, 2, 5, 3)
    assert_close(R.adaptive_max_pool2d(x, (2, None)), TF.adaptive_max_pool2d(torch.tensor(x), (2, None)), np.float64)


@SETTINGS
@given(st.booleans(), st.booleans(), dtypes, st.integers(0, 2**16))
def test_batch_norm_matches_torch(training, affine, dtype, seed):
    rng = np.random.default_rng(seed)
    x = randn(rng, (3, 4, 5, 2), dtype)
    mean, var = randn(rng, (4,), dtype), (rng.random(4) + 0.5).astype(dtype)
    w, b = (randn(rng, (4,), dtype), randn(rng, (4,), dtype)) if affine else (None, None)
    tensors = [torch.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
    expected = TF.batch_norm(tensors[0], torch.tensor(mean), torch.tensor(var), tensors[1], tensors[2],
                             training=training, eps=1e-3)
    assert_close(R.batch_norm(x, mean, var, w, b, training=training, eps=1e-3), expected, dtype)
    g = randn(rng, x.shape, dtype)
    expected.backward(torch.tensor(g))
    grads = R.batch_norm_backward(x, mean, var, w, b, g, training=training, eps=1e-3)
    for grad, tensor in zip(grads, tensors):
        if tensor is None:
            assert grad is None
        else:
            assert_close(grad, tensor.grad, dtype)


@SETTINGS
@given(st.integers(1, 7), st.floats(1e-4, 1.0), st.floats(0.1, 1.0), st.floats(0.5, 2.0), dtypes, st.integers(0, 2**16))
def test_local_response_norm_matches_torch(size, alpha, beta, k, dtype, seed):
    x = randn(np.random.default_rng(seed), (2, 6, 3, 4), dtype)
    check_op(R.local_response_norm, R.local_response_norm_backward, TF.local_response_norm, [x], dtype, seed,
             size=size, alpha=alpha, beta=beta, k=k)


@SETTINGS
@given(st.sampled_from([(5,), (2, 3), (2, 3, 4)]), st.booleans(), dtypes, st.integers(0, 2**16))
def test_linear_matches_torch(lead, bias, dtype, seed):
    rng = np.random.default_rng(seed)
    x, w = randn(rng, lead + (7,), dtype), randn(rng, (4, 7), dtype)
    b = randn(rng, (4,), dtype) if bias else None
    check_op(R.linear, R.linear_backward, TF.linear, [x, w, b], dtype, seed, 2)


ELEMENTWISE = [
    ("relu", {}, TF.relu),
    ("relu6", {}, TF.relu6),
    ("leaky_relu", {"negative_slope": 0.2}, TF.leaky_relu),
    ("elu", {"alpha": 1.5}, TF.elu),
    ("sigmoid", {}, torch.sigmoid),
    ("hardsigmoid", {}, TF.hardsigmoid),
    ("tanh", {}, torch.tanh),
    ("silu", {}, TF.silu),
    ("hardswish", {}, TF.hardswish),
    ("gelu", {}, TF.gelu),
    ("gelu", {"approximate": "tanh"}, TF.gelu),
    ("softmax", {"dim": 1}, TF.softmax),
    ("softmax", {"dim": -1}, TF.softmax),
    ("flatten", {"start_dim": 1, "end_dim": 2}, torch.flatten),
    ("pad", {"pad": (1, -2, 2, 0)}, TF.pad),
]


@pytest.mark.parametrize("name, kwargs, theirs", ELEMENTWISE, ids=[f"{n}-{'-'.join(map(str, k.values()))}" for n, k, _ in ELEMENTWISE])
@settings(max_examples=10, deadline=None)
@given(dtypes, st.integers(0, 2**16))
def test_elementwise_and_reshaping_ops_match_torch(name, kwargs, theirs, dtype, seed):
    x = (4 * np.random.default_rng(seed).standard_normal((2, 3, 5, 4))).astype(dtype)  # spans relu6's and hardswish's kinks
    check_op(getattr(R, name), getattr(R, f"{name}_backward"), theirs, [x], dtype, seed, **kwargs)


def test_softmax_without_dim_uses_torchs_implicit_dim():
    x = randn(np.random.default_rng(0), (2, 3, 4), np.float64)
    with pytest.warns(UserWarning):
        expected = TF.softmax(torch.tensor(x), dim=None)
    assert_close(R.softmax(x), expected, np.float64)


@SETTINGS
@given(st.integers(1, 6), st.integers(2, 7), st.sampled_from(["mean", "sum", "none"]), dtypes, st.integers(0, 2**16))
def test_cross_entropy_matches_torch(n, classes, reduction, dtype, seed):
    rng = np.random.default_rng(seed)
    logits, target = randn(rng, (n, classes), dtype), rng.integers(0, classes, n)
    t = torch.tensor(logits, requires_grad=True)
    expected = TF.cross_entropy(t, torch.tensor(target), reduction=reduction)
    got = R.cross_entropy(logits, target, reduction=reduction)
    assert_close(np.asarray(got), expected, dtype)
    g = randn(rng, tuple(expected.shape), dtype)
    expected.backward(torch.tensor(g))
    assert_close(R.cross_entropy_backward(logits, target, g, reduction=reduction), t.grad, dtype)


@pytest.mark.parametrize("channelwise", [False, True], ids=["dropout", "dropout2d"])
def test_dropout_is_seeded_and_its_backward_uses_the_same_mask(channelwise):
    forward, backward = (R.dropout2d, R.dropout2d_backward) if channelwise else (R.dropout, R.dropout_backward)
    x = np.random.default_rng(0).standard_normal((4, 64, 8, 8)) + 10  # no zeros of its own
    y = forward(x, 0.3, seed=7)
    assert np.array_equal(y, forward(x, 0.3, seed=7))
    assert not np.array_equal(y, forward(x, 0.3, seed=8))
    kept = y != 0
    assert np.allclose(y[kept], x[kept] / 0.7)
    assert abs(kept.mean() - 0.7) < 0.03
    if channelwise:
        assert np.all(kept == kept[:, :, :1, :1])  # whole channels
    g = np.random.default_rng(1).standard_normal(x.shape)
    t = torch.tensor(x, requires_grad=True)
    (t * torch.tensor(kept / 0.7)).backward(torch.tensor(g))
    assert_close(backward(x, g, 0.3, seed=7), t.grad, np.float64)
    assert np.array_equal(forward(x, 0.3, training=False), x)
    assert np.array_equal(forward(x, 1.0, seed=3), np.zeros_like(x))


def test_connection_table_conv2d_equals_a_masked_dense_conv_in_torch():
    rng = np.random.default_rng(0)
    table = ((0, 1, 2), (1, 2, 3), (0,), (3, 2))
    x, w, b = randn(rng, (2, 4, 9, 8), np.float64), randn(rng, (9, 3, 3), np.float64), randn(rng, (4,), np.float64)
    dense = torch.zeros(4, 4, 3, 3, dtype=torch.float64)
    rows = torch.tensor(w, requires_grad=True)
    mask_index = [(j, i) for j, ins in enumerate(table) for i in ins]
    for m, (j, i) in enumerate(mask_index):
        dense = dense.index_put((torch.tensor([j]), torch.tensor([i])), rows[m : m + 1])
    tx, tb = torch.tensor(x, requires_grad=True), torch.tensor(b, requires_grad=True)
    expected = TF.conv2d(tx, dense, tb, stride=(2, 1), padding=1)
    got = R.connection_table_conv2d(x, w, table, b, stride=(2, 1), padding=1)
    assert_close(got, expected, np.float64)
    g = rng.standard_normal(got.shape)
    expected.backward(torch.tensor(g))
    for grad, tensor in zip(R.connection_table_conv2d_backward(x, w, table, g, stride=(2, 1), padding=1), (tx, rows, tb)):
        assert_close(grad, tensor.grad, np.float64)


def test_every_executed_gemm_is_counted():
    x = np.ones((2, 4, 10, 10), np.float32)
    with R.count_macs() as counter:
        R.conv2d(x, np.ones((6, 2, 3, 3), np.float32), groups=2)
    assert counter.macs == 2 * 6 * 8 * 8 * 2 * 3 * 3  # batch * C_out*H_out*W_out * C_in/groups*kh*kw
    with R.count_macs() as counter:
        R.linear(np.ones((3, 5), np.float32), np.ones((7, 5), np.float32))
    assert counter.macs == 3 * 5 * 7


# --- whole networks -----------------------------------------------------------------------------


def small_net():
    """Stem, an identity residual block, a projection residual block, an Inception-style concat, a head."""
    from collections import OrderedDict

    return cnncalc.Sequential(OrderedDict(
        conv1=cnncalc.Conv2d(3, 8, 3, padding=1, bias=False),
        bn1=cnncalc.BatchNorm2d(8),
        relu=cnncalc.ReLU(),
        block1=cnncalc.Residual(
            cnncalc.Sequential(OrderedDict(conv1=cnncalc.Conv2d(8, 8, 3, padding=1), relu=cnncalc.ReLU(),
                                           conv2=cnncalc.Conv2d(8, 8, 3, padding=2, dilation=2))),
            post=cnncalc.ReLU(),
        ),
        block2=cnncalc.Residual(
            # no bias before a training-mode BatchNorm: its gradient is exactly 0, left as rounding noise
            cnncalc.Sequential(OrderedDict(conv1=cnncalc.Conv2d(8, 12, 3, stride=2, padding=1, bias=False),
                                           bn=cnncalc.BatchNorm2d(12))),
            shortcut=cnncalc.Conv2d(8, 12, 1, stride=2),
            post=cnncalc.ReLU(),
        ),
        mixed=cnncalc.Concat(OrderedDict(
            a=cnncalc.Conv2d(12, 4, 1),
            b=cnncalc.Sequential(cnncalc.Conv2d(12, 4, 1), cnncalc.Tanh(), cnncalc.Conv2d(4, 6, 3, padding=1, groups=2)),
            c=cnncalc.Sequential(cnncalc.MaxPool2d(3, 1, 1), cnncalc.Conv2d(12, 2, 1)),
        )),
        pool=cnncalc.AvgPool2d(2, ceil_mode=True),
        gap=cnncalc.AdaptiveAvgPool2d(1),
        flatten=cnncalc.Flatten(),
        fc=cnncalc.Linear(12, 5),
    ))


def small_net_torch(P, x, training):
    """The same network written with torch.nn.functional, reading the weights by cnncalc's names."""
    def bn(t, name):
        return TF.batch_norm(t, torch.zeros(t.shape[1], dtype=t.dtype), torch.ones(t.shape[1], dtype=t.dtype),
                             P[f"{name}.weight"], P[f"{name}.bias"], training=training)

    def conv(t, name, **kw):
        return TF.conv2d(t, P[f"{name}.weight"], P.get(f"{name}.bias"), **kw)

    h = TF.relu(bn(conv(x, "conv1", padding=1), "bn1"))
    main = conv(TF.relu(conv(h, "block1.conv1", padding=1)), "block1.conv2", padding=2, dilation=2)
    h = TF.relu(main + h)
    main = bn(conv(h, "block2.conv1", stride=2, padding=1), "block2.bn")
    h = TF.relu(main + conv(h, "block2.shortcut", stride=2))
    a = conv(h, "mixed.a")
    b = conv(torch.tanh(conv(h, "mixed.b.0")), "mixed.b.2", padding=1, groups=2)
    c = conv(TF.max_pool2d(h, 3, 1, 1), "mixed.c.1")
    h = TF.avg_pool2d(torch.cat([a, b, c], 1), 2, ceil_mode=True)
    h = torch.flatten(TF.adaptive_avg_pool2d(h, 1), 1)
    return TF.linear(h, P["fc.weight"], P["fc.bias"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_network_with_residual_and_concat_matches_torch(dtype, training):
    model = small_net()
    rng = np.random.default_rng(3)
    params = {name: randn(rng, a.shape, dtype) * 0.5 for name, a in R.init_parameters(model).items()}
    x = randn(rng, (2, 3, 11, 10), dtype)
    y, grad_x, grads = R.forward_backward(model, x, params=params, training=training)
    tp = {name: torch.tensor(a, requires_grad=True) for name, a in params.items()}
    tx = torch.tensor(x, requires_grad=True)
    expected = small_net_torch(tp, tx, training)
    expected.sum().backward()
    assert_close(y, expected, dtype)
    assert_close(grad_x, tx.grad, dtype)
    assert grads.keys() == params.keys()
    for name, grad in grads.items():
        assert rel_error(grad, tp[name].grad) <= TOLERANCE[dtype], name


def test_a_layer_used_twice_shares_its_parameters_and_adds_their_gradients():
    conv = cnncalc.Conv2d(4, 4, 3, padding=1)
    model = cnncalc.Sequential(conv, cnncalc.Tanh(), conv)
    rng = np.random.default_rng(0)
    x = randn(rng, (1, 4, 6, 6), np.float64)
    params = R.init_parameters(model, seed=1, dtype=np.float64)
    assert sorted(params) == ["0.bias", "0.weight"]
    y, grad_x, grads = R.forward_backward(model, x, params=params)
    w, b = (torch.tensor(params[k], requires_grad=True) for k in ("0.weight", "0.bias"))
    tx = torch.tensor(x, requires_grad=True)
    expected = TF.conv2d(torch.tanh(TF.conv2d(tx, w, b, padding=1)), w, b, padding=1)
    expected.sum().backward()
    assert_close(y, expected, np.float64)
    assert_close(grad_x, tx.grad, np.float64)
    assert_close(grads["0.weight"], w.grad, np.float64)
    assert_close(grads["0.bias"], b.grad, np.float64)


def test_runner_records_executed_shapes_and_macs_per_step():
    model = small_net()
    trace = R.forward_backward(model, np.ones((1, 3, 11, 10), np.float32), backward=False)
    report = cnncalc.analyze(model, (3, 11, 10))
    assert [s.name for s in trace.steps] == [r.name for r in report.layers]
    assert [s.output_shape for s in trace.steps] == [r.output_shape for r in report.layers]
    assert [s.macs for s in trace.steps] == [r.macs for r in report.layers]
    assert trace.grad_input is None and trace.output.shape == (1, 5)


def test_parameters_are_deterministic_in_the_seed_and_named_like_torch():
    model = cnncalc.model("resnet18")
    a, b, c = (R.init_parameters(model, seed=s) for s in (0, 0, 1))
    assert list(a)[:3] == ["conv1.weight", "bn1.weight", "bn1.bias"]
    assert "layer1.0.conv1.weight" in a and "layer2.0.downsample.0.weight" in a and "fc.bias" in a
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    bound = 1 / np.sqrt(3 * 7 * 7)
    assert a["conv1.weight"].min() >= -bound and a["conv1.weight"].max() <= bound


@pytest.mark.parametrize(
    "params, match",
    [({"0.weight": np.zeros((2, 1, 3, 3))}, "missing 0.bias"),
     ({"0.weight": np.zeros((2, 1, 3, 2)), "0.bias": np.zeros(2)}, r"0.weight: expected shape \(2, 1, 3, 3\)")],
    ids=["missing", "wrong-shape"],
)
def test_given_parameters_are_checked(params, match):
    with pytest.raises(ShapeError, match=match):
        R.forward_backward(cnncalc.Sequential(cnncalc.Conv2d(1, 2, 3)), np.ones((1, 1, 5, 5)), params=params)


@pytest.mark.parametrize(
    "backward, arrays",
    [(R.conv2d_backward, ((1, 4, 7, 6), (6, 2, 3, 3))), (R.linear_backward, ((3, 5), (4, 5)))],
    ids=["conv2d", "linear"],
)
def test_output_mask_skips_gradients_and_keeps_the_others(backward, arrays):
    rng = np.random.default_rng(0)
    x, w = (randn(rng, shape, np.float64) for shape in arrays)
    kw = {"groups": 2, "padding": 1} if w.ndim == 4 else {}
    g = randn(rng, (x.shape[0], w.shape[0]) + x.shape[2:], np.float64)
    full = backward(x, w, g, **kw)
    only_x = backward(x, w, g, **kw, output_mask=(True, False, False))
    assert only_x[1] is None and only_x[2] is None and np.array_equal(only_x[0], full[0])
    only_w = backward(x, w, g, **kw, output_mask=(False, True, False))
    assert only_w[0] is None and np.array_equal(only_w[1], full[1])


def test_runner_without_parameter_gradients_gives_the_same_input_gradient():
    model = small_net()
    x = randn(np.random.default_rng(1), (1, 3, 11, 10), np.float64)
    full = R.forward_backward(model, x)
    lean = R.forward_backward(model, x, param_grads=False)
    assert np.array_equal(full.grad_input, lean.grad_input)
    assert "conv1.weight" in full.grads and "conv1.weight" not in lean.grads
